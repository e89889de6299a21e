#!/usr/bin/env bash
# Run botmon's whole test suite: start a throwaway PostgreSQL when the binaries are here (or use
# BOTMON_TEST_PG_DSN when given), run pytest, stop PostgreSQL. With BOTMON_REQUIRE_PG=1 (set by
# .ci/run) a PostgreSQL that cannot start fails the run instead of skipping half of the suite.
set -uo pipefail
cd "$(dirname "$0")/.."
pgdir=""
if [ -z "${BOTMON_TEST_PG_DSN:-}" ]; then
  pgdir=$(mktemp -d /tmp/botmon-pg.XXXXXX)
  if out=$(bash scripts/pg.sh start "$pgdir" "${BOTMON_TEST_PG_PORT:-55432}"); then
    eval "$out"
    echo "botmon: PostgreSQL test cluster at $BOTMON_TEST_PG_DSN"
  else
    rm -rf "$pgdir"; pgdir=""
    if [ "${BOTMON_REQUIRE_PG:-}" = 1 ]; then
      echo "botmon: PostgreSQL could not start and BOTMON_REQUIRE_PG=1: not running the suite" >&2
      exit 1
    fi
    echo "botmon: PostgreSQL is NOT available: the PostgreSQL half of the suite will be SKIPPED" >&2
  fi
fi
.venv/bin/python -m pytest "$@"
rc=$?
if [ -n "$pgdir" ]; then bash scripts/pg.sh stop "$pgdir"; rm -rf "$pgdir"; fi
exit $rc
