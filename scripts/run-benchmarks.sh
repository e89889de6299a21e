#!/usr/bin/env bash
# Run every benchmark in benchmarks/ against a throwaway PostgreSQL (when available).
# benchmarks/analyses.py first writes 10 million replies and a million edges (about two
# minutes) and then times every analysis; `benchmarks/analyses.py --replies N --edges M`
# runs it smaller by hand.
set -uo pipefail
cd "$(dirname "$0")/.."
pgdir=$(mktemp -d /tmp/botmon-pgbench.XXXXXX)
if out=$(bash scripts/pg.sh start "$pgdir" 55433); then eval "$out"; else rm -rf "$pgdir"; pgdir=""; fi
rc=0
for b in benchmarks/*.py; do
  case "$b" in */_*) continue ;; esac
  echo "== $b"
  .venv/bin/python "$b" || rc=1
done
if [ -n "$pgdir" ]; then bash scripts/pg.sh stop "$pgdir"; rm -rf "$pgdir"; fi
exit $rc
