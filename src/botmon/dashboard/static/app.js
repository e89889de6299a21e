/* botmon dashboard: six read-only views over the read API (/api/v1/stats/...).
 * Every chart is drawn from one API table; the same table is shown on demand and offered as
 * CSV from the same URL, so the numbers a person sees, copies and downloads are the API's.
 * Views refresh on their own by polling while "live" is on. Times are UTC unless marked. */
"use strict";

const API = "/api/v1/stats";
/* Every default (ranges, rounding, buckets, limits, refresh) comes from the server
   (GET /dashboard/config, botmon.analysis.defaults), which warms its cache with the same. */
let CFG = null;
const PALETTE = ["#5fb3b3", "#e0a458", "#c594c5", "#98c379", "#6699cc", "#e06c75", "#d4c96a", "#7fb3d5"];
/* ?refresh=SECONDS changes how often live views poll (default: the server's refresh_s). */
const refreshMs = () => Math.max(1, Number(new URLSearchParams(location.search).get("refresh")) || CFG.refresh_s) * 1000;
const AXIS = { axisLine: { lineStyle: { color: "#3a4656" } }, splitLine: { lineStyle: { color: "#232d3a" } },
  axisLabel: { color: "#9aa7b6" }, nameTextStyle: { color: "#9aa7b6" } };

const S = { view: "overview", botnet: null, compare: null, botnets: [], descriptions: {}, charts: [],
  update: null, timer: null, countryNames: {}, worldReady: false, busy: false, seq: 0 };

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};

function colorOf(name) {
  const i = S.botnets.indexOf(name);
  return PALETTE[(i < 0 ? 0 : i) % PALETTE.length];
}
function fmtTime(t) {
  if (t === null || t === undefined || t === "") return "";
  return new Date(t * 1000).toISOString().slice(0, 16).replace("T", " ");
}
function fmtAge(s) {
  if (s === null || s === undefined) return "never";
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}
const TIME_COLUMNS = new Set(["t", "first_seen", "last_seen", "last_heartbeat", "campaign_started_at", "campaign_ended_at"]);
function cell(col, v) {
  if (v === null || v === undefined) return "";
  if (TIME_COLUMNS.has(col)) return fmtTime(v);
  if (col === "share" || col.endsWith("normalised") || col === "jaccard") return String(v);
  return String(v);
}

/* -- time range and bucket ------------------------------------------------------------------ */
function rangeParams() {
  const r = $("range").value;
  let start, end;
  if (r === "custom") {
    start = Date.parse($("from").value + ":00Z") / 1000;
    end = Date.parse($("to").value + ":00Z") / 1000;
    if (!(end > start)) { end = Math.ceil(Date.now() / 60000) * 60; start = end - CFG.default_range_s; }
  } else {
    /* The end is rounded up (5 minutes), so refreshes within that time ask for the same
       range and the server answers from its validated cache. */
    const round = CFG.range_round_s;
    end = Math.ceil(Date.now() / (round * 1000)) * round;
    start = end - Number(r);
  }
  return { start, end };
}
function bucketFor(range, choice) {
  const span = range.end - range.start;
  let b = Number(choice);
  if (choice === "auto") {
    const fit = CFG.auto_buckets.find((x) => span <= x.up_to_s);
    b = fit ? fit.bucket_s : CFG.auto_longest_s;
  }
  while (span / b > CFG.max_points) b *= 2;  /* keep charts readable and inside the API's bucket cap */
  return b;
}
function bucketLabel(b) {
  if (b % 604800 === 0) return `${b / 604800} week`;
  if (b % 86400 === 0) return `${b / 86400} day`;
  if (b % 3600 === 0) return `${b / 3600} h`;
  return `${Math.round(b / 60)} min`;
}
/* A bar for a bucket is drawn across its bucket (centred on its middle), so a week's bar
   covers its ISO week (Monday 00:00 UTC to Sunday 24:00) and a day's bar its UTC day; the
   tooltip names the bucket by its start, as the API's t does. */
function barData(rows, key, b) { return rows.map((x) => [(x.t + b / 2) * 1000, x[key]]); }
function bucketTooltip(b) {
  return { trigger: "axis", axisPointer: { type: "shadow" }, formatter: (items) => {
    const list = Array.isArray(items) ? items : [items];
    if (!list.length) return "";
    const t = list[0].value[0] / 1000 - b / 2;
    const head = b % 86400 === 0 ? `${fmtTime(t).slice(0, 10)} – ${fmtTime(t + b - 86400).slice(0, 10)}` : `${fmtTime(t)} (+${bucketLabel(b)})`;
    return [head, ...list.map((i) => `${i.marker}${i.seriesName}: ${i.value[1] === null ? "–" : i.value[1]}`)].join("<br>");
  } };
}
/* The source filter (crawlers, sensors or both) applies to every request of every view and is
   kept in the page's address (?source_type=sensor), so a filtered view can be shared. */
