#!/usr/bin/env bash
# Run botmon's whole test suite: start throwaway PostgreSQL clusters when the binaries are here
# (or use BOTMON_TEST_PG_DSN when given), run pytest, stop PostgreSQL. With BOTMON_REQUIRE_PG=1
# (set by .ci/run) a PostgreSQL that cannot start fails the run instead of skipping half of the
# suite.
#
# The suite runs in BOTMON_TEST_WORKERS pytest-xdist processes (default: the number of cores,
# 2 to 4; 1 runs it in this process). Most tests wait on sockets, servers and crawls, so two
# processes on two cores nearly halve the time. Each worker gets a PostgreSQL cluster of its
# own: transaction ids, snapshots and killed connections are cluster-wide, and a test that
# kills the store's connections or reads the summaries' snapshot watermark must not see
# another worker's transactions. Demo tests, which listen on the emulators' fixed ports, take
# turns on a file lock (tests/demo/conftest.py).
set -uo pipefail
cd "$(dirname "$0")/.."
cores=$(nproc 2>/dev/null || echo 2)
default_workers=$(( cores < 2 ? 2 : (cores > 4 ? 4 : cores) ))
workers=${BOTMON_TEST_WORKERS:-$default_workers}
if [ -n "${BOTMON_TEST_PG_DSN:-}" ] && [ -z "${BOTMON_TEST_WORKERS:-}" ]; then
  workers=1  # one given cluster: its tests would share it (see above)
fi
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
