"""``methodology.md``: how the period's numbers were measured and what they cannot show.

Everything period-specific comes from the store: the monitors that stored replies in the
period (with their kind), the campaigns that ran during it (with the settings they were
started with, so the crawl intervals are the ones actually used), and the foreign monitors
excluded from the botnet's counts. The rest is the fixed explanation a recipient needs to
read the per-network files correctly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from botmon.store.exclusions import ExcludedMonitor
from botmon.wire import Campaign, CampaignSettings


@dataclass(frozen=True)
class VantagePoint:
    """A monitor that stored replies of the botnet in the period."""

    source: str
    kind: str
    """``crawler``, ``sensor`` or ``crawler and sensor``."""
    replies: int


def _when(t: float | None) -> str:
    if t is None:
        return "still running"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def _campaign_row(c: Campaign) -> str:
    kind: str
    try:
        s = msgspec.convert(c.settings, CampaignSettings)
        kind, protocol = s.kind, s.protocol
        interval = f"{s.interval_s:g} s" if s.interval_s is not None else "-"
        rounds = "-" if s.rounds is None else ("until stopped" if s.rounds == 0 else str(s.rounds))
    except msgspec.ValidationError:
        kind, protocol, interval, rounds = "?", "?", "-", "-"
    cells = [
        c.source,
        kind,
        protocol,
        _when(c.started_at),
        _when(c.ended_at),
        rounds,
        interval,
        c.summary(),
    ]
    return "| " + " | ".join(_cell(x) for x in cells) + " |"


def markdown(
    *,
    botnet: str,
    period: str,
    start: float,
    end: float,
    vantage_points: list[VantagePoint],
    campaigns: list[Campaign],
    excluded: list[ExcludedMonitor],
) -> str:
    lines = [
        f"# Methodology: {botnet}, {period}",
        "",
        f"Period: {_when(start)} to {_when(end)} (end excluded). All times are UTC.",
        "",
        "## Vantage points",
        "",
        "botmon observes a P2P botnet in two ways. **Crawlers** (n6 origin `p2p-crawler`) ask "
        "the bots they know for their peer lists, round after round, and record every bot "
        "that answers in the botnet's own protocol. **Sensors** (`p2p-sensor`) are passive "
        "peers that bots add to their peer lists; they record every bot that contacts them.",
        "",
    ]
    if vantage_points:
        lines += ["| monitor | kind | replies stored in the period |", "|---|---|---:|"]
        lines += [f"| {_cell(v.source)} | {v.kind} | {v.replies} |" for v in vantage_points]
    else:
        lines.append("No monitor stored replies of this botnet in the period.")
    lines += ["", "### Campaigns in the period", ""]
    if campaigns:
        lines += [
            "Crawl and sensor runs that were active during part of the period, with the "
            "settings they were started with (the crawl interval is the time between the "
            "starts of two rounds: a bot online for less than that between two rounds can "
            "be missed).",
            "",
            "| monitor | kind | protocol | started | ended | rounds | interval | settings |",
            "|---|---|---|---|---|---|---|---|",
        ]
        lines += [_campaign_row(c) for c in campaigns]
    else:
        lines.append(
            "No campaign was registered for the period (monitors that report without "
            "registering a campaign still appear above); crawl intervals are not known."
        )
    lines += [
        "",
        "## Coverage caveats",
        "",
        "- **Bots behind NAT** cannot be contacted by a crawler; they appear only when they "
        "contact a sensor. A botnet seen by crawlers alone under-counts them.",
        "- **IP churn**: a bot whose provider assigns a new address during the period counts "
        "once per address. Counting addresses over a week therefore over-states the number "
        "of infected machines; where the protocol has bot IDs, the files name them, and the "
        "summary's bot-ID line shows how far addresses and IDs differ.",
        "- **Counting addresses vs IDs**: several bots behind one address (carrier-grade NAT) "
        "count as one address. Every file has one row per address and botnet.",
        "- **Not seen is not clean**: a network absent from this report had no bot that "
        "botmon's vantage points observed; bots that stayed offline, were never listed by a "
        "peer botmon asked, or use only other parts of the overlay are missed.",
        "- Country and AS come from the GeoIP/AS database in use when the reply was stored.",
        "",
        "## Excluded foreign monitors",
        "",
        "Crawlers and sensors of other researchers answer and behave like bots. The monitors "
        "below were identified and excluded from this botnet's counts and views; they are not "
        "in any file of this report.",
        "",
    ]
    if excluded:
        lines += ["| address | port | kind | excluded | by | note |", "|---|---:|---|---|---|---|"]
        lines += [
            f"| {_cell(m.ip)} | {m.port} | {m.kind or '-'} | {_when(m.excluded_at)} | "
            f"{_cell(m.excluded_by)} | {_cell(m.note)} |"
            for m in excluded
        ]
    else:
        lines.append("None are excluded for this botnet.")
    lines += [
        "",
        "## Confidence",
        "",
        "Every row carries a confidence level (`botmon.feeds.model.confidence_of`):",
        "",
        "- **high**: seen by both a crawler and a sensor, or by at least two vantage points "
        "on at least two days;",
        "- **medium**: by several vantage points or on several days;",
        "- **low**: by one monitor on one day. The host still answered the botnet's own "
        "protocol, but only one sighting supports it.",
        "",
        "## Files",
        "",
        "Per-network files are CSV in Shadowserver's `event4_sinkhole` column layout, which "
        "IntelMQ, n6 and AbuseIO read unchanged. `SHA256SUMS` lists every file with its "
        "SHA-256; `SHA256SUMS.sig`, when present, is the Ed25519 signature of that list.",
        "",
    ]
    return "\n".join(lines)