const SOURCE_TYPES = ["crawler", "sensor"];
function sourceType() { const v = $("source").value; return SOURCE_TYPES.includes(v) ? v : null; }
function sourceFromUrl() {
  const v = new URLSearchParams(location.search).get("source_type");
  $("source").value = SOURCE_TYPES.includes(v) ? v : "all";
}
function sourceToUrl() {
  const p = new URLSearchParams(location.search);
  if (sourceType()) p.set("source_type", sourceType()); else p.delete("source_type");
  const q = p.toString();
  history.replaceState(null, "", `${location.pathname}${q ? "?" + q : ""}${location.hash}`);
}
function query(extra = {}) {
  const r = rangeParams();
  const p = new URLSearchParams({ start: String(r.start), end: String(r.end) });
  if (sourceType()) p.set("source_type", sourceType());
  for (const [k, v] of Object.entries(extra)) if (v !== null && v !== undefined && v !== "") p.set(k, String(v));
  return p;
}
class Stale extends Error {}
async function getTable(path, params) {
  /* A newer refresh started while this one waited: drop the answer so an older, slower
     response never overwrites a newer one. */
  const seq = S.seq;
  const res = await fetch(`${API}${path}?${params}`, { headers: { Accept: "application/json" } });
  if (seq !== S.seq) throw new Stale("stale");
  if (res.status === 401) { location.href = "/login"; throw new Error("signed out"); }
  if (!res.ok) {
    let msg = `${res.status}`;
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  const body = await res.json();
  if (seq !== S.seq) throw new Stale("stale");
  return body;
}
function csvUrl(path, params) {
  const p = new URLSearchParams(params);
  p.set("format", "csv");
  return `${API}${path}?${p}`;
}

/* -- panels: a chart, its table and its CSV ------------------------------------------------- */
function panel(title, note, opts = {}) {
  const tools = el("span", { class: "tools" });
  const tableBtn = el("button", { type: "button", class: "table-toggle", text: "Table" });
  const csv = el("a", { class: "csv", text: "CSV", download: "" });
  tools.append(tableBtn, csv);
  const p = el("section", { class: "panel" + (opts.wide ? " wide" : ""), "data-panel": opts.id || title });
  p.append(tools, el("h2", { text: title }), el("p", { class: "note", text: note }));
  let chartEl = null, chart = null;
  if (!opts.noChart) {
    chartEl = el("div", { class: "chart " + (opts.chartClass || "") });
    p.append(chartEl);
  }
  const wrap = el("div", { class: "tablewrap" });
  wrap.hidden = !opts.tableOpen;
  p.append(wrap);
  tableBtn.addEventListener("click", () => { wrap.hidden = !wrap.hidden; });
  $("view").append(p);
  if (chartEl) { chart = echarts.init(chartEl, null, { renderer: "canvas" }); S.charts.push(chart); }
  return {
    el: p, chart,
    show(on) { p.hidden = !on; if (on && chart) chart.resize(); },
    setTable(data, columns) { wrap.replaceChildren(renderTable(data, columns)); },
    setCsv(path, params) { csv.href = csvUrl(path, params); },
    draw(option) { if (chart) chart.setOption(Object.assign({ useUTC: true, backgroundColor: "transparent",
      textStyle: { color: "#c9d2dc" }, animation: false }, option), true); },
  };
}
function renderTable(data, columns, labels = {}) {
  const cols = columns || data.columns;
  const t = el("table", { "data-view": data.view });
  const numeric = (c) => data.rows.some((r) => typeof r[c] === "number") && !TIME_COLUMNS.has(c);
  const isNum = Object.fromEntries(cols.map((c) => [c, numeric(c)]));
  t.append(el("thead", {}, el("tr", {}, ...cols.map((c) => el("th", { class: isNum[c] ? "num" : "", title: c, text: labels[c] || c })))));
  const body = el("tbody");
  for (const r of data.rows) {
    body.append(el("tr", {}, ...cols.map((c) => el("td", { class: isNum[c] ? "num" : "", "data-col": c, text: cell(c, r[c]) }))));
  }
  t.append(body);
  return t;
}
function timeAxis(name) { return Object.assign({ type: "time", name }, AXIS); }
function valueAxis(name, extra = {}) { return Object.assign({ type: "value", name, minInterval: 1 }, AXIS, extra); }
const LEGEND = { textStyle: { color: "#c9d2dc" }, top: 0 };
const GRID = { left: 64, right: 56, top: 40, bottom: 40 };
function tooltipAxis() { return { trigger: "axis", valueFormatter: (v) => (v === null ? "–" : String(v)) }; }

/* -- views ----------------------------------------------------------------------------------- */
const VIEWS = {};

const MONITOR_COLUMNS = ["source", "kind", "state", "paused_reason", "botnet", "reported_requests_per_s", "reported_replies", "reported_errors",
  "contacts_per_s", "contacts", "answered",
  "in_flight", "discovery_queue", "tracking_queue", "campaign", "campaign_settings", "campaign_started_at", "campaign_ended_at",
  "replies", "failed_tries", "last_heartbeat"];
/* Short headers for the health table; each header's tooltip (and the CSV) keeps the API's name. */
const MONITOR_LABELS = { paused_reason: "paused by", reported_requests_per_s: "req/s", reported_replies: "replies (reported)",
  contacts_per_s: "contacts/s", contacts: "contacts", answered: "answered",
  reported_errors: "errors", in_flight: "in flight", discovery_queue: "discovery", tracking_queue: "tracking",
  campaign_settings: "campaign runs with", campaign_started_at: "campaign started", campaign_ended_at: "campaign ended",
  replies: "replies stored", failed_tries: "failed tries stored", last_heartbeat: "last heartbeat" };

VIEWS.overview = function () {
  const cards = panel("Botnets", "Distinct IPs and bot IDs that replied in the last hour; sparkline: distinct IPs per bucket over the range.", { wide: true, noChart: true, id: "botnets" });
  const cardBox = el("div", { class: "cards" });
  cards.el.insertBefore(cardBox, cards.el.querySelector(".tablewrap"));
  const trend = panel("Population of every botnet", "Distinct IPs per bucket (UTC).", { wide: true, id: "trend" });
  const mons = panel("Crawlers and sensors", "Last heartbeat and what it reported (state, requests/s measured by a crawler, contacts/s received by a sensor and how many it answered, queues); its latest campaign and the parameters it runs with; replies and failed tries stored from each source in the last hour (measured). The CSV has every column.", { wide: true, noChart: true, tableOpen: true, id: "monitors" });
  return async function update() {
    const r = rangeParams();
    const b = bucketFor(r, $("bucket").value);
    const pOv = query({ window: CFG.window_s });
    const pTr = query({ bucket: b });
    const healthz = fetch("/healthz", { headers: { Accept: "application/json" } }).then((x) => x.json()).catch(() => null);
    const [ov, tr, mo, hz] = await Promise.all([getTable("/overview", pOv), getTable("/trend", pTr), getTable("/monitors", query({ window: CFG.window_s })), healthz]);
    cards.setTable(ov); cards.setCsv("/overview", pOv);
    for (const c of S.charts.splice(S.charts.indexOf(trend.chart) + 1)) c.dispose();
    cardBox.replaceChildren();
    const now = Math.min(r.end, Date.now() / 1000); // the range's end is rounded up
    for (const row of ov.rows) {
      const spark = el("div", { class: "chart spark" });
      const card = el("div", { class: "card", "data-botnet": row.botnet, style: `border-left-color:${colorOf(row.botnet)}` },
        el("div", { class: "name", text: row.botnet }),
        el("div", { class: "big", "data-col": "ips", text: String(row.ips) }),
        el("div", { class: "small", text: `IPs now · ${row.ids} IDs · ${row.replies} replies · ${row.failed_tries} failed tries` }),
        el("div", { class: "small", text: `last seen ${row.last_seen ? fmtAge(now - row.last_seen) : "never"}` }),
        spark);
      cardBox.append(card);
      const ch = echarts.init(spark, null, { renderer: "canvas" });
      S.charts.push(ch);
      const pts = tr.rows.filter((x) => x.botnet === row.botnet).map((x) => [x.t * 1000, x.ips]);
      ch.setOption({ animation: false, useUTC: true, grid: { left: 2, right: 2, top: 4, bottom: 4 },
        xAxis: { type: "time", show: false }, yAxis: { type: "value", show: false, min: 0 },
        series: [{ type: "line", data: pts, showSymbol: false, lineStyle: { width: 1.5, color: colorOf(row.botnet) },
          areaStyle: { color: colorOf(row.botnet), opacity: 0.15 } }] });
    }
    trend.setTable(tr); trend.setCsv("/trend", pTr);
    const names = [...new Set(tr.rows.map((x) => x.botnet))];
    trend.draw({ legend: LEGEND, grid: GRID, tooltip: tooltipAxis(),
      xAxis: timeAxis("Time (UTC)"), yAxis: valueAxis(`Distinct IPs per ${bucketLabel(b)}`),
      series: names.map((n) => ({ name: n, type: "line", showSymbol: false, color: colorOf(n),
        data: tr.rows.filter((x) => x.botnet === n).map((x) => [x.t * 1000, x.ips]) })) });
    mons.setCsv("/monitors", query({ window: CFG.window_s }));
    const health = (row) => (row.heartbeat_age_s === null ? "no heartbeat" : row.state === "stopped" ? "stopped" : row.heartbeat_age_s < 120 ? "ok" : row.heartbeat_age_s < 900 ? "late" : "dead");
    const t = renderTable(mo, MONITOR_COLUMNS.filter((c) => mo.columns.includes(c)), MONITOR_LABELS);
    const head = t.querySelector("thead tr");
    head.prepend(el("th", { text: "health" }));
    t.querySelectorAll("tbody tr").forEach((tr2, i) => {
      const h = health(mo.rows[i]);
      tr2.prepend(el("td", {}, el("span", { class: `dot ${h.replace(" ", "-")}` }), h));
    });
    mons.el.querySelector(".tablewrap").replaceChildren(mo.rows.length ? t : el("p", { class: "note", text: "No crawler or sensor has reported yet." }), geoNote(hz && hz.geo));
  };
};

// The server's geolocation data and its age (from /healthz): a stale database still places
// most addresses, but countries and ASes drift, so the overview says so instead of hiding it.
function geoNote(geo) {
  if (!geo) return el("p", { class: "note", "data-geo": "unknown", text: "Geolocation data: unknown (server did not say)." });
  if (geo.age_days === null) return el("p", { class: "note warn", "data-geo": "none", text: "Geolocation data: none installed; only the lab database answers (run make install)." });
  const text = `Geolocation data: ${geo.source}, dated ${geo.data_date} (${geo.age_days} days old` +
    (geo.stale ? `; stale after ${geo.stale_after_days}: countries and ASes may be out of date, update the data).` : ").");
  return el("p", { class: geo.stale ? "note warn" : "note", "data-geo": geo.stale ? "stale" : "current", text });
}

/* Crawlers only / both / sensors only, stacked: the height is every bot seen, the middle band
   the bots both kinds of monitor saw. */
const SOURCE_BANDS = [["crawler_only", "crawlers only", "#5fb3b3"], ["both", "both", "#c594c5"], ["sensor_only", "sensors only", "#e0a458"]];

function sourcePanel(name) {
  const pnl = panel(`${name}: crawlers vs sensors`, "Bots seen per bucket by crawlers only, by both, and by sensors only (sensors also see bots behind NAT that no crawler reaches).", { id: "sources" });
  const totals = el("div", { class: "totals", "data-totals": "" });
  pnl.el.insertBefore(totals, pnl.el.querySelector(".chart"));
  return async function update(b) {
    const ps = query({ botnet: name, bucket: b });
    const data = await getTable("/sources", ps);
    const series = data.rows.filter((x) => x.t !== null);
    const total = data.rows.find((x) => x.t === null) || {};
    const key = series.some((x) => x.ids_crawler_only + x.ids_both + x.ids_sensor_only > 0) ? "ids" : "ips";
    const unit = key === "ids" ? "bot IDs" : "IPs";
    const all = SOURCE_BANDS.reduce((n, [k]) => n + (total[`${key}_${k}`] || 0), 0);
    totals.replaceChildren(...SOURCE_BANDS.map(([k, label, color]) => {
      const n = total[`${key}_${k}`] || 0;
      return el("div", { class: "total", "data-band": k, style: `border-top-color:${color}` },
        el("div", { class: "big", text: String(n) }),
        el("div", { class: "small", text: `${label}${all ? ` · ${Math.round((100 * n) / all)} %` : ""}` }));
    }), el("div", { class: "total", "data-band": "all" }, el("div", { class: "big", text: String(all) }),
      el("div", { class: "small", text: `${unit} in the range` })));
    pnl.setTable(data); pnl.setCsv("/sources", ps);
    pnl.draw({ legend: LEGEND, grid: GRID, tooltip: tooltipAxis(), xAxis: timeAxis("Time (UTC)"),
      yAxis: valueAxis(`Distinct ${unit} per ${bucketLabel(b)}`),
      series: SOURCE_BANDS.map(([k, label, color]) => ({ name: label, type: "line", stack: "sources", showSymbol: false, color,
        lineStyle: { width: 1 }, areaStyle: { opacity: 0.55 }, data: series.map((x) => [x.t * 1000, x[`${key}_${k}`]]) })) });
  };
}

/* -- configurations: the alert banner (every view) and the single botnet's panel ------------ */
const ALERT_TEXT = { stop_order: "STOP ORDER", bad_signature: "forged configuration (signatures do not verify)",
  new_version: "new configuration version", new_config: "new configuration" };
const SEVERITY_RANK = { critical: 0, high: 1, warning: 2, info: 3 };

async function updateAlerts() {
  /* Unacknowledged configuration alerts (GET /api/v1/alerts); a stop order turns it red. */
  let alerts;
  try {
    const res = await fetch("/api/v1/alerts?unacked=true", { headers: { Accept: "application/json" } });
    if (!res.ok) return;
    alerts = (await res.json()).alerts;
  } catch (e) { return; }
  const box = $("alerts");
  box.hidden = alerts.length === 0;
  box.className = "alerts" + (alerts.some((a) => a.kind === "stop_order") ? " critical" : "");
  box.dataset.count = String(alerts.length);
  const shown = alerts.slice().sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || b.at - a.at).slice(0, 5);
  box.replaceChildren(
    el("strong", { text: `${alerts.length} unacknowledged configuration alert${alerts.length === 1 ? "" : "s"}` }),
    el("ul", {}, ...shown.map((a) => el("li", { class: `alert ${a.severity}`, "data-kind": a.kind },
      el("b", { text: ALERT_TEXT[a.kind] || a.kind }), " · ",
      el("a", { href: `#/botnet/${encodeURIComponent(a.botnet)}`, text: a.botnet }),
      ` · version ${a.version} · ${a.digest.slice(0, 12)}… · ${fmtTime(a.at)} UTC`))),
    el("span", { class: "hint", text: (alerts.length > shown.length ? `${alerts.length - shown.length} more. ` : "") +
      "An admin acknowledges an alert with POST /api/v1/admin/alerts/{id}/ack." }));
}

