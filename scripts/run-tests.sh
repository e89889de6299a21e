#!/usr/bin/env bash
# Run botmon's whole test suite: start throwaway PostgreSQL clusters when the binaries are here
# (or use BOTMON_TEST_PG_DSN when given), run pytest, stop PostgreSQL. With BOTMON_REQUIRE_PG=1
# (set by .ci/run) a PostgreSQL that cannot start fails the run instead of skipping half of the
# suite.
#
# BOTMON_TEST_WORKERS=N (default 1) runs the suite in N pytest-xdist processes. Most tests wait
# on sockets, servers and crawls, so 2 processes on this project's 2-core machine take the suite
# from 40 to about 25 minutes. There, though, a few timing-bound tests (a demo stopping within 60 s,
# a sensor hearing 95 % of NATed bots in its time) fail now and then under the doubled load,
# so the default stays one process. Each worker gets a PostgreSQL cluster of its own:
# transaction ids, snapshots and killed connections are cluster-wide, and a test that kills the
# store's connections or reads the summaries' snapshot watermark must not see another
# worker's transactions. Demo tests, which listen on the emulators' fixed ports, take turns on
# a file lock (tests/demo/conftest.py).
set -uo pipefail
cd "$(dirname "$0")/.."
workers=${BOTMON_TEST_WORKERS:-1}
pgdirs=()
stop_clusters() {
  for dir in "${pgdirs[@]}"; do bash scripts/pg.sh stop "$dir"; rm -rf "$dir"; done
}
if [ -z "${BOTMON_TEST_PG_DSN:-}" ]; then
  base=${BOTMON_TEST_PG_PORT:-55432}
  dsns=()
  for ((i = 0; i < workers; i++)); do
    dir=$(mktemp -d /tmp/botmon-pg.XXXXXX)
    if out=$(bash scripts/pg.sh start "$dir" $((base + i))); then
      pgdirs+=("$dir")
      dsns+=("${out#export BOTMON_TEST_PG_DSN=}")
    else
      rm -rf "$dir"
      stop_clusters
      pgdirs=(); dsns=()
      break
    fi
  done
  if [ ${#dsns[@]} -gt 0 ]; then
    export BOTMON_TEST_PG_DSN=${dsns[0]}
    export BOTMON_TEST_PG_DSNS="${dsns[*]}"
    echo "botmon: PostgreSQL test clusters (one per worker): ${dsns[*]}"
  elif [ "${BOTMON_REQUIRE_PG:-}" = 1 ]; then
    echo "botmon: PostgreSQL could not start and BOTMON_REQUIRE_PG=1: not running the suite" >&2
    exit 1
  else
    echo "botmon: PostgreSQL is NOT available: the PostgreSQL half of the suite will be SKIPPED" >&2
  fi
fi
parallel=()
if [ "$workers" -gt 1 ]; then
  parallel=(-n "$workers")
  echo "botmon: running the suite in $workers processes (BOTMON_TEST_WORKERS=1 for one)"
fi
.venv/bin/python -m pytest "${parallel[@]}" "$@"
rc=$?
stop_clusters
exit $rc
