#!/usr/bin/env bash
# Offline assets (dashboard JavaScript, map geometry, geolocation databases) come from registry
# packages at install time and are copied into the package; nothing is fetched at run time.
set -euo pipefail
cd "$(dirname "$0")/.."
for part in scripts/assets-*.sh; do
  [ -f "$part" ] && bash "$part"
done
exit 0
