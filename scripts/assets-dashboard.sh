#!/usr/bin/env bash
# Dashboard assets: ECharts and world map geometry from npm, installed at `make install` into a
# build folder and copied/converted into src/botmon/dashboard/static/vendor/ (git-ignored), so
# the dashboard never loads anything from outside the machine. Idempotent: a stamp holding the
# pinned versions makes a second run return at once.
set -euo pipefail
cd "$(dirname "$0")/.."

ECHARTS=echarts@6.1.0
WORLD_ATLAS=world-atlas@2.0.2
TOPOJSON_CLIENT=topojson-client@3.1.0
ISO_COUNTRIES=i18n-iso-countries@7.14.0
versions="$ECHARTS $WORLD_ATLAS $TOPOJSON_CLIENT $ISO_COUNTRIES v3"

vendor=src/botmon/dashboard/static/vendor
build=build/dashboard-assets
stamp=$vendor/.stamp

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$versions" ] \
  && [ -s "$vendor/echarts.min.js" ] && [ -s "$vendor/world.geo.json" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "botmon: npm/node missing: dashboard charts and map will not be available" >&2
  exit 0
fi

echo "botmon: installing dashboard assets ($versions)"
mkdir -p "$build" "$vendor"
(
  cd "$build"
  [ -f package.json ] || echo '{"name":"botmon-dashboard-assets","private":true}' >package.json
  npm install --silent --no-audit --no-fund --no-save \
    "$ECHARTS" "$WORLD_ATLAS" "$TOPOJSON_CLIENT" "$ISO_COUNTRIES" >/dev/null
)
cp "$build/node_modules/echarts/dist/echarts.min.js" "$vendor/echarts.min.js"
cp "$build/node_modules/echarts/LICENSE" "$vendor/LICENSE.echarts"
cp "$build/node_modules/world-atlas/LICENSE" "$vendor/LICENSE.world-atlas" 2>/dev/null || true

# World map: TopoJSON (Natural Earth 1:110m) -> GeoJSON keyed by ISO 3166 alpha-2, the code that
# enrichment stores. Rings that cross the antimeridian are dropped (they would streak across the
# map), and so is Antarctica (no bots, much ink).
node - "$build" "$vendor/world.geo.json" <<'JS'
const path = require("path");
const fs = require("fs");
const [build, out] = process.argv.slice(2);
const req = (m) => require(path.resolve(build, "node_modules", m));
const topojson = req("topojson-client");
const iso = req("i18n-iso-countries");
const topo = JSON.parse(fs.readFileSync(path.resolve(build, "node_modules/world-atlas/countries-110m.json")));
const geo = topojson.feature(topo, topo.objects.countries);
const round = (x) => Math.round(x * 100) / 100;
const okRing = (ring) => ring.every((p, i) => i === 0 || Math.abs(p[0] - ring[i - 1][0]) < 180);
const features = [];
for (const f of geo.features) {
  const a2 = f.id ? iso.numericToAlpha2(f.id) : undefined;
  if (!a2 || a2 === "AQ" || !f.geometry) continue;
  const polys = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
  const kept = polys.filter((poly) => okRing(poly[0]))
    .map((poly) => poly.map((ring) => ring.map((p) => [round(p[0]), round(p[1])])));
  if (!kept.length) continue;
  features.push({
    type: "Feature",
    id: a2,
    properties: { name: a2, label: f.properties.name },
    geometry: { type: "MultiPolygon", coordinates: kept },
  });
}
fs.writeFileSync(out, JSON.stringify({ type: "FeatureCollection", features }));
const names = {};
for (const [a2, name] of Object.entries(iso.getNames("en", { select: "alias" }))) names[a2] = name;
fs.writeFileSync(path.join(path.dirname(out), "countries.json"), JSON.stringify(names));
console.log(`botmon: world map with ${features.length} countries`);
JS
echo "$versions" >"$stamp"
