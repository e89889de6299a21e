#!/usr/bin/env bash
# Run botmon's whole test suite: start a throwaway PostgreSQL when the binaries are here (or use
# BOTMON_TEST_PG_DSN when given), run pytest, stop PostgreSQL.
set -uo pipefail
cd "$(dirname "$0")/.."
pgdir=""
if [ -z "${BOTMON_TEST_PG_DSN:-}" ]; then
  pgdir=$(mktemp -d /tmp/botmon-pg.XXXXXX)
  if out=$(bash scripts/pg.sh start "$pgdir" "${BOTMON_TEST_PG_PORT:-55432}"); then
    eval "$out"
    echo "botmon: PostgreSQL test cluster at $BOTMON_TEST_PG_DSN"
  else
    echo "botmon: PostgreSQL is NOT available: the PostgreSQL half of the suite will be SKIPPED" >&2
    rm -rf "$pgdir"; pgdir=""
  fi
fi
.venv/bin/python -m pytest "$@"
rc=$?
if [ -n "$pgdir" ]; then bash scripts/pg.sh stop "$pgdir"; rm -rf "$pgdir"; fi
exit $rc
