#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for botmon's tests and benchmarks, on 127.0.0.1 only.
#   scripts/pg.sh start DIR [PORT]  -> prints `export BOTMON_TEST_PG_DSN=...` on success
#   scripts/pg.sh stop DIR [MODE]   -> MODE is pg_ctl's: fast (default), or immediate to
#                                      simulate a crash (outage tests)
set -euo pipefail
action=${1:?start|stop}
dir=${2:?directory}
port=${3:-55432}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "botmon: PostgreSQL binaries not found; PostgreSQL tests will be skipped" >&2
  exit 3
fi
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$action" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust --no-sync >"$dir/initdb.log" 2>&1
    fi
    as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null
    echo "export BOTMON_TEST_PG_DSN=postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_pg "$bindir/pg_ctl" -D "$dir/data" -m "${3:-fast}" -w stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop DIR [PORT]" >&2; exit 2 ;;
esac
