/* botmon public views: the dashboard views an admin made public, for anyone, without a token.
 * /public lists the botnets with public views; /public/{botnet} draws that botnet's views
 * from /api/v1/public/... Requests carry no cookie (credentials: "omit"), and every number
 * comes aggregated from the server: this page never sees an address or a bot ID. */
"use strict";

const API = "/api/v1/public";
const PALETTE = ["#5fb3b3", "#e0a458", "#c594c5", "#98c379", "#6699cc", "#e06c75", "#d4c96a", "#7fb3d5"];
const AXIS = { axisLine: { lineStyle: { color: "#3a4656" } }, splitLine: { lineStyle: { color: "#232d3a" } },
  axisLabel: { color: "#9aa7b6" }, nameTextStyle: { color: "#9aa7b6" } };
const LEGEND = { textStyle: { color: "#c9d2dc" }, top: 0 };
const GRID = { left: 64, right: 40, top: 40, bottom: 40 };
const CLASS_COLORS = { offline: "#5c6773", "one-off": "#8b98a8", online: "#98c379", entered: "#5fb3b3", left: "#e0a458", dangling: "#c594c5" };
const VIEW_ORDER = ["overview", "geo", "ases", "facets", "churn", "diurnal"];

const S = { charts: [], countryNames: {}, worldReady: false, listing: null, botnet: null, seq: 0 };

const $ = (id) => document.getElementById(id);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
};