const CONFIG_COLUMNS = ["version", "digest", "signatures", "stop", "bots", "unlisted_sightings", "first_seen", "last_seen", "current"];
const STOP_RED = "#e06c75", FORGED_ORANGE = "#e0a458";
/* Red and orange mean something here, so ordinary configurations never get them. */
const CONFIG_PALETTE = PALETTE.filter((c) => c !== STOP_RED && c !== FORGED_ORANGE);
function configColor(c, i) { return c.stop ? STOP_RED : c.signatures === "invalid" ? FORGED_ORANGE : CONFIG_PALETTE[i % CONFIG_PALETTE.length]; }

function configPanel(name) {
  /* Hidden for a botnet whose bots reveal no configuration (only some protocols do). */
  const pnl = panel(`${name}: configurations`, "Which configuration the bots carried when: each bar spans its first to last sighting. " +
    "Red: a stop order; orange: signatures that do not verify. The table counts the bots that carried each one.",
  { id: "configs", wide: true, tableOpen: true });
  pnl.el.querySelector("a.csv").remove();
  pnl.el.hidden = true;
  const tags = el("div", { class: "tags" });
  pnl.el.insertBefore(tags, pnl.el.querySelector(".chart"));
  const path = `/botnets/${encodeURIComponent(name)}/configs`;
  return async function update() {
    const configs = (await getTable(path, new URLSearchParams())).configs;
    pnl.el.hidden = configs.length === 0;
    if (!configs.length) return;
    const current = configs.find((c) => c.current);
    tags.dataset.digest = current.digest;
    tags.replaceChildren(el("span", { class: "label", text: `Current (version ${current.version}, signatures ${current.signatures}):` }),
      ...Object.entries(current.tags).map(([k, v]) => el("code", { text: `[${k}] ${v}` })));
    pnl.setTable({ view: "configs", columns: CONFIG_COLUMNS, rows: configs });
    const oldest = configs.slice(0, 30).reverse();
    const label = (c) => `v${c.version} ${c.digest.slice(0, 8)}`;
    pnl.chart.getDom().style.height = `${Math.max(160, 60 + 26 * oldest.length)}px`;
    pnl.chart.resize();
    pnl.draw({ grid: { left: 130, right: 30, top: 10, bottom: 40 }, xAxis: timeAxis("Time (UTC)"),
      yAxis: Object.assign({ type: "category", data: oldest.map(label) }, AXIS),
      tooltip: { trigger: "item", formatter: (p) => { const c = oldest[p.seriesIndex];
        return `${label(c)}: ${c.bots} bots, signatures ${c.signatures}${c.stop ? ", STOP ORDER" : ""}<br>` +
          `${fmtTime(c.first_seen)} – ${fmtTime(c.last_seen)} UTC`; } },
      series: oldest.map((c, i) => ({ name: label(c), type: "line", color: configColor(c, i), symbol: "circle", symbolSize: 10,
        lineStyle: { width: 10 }, data: [[c.first_seen * 1000, label(c)], [c.last_seen * 1000, label(c)]] })) });
  };
}

