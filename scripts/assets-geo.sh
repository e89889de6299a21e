#!/usr/bin/env bash
# Default geolocation data (country and AS) for botmon.enrich, installed offline from pinned npm
# packages (see src/botmon/enrich/DATA.md) into src/botmon/enrich/data/default/. Idempotent:
# a current install is detected from its stamp and skipped in well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PYTHON:-.venv/bin/python}
out=src/botmon/enrich/data/default
build=build/npm-geo
if "$py" -m botmon.enrich.build_default --check --out "$out"; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "botmon: npm not found; default geolocation data NOT installed (lab database only)" >&2
  exit 0
fi
mapfile -t specs < <("$py" -m botmon.enrich.build_default --specs)
mkdir -p "$build"
[ -f "$build/package.json" ] || echo '{"name": "botmon-geo-assets", "private": true}' >"$build/package.json"
echo "botmon: installing geolocation data: ${specs[*]}"
npm install --prefix "$build" --no-audit --no-fund --no-package-lock --loglevel=error "${specs[@]}" >/dev/null
"$py" -m botmon.enrich.build_default --npm "$build/node_modules" --out "$out"
