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
/* "hide suspected monitors": every request asks the server to leave out the monitors of
   others excluded for each botnet (?exclude_monitors=true, kept in the page's address). The
   server's default (analysis.exclude_monitors) is what the first answer echoes; unticking
   against a default of true asks for false. */
function hideMonitors() { return $("exclude-monitors").checked; }
function hideFromUrl() {
  const v = new URLSearchParams(location.search).get("exclude_monitors");
  /* An address that says false keeps asking for false (the server's default may be true). */
  if (v !== null) { $("exclude-monitors").checked = v === "true"; S.hideExplicit = v === "false"; }
  return v !== null;
}
function hideToUrl() {
  const p = new URLSearchParams(location.search);
  if (hideMonitors() !== Boolean(S.excludeDefault)) p.set("exclude_monitors", String(hideMonitors()));
  else p.delete("exclude_monitors");
  const q = p.toString();
  history.replaceState(null, "", `${location.pathname}${q ? "?" + q : ""}${location.hash}`);
}
async function updateExcluded() {
  /* How many monitors are excluded over every botnet, shown beside the switch. */
  let n = 0;
  for (const name of S.botnets) {
    const res = await fetch(`/api/v1/admin/botnets/${encodeURIComponent(name)}/excluded-monitors`, { headers: { Accept: "application/json" } });
    if (res.ok) n += (await res.json()).monitors.length;
  }
  $("excluded-count").textContent = `(${n} excluded)`;
  $("excluded-count").dataset.count = String(n);
}
function query(extra = {}) {
  const r = rangeParams();
  const p = new URLSearchParams({ start: String(r.start), end: String(r.end) });
  if (sourceType()) p.set("source_type", sourceType());
  if (hideMonitors()) p.set("exclude_monitors", "true");
  else if (S.excludeDefault || S.hideExplicit) p.set("exclude_monitors", "false");
  for (const [k, v] of Object.entries(extra)) if (v !== null && v !== undefined && v !== "") p.set(k, String(v));
  return p;
}
class Stale extends Error {}
async function getTable(path, params, base = API) {
  /* A newer refresh started while this one waited: drop the answer so an older, slower
     response never overwrites a newer one. */
  const seq = S.seq;
  const res = await fetch(`${base}${path}?${params}`, { headers: { Accept: "application/json" } });
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
function csvUrl(path, params, base = API) {
  const p = new URLSearchParams(params);
  p.set("format", "csv");
  return `${base}${path}?${p}`;
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
    setCsv(path, params, base = API) { csv.href = csvUrl(path, params, base); },
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
/* What the protocol reveals: one small chart per facet the botnet's bots tell (the installed
   plugins' FACETS: a CPU architecture, a URL-pack version, how old a returned peer list is),
   from GET .../facets. Values that are numbers or dates are drawn in their order (versions,
   days), a few categories as a donut (their shares: the superpeer share), many as bars (the
   most bots first, the rest summed). Bots that never tell a facet are said under its chart,
   not drawn. Hidden for a botnet whose bots tell none. */
const FACET_TOP = 12, FACET_ORDERED_MAX = 40, FACET_DONUT_MAX = 5;
const FACET_OTHER = "#8b98a8";
function facetOrder(values) {
  const texts = values.map((v) => v.value);
  if (texts.every((t) => /^-?\d+(\.\d+)?$/.test(t))) return (a, b) => Number(a.value) - Number(b.value);
  if (texts.every((t) => /^\d{4}-\d{2}-\d{2}/.test(t))) return (a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0);
  return null;
}
const pct1 = (share) => `${Math.round(share * 1000) / 10} %`;
function facetOption(f, color) {
  const base = { useUTC: true, backgroundColor: "transparent", textStyle: { color: "#c9d2dc" }, animation: false };
  const tip = (v) => `${v.value}: ${v.bots.toLocaleString("en")} bots (${pct1(v.share)})`;
  const order = facetOrder(f.values);
  if (order && !f.more_values) {
    /* In their order; when there are too many, the highest (newest) ones. */
    const rows = f.values.slice().sort(order).slice(-FACET_ORDERED_MAX);
    return Object.assign(base, { grid: { left: 48, right: 16, top: 28, bottom: rows.length > 8 ? 56 : 28 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, formatter: (i) => tip(rows[i[0].dataIndex]) },
      xAxis: Object.assign({ type: "category", data: rows.map((v) => v.value), axisLabel: { color: "#9aa7b6", rotate: rows.length > 8 ? 40 : 0 } }, { axisLine: AXIS.axisLine }),
      yAxis: valueAxis("bots"),
      series: [{ type: "bar", name: "bots", color, barMaxWidth: 28, data: rows.map((v) => v.bots) }] });
  }
  if (f.values.length <= FACET_DONUT_MAX && !f.more_values) {
    return Object.assign(base, { tooltip: { trigger: "item", formatter: (i) => tip(f.values[i.dataIndex]) },
      legend: { orient: "vertical", right: 4, top: "middle", textStyle: { color: "#c9d2dc" },
        formatter: (n) => { const v = f.values.find((x) => x.value === n); const t = n.length > 18 ? `${n.slice(0, 17)}…` : n; return v ? `${t}  ${pct1(v.share)}` : t; } },
      series: [{ type: "pie", name: f.label, radius: ["42%", "70%"], center: ["34%", "50%"], avoidLabelOverlap: true,
        label: { show: false }, itemStyle: { borderColor: "#161d26", borderWidth: 2 },
        data: f.values.map((v, i) => ({ name: v.value, value: v.bots, itemStyle: { color: PALETTE[i % PALETTE.length] } })) }] });
  }
  /* Many categories: the most bots first, the rest (and those the API left out) as one bar. */
  const top = f.values.slice(0, FACET_TOP);
  const rest = f.values.slice(FACET_TOP);
  if (rest.length || f.more_values) {
    const bots = rest.reduce((n, v) => n + v.bots, 0) + f.more_bots;
    top.push({ value: `other (${rest.length + f.more_values} values)`, bots, share: bots / f.bots, other: true });
  }
  const rows = top.reverse();
  return Object.assign(base, { grid: { left: 110, right: 56, top: 8, bottom: 24 },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, formatter: (i) => tip(rows[i[0].dataIndex]) },
    xAxis: valueAxis(""), yAxis: Object.assign({ type: "category", data: rows.map((v) => v.value) }, AXIS,
      { axisLabel: { color: "#9aa7b6", formatter: (t) => (t.length > 18 ? `${t.slice(0, 17)}…` : t) } }),
    series: [{ type: "bar", name: "bots", barMaxWidth: 18,
      data: rows.map((v) => ({ value: v.bots, itemStyle: { color: v.other ? FACET_OTHER : color } })),
      label: { show: true, position: "right", color: "#9aa7b6", formatter: (i) => pct1(rows[i.dataIndex].share) } }] });
}
function facetsPanel(name) {
  const pnl = panel(`${name}: what the protocol reveals`, "What the bots' own messages tell, per facet the protocol plugins declare: distinct bots per value in the range, each bot by its latest reply that tells it; shares are of the bots that tell the facet.", { id: "facets", noChart: true });
  const grid = el("div", { class: "facets" });
  pnl.el.insertBefore(grid, pnl.el.querySelector(".tablewrap"));
  pnl.show(false);
  const shown = new Map();  /* key -> { box, chart }: kept across refreshes, so live views do not flicker */
  return async function update() {
    const base = `/botnets/${encodeURIComponent(name)}`;
    const p = query();
    const d = await getTable(`${base}/facets`, p);
    pnl.show(d.facets.length > 0);
    /* One facet fills half the page, several the whole width. */
    pnl.el.classList.toggle("wide", d.facets.length > 1);
    for (const [key, x] of shown) {
      if (d.facets.some((f) => f.key === key)) continue;
      x.chart.dispose(); S.charts.splice(S.charts.indexOf(x.chart), 1); x.box.remove(); shown.delete(key);
    }
    pnl.setCsv(`${base}/facets`, p);
    const rows = [];
    for (const f of d.facets) {
      rows.push(...f.values.map((v) => ({ key: f.key, label: f.label, value: v.value, bots: v.bots, share: v.share })));
      if (f.unknown) rows.push({ key: f.key, label: f.label, value: "unknown", bots: f.unknown, share: 0 });
    }
    pnl.setTable({ view: "facets", columns: ["key", "label", "value", "bots", "share"], rows });
    /* Every box in place first (the API's order), then the charts: a chart takes its box's
       size when drawn, and the grid's columns depend on how many boxes there are. */
    const boxes = d.facets.map((f) => {
      let x = shown.get(f.key);
      if (!x) {
        const chartEl = el("div", { class: "chart facet-chart" });
        const box = el("div", { class: "facet", "data-facet": f.key },
          el("h3", {}, el("span", { text: f.label }), el("code", { text: f.key })),
          el("p", { class: "note doc" }), chartEl, el("p", { class: "note told" }));
        grid.append(box);
        x = { box, chart: echarts.init(chartEl, null, { renderer: "canvas" }) };
        S.charts.push(x.chart); shown.set(f.key, x);
      }
      grid.append(x.box);
      return x;
    });
    d.facets.forEach((f, i) => {
      const x = boxes[i];
      x.box.querySelector(".doc").textContent = f.doc;
      x.box.querySelector(".doc").title = `declared by ${f.protocols.join(", ")}`;
      const all = f.bots + f.unknown;
      const told = x.box.querySelector(".told");
      told.dataset.bots = String(f.bots); told.dataset.unknown = String(f.unknown);
      const nv = f.values.length + f.more_values;
      told.textContent = `${f.bots.toLocaleString("en")} bots tell it (${nv} value${nv === 1 ? "" : "s"})` +
        (f.unknown ? `; ${f.unknown.toLocaleString("en")} of the ${all.toLocaleString("en")} bots with replies in the range never do (unknown, not drawn).` : "; every bot with replies in the range does.");
      x.chart.resize();
      x.chart.setOption(facetOption(f, PALETTE[(S.botnets.indexOf(name) + i) % PALETTE.length]), true);
    });
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
  const facets = facetsPanel(name);
  const daily = diurnalPanel(name);
  return async function update() {
    const dailyDone = daily();
    /* Handled now: when a newer refresh makes an earlier await below throw, this panel's own
       rejection (stale as well) must not surface as an unhandled page error. */
    dailyDone.catch(() => {});
    const r = rangeParams();
    const b = bucketFor(r, $("bucket").value);
    const base = `/botnets/${encodeURIComponent(name)}`;
    const pp = query({ bucket: b });
    const data = await getTable(`${base}/population`, pp);
    const hasIds = data.rows.some((x) => x.ids > 0);
    const pr = query({ bucket: b, by: hasIds ? "id" : "ip" });
    const pt = query({ limit: CFG.top_peers });
    const [rt, tp, est] = await Promise.all([getTable(`${base}/returning`, pr), getTable(`${base}/top-peers`, pt),
      dht(), facets(), sources(b), configs()]);
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

function fmtSpan(s) {
  if (s % 86400 === 0) return `${s / 86400} d`;
  if (s % 3600 === 0) return `${s / 3600} h`;
  return `${Math.round(s / 60)} min`;
}
/* IPs, IDs and ip:port beside the estimated bots with their interval as an error bar, the
   method in one line under the title, and the result's summary as the table. */
function countPanels(name) {
  const est = panel(`${name}: estimated bots`,
    "Distinct IPs, bot IDs and ip:port over the window beside the estimated number of bots behind the IPs (address reassignment accounted for) with its confidence interval.",
    { id: "count-estimate", tableOpen: true });
  const line = el("p", { class: "estimate", text: "" });
  const method = el("p", { class: "note method", text: "" });
  est.el.querySelector(".note").after(line, method);
  const growth = panel(`${name}: addresses per bot ID by window length`,
    "How many distinct addresses one bot ID shows as the window grows, overall and in the ASes with most IDs: how fast each network reassigns addresses. The estimate divides each AS's IPs by its figure.",
    { id: "count-growth" });
  return async function update() {
    const p = query({ botnet: name });
    /* The counting analysis (botmon analyze count): one JSON result, its sections as CSV. */
    const d = await getTable("/count", p, ANALYSES);
    est.setCsv("/count", p, ANALYSES);
    growth.setCsv("/count", Object.assign(Object.fromEntries(p), { section: "ips_per_id" }), ANALYSES);
    /* Bots are whole: the text rounds (the table, the CSV and the data attributes keep the
       computed figures). */
    const whole = (v) => Math.round(v).toLocaleString("en");
    const interval = d.ci_low === null ? `at most ${whole(d.ci_high)}` : `${whole(d.ci_low)} – ${whole(d.ci_high)}`;
    const cal = d.calibration;
    const by = cal.botnet ? ` calibrated on ${cal.botnet} (${cal.ases_calibrated} ASes on their own figure, ${Math.round(cal.fallback_share * 100)} % of the addresses on their country's or the botnet's)` : "";
    line.textContent = `Estimate ${whole(d.estimate)} bots (${Math.round(d.confidence * 100)} % interval ${interval}) behind ${d.ips} IPs over ${fmtSpan(d.window_s)},${by || " not calibrated"}.`;
    Object.assign(line.dataset, { estimate: d.estimate, ciLow: d.ci_low === null ? "" : d.ci_low, ciHigh: d.ci_high });
    method.textContent = `Method: ${d.method}.`;
    est.setTable({ view: "count", columns: ["ips", "ids", "ip_ports", "estimate", "ci_low", "ci_high", "confidence", "calibration", "ases_calibrated", "fallback_share"],
      rows: [{ ips: d.ips, ids: d.ids, ip_ports: d.ip_ports, estimate: d.estimate, ci_low: d.ci_low, ci_high: d.ci_high, confidence: d.confidence,
        calibration: cal.botnet || "none", ases_calibrated: cal.ases_calibrated, fallback_share: cal.fallback_share }] });
    const cats = ["IPs", "IDs", "ip:port", "Estimate"];
    const colors = [colorOf(name), "#e0a458", "#6699cc", "#98c379"];
    const low = d.ci_low === null ? 0 : d.ci_low;
    est.draw({ grid: { left: 64, right: 24, top: 24, bottom: 40 }, tooltip: { trigger: "item" },
      xAxis: Object.assign({ type: "category", data: cats }, AXIS), yAxis: valueAxis("Bots / distinct count"),
      series: [
        { name: "count", type: "bar", barWidth: "50%", label: { show: true, position: "insideBottom", color: "#10151c", formatter: (x) => whole(x.value) },
          data: [d.ips, d.ids, d.ip_ports, d.estimate].map((v, i) => ({ value: v, itemStyle: { color: colors[i] } })) },
        { name: "interval", type: "custom", z: 5, data: [[3, low, d.ci_high]],
          tooltip: { formatter: () => `${Math.round(d.confidence * 100)} % interval: ${interval}` },
          renderItem: (params, api) => {
            const lo = api.coord([api.value(0), api.value(1)]), hi = api.coord([api.value(0), api.value(2)]);
            const w = api.size([1, 0])[0] * 0.15, st = { stroke: "#e8edf2", lineWidth: 2 };
            return { type: "group", children: [
              { type: "line", shape: { x1: lo[0], y1: lo[1], x2: hi[0], y2: hi[1] }, style: st },
              { type: "line", shape: { x1: lo[0] - w, y1: lo[1], x2: lo[0] + w, y2: lo[1] }, style: st },
              { type: "line", shape: { x1: hi[0] - w, y1: hi[1], x2: hi[0] + w, y2: hi[1] }, style: st }] };
          } }] });
    const curves = new Map();
    for (const g of d.ips_per_id) {
      const key = g.asn === null ? "all" : `AS${g.asn}`;
      if (!curves.has(key)) curves.set(key, []);
      curves.get(key).push([g.window_s / 3600, g.ips_per_id]);
    }
    const keys = [...curves.keys()].slice(0, 6);
    growth.setTable({ view: "count-growth", columns: ["asn", "window_s", "windows", "ids", "ips_per_id"], rows: d.ips_per_id });
    growth.draw({ legend: LEGEND, grid: GRID, tooltip: tooltipAxis(),
      title: keys.length ? undefined : { text: "no ID-bearing botnet to measure", left: "center", top: "middle", textStyle: { color: "#8b98a8", fontSize: 13 } },
      xAxis: Object.assign({ type: "log", name: "Window (hours)", logBase: 2 }, AXIS), yAxis: valueAxis("IPs per ID", { minInterval: 0 }),
      series: keys.map((k, i) => ({ name: k, type: "line", data: curves.get(k), color: k === "all" ? "#e8edf2" : PALETTE[i % PALETTE.length],
        lineStyle: k === "all" ? { width: 3 } : { width: 1 } })) });
  };
}

VIEWS.counting = function () {
  const name = S.botnet;
  const sizes = CFG.counting_buckets;
  const panels = sizes.map((b) => [b, panel(`${name}: IPs vs IDs per ${bucketLabel(b)}`,
    `Distinct IPs and distinct bot IDs per ${bucketLabel(b)} bucket (weeks: Monday to Sunday, UTC); ratio = IPs per ID (right axis). Longer buckets gather more IPs per ID when addresses change.`,
    { wide: b === sizes[0], id: `counting-${b}` })]);
  const estimate = countPanels(name);
  return async function update() {
    const r = rangeParams();
    await Promise.all([estimate(), ...panels.map(async ([b, pnl]) => {
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
    })]);
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

/* -- churn (GET /api/v1/analyses/churn): sessions, lifetimes, classes, joins and leaves ---- */
async function analysisJson(name, params) {
  /* The analyses' read API answers the result itself (not a table); same session, same
     staleness rule as getTable. */
  const seq = S.seq;
  const res = await fetch(`/api/v1/analyses/${name}?${params}`, { headers: { Accept: "application/json" } });
  if (seq !== S.seq) throw new Stale("stale");
  if (res.status === 401) { location.href = "/login"; throw new Error("signed out"); }
  if (!res.ok) {
    let msg = `${res.status}`;
    try { const b = await res.json(); msg = b.error || b.detail || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  const body = await res.json();
  if (seq !== S.seq) throw new Stale("stale");
  return body;
}
function fmtSpan(s) {
  if (s === null || s === undefined) return "–";
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${Math.round(s / 360) / 10} h`;
  return `${Math.round(s / 8640) / 10} days`;
}
const CHURN_CLASS_COLORS = { offline: "#3a4656", "one-off": "#8b98a8", online: "#98c379", entered: "#5fb3b3", left: "#e06c75", dangling: "#e0a458" };
const CHURN_SCHEDULED_RANGE_S = 7 * 86400;
const CHURN_GROUP_COLUMNS = ["bots", "sessions", "joins", "leaves", "joins_per_hour", "leaves_per_hour", "median_session_s"];

VIEWS.churn = function () {
  const name = S.botnet;
  const head = panel(`${name}: churn and lifetimes`, "", { wide: true, noChart: true, id: "churn-summary" });
  const totals = el("div", { class: "totals churn-totals" });
  head.el.insertBefore(totals, head.el.querySelector(".tablewrap"));
  const surv = panel("Survival of sessions and lifetimes", "Kaplan–Meier: share of sessions (of peers) still going after a given time; sessions and peers still present at the range's end count as censored, those possibly begun before its start are left out. Dashed: the medians.", { id: "churn-survival" });
  const classes = panel("Peer classes", "Every peer in exactly one class (first match wins): offline (failed tries only), one-off (one bucket), online (the whole range), entered (came and stayed), left (was there and went), dangling (came and went).", { id: "churn-classes" });
  const rates = panel("Joins and leaves per hour", "First and last presence of each peer per UTC hour, away from the range's edges (a gap's width). Near the edges, a peer between two sessions looks like an arrival (start) or a departure (end): read the first and last hours with that in mind.", { wide: true, id: "churn-rates" });
  const countries = panel("Per country", "Peers, sessions, joins and leaves of each country (a peer's first presence decides its country); bars: median session length (Kaplan–Meier), label: peers.", { id: "churn-countries", tableOpen: true, chartClass: "tall" });
  const ases = panel("Per autonomous system", "The same for the 20 ASes with the most peers.", { id: "churn-ases", tableOpen: true, chartClass: "tall" });
  const csvOf = (pnl, p, section) => {
    const q = new URLSearchParams(p); q.set("format", "csv"); q.set("section", section);
    pnl.el.querySelector("a.csv").href = `/api/v1/analyses/churn?${q}`;
  };
  return async function update() {
    const p = query({ botnet: name });
    /* "last 7 days" is churn's default range, which botmon serve recomputes on its schedule:
       asked without start and end, the server answers from that result instead of
       recomputing on every refresh while new batches arrive. */
    const asked = new URLSearchParams(p);
    if ($("range").value === String(CHURN_SCHEDULED_RANGE_S)) { asked.delete("start"); asked.delete("end"); }
    const r = await analysisJson("churn", asked);
    const pr = r.params || {};
    head.el.querySelector(".note").textContent =
      `Peers by ${r.by === "id" ? "bot ID" : "ip:port"}${pr.by_requested === "auto" ? " (auto)" : ""} · presence per ${fmtSpan(r.bucket_s)} bucket · session closed after ${fmtSpan(r.gap_s)} of silence · ${fmtTime(r.start)} – ${fmtTime(r.end)} UTC · sessions from ${pr.sessions_from === "all" ? "crawlers' and sensors'" : pr.sessions_from + "s'"} records: ${(r.vantage_points || []).join(", ") || "none"}` +
      (pr.observed_from > r.start + r.bucket_s || pr.observed_until < r.end - r.bucket_s ? ` · records from ${fmtTime(pr.observed_from)} to ${fmtTime(pr.observed_until)}` : "") +
      (r.without_id ? ` · ${r.without_id} replies without a bot ID left out` : "");
    head.el.querySelector(".note").title = r.method;  /* the whole method on hover */
    /* What makes the figures less than they seem (a session gap shorter than the re-probe
       pace, widened automatically), said where the figures are. */
    let warn = head.el.querySelector(".churn-warnings");
    if (!warn) { warn = el("div", { class: "churn-warnings" }); totals.before(warn); }
    warn.textContent = (r.warnings || []).map((w) => `⚠ ${w[0].toUpperCase()}${w.slice(1)}.`).join(" ");
    warn.hidden = !(r.warnings || []).length;
    const total = (label, value, small) => el("div", { class: "total" }, el("div", { class: "small", text: label }), el("div", { class: "big", text: value }), el("div", { class: "small", text: small }));
    totals.replaceChildren(
      total("peers", String(r.bots), `${r.sessions} sessions`),
      total("median session", fmtSpan(r.median_session_s), r.median_session_s === null ? "curve stays above 0.5" : `${r.censored_sessions} still running at the end`),
      total("median lifetime", fmtSpan(r.median_lifetime_s), r.median_lifetime_s === null ? "curve stays above 0.5 in this range" : `${r.lifetimes} peers first seen in the range`),
      total("joins / leaves per hour", `${r.joins_per_hour === null ? "–" : r.joins_per_hour.toFixed(1)} / ${r.leaves_per_hour === null ? "–" : r.leaves_per_hour.toFixed(1)}`, "away from the range's edges"));
    head.setTable({ view: "churn", columns: ["by", "bots", "sessions", "censored_sessions", "median_session_s", "median_lifetime_s", "joins_per_hour", "leaves_per_hour", "bucket_s", "gap_s", "without_id"], rows: [r] });
    csvOf(head, asked, "summary");

    const curve = (pts) => pts.map(([t, v]) => [t / 3600, v]);
    const medianLine = (m, color) => (m === null ? [] : [{ xAxis: m / 3600, lineStyle: { color, type: "dashed" }, label: { formatter: fmtSpan(m), color } }]);
    surv.setTable({ view: "churn", columns: ["curve", "hours", "survival"],
      rows: [...r.session_survival.map(([t, v]) => ({ curve: "sessions", hours: Math.round(t / 36) / 100, survival: v })),
        ...r.lifetime_survival.map(([t, v]) => ({ curve: "lifetimes", hours: Math.round(t / 36) / 100, survival: v }))] });
    csvOf(surv, asked, "summary");
    surv.draw({ legend: LEGEND, grid: GRID, tooltip: { trigger: "axis", valueFormatter: (v) => (typeof v === "number" ? v.toFixed(3) : v) },
      xAxis: Object.assign({ type: "value", name: "Hours", nameLocation: "middle", nameGap: 26, min: 0 }, AXIS),
      yAxis: valueAxis("Still going", { minInterval: 0, min: 0, max: 1 }),
      series: [
        { name: "sessions", type: "line", step: "end", showSymbol: false, data: curve(r.session_survival), color: colorOf(name),
          markLine: { symbol: "none", silent: true, data: medianLine(r.median_session_s, colorOf(name)) } },
        { name: "lifetimes", type: "line", step: "end", showSymbol: false, data: curve(r.lifetime_survival), color: "#e0a458",
          markLine: { symbol: "none", silent: true, data: medianLine(r.median_lifetime_s, "#e0a458") } }] });

    const cls = Object.keys(CHURN_CLASS_COLORS);
    classes.setTable({ view: "churn", columns: ["class", "peers"], rows: cls.map((c) => ({ class: c, peers: r.classes[c] })) });
    csvOf(classes, asked, "classes");
    classes.draw({ grid: { left: 80, right: 50, top: 10, bottom: 40 }, tooltip: { trigger: "axis" },
      xAxis: valueAxis("Peers"),
      yAxis: Object.assign({ type: "category", data: cls.slice().reverse() }, AXIS),
      series: [{ type: "bar", name: "peers", barMaxWidth: 24,
        data: cls.slice().reverse().map((c) => ({ value: r.classes[c], itemStyle: { color: CHURN_CLASS_COLORS[c] } })),
        label: { show: true, position: "right", color: "#9aa7b6",
          formatter: (i) => (r.bots ? `${Math.round((i.value / r.bots) * 1000) / 10} %` : "") } }] });

    rates.setTable({ view: "churn", columns: ["t", "joins", "leaves"], rows: r.rates });
    csvOf(rates, asked, "rates");
    rates.draw({ legend: LEGEND, grid: GRID, tooltip: bucketTooltip(3600), xAxis: timeAxis("Time (UTC)"),
      yAxis: valueAxis("Peers per hour"),
      series: [
        { name: "joins", type: "bar", data: barData(r.rates, "joins", 3600), color: "#5fb3b3", barMaxWidth: 14 },
        { name: "leaves", type: "bar", data: barData(r.rates, "leaves", 3600), color: "#e06c75", barMaxWidth: 14 }] });

    const groupPanel = (pnl, list, key, label, section) => {
      /* Rates rounded and medians in hours for reading; the CSV keeps the API's values. */
      const rows = list.map((x) => Object.assign({}, x, { [key]: label(x[key]),
        joins_per_hour: x.joins_per_hour === null ? null : Math.round(x.joins_per_hour * 1000) / 1000,
        leaves_per_hour: x.leaves_per_hour === null ? null : Math.round(x.leaves_per_hour * 1000) / 1000,
        median_session_s: fmtSpan(x.median_session_s) }));
      pnl.el.querySelector(".tablewrap").replaceChildren(renderTable({ view: "churn", rows }, [key, ...CHURN_GROUP_COLUMNS],
        { joins_per_hour: "joins/h", leaves_per_hour: "leaves/h", median_session_s: "median session" }));
      csvOf(pnl, asked, section);
      const top = list.slice(0, 15).reverse();
      pnl.draw({ grid: { left: 170, right: 60, top: 10, bottom: 40 }, tooltip: { trigger: "axis", valueFormatter: (v) => (v === null ? "–" : `${v} h`) },
        xAxis: valueAxis("Median session (hours)", { minInterval: 0 }),
        yAxis: Object.assign({ type: "category", data: top.map((x) => label(x[key])) }, AXIS),
        series: [{ type: "bar", name: "median session", barMaxWidth: 20, color: colorOf(name),
          data: top.map((x) => (x.median_session_s === null ? null : Math.round(x.median_session_s / 36) / 100)),
          label: { show: true, position: "right", color: "#9aa7b6", formatter: (i) => `${top[i.dataIndex].bots} peers` } }] });
    };
    groupPanel(countries, r.by_country, "country", (c) => (c === null ? "??" : `${c} ${(S.countryNames[c] || "").slice(0, 18)}`.trim()), "by_country");
    groupPanel(ases, r.by_as, "asn", (a) => (a === null ? "unknown AS" : `AS${a}`), "by_as");
  };
};

/* -- monitors of others: the detect analysis (crawlers and sensors of other researchers) ----- */
const ANALYSES = "/api/v1/analyses";
const KIND_COLOR = { sensor: "#e0a458", crawler: "#e06c75" };
function scoreBar(v) {
  return el("span", { class: "score", title: String(v) },
    el("span", { class: "track" }, el("span", { class: "fill", style: `width:${Math.round(Math.max(0, Math.min(1, v)) * 100)}%` })),
    el("span", { class: "val", text: v.toFixed(2) }));
}
function addressOf(x) { return x.port === null || x.port === undefined ? x.ip : x.ip.includes(":") ? `[${x.ip}]:${x.port}` : `${x.ip}:${x.port}`; }

VIEWS.monitors = function () {
  const name = S.botnet;
  const sus = panel(`${name}: suspected monitors of others`, "Addresses that look like another researcher's sensor (from the peer graph botmon's crawlers recorded: listed by many, lists none, outside the core) or crawler (from what botmon's sensors heard: never listed, periodic, busy, protocol deviations), scoring at least the threshold. botmon's own monitors are never listed here.", { wide: true, noChart: true, tableOpen: true, id: "suspects" });
  const method = el("p", { class: "note method" });
  sus.el.append(method);
  const graph = panel(`${name}: who lists whom`, "Every address of the peer graph by in-degree (distinct peers listing it) and out-degree (distinct peers it listed); bubble size: how many addresses. A sensor sits at the bottom right: listed by many, listing none.", { id: "degrees" });
  const self = panel("How visible is botmon", "botmon's own sensors (from their campaigns) and crawlers (setting analysis.own_monitors) scored by the same methods: rank among every scored address and whether others using these methods would flag it.", { noChart: true, id: "self" });
  const cards = el("div", { class: "totals own" });
  self.el.insertBefore(cards, self.el.querySelector(".tablewrap"));
  return async function update() {
    const p = query({ botnet: name });
    const d = await getTable("/detect", p, ANALYSES);
    sus.setCsv("/detect", p, ANALYSES);
    self.setCsv("/detect", Object.assign(Object.fromEntries(p), { section: "self" }), ANALYSES);
    const head = el("tr", {}, ...["kind", "address", "score", "rank", "evidence"].map((c) => el("th", { class: c === "rank" ? "num" : "", text: c })));
    const body = el("tbody", {}, ...d.suspects.map((x) => el("tr", { "data-kind": x.kind, "data-address": addressOf(x) },
      el("td", {}, el("span", { class: "dot", style: `background:${KIND_COLOR[x.kind]}` }), x.kind),
      el("td", { "data-col": "address", text: addressOf(x) }),
      el("td", { "data-col": "score" }, scoreBar(x.score)),
      el("td", { class: "num", "data-col": "rank", text: `${x.rank} of ${d.ranked[x.kind]}` }),
      el("td", { class: "why", "data-col": "why", text: x.why }))));
    sus.el.querySelector(".tablewrap").replaceChildren(d.suspects.length
      ? el("table", { "data-view": "detect" }, el("thead", {}, head), body)
      : el("p", { class: "note", text: `No address scores ${d.params.threshold} or more (${d.ranked.sensor} scored as sensors, ${d.ranked.crawler} as crawlers).` }));
    method.textContent = `Method: ${d.method} Threshold ${d.params.threshold}; vantage points: ${d.vantage_points.join(", ") || "none"}; computed ${fmtTime(d.computed_at)} UTC.`;
    const own = d.self.filter((x) => x.seen && x.kind === "sensor");
    const sensors = d.suspects.filter((x) => x.kind === "sensor");
    const pt = (x) => [x.evidence.in_degree, x.evidence.out_degree, addressOf(x)];
    graph.setTable({ view: "degrees", columns: ["in_degree", "out_degree", "addresses"], rows: d.degrees.map(([i, o, n]) => ({ in_degree: i, out_degree: o, addresses: n })) });
    graph.draw({ legend: LEGEND, grid: GRID,
      tooltip: { trigger: "item", formatter: (i) => (i.seriesIndex === 0 ? `in ${i.value[0]} · out ${i.value[1]}: ${i.value[2]} address(es)` : `${i.value[2]}<br>in ${i.value[0]} · out ${i.value[1]}`) },
      xAxis: valueAxis("In-degree (listed by)"), yAxis: valueAxis("Out-degree (lists)"),
      series: [
        { name: "peers", type: "scatter", color: colorOf(name), data: d.degrees, symbolSize: (v) => Math.min(24, 4 + 2 * Math.sqrt(v[2])), itemStyle: { opacity: 0.6 } },
        { name: "suspected sensors", type: "scatter", color: KIND_COLOR.sensor, symbol: "diamond", symbolSize: 14, data: sensors.map(pt) },
        { name: "botmon's own", type: "scatter", color: "#98c379", symbol: "triangle", symbolSize: 14, data: own.map(pt) }] });
    cards.replaceChildren(...(d.self.length ? d.self.map((x) => el("div", { class: "total", "data-kind": x.kind, "data-address": addressOf(x), "data-flagged": String(x.flagged),
      style: `border-top-color:${x.flagged ? "var(--bad)" : "var(--good)"}` },
      el("div", { class: "small", text: `own ${x.kind} ${addressOf(x)} (${x.origin})` }),
      el("div", { class: "big" }, scoreBar(x.score)),
      el("div", { class: "small", text: x.seen ? `rank ${x.rank} of ${x.of} · scores above ${x.percentile} % of them` : "not in the records of this range" }),
      el("div", { class: `small verdict ${x.flagged ? "bad" : "good"}`, text: x.flagged ? `would be flagged (threshold ${d.params.threshold})` : "stays below the threshold" }),
      el("div", { class: "small", text: x.why })))
      : [el("p", { class: "note", text: "botmon knows none of its own monitors for this botnet: sensors need a campaign with listen addresses, crawlers the setting analysis.own_monitors." })]));
    self.setTable({ view: "self", columns: ["kind", "ip", "port", "origin", "score", "rank", "of", "percentile", "flagged"], rows: d.self });
  };
};

/* -- controls, routing, refresh ------------------------------------------------------------- */
const ONE_BOTNET_VIEWS = ["botnet", "counting", "monitors", "churn"];
function parseHash() {
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const view = VIEWS[parts[0]] ? parts[0] : "overview";
  return { view, arg: parts[1] || null };
}
function setStatus(text, err = false) { const s = $("status"); s.textContent = text; s.className = "status" + (err ? " err" : ""); }

function showControls(view) {
  const pick = $("botnet-pick"), sel = $("botnet");
  const needsOne = ONE_BOTNET_VIEWS.includes(view);
  const allowsAll = view === "geo" || view === "ases";
  pick.hidden = !(needsOne || allowsAll);
  sel.replaceChildren(...(allowsAll ? [el("option", { value: "*", text: "all botnets" })] : []),
    ...S.botnets.map((n) => el("option", { value: n, text: n })));
  if (needsOne && (!S.botnet || S.botnet === "*")) S.botnet = S.botnets[0] || null;
  if (allowsAll && !S.botnet) S.botnet = "*";
  if (S.botnet) sel.value = S.botnet;
  $("bucket").parentElement.hidden = view === "counting" || view === "geo" || view === "ases" || view === "monitors" || view === "churn";
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
  if (ONE_BOTNET_VIEWS.includes(view) && !S.botnet) {
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

async function loadBotnets(hideGiven = true) {
  const ov = await getTable("/overview", query({ window: CFG.window_s }));
  if (!hideGiven) { S.excludeDefault = Boolean(ov.params.exclude_monitors); $("exclude-monitors").checked = S.excludeDefault; }
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
  const hideGiven = hideFromUrl();
  await Promise.all([loadAssets(), loadBotnets(hideGiven)]);
  updateExcluded().catch(() => {});
  $("source").addEventListener("change", () => { sourceToUrl(); refresh(); });
  $("exclude-monitors").addEventListener("change", () => { hideToUrl(); refresh(); updateExcluded().catch(() => {}); });
  $("range").addEventListener("change", () => { $("custom").hidden = $("range").value !== "custom"; refresh(); });
  $("from").addEventListener("change", refresh);
  $("to").addEventListener("change", refresh);
  $("bucket").addEventListener("change", refresh);
  $("botnet").addEventListener("change", () => {
    S.botnet = $("botnet").value;
    if (ONE_BOTNET_VIEWS.includes(S.view)) location.hash = `#/${S.view}/${encodeURIComponent(S.botnet)}`;
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