/* A DHT (its replies carry node IDs) gets its client versions and an estimate of its total
   size: the estimate's method and assumptions are said in words, its interval drawn beside
   the nodes seen, and on the population chart as a band. Hidden for other botnets. */
const METHOD_WORDS = {
  "capture-recapture (crawlers vs sensors)": "Chapman's capture–recapture between what crawlers and sensors saw",
  "capture-recapture (first vs second half)": "Chapman's capture–recapture between the range's two halves (consecutive crawl rounds)",
  "node-ID density (nearest neighbours)": "node-ID density: the size of the ID space the nodes live in over the mean distance from a node to its nearest neighbour",
};
function clientLabel(x) { return x.client === "unknown" ? "no or unknown v" : `${x.client} ${x.version_text === null ? "?" : x.version_text}`; }
function dhtPanels(name) {
  const clients = panel(`${name}: DHT client versions`, "Distinct nodes per client and version (the v of their messages: LT is libtorrent) in the range; share of the nodes with a known client.", { id: "clients" });
  const size = panel(`${name}: estimated total size`, "", { id: "size-estimate" });
  const words = el("div", { class: "estimate" });
  size.el.querySelector(".note").replaceWith(words);
  clients.show(false); size.show(false);
  return async function update() {
    const base = `/botnets/${encodeURIComponent(name)}`;
    const pc = query();
    const dc = await getTable(`${base}/clients`, pc);
    const isDht = dc.rows.length > 0;
    clients.show(isDht); size.show(isDht);
    if (!isDht) return null;
    const de = await getTable(`${base}/size-estimate`, pc);
    clients.setTable(dc); clients.setCsv(`${base}/clients`, pc);
    const top = dc.rows.slice(0, 15).reverse();
    clients.draw({ grid: { left: 130, right: 60, top: 10, bottom: 40 }, tooltip: { trigger: "axis" },
      xAxis: valueAxis("Distinct nodes"),
      yAxis: Object.assign({ type: "category", data: top.map(clientLabel) }, AXIS),
      series: [{ type: "bar", name: "nodes", data: top.map((x) => x.bots), color: colorOf(name), barMaxWidth: 22,
        label: { show: true, position: "right", color: "#9aa7b6", formatter: (i) => (top[i.dataIndex].share ? `${Math.round(top[i.dataIndex].share * 1000) / 10} %` : "") } }] });
    size.setTable(de); size.setCsv(`${base}/size-estimate`, pc);
    const best = de.rows[0];
    if (!best) {
      words.replaceChildren(el("p", { class: "note", text: "No estimate: no node IDs in the range." }));
      size.draw({ title: { text: "no estimate", left: "center", top: "middle", textStyle: { color: "#8b98a8", fontSize: 13 } } });
      return null;
    }
    words.replaceChildren(
      el("div", { class: "totals" },
        el("div", { class: "total", "data-estimate": String(best.estimate), style: `border-top-color:${colorOf(name)}` },
          el("div", { class: "big", text: `≈ ${best.estimate.toLocaleString("en")}` }),
          el("div", { class: "small", text: `nodes in total (95 %: ${best.low.toLocaleString("en")}–${best.high.toLocaleString("en")})` })),
        el("div", { class: "total" }, el("div", { class: "big", text: best.observed.toLocaleString("en") }),
          el("div", { class: "small", text: "node IDs seen in the range" }))),
      el("p", { class: "note", "data-method": best.method, text: `Method: ${METHOD_WORDS[best.method] || best.method}. ${best.explanation}.` +
        (de.rows.length > 1 ? ` Other methods, for comparison: ${de.rows.slice(1).map((x) => `${x.method} ≈ ${x.estimate.toLocaleString("en")} (${x.low.toLocaleString("en")}–${x.high.toLocaleString("en")})`).join("; ")}.` : "") }));
    const rows = de.rows.slice().reverse();
    size.draw({ grid: { left: 250, right: 40, top: 24, bottom: 40 },
      tooltip: { trigger: "item", formatter: (i) => { const x = rows[i.dataIndex]; return `${x.method}<br>≈ ${x.estimate} (95 %: ${x.low}–${x.high})<br>seen: ${x.observed}`; } },
      xAxis: valueAxis("Nodes", { scale: true }),
      yAxis: Object.assign({ type: "category", data: rows.map((x) => x.method) }, AXIS),
      series: [
        { type: "custom", name: "95 % interval", data: rows.map((x, i) => [i, x.low, x.high]),
          renderItem: (params, api) => {
            const y = api.coord([0, api.value(0)])[1], lo = api.coord([api.value(1), 0])[0], hi = api.coord([api.value(2), 0])[0];
            const style = { stroke: colorOf(name), lineWidth: 2 };
            return { type: "group", children: [
              { type: "line", shape: { x1: lo, y1: y, x2: hi, y2: y }, style },
              { type: "line", shape: { x1: lo, y1: y - 7, x2: lo, y2: y + 7 }, style },
              { type: "line", shape: { x1: hi, y1: y - 7, x2: hi, y2: y + 7 }, style }] };
          }, encode: { x: [1, 2], y: 0 } },
        { type: "scatter", name: "estimate", symbolSize: 12, color: "#e0a458", data: rows.map((x, i) => [x.estimate, i]),
          markLine: { silent: true, symbol: "none", lineStyle: { color: "#8b98a8", type: "dashed" },
            label: { formatter: "seen", color: "#8b98a8" }, data: [{ xAxis: best.observed }] } }] });
    return best;
  };
}
/* The estimate on the population chart: its interval as a band, the estimate as a line. */
function estimateMarks(best) {
  if (!best) return {};
  return { markLine: { silent: true, symbol: "none", lineStyle: { color: "#e0a458", type: "dashed" },
    label: { formatter: `estimated total ≈ ${best.estimate}`, color: "#e0a458", position: "insideEndTop" }, data: [{ yAxis: best.estimate }] },
  markArea: { silent: true, itemStyle: { color: "rgba(224,164,88,0.10)" }, data: [[{ yAxis: best.low }, { yAxis: best.high }]] } };
}
/* Affected devices: the bots' CPU architectures, for every botnet whose replies tell them. */
function devicesPanel(name) {
  const pnl = panel(`${name}: affected devices`, "Distinct bots per CPU architecture in the range (the bots' own reports, e.g. Mozi's [cpu] tag); share of the bots whose architecture is known.", { id: "devices" });
  pnl.show(false);
  return async function update() {
    const base = `/botnets/${encodeURIComponent(name)}`;
    const pd = query();
    const dd = await getTable(`${base}/devices`, pd);
    const known = dd.rows.filter((x) => x.arch !== "unknown");
    pnl.show(known.length > 0);
    if (!known.length) return;
    pnl.setTable(dd); pnl.setCsv(`${base}/devices`, pd);
    const rows = dd.rows.slice(0, 15).reverse();
    pnl.draw({ grid: { left: 110, right: 60, top: 10, bottom: 40 }, tooltip: { trigger: "axis" },
      xAxis: valueAxis("Distinct bots"),
      yAxis: Object.assign({ type: "category", data: rows.map((x) => x.arch) }, AXIS),
      series: [{ type: "bar", name: "bots", barMaxWidth: 22, data: rows.map((x) => ({ value: x.bots, itemStyle: { color: x.arch === "unknown" ? "#3a4656" : PALETTE[(known.findIndex((k) => k.arch === x.arch) + 1) % PALETTE.length] } })),
        label: { show: true, position: "right", color: "#9aa7b6", formatter: (i) => (rows[i.dataIndex].share ? `${Math.round(rows[i.dataIndex].share * 1000) / 10} %` : "") } }] });
  };
}