function fmtTime(t) { return new Date(t * 1000).toISOString().slice(0, 16).replace("T", " "); }
function fmtSpan(s) {
  if (s === null || s === undefined) return "–";
  if (s >= 86400) return `${(s / 86400).toFixed(s % 86400 ? 1 : 0)} d`;
  if (s >= 3600) return `${(s / 3600).toFixed(s % 3600 ? 1 : 0)} h`;
  return `${Math.round(s / 60)} min`;
}
function fmtHour(v) {
  if (v === null || v === undefined) return "–";
  const m = Math.round(v * 60) % 1440;
  return `${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}
const pct = (v) => (v === null || v === undefined ? "–" : `${Math.round(v * 1000) / 10} %`);
const num = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en"));
const RANGE_WORDS = { "1d": "last 24 hours", "7d": "last 7 days", "30d": "last 30 days" };

function setStatus(text, err = false) { const s = $("status"); s.textContent = text; s.className = "status-line" + (err ? " err" : ""); }

async function getJson(url) {
  const res = await fetch(url, { headers: { Accept: "application/json" }, credentials: "omit" });
  if (!res.ok) {
    let msg = `${res.status}`;
    try { msg = (await res.json()).error || msg; } catch (e) { /* not JSON */ }
    const err = new Error(msg); err.status = res.status; throw err;
  }
  return res.json();
}

function disposeCharts() { for (const c of S.charts.splice(0)) c.dispose(); }

function panel(view, title, opts = {}) {
  const p = el("section", { class: "panel" + (opts.wide ? " wide" : ""), "data-view": view });
  const period = el("p", { class: "period" });
  const explains = el("p", { class: "explains" });
  p.append(el("h2", { text: title }), period, explains);
  $("view").append(p);
  return {
    el: p,
    describe(d) {
      period.textContent = `${fmtTime(d.start)} – ${fmtTime(d.end)} UTC (${RANGE_WORDS[d.range] || d.range}` +
        (opts.series ? `; one point per ${fmtSpan(d.bucket_s)}` : "") + `) · computed ${fmtTime(d.computed_at)} UTC`;
      explains.textContent = d.explains;
    },
    chart(cls = "") {
      const box = el("div", { class: "chart " + cls });
      p.append(box);
      const c = echarts.init(box, null, { renderer: "canvas" });
      S.charts.push(c);
      return { draw: (option) => c.setOption(Object.assign({ useUTC: true, backgroundColor: "transparent",
        textStyle: { color: "#c9d2dc" }, animation: false }, option), true) };
    },
    totals(items) {
      const t = el("div", { class: "totals" });
      for (const [label, value, small] of items) {
        t.append(el("div", { class: "total" }, el("div", { class: "small", text: label }),
          el("div", { class: "big", text: value }), el("div", { class: "small", text: small || "" })));
      }
      p.append(t);
    },
    table(columns, rows) {
      const t = el("table", { "data-view": view });
      t.append(el("thead", {}, el("tr", {}, ...columns.map(([, label, isNum]) => el("th", { class: isNum ? "num" : "", text: label })))));
      const body = el("tbody");
      for (const r of rows) body.append(el("tr", {}, ...columns.map(([key, , isNum]) => el("td", { class: isNum ? "num" : "", "data-col": key, text: String(r[key]) }))));
      t.append(body);
      p.append(el("div", { class: "tablewrap" }, t));
    },
    message(text) { p.append(el("p", { class: "note", text })); },
  };
}

const countryLabel = (c) => (c === null || c === "??" ? "unknown" : `${c} ${(S.countryNames[c] || "").slice(0, 22)}`.trim());

const DRAW = {};

DRAW.overview = function (p, d) {
  const s = d.data.series;
  const last = s.length ? s[s.length - 1] : { ips: 0, ids: 0 };
  p.totals([
    ["peak: distinct IPs", num(d.data.peak_ips), `per ${fmtSpan(d.bucket_s)}`],
    ["peak: distinct bot IDs", d.data.has_ids ? num(d.data.peak_ids) : "–", d.data.has_ids ? `per ${fmtSpan(d.bucket_s)}` : "this protocol carries no bot IDs"],
    ["latest bucket: IPs", num(last.ips), "may be partial"],
    ["latest bucket: IDs", d.data.has_ids ? num(last.ids) : "–", ""],
  ]);
  const series = [{ name: "distinct IPs", type: "line", showSymbol: false, color: PALETTE[0], areaStyle: { opacity: 0.12 },
    data: s.map((x) => [x.t * 1000, x.ips]) }];
  if (d.data.has_ids) series.push({ name: "distinct bot IDs", type: "line", showSymbol: false, color: PALETTE[1], data: s.map((x) => [x.t * 1000, x.ids]) });
  p.chart().draw({ legend: LEGEND, grid: GRID, tooltip: { trigger: "axis" },
    xAxis: Object.assign({ type: "time", name: "Time (UTC)" }, AXIS),
    yAxis: Object.assign({ type: "value", name: `Bots per ${fmtSpan(d.bucket_s)}`, minInterval: 1 }, AXIS), series });
};

DRAW.geo = function (p, d) {
  const rows = d.data.countries;
  p.totals([["distinct IPs", num(d.data.ips), "in the period"], ["countries", num(rows.filter((x) => x.country !== "??").length), "with at least one"]]);
  if (S.worldReady) {
    const max = Math.max(1, ...rows.map((x) => x.ips));
    p.chart("tall").draw({ tooltip: { trigger: "item", formatter: (i) => `${S.countryNames[i.name] || i.name}: ${isNaN(i.value) ? 0 : i.value} IPs` },
      visualMap: { min: 0, max, left: 10, bottom: 10, text: ["more", "fewer"], calculable: true,
        inRange: { color: ["#1f3a45", "#2f6f73", "#5fb3b3", "#e0a458", "#e06c75"] }, textStyle: { color: "#c9d2dc" } },
      series: [{ type: "map", map: "world", name: "IPs", roam: true, itemStyle: { areaColor: "#1c2531", borderColor: "#2f3b4a" },
        emphasis: { label: { show: false }, itemStyle: { areaColor: "#c594c5" } },
        data: rows.filter((x) => x.country !== "??").map((x) => ({ name: x.country, value: x.ips })) }] });
  }
  p.table([["label", "country", false], ["ips", "distinct IPs", true], ["pct", "share", true]],
    rows.map((x) => ({ label: countryLabel(x.country), ips: num(x.ips), pct: pct(x.share) })));
};

DRAW.ases = function (p, d) {
  const rows = d.data.ases;
  const top = rows.slice(0, 15).reverse();
  const label = (x) => `${x.asn === null ? "?" : "AS" + x.asn} ${String(x.as_name).slice(0, 26)}`;
  p.chart("tall").draw({ grid: { left: 250, right: 50, top: 10, bottom: 40 }, tooltip: { trigger: "axis" },
    xAxis: Object.assign({ type: "value", name: "Distinct IPs", minInterval: 1 }, AXIS),
    yAxis: Object.assign({ type: "category", data: top.map(label) }, AXIS),
    series: [{ type: "bar", name: "IPs", color: PALETTE[0], barMaxWidth: 22, data: top.map((x) => x.ips) }] });
  p.table([["asn", "AS", false], ["as_name", "name", false], ["country", "country", false], ["ips", "distinct IPs", true], ["pct", "share", true]],
    rows.map((x) => ({ asn: x.asn === null ? "?" : `AS${x.asn}`, as_name: x.as_name, country: x.country || "", ips: num(x.ips), pct: pct(x.share) })));
};

DRAW.facets = function (p, d) {
  if (!d.data.facets.length) { p.message("The bots told nothing this protocol reveals in this period."); return; }
  const grid = el("div", { class: "facet-grid" });
  p.el.append(grid);
  d.data.facets.forEach((f, i) => {
    const box = el("div", { class: "facet", "data-facet": f.key });
    box.append(el("h3", { text: f.label }), el("p", { class: "note", text: `${num(f.bots)} bots tell it` + (f.unknown ? `, ${num(f.unknown)} never did` : "") + (f.more_bots ? `; ${num(f.more_bots)} with rarer or withheld values not shown` : "") }));
    const chartBox = el("div", { class: "chart small" });
    box.append(chartBox);
    grid.append(box);
    const c = echarts.init(chartBox, null, { renderer: "canvas" });
    S.charts.push(c);
    const top = f.values.slice(0, 12).reverse();
    c.setOption({ backgroundColor: "transparent", animation: false, textStyle: { color: "#c9d2dc" },
      grid: { left: 120, right: 50, top: 6, bottom: 24 }, tooltip: { trigger: "axis" },
      xAxis: Object.assign({ type: "value", minInterval: 1 }, AXIS),
      yAxis: Object.assign({ type: "category", data: top.map((v) => String(v.value).slice(0, 18)) }, AXIS),
      series: [{ type: "bar", name: "bots", color: PALETTE[i % PALETTE.length], barMaxWidth: 18, data: top.map((v) => v.bots),
        label: { show: true, position: "right", color: "#9aa7b6", formatter: (x) => pct(top[x.dataIndex].share) } }] });
  });
};

DRAW.churn = function (p, d) {
  const r = d.data;
  p.totals([
    ["bots", num(r.bots), `${num(r.sessions)} sessions (by ${r.by === "id" ? "bot ID" : "address and port"})`],
    ["median session", fmtSpan(r.median_session_s), "how long a bot stays online at a time"],
    ["median lifetime", fmtSpan(r.median_lifetime_s), "first to last sighting"],
    ["joins / leaves per hour", `${r.joins_per_hour === null ? "–" : r.joins_per_hour.toFixed(1)} / ${r.leaves_per_hour === null ? "–" : r.leaves_per_hour.toFixed(1)}`, ""],
  ]);
  if (r.session_survival.length) {
    p.message("Share of sessions still going after a given time online (Kaplan–Meier).");
    p.chart().draw({ legend: LEGEND, grid: GRID, tooltip: { trigger: "axis", valueFormatter: (v) => (typeof v === "number" ? v.toFixed(3) : v) },
      xAxis: Object.assign({ type: "value", name: "Hours online", nameLocation: "middle", nameGap: 26, min: 0 }, AXIS),
      yAxis: Object.assign({ type: "value", name: "Sessions still going", min: 0, max: 1 }, AXIS),
      series: [{ name: "sessions", type: "line", step: "end", showSymbol: false, color: PALETTE[0], data: r.session_survival.map(([t, v]) => [t / 3600, v]) }] });
  } else {
    p.message("No session began inside the period, so there is no session length to show yet.");
  }
  p.message("Bots by class: online the whole period, entered (came and stayed), left (was there and went), dangling (came and went), one-off (seen once), offline (never answered).");
  const cls = Object.keys(CLASS_COLORS);
  p.chart("small").draw({ grid: { left: 80, right: 60, top: 10, bottom: 30 }, tooltip: { trigger: "axis" },
    xAxis: Object.assign({ type: "value", name: "Bots", minInterval: 1 }, AXIS),
    yAxis: Object.assign({ type: "category", data: cls.slice().reverse() }, AXIS),
    series: [{ type: "bar", name: "bots", barMaxWidth: 20,
      data: cls.slice().reverse().map((c) => ({ value: r.classes[c] || 0, itemStyle: { color: CLASS_COLORS[c] } })) }] });
};

DRAW.diurnal = function (p, d) {
  const r = d.data;
  p.totals([
    ["cycle strength", pct(r.strength), "0 % = no daily cycle"],
    ["peak (bots' local time)", fmtHour(r.peak_hour_local), `${fmtHour(r.peak_hour_utc)} UTC`],
    ["bots", num(r.bots), `${r.days} days of data`],
  ]);
  const regions = r.regions.filter((x) => x.profile_local.length).slice(0, 8);
  if (!regions.length) { p.message("Not enough data for a daily cycle in this period."); return; }
  p.chart().draw({ legend: Object.assign({ type: "scroll" }, LEGEND), grid: GRID, tooltip: { trigger: "axis" },
    xAxis: Object.assign({ type: "category", name: "Local hour", data: [...Array(24).keys()].map(String) }, AXIS),
    yAxis: Object.assign({ type: "value", name: "Mean online per hour" }, AXIS),
    series: regions.map((x, i) => ({ name: x.country || "??", type: "line", showSymbol: false, color: PALETTE[i % PALETTE.length], data: x.profile_local })) });
};

async function showBotnet(name, range) {
  const seq = ++S.seq;
  const info = await getJson(`${API}/botnets/${encodeURIComponent(name)}`);
  const views = info.views.slice().sort((a, b) => VIEW_ORDER.indexOf(a.view) - VIEW_ORDER.indexOf(b.view));
  disposeCharts();
  $("view").replaceChildren();
  document.title = `botmon: ${name} (public)`;
  setStatus(`Loading ${views.length} view(s) of ${name}…`);
  const panels = views.map((v) => [v, panel(v.view, `${name}: ${v.title}`, { wide: true, series: v.view === "overview" })]);
  const results = await Promise.allSettled(panels.map(async ([v, p]) => {
    const d = await getJson(`${v.url}?range=${encodeURIComponent(range)}`);
    if (seq !== S.seq) return;
    p.describe(d);
    (DRAW[v.view] || (() => p.message("This view cannot be drawn by this page.")))(p, d);
  }));
  if (seq !== S.seq) return;
  const failed = results.filter((x) => x.status === "rejected");
  setStatus(failed.length ? `Some views could not be loaded: ${failed.map((x) => x.reason.message).join("; ")}` : "", failed.length > 0);
  document.body.dataset.loaded = `${name}:${range}`;  /* for tests and screenshots: drawn */
}

function showListing() {
  disposeCharts();
  const list = S.listing.botnets;
  const box = el("section", { class: "panel wide", "data-view": "listing" });
  box.append(el("h2", { text: "Botnets with public views" }));
  if (!list.length) box.append(el("p", { class: "note", text: "Nothing is public on this server yet." }));
  const cards = el("div", { class: "botnet-list" });
  for (const b of list) {
    cards.append(el("a", { class: "card", href: b.page, "data-botnet": b.botnet },
      el("div", { class: "name", text: b.botnet }),
      el("div", { class: "views", text: b.views.map((v) => v.title).join(" · ") })));
  }
  box.append(cards);
  $("view").replaceChildren(box);
  document.body.dataset.loaded = "listing";
}

async function loadAssets() {
  try {
    const [world, names] = await Promise.all([fetch("/dashboard/static/vendor/world.geo.json", { credentials: "omit" }),
      fetch("/dashboard/static/vendor/countries.json", { credentials: "omit" })]);
    if (names.ok) S.countryNames = await names.json();
    if (world.ok) { echarts.registerMap("world", await world.json()); S.worldReady = true; }
  } catch (e) { S.worldReady = false; }
}

async function main() {
  const parts = location.pathname.replace(/\/+$/, "").split("/");
  S.botnet = parts.length > 2 ? decodeURIComponent(parts[2]) : null;
  try {
    const [listing] = await Promise.all([getJson(`${API}/views`), loadAssets()]);
    S.listing = listing;
    $("cache-s").textContent = `${Math.round(listing.cache_s)} s`;
    const pick = $("range");
    const asked = new URLSearchParams(location.search).get("range");
    for (const r of listing.ranges) pick.append(el("option", { value: r, text: RANGE_WORDS[r] || r }));
    pick.value = listing.ranges.includes(asked) ? asked : listing.default_range;
    $("nav").replaceChildren(el("a", { href: "/public", class: S.botnet ? "" : "active", text: "All" }),
      ...listing.botnets.map((b) => el("a", { href: b.page, class: b.botnet === S.botnet ? "active" : "", text: b.botnet })));
    if (!S.botnet) { pick.parentElement.hidden = true; showListing(); return; }
    pick.addEventListener("change", () => {
      const q = new URLSearchParams(location.search); q.set("range", pick.value);
      history.replaceState(null, "", `${location.pathname}?${q}`);
      showBotnet(S.botnet, pick.value).catch((e) => setStatus(e.message, true));
    });
    window.addEventListener("resize", () => S.charts.forEach((c) => c.resize()));
    await showBotnet(S.botnet, pick.value);
  } catch (e) {
    setStatus(e.status === 429 ? "Too many requests from your address; try again in a minute." : `Could not load: ${e.message}`, true);
  }
}

main();
