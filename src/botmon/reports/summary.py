"""What a report says about its period, and that as ``summary.md``, ``summary.html`` and
``summary.json``.

The HTML page is self-contained: its charts are the SVG files inlined, its style a few lines
of CSS in the page, so it opens offline and in mail clients that block remote content.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from botmon.reports.charts import Chart


class NetworkFile(msgspec.Struct, frozen=True):
    """One per-network file of the report."""

    network: str
    """``AS64512 (Lab Net Berlin)``, ``DE``, or ``unknown``."""
    file: str
    bots: int
    sha256: str = ""
    """The file's SHA-256 (hex) as written, the same as in ``SHA256SUMS``."""


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """The numbers of one report, also written as ``summary.json`` for machines."""

    botnet: str
    kind: str
    period: str
    start: float
    end: float
    generated_at: float
    per: str
    tlp: str
    bots: int
    """Rows of the report: one per bot address (and botnet) seen in the period."""
    ips: int
    networks: int
    top_asns: list[tuple[int | None, str, int]]
    """(AS number, AS name, bots), largest first; None: not located."""
    top_countries: list[tuple[str | None, int]]
    origins: dict[str, int]
    confidence: dict[str, int]
    hourly: list[tuple[float, int, int]]
    """(hour start, distinct addresses, distinct bot IDs) over the period."""
    daily: list[tuple[float, int, int]]
    files: list[NetworkFile]


def _day(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def as_label(asn: int | None, name: str) -> str:
    if asn is None:
        return "not located"
    return f"AS{asn} {name}".strip()


def _headline(s: Summary) -> list[tuple[str, str]]:
    busiest = max(s.hourly, key=lambda p: p[1], default=None)
    peak = f"{busiest[1]} addresses at {_day(busiest[0])}" if busiest and busiest[1] else "-"
    return [
        ("Botnet", s.botnet),
        ("Period", f"{s.period} ({_day(s.start)} to {_day(s.end)}, end excluded)"),
        ("Bots (addresses)", str(s.bots)),
        (f"Networks ({'ASes' if s.per == 'asn' else 'countries'})", str(s.networks)),
        ("Busiest hour", peak),
        ("Seen by both crawlers and sensors", str(s.origins.get("both", 0))),
        ("High confidence", str(s.confidence.get("high", 0))),
        ("TLP", s.tlp.upper()),
        ("Generated", _day(s.generated_at)),
    ]


def markdown(s: Summary, charts: list[Chart]) -> str:
    lines = [f"# botmon {s.kind} report: {s.botnet}, {s.period}", ""]
    lines += ["| | |", "|---|---|"]
    lines += [f"| {_md(k)} | {_md(v)} |" for k, v in _headline(s)]
    lines.append("")
    for chart in charts:
        lines += [f"## {chart.title}", "", f"![{chart.title}]({chart.png.name})", ""]
    lines += ["## Top ASes", "", "| AS | bots |", "|---|---:|"]
    lines += [f"| {_md(as_label(a, n))} | {b} |" for a, n, b in s.top_asns]
    lines += ["", "## Top countries", "", "| country | bots |", "|---|---:|"]
    lines += [f"| {_md(c or 'not located')} | {b} |" for c, b in s.top_countries]
    lines += ["", "## Files", "", "| network | file | bots |", "|---|---|---:|"]
    lines += [f"| {_md(f.network)} | [{f.file}]({f.file}) | {f.bots} |" for f in s.files]
    lines += [
        "",
        "How these numbers were measured, and what they cannot show: "
        "[methodology.md](methodology.md). Every file is listed with its SHA-256 in "
        "`SHA256SUMS`.",
        "",
    ]
    return "\n".join(lines)


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2933;margin:0;
background:#f5f7fa}
main{max-width:980px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:1.5em;margin:.2em 0 .6em}h2{font-size:1.15em;margin:1.6em 0 .5em;
border-bottom:1px solid #e4e7eb;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.92em}td,th{padding:4px 10px;text-align:left;
border-bottom:1px solid #eef0f3}th{color:#52606d;font-weight:600}td.n,th.n{text-align:right;
font-variant-numeric:tabular-nums}
.tlp{display:inline-block;padding:2px 8px;border-radius:3px;background:#000;color:#ffc000;
font-weight:700;letter-spacing:.04em}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:8px 24px}
figure{margin:0}figure svg{width:100%;height:auto}
footer{color:#7b8794;font-size:.85em;margin-top:2em}
@media(max-width:760px){.grid{grid-template-columns:1fr}}
"""

_TLP_COLOURS = {
    "clear": "#fff",
    "green": "#33ff00",
    "amber": "#ffc000",
    "amber+strict": "#ffc000",
    "red": "#ff2b2b",
}


def _svg(chart: Chart) -> str:
    """The chart's SVG without its XML prolog, to sit inside the page."""
    text = chart.svg.read_text(encoding="utf-8")
    start = text.find("<svg")
    text = text[start:] if start >= 0 else ""
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)


def _table(head: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    def cell(tag: str, i: int, v: str) -> str:
        cls = ' class="n"' if i in numeric else ""
        return f"<{tag}{cls}>{html.escape(v)}</{tag}>"

    out = ["<table><tr>", *(cell("th", i, h) for i, h in enumerate(head)), "</tr>"]
    for row in rows:
        out += ["<tr>", *(cell("td", i, v) for i, v in enumerate(row)), "</tr>"]
    out.append("</table>")
    return "".join(out)


def page(s: Summary, charts: list[Chart]) -> str:
    colour = _TLP_COLOURS.get(s.tlp, "#ffc000")
    title = f"botmon {s.kind} report: {s.botnet}, {s.period}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body><main>",
        f'<p><span class="tlp" style="color:{colour}">TLP:{html.escape(s.tlp.upper())}</span></p>',
        f"<h1>{html.escape(title)}</h1>",
        _table(["", ""], [[k, v] for k, v in _headline(s)], set()),
    ]
    wide = [c for c in charts if c.name.startswith("bots_per")]
    small = [c for c in charts if c not in wide]
    # each chart carries its title (the PNG is shown on its own too)
    for chart in wide:
        parts.append(f"<figure>{_svg(chart)}</figure>")
    parts.append('<div class="grid">')
    for chart in small:
        parts.append(f"<figure>{_svg(chart)}</figure>")
    parts.append("</div>")
    parts.append('<div class="grid"><div><h2>Top ASes</h2>')
    parts.append(_table(["AS", "bots"], [[as_label(a, n), str(b)] for a, n, b in s.top_asns], {1}))
    parts.append("</div><div><h2>Top countries</h2>")
    parts.append(
        _table(["country", "bots"], [[c or "not located", str(b)] for c, b in s.top_countries], {1})
    )
    parts.append("</div></div><h2>Files</h2>")
    parts.append(
        _table(
            ["network", "file", "bots"], [[f.network, f.file, str(f.bots)] for f in s.files], {2}
        )
    )
    parts.append(
        "<footer>Method, vantage points and coverage caveats: methodology.md. Every file of "
        "this report is listed with its SHA-256 in SHA256SUMS"
        " (check: <code>botmon report verify DIR</code> or <code>sha256sum -c SHA256SUMS"
        "</code>).</footer></main></body></html>"
    )
    return "\n".join(parts) + "\n"


def write(directory: Path, s: Summary, charts: list[Chart]) -> None:
    (directory / "summary.md").write_text(markdown(s, charts), encoding="utf-8")
    (directory / "summary.html").write_text(page(s, charts), encoding="utf-8")
    (directory / "summary.json").write_bytes(msgspec.json.format(msgspec.json.encode(s)) + b"\n")