/* Daily cycle: each region's presence by hour of day (UTC or the region's local time) from
   the diurnal analysis (/api/v1/analyses/diurnal), its strength and peak hours, and a red
   mark on a region whose dip local time does not explain (suspected throttling), with the
   evidence. A cycle needs days of data: a range shorter than two days asks the analysis for
   its own default range instead, and the note says which range is shown. */
const THROTTLE_RED = "#ff4d5a";
function diurnalPanel(name) {
  const pnl = panel(`${name}: daily cycle`, "Mean distinct addresses per hour of day, per country (the most bots first).", { id: "diurnal", wide: true });
  const clock = el("select", { class: "diurnal-clock", "aria-label": "clock", title: "Hours of day in UTC or in each country's own time zone" },
    el("option", { value: "utc", text: "UTC hours" }), el("option", { value: "local", text: "local hours" }));
  const summary = el("div", { class: "diurnal-summary" });
  const table = el("div", { class: "diurnal-regions" });
  pnl.el.querySelector(".tools").prepend(clock);
  pnl.el.insertBefore(summary, pnl.el.querySelector(".chart"));
  pnl.el.append(table);
  let last = null;
  const pct = (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 100)} %`);
  const hour = (v) => {
    if (v === null || v === undefined) return "–";
    const m = Math.round(v * 60) % 1440;
    return `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
  };
  const span = (w) => (w && w.length === 2 ? `${hour(w[0])}–${hour(w[1])}` : "–");
  function draw() {
    const d = last;
    if (!d) return;
    const local = clock.value === "local";
    const regions = d.regions.filter((x) => (local ? x.profile_local.length : x.profile_utc.length));
    pnl.draw({ legend: Object.assign({ type: "scroll" }, LEGEND), grid: GRID, tooltip: tooltipAxis(),
      xAxis: Object.assign({ type: "category", name: local ? "Local hour" : "Hour (UTC)", data: [...Array(24).keys()].map((h) => String(h)) }, AXIS),
      yAxis: valueAxis("Mean per hour"),
      series: regions.map((x, i) => {
        const bad = x.throttling_suspected;
        const s = { name: bad ? `${x.country} ⚠ throttled?` : x.country, type: "line", showSymbol: bad, smooth: false,
          data: local ? x.profile_local : x.profile_utc,
          color: bad ? THROTTLE_RED : PALETTE[i % PALETTE.length], lineStyle: { width: bad ? 3 : 1.5, type: bad ? "solid" : "solid" } };
        if (bad && x.evidence) {
          const w = local ? x.evidence.window_local : x.evidence.window_utc;
          const lo = Math.floor(w[0]), hi = Math.ceil(w[1]);
          const areas = lo < hi ? [[lo, hi]] : [[lo, 24], [0, hi]];
          s.markArea = { silent: true, itemStyle: { color: "rgba(255,77,90,0.16)" },
            label: { color: THROTTLE_RED, formatter: `${x.country}: suspected throttling` },
            data: areas.filter(([a, b]) => b > a).map(([a, b]) => [{ xAxis: String(a) }, { xAxis: String(Math.min(23, b - 1)) }]) };
        }
        return s;
      }) });
  }
  clock.addEventListener("change", draw);
  return async function update() {
    const r = rangeParams();
    const short = r.end - r.start < 2 * 86400;
    const p = query({ botnet: name });
    if (short) { p.delete("start"); p.delete("end"); }
    const url = `/api/v1/analyses/diurnal?${p}`;
    const seq = S.seq;
    const res = await fetch(url, { headers: { Accept: "application/json" } });
    if (seq !== S.seq) throw new Stale("stale");
    if (!res.ok) {
      let msg = `${res.status}`;
      try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
      summary.replaceChildren(el("p", { class: "note warn", text: `Daily cycle not available: ${msg}` }));
      return;
    }
    const d = await res.json();
    if (seq !== S.seq) throw new Stale("stale");
    last = d;
    const csvParams = new URLSearchParams(p); csvParams.set("format", "csv");
    pnl.el.querySelector("a.csv").href = `/api/v1/analyses/diurnal?${csvParams}`;
    const flagged = d.regions.filter((x) => x.throttling_suspected);
    summary.replaceChildren(
      el("p", { class: "note", "data-range": `${d.start}-${d.end}`, text: `${fmtTime(d.start)} – ${fmtTime(d.end)} UTC (${d.days} days of data${short ? "; the view's range is too short for a daily cycle, so the analysis's own range is shown" : ""}). ` +
        `Botnet: cycle strength ${pct(d.strength)} of the mean (0 = flat), peak ${hour(d.peak_hour_local)} local time, ${hour(d.peak_hour_utc)} UTC.` +
        (d.notes.length ? ` ${d.notes.join(". ")}.` : "") }),
      ...flagged.map((x) => el("p", { class: "throttle-alert", "data-country": x.country },
        el("b", { text: `⚠ ${x.country}: suspected throttling or filtering. ` }),
        x.evidence ? `Between ${span(x.evidence.window_utc)} UTC (${span(x.evidence.window_local)} local) presence fell to ${x.evidence.observed.toFixed(1)} per hour where the rest of the botnet's local-time cycle predicts ${x.evidence.expected.toFixed(1)} (${pct(x.evidence.ratio)}), on ${x.evidence.days_held} of ${x.evidence.days} days` +
          (x.evidence.failed_share_window !== null ? `; failed tries: ${pct(x.evidence.failed_share_window)} of its records in the window vs ${pct(x.evidence.failed_share_outside)} outside.` : ".") : "")));
    const t = el("table", { "data-view": "diurnal-regions" });
    const cols = [["country", "country"], ["bots", "bots"], ["strength", "strength"], ["peak_hour_utc", "peak (UTC)"], ["peak_hour_local", "peak (local)"], ["explained", "explained"], ["throttling_suspected", "throttling"]];
    t.append(el("thead", {}, el("tr", {}, ...cols.map(([c, label]) => el("th", { title: c, class: c === "country" || c === "throttling_suspected" ? "" : "num", text: label })))));
    const body = el("tbody");
    for (const x of d.regions) {
      const tr = el("tr", { "data-country": x.country, class: x.throttling_suspected ? "throttled" : "" });
      for (const [c] of cols) {
        let v = x[c];
        if (c === "strength" || c === "explained") v = pct(v);
        else if (c.startsWith("peak")) v = hour(v);
        else if (c === "throttling_suspected") v = v ? `⚠ suspected ${span(x.evidence && x.evidence.window_utc)} UTC` : "no";
        tr.append(el("td", { "data-col": c, class: c === "country" || c === "throttling_suspected" ? "" : "num", text: String(v) }));
      }
      body.append(tr);
    }
    t.append(body);
    table.replaceChildren(t);
    pnl.el.querySelector(".tablewrap").replaceChildren(renderTable({ view: "diurnal", columns: ["country", "asn", "bots", "strength", "peak_hour_utc", "peak_hour_local", "explained", "throttling_suspected"], rows: d.regions.concat(d.ases) }));
    draw();
  };
}

