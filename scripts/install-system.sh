#!/usr/bin/env bash
# System packages botmon's tests and dashboard need (Debian): chromium for the browser tests,
# node/npm for the offline dashboard and geo assets. Skipped when already present or not root.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "botmon: missing ${need[*]} and not root; browser tests or dashboard assets may be skipped" >&2
  exit 0
fi
echo "botmon: installing ${need[*]} from Debian"
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