VIEWS.botnet = function () {
  const name = S.botnet;
  const pop = panel(`${name}: population`, "Distinct IPs, bot IDs and ip:port pairs per bucket (UTC).", { id: "population" });
  const dht = dhtPanels(name);
  const sources = sourcePanel(name);
  const tries = panel(`${name}: replies vs failed tries`, "Replies received and tries that got no answer, per bucket.", { id: "tries" });
  const ret = panel(`${name}: new vs returning bots`, "New: first reply ever in that bucket; returning: seen before.", { id: "returning" });
  const peers = panel(`${name}: top peers by in-degree`, "Peers listed by the most distinct bots in the range (from edges).", { id: "peers", chartClass: "tall" });
  const configs = configPanel(name);
  const devices = devicesPanel(name);
  const daily = diurnalPanel(name);
  return async function update() {
    const dailyDone = daily();
    const r = rangeParams();
    const b = bucketFor(r, $("bucket").value);
    const base = `/botnets/${encodeURIComponent(name)}`;
    const pp = query({ bucket: b });
    const data = await getTable(`${base}/population`, pp);
    const hasIds = data.rows.some((x) => x.ids > 0);
    const pr = query({ bucket: b, by: hasIds ? "id" : "ip" });
    const pt = query({ limit: CFG.top_peers });
    const [rt, tp, est] = await Promise.all([getTable(`${base}/returning`, pr), getTable(`${base}/top-peers`, pt),
      dht(), devices(), sources(b), configs()]);
    const ts = (k) => data.rows.map((x) => [x.t * 1000, x[k]]);
    pop.setTable(data); pop.setCsv(`${base}/population`, pp);
    pop.draw({ legend: LEGEND, grid: GRID, tooltip: tooltipAxis(), xAxis: timeAxis("Time (UTC)"),
      yAxis: valueAxis(`Distinct per ${bucketLabel(b)}`, est ? { max: (v) => Math.max(v.max, est.high) } : {}),
      series: [
        { name: "IPs", type: "line", showSymbol: false, data: ts("ips"), color: colorOf(name) },
        { name: "bot IDs", type: "line", showSymbol: false, data: ts("ids"), color: "#e0a458" },
        { name: "ip:port", type: "line", showSymbol: false, data: ts("ip_ports"), color: "#8b98a8", lineStyle: { type: "dashed" },
          ...estimateMarks(est) }] });
    pop.el.querySelector("h2").textContent = est ? `${name}: DHT size over time` : `${name}: population`;
    tries.setTable(data, ["t", "replies", "failed_tries"]); tries.setCsv(`${base}/population`, pp);
    tries.draw({ legend: LEGEND, grid: GRID, tooltip: bucketTooltip(b), xAxis: timeAxis("Time (UTC)"),
      yAxis: valueAxis(`Records per ${bucketLabel(b)}`),
      series: [
        { name: "replies", type: "bar", stack: "t", data: barData(data.rows, "replies", b), color: "#98c379", barMaxWidth: 18 },
        { name: "failed tries", type: "bar", stack: "t", data: barData(data.rows, "failed_tries", b), color: "#e06c75", barMaxWidth: 18 }] });
    ret.setTable(rt); ret.setCsv(`${base}/returning`, pr);
    ret.draw({ legend: LEGEND, grid: GRID, tooltip: bucketTooltip(b), xAxis: timeAxis("Time (UTC)"),
      yAxis: valueAxis(`Bots (by ${hasIds ? "bot ID" : "IP"}) per ${bucketLabel(b)}`),
      series: [
        { name: "returning", type: "bar", stack: "b", data: barData(rt.rows, "returning", b), color: "#6699cc", barMaxWidth: 18 },
        { name: "new", type: "bar", stack: "b", data: barData(rt.rows, "new", b), color: "#d4c96a", barMaxWidth: 18 }] });
    peers.setTable(tp); peers.setCsv(`${base}/top-peers`, pt);
    const rows = tp.rows.slice().reverse();
    peers.draw({ grid: { left: 150, right: 30, top: 10, bottom: 40 }, tooltip: { trigger: "axis" },
      xAxis: valueAxis("In-degree (distinct bots listing the peer)"),
      yAxis: Object.assign({ type: "category", data: rows.map((x) => `${x.ip}:${x.port}`) }, AXIS),
      series: [{ type: "bar", data: rows.map((x) => x.in_degree), color: colorOf(name), name: "in-degree" }] });
    await dailyDone;
  };
};

function geoBotnetParam() { return S.botnet === "*" ? null : S.botnet; }

VIEWS.geo = function () {
  const map = panel("Bots per country", "Distinct IPs per country in the range (enrichment at ingest).", { wide: true, chartClass: "tall", id: "map" });
  const list = panel("Countries", "Distinct IPs and share of the botnet's IPs in the range; chart: top 15.", { tableOpen: true, id: "countries" });
  return async function update() {
    const p = query({ botnet: geoBotnetParam() });
    const data = await getTable("/countries", p);
    map.setTable(data); map.setCsv("/countries", p);
    list.setTable({ view: data.view, columns: ["country", "name", "ips", "share"],
      rows: data.rows.map((x) => Object.assign({ name: S.countryNames[x.country] || "" }, x)) });
    list.setCsv("/countries", p);
    const top = data.rows.slice(0, 15).reverse();
    list.draw({ grid: { left: 170, right: 30, top: 10, bottom: 40 }, tooltip: { trigger: "axis" },
      xAxis: valueAxis("Distinct IPs"),
      yAxis: Object.assign({ type: "category", data: top.map((x) => `${x.country} ${(S.countryNames[x.country] || "").slice(0, 20)}`) }, AXIS),
      series: [{ type: "bar", name: "IPs", data: top.map((x) => x.ips), color: S.botnet && S.botnet !== "*" ? colorOf(S.botnet) : "#5fb3b3" }] });
    const max = Math.max(1, ...data.rows.map((x) => x.ips));
    const option = { tooltip: { trigger: "item", formatter: (i) => `${S.countryNames[i.name] || i.name}: ${isNaN(i.value) ? 0 : i.value} IPs` },
      visualMap: { min: 0, max, left: 10, bottom: 10, text: ["more IPs", "fewer"], calculable: true,
        inRange: { color: ["#1f3a45", "#2f6f73", "#5fb3b3", "#e0a458", "#e06c75"] }, textStyle: { color: "#c9d2dc" } },
      series: [{ type: "map", map: "world", name: "IPs", roam: true, nameProperty: "name",
        itemStyle: { areaColor: "#1c2531", borderColor: "#2f3b4a" }, emphasis: { label: { show: false }, itemStyle: { areaColor: "#c594c5" } },
        data: data.rows.filter((x) => x.country !== "??").map((x) => ({ name: x.country, value: x.ips })) }] };
    if (S.worldReady) map.draw(option);
    else map.el.querySelector(".note").textContent += " (World map geometry missing: run make install.)";
  };
};

VIEWS.ases = function () {
  const bars = panel("Top autonomous systems", "Distinct IPs per AS in the range; share of all the botnet's IPs.", { wide: true, chartClass: "tall", tableOpen: true, id: "ases" });
  return async function update() {
    const p = query({ botnet: geoBotnetParam(), limit: CFG.top_ases });
    const data = await getTable("/ases", p);
    bars.setTable(data); bars.setCsv("/ases", p);
    const rows = data.rows.slice(0, 20).reverse();
    bars.draw({ grid: { left: 260, right: 40, top: 10, bottom: 40 }, tooltip: { trigger: "axis" },
      xAxis: valueAxis("Distinct IPs"),
      yAxis: Object.assign({ type: "category", data: rows.map((x) => `${x.asn === null ? "?" : "AS" + x.asn} ${String(x.as_name).slice(0, 28)}`) }, AXIS),
      series: [{ type: "bar", name: "IPs", data: rows.map((x) => x.ips), color: S.botnet && S.botnet !== "*" ? colorOf(S.botnet) : "#5fb3b3" }] });
  };
};

VIEWS.counting = function () {
  const name = S.botnet;
  const sizes = CFG.counting_buckets;
  const panels = sizes.map((b) => [b, panel(`${name}: IPs vs IDs per ${bucketLabel(b)}`,
    `Distinct IPs and distinct bot IDs per ${bucketLabel(b)} bucket (weeks: Monday to Sunday, UTC); ratio = IPs per ID (right axis). Longer buckets gather more IPs per ID when addresses change.`,
    { wide: b === sizes[0], id: `counting-${b}` })]);
  return async function update() {
    const r = rangeParams();
    await Promise.all(panels.map(async ([b, pnl]) => {
      const p = query({ botnet: name, bucket: b });
      const data = await getTable("/counting", p);
      pnl.setTable(data); pnl.setCsv("/counting", p);
      const noIds = !data.rows.some((x) => x.ids > 0);
      const bars = b !== sizes[0];
      const pts = (k) => (bars ? barData(data.rows, k, b) : data.rows.map((x) => [x.t * 1000, x[k]]));
      pnl.draw({ legend: LEGEND, grid: GRID, tooltip: bars ? bucketTooltip(b) : tooltipAxis(), xAxis: timeAxis("Time (UTC)"),
        yAxis: [valueAxis("Distinct count"), valueAxis("IPs per ID", { minInterval: 0, splitLine: { show: false } })],
        title: noIds ? { text: "this botnet reports no bot IDs", left: "center", top: "middle", textStyle: { color: "#8b98a8", fontSize: 13 } } : undefined,
        series: [
          { name: "IPs", type: bars ? "bar" : "line", showSymbol: false, data: pts("ips"), color: colorOf(name) },
          { name: "IDs", type: bars ? "bar" : "line", showSymbol: false, data: pts("ids"), color: "#e0a458" },
          { name: "IPs per ID", type: "line", yAxisIndex: 1, data: pts("ips_per_id"), color: "#c594c5", lineStyle: { type: "dashed" } }] });
    }));
    void r;
  };
};

VIEWS.compare = function () {
  const pop = panel("Normalised population", "Distinct IPs per bucket divided by each botnet's peak in the range, so shapes compare across sizes.", { wide: true, id: "cmp-population" });
  const mix = panel("Country mix", "Share of each botnet's distinct IPs per country (top countries of each).", { id: "cmp-countries" });
  const overlap = panel("Overlap of infected IPs", "IPs seen in both botnets of a pair in the range; Jaccard = shared / union.", { id: "cmp-overlap" });
  const hUtc = panel("Hour of day (UTC)", "Mean distinct IPs online per hour of the day by UTC hour, normalised to each botnet's peak.", { id: "cmp-hours-utc" });
  const hLoc = panel("Hour of day (bots' local time)", "The same, by each bot's local hour (its country's time zone).", { id: "cmp-hours-local" });
  const dev = panel("Affected devices", "Share of each botnet's bots per CPU architecture (of the bots whose architecture is known), and every compared botnet together.", { id: "cmp-devices" });
  return async function update() {
    const r = rangeParams();
    const b = bucketFor(r, $("bucket").value);
    const names = S.compare && S.compare.length ? S.compare : S.botnets.slice(0, CFG.max_compared);
    const sel = names.join(",");
    const pp = query({ botnets: sel, bucket: b }), pc = query({ botnets: sel, limit: CFG.compared_countries }), po = query({ botnets: sel }), ph = query({ botnets: sel });
    const [dp, dc, dov, dh, dd] = await Promise.all([getTable("/compare/population", pp), getTable("/compare/countries", pc),
      getTable("/compare/overlap", po), getTable("/compare/hours", ph), getTable("/compare/devices", po)]);
    dev.setTable(dd); dev.setCsv("/compare/devices", po);
    const arches = [...new Set(dd.rows.filter((x) => x.arch !== "unknown").map((x) => x.arch))];
    const told = names.filter((n) => dd.rows.some((x) => x.botnet === n && x.arch !== "unknown"));
    dev.draw({ legend: LEGEND, grid: GRID, tooltip: tooltipAxis(),
      title: arches.length ? undefined : { text: "no compared botnet reports its bots' CPU", left: "center", top: "middle", textStyle: { color: "#8b98a8", fontSize: 13 } },
      xAxis: Object.assign({ type: "category", data: arches, name: "CPU architecture" }, AXIS),
      yAxis: valueAxis("Share of bots (%)", { minInterval: 0 }),
      series: [...told, ...(told.length > 1 ? [null] : [])].map((n) => ({ name: n === null ? "all compared" : n, type: "bar",
        color: n === null ? "#8b98a8" : colorOf(n),
        data: arches.map((a) => { const x = dd.rows.find((y) => y.botnet === n && y.arch === a); return x ? Math.round(x.share * 1000) / 10 : 0; }) })) });
    pop.setTable(dp); pop.setCsv("/compare/population", pp);
    pop.draw({ legend: LEGEND, grid: GRID, tooltip: tooltipAxis(), xAxis: timeAxis("Time (UTC)"),
      yAxis: valueAxis("Share of peak", { minInterval: 0, max: 1 }),
      series: names.map((n) => ({ name: n, type: "line", showSymbol: false, color: colorOf(n),
        data: dp.rows.filter((x) => x.botnet === n).map((x) => [x.t * 1000, x.normalised]) })) });
    mix.setTable(dc); mix.setCsv("/compare/countries", pc);
    const ccs = [...new Set(dc.rows.map((x) => x.country))];
    mix.draw({ legend: LEGEND, grid: GRID, tooltip: tooltipAxis(),
      xAxis: Object.assign({ type: "category", data: ccs, name: "Country" }, AXIS),
      yAxis: valueAxis("Share of IPs (%)", { minInterval: 0 }),
      series: names.map((n) => ({ name: n, type: "bar", color: colorOf(n),
        data: ccs.map((c) => { const x = dc.rows.find((y) => y.botnet === n && y.country === c); return x ? Math.round(x.share * 1000) / 10 : 0; }) })) });
    overlap.setTable(dov); overlap.setCsv("/compare/overlap", po);
    overlap.draw({ grid: { left: 200, right: 30, top: 10, bottom: 40 }, tooltip: { trigger: "axis" },
      xAxis: valueAxis("Shared distinct IPs"),
      yAxis: Object.assign({ type: "category", data: dov.rows.map((x) => `${x.botnet_a} ∩ ${x.botnet_b}`) }, AXIS),
      series: [{ type: "bar", name: "shared IPs", data: dov.rows.map((x) => x.shared_ips), color: "#c594c5" }] });
    hUtc.setTable(dh, ["botnet", "hour", "utc", "utc_normalised"]); hUtc.setCsv("/compare/hours", ph);
    hLoc.setTable(dh, ["botnet", "hour", "local", "local_normalised"]); hLoc.setCsv("/compare/hours", ph);
    const hours = [...Array(24).keys()].map((h) => String(h).padStart(2, "0"));
    for (const [pnl, key, label] of [[hUtc, "utc_normalised", "Hour of day (UTC)"], [hLoc, "local_normalised", "Hour of day (local time)"]]) {
      pnl.draw({ legend: LEGEND, grid: GRID, tooltip: tooltipAxis(),
        xAxis: Object.assign({ type: "category", data: hours, name: label, nameLocation: "middle", nameGap: 26 }, AXIS),
        yAxis: valueAxis("Share of peak hour", { minInterval: 0, max: 1 }),
        series: names.map((n) => ({ name: n, type: "line", color: colorOf(n), smooth: true,
          data: dh.rows.filter((x) => x.botnet === n).map((x) => x[key]) })) });
    }
  };
};

/* -- controls, routing, refresh ------------------------------------------------------------- */
function parseHash() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const view = VIEWS[parts[0]] ? parts[0] : "overview";
  return { view, arg: parts[1] || null };
}
function setStatus(text, err = false) { const s = $("status"); s.textContent = text; s.className = "status" + (err ? " err" : ""); }

function showControls(view) {
  const pick = $("botnet-pick"), sel = $("botnet");
  const needsOne = view === "botnet" || view === "counting";
  const allowsAll = view === "geo" || view === "ases";
  pick.hidden = !(needsOne || allowsAll);
  sel.replaceChildren(...(allowsAll ? [el("option", { value: "*", text: "all botnets" })] : []),
    ...S.botnets.map((n) => el("option", { value: n, text: n })));
  if (needsOne && (!S.botnet || S.botnet === "*")) S.botnet = S.botnets[0] || null;
  if (allowsAll && !S.botnet) S.botnet = "*";
  if (S.botnet) sel.value = S.botnet;
  $("bucket").parentElement.hidden = view === "counting" || view === "geo" || view === "ases";
  const cmp = $("compare-pick");
  cmp.hidden = view !== "compare";
  if (view === "compare") {
    if (!S.compare) S.compare = S.botnets.slice(0, CFG.max_compared);
    cmp.replaceChildren(el("span", { class: "checks" }, ...S.botnets.map((n) => {
      const box = el("input", { type: "checkbox", value: n });
      box.checked = S.compare.includes(n);
      box.addEventListener("change", () => {
        S.compare = [...cmp.querySelectorAll("input:checked")].map((x) => x.value);
        refresh();
      });
      return el("label", { style: `color:${colorOf(n)}` }, box, n);
    })));
  }
}

function openView() {
  const { view, arg } = parseHash();
  if (arg && S.botnets.includes(arg)) S.botnet = arg;
  S.view = view;
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === view));
  for (const c of S.charts) c.dispose();
  S.charts = [];
  $("view").replaceChildren();
  showControls(view);
  if ((view === "botnet" || view === "counting") && !S.botnet) {
    $("view").append(el("p", { class: "note", text: "No botnet yet: create one and start a crawler." }));
    S.update = null;
    return;
  }
  S.update = VIEWS[view]();
  refresh();
}

async function refresh() {
  updateAlerts();
  if (!S.update) return;
  const seq = ++S.seq;
  setStatus("loading…");
  try {
    await S.update();
    if (seq === S.seq) setStatus(`updated ${new Date().toISOString().slice(11, 19)} UTC${$("live").checked ? " · live" : ""}`);
  } catch (e) {
    if (!(e instanceof Stale) && seq === S.seq) setStatus(`error: ${e.message}`, true);
  }
}

async function loadBotnets() {
  const ov = await getTable("/overview", query({ window: CFG.window_s }));
  S.botnets = ov.rows.map((x) => x.botnet);
  for (const r of ov.rows) S.descriptions[r.botnet] = r.description;
}

async function loadAssets() {
  try {
    const [world, names] = await Promise.all([fetch("/dashboard/static/vendor/world.geo.json"), fetch("/dashboard/static/vendor/countries.json")]);
    if (names.ok) S.countryNames = await names.json();
    if (world.ok) { echarts.registerMap("world", await world.json()); S.worldReady = true; }
  } catch (e) { S.worldReady = false; }
}

async function loadConfig() {
  const res = await fetch("/dashboard/config", { headers: { Accept: "application/json" } });
  if (res.status === 401) { location.href = "/login"; throw new Error("signed out"); }
  if (!res.ok) throw new Error(`dashboard config: ${res.status}`);
  CFG = await res.json();
  const range = $("range"), bucket = $("bucket");
  range.replaceChildren(...CFG.ranges.map((r) => el("option", { value: String(r.seconds), text: r.label })),
    el("option", { value: "custom", text: "custom (UTC)" }));
  range.value = String(CFG.default_range_s);
  bucket.replaceChildren(el("option", { value: "auto", text: "auto" }),
    ...CFG.buckets.map((b) => el("option", { value: String(b.seconds), text: b.label })));
  bucket.value = "auto";
}

async function main() {
  if (typeof echarts === "undefined") {
    const b = $("banner");
    b.hidden = false;
    b.textContent = "Chart library missing: run `make install` (scripts/assets-dashboard.sh) to install the dashboard assets.";
    return;
  }
  await loadConfig();
  const r = new Date(Date.now() - 86400000).toISOString().slice(0, 16);
  $("from").value = r; $("to").value = new Date().toISOString().slice(0, 16);
  fetch("/dashboard/session").then((x) => (x.ok ? x.json() : null)).then((w) => { if (w) $("who").textContent = `${w.name} (${w.role})`; }).catch(() => {});
  sourceFromUrl();
  await Promise.all([loadAssets(), loadBotnets()]);
  $("source").addEventListener("change", () => { sourceToUrl(); refresh(); });
  $("range").addEventListener("change", () => { $("custom").hidden = $("range").value !== "custom"; refresh(); });
  $("from").addEventListener("change", refresh);
  $("to").addEventListener("change", refresh);
  $("bucket").addEventListener("change", refresh);
  $("botnet").addEventListener("change", () => {
    S.botnet = $("botnet").value;
    if (S.view === "botnet" || S.view === "counting") location.hash = `#/${S.view}/${encodeURIComponent(S.botnet)}`;
    else refresh();
  });
  window.addEventListener("hashchange", openView);
  window.addEventListener("resize", () => S.charts.forEach((c) => c.resize()));
  S.timer = setInterval(() => {
    if ($("live").checked && $("range").value !== "custom" && !document.hidden) refresh();
  }, refreshMs());
  openView();
}

main().catch((e) => setStatus(`error: ${e.message}`, true));
