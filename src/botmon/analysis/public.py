"""The dashboard views an admin may make public, and the aggregates each one shows.

A public view is read by anyone, so each one here is written as a whitelist: it computes
with the same functions as the dashboard (:mod:`botmon.analysis.population`, ``geo``,
``facets``, the churn and diurnal analyses) and then copies out only counts, shares and
labels: never an address, a bot ID, a monitor's name or a token's. Values that come from
the bots themselves (a facet's value) are text a hostile bot chooses, so any that looks like
an address is withheld and only counted.

The period is one of a few fixed ranges (:data:`RANGES`), not any start and end: a public
page needs no more, and a fixed set keeps the server's cache of public answers small.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from botmon.analysis import facets as facet_views
from botmon.analysis import framework, runs
from botmon.analysis import geo as geo_views
from botmon.analysis import population as population_views
from botmon.settings.analysis import AnalysisSettings
from botmon.store.base import Store
from botmon.store.reads import SourceFilter

DAY = 86_400
RANGES: dict[str, tuple[int, int]] = {
    "1d": (DAY, 3600),
    "7d": (7 * DAY, 3600),
    "30d": (30 * DAY, DAY),
}
"""Range name -> (length in seconds, bucket of its time series in seconds)."""
DEFAULT_RANGE = "7d"
TOP_ASES = 25
"""ASes listed by the public ``ases`` view (most bots first)."""
TOP_COUNTRIES = 50
"""Countries listed by the public churn and diurnal views."""

_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![0-9A-Fa-f:])")


def looks_like_address(text: str) -> bool:
    """Whether ``text`` holds something that parses as an IPv4 or IPv6 address."""
    for pattern in (_IPV4, _IPV6):
        for found in pattern.findall(text):
            try:
                ipaddress.ip_address(found)
            except ValueError:
                continue
            return True
    return False


class PublicAnswer(msgspec.Struct, kw_only=True):
    """One public view of one botnet: what it shows (``title``, ``explains``: what a number
    means), over which period ([start, end) in epoch seconds, UTC; ``range`` its name;
    ``bucket_s`` the time series' bucket) and the aggregates (``data``, per view as
    documented in ``docs/public-views.md``). ``computed_at``: when the numbers were made;
    answers are cached for the server's ``public.cache_s``."""

    botnet: str
    view: str
    title: str
    explains: str
    range: str
    start: float
    end: float
    bucket_s: int
    computed_at: float
    data: dict[str, Any]


@dataclass(frozen=True)
class Ask:
    """What one public answer covers: the botnet, [start, end), the series' bucket, which
    records count (``source``: the server's monitor exclusions) and the analyses' settings."""

    botnet: str
    start: float
    end: float
    bucket: int
    source: SourceFilter
    settings: AnalysisSettings


Compute = Callable[[Store, Ask], dict[str, Any]]


@dataclass(frozen=True)
class ViewSpec:
    """A view that may be public: its name, title, what its numbers mean, how to make them."""

    name: str
    title: str
    explains: str
    compute: Compute
    analysis: str | None = None
    """The analysis it needs installed (churn, diurnal), if any."""


def _overview(store: Store, a: Ask) -> dict[str, Any]:
    table = population_views.counting(store, a.botnet, a.start, a.end, a.bucket, a.source)
    series = [{"t": t, "ips": ips, "ids": ids} for t, ips, ids, _ in table.rows]
    return {
        "series": series,
        "peak_ips": max((p["ips"] for p in series), default=0),
        "peak_ids": max((p["ids"] for p in series), default=0),
        "has_ids": any(p["ids"] for p in series),
    }


def _geo(store: Store, a: Ask) -> dict[str, Any]:
    table = geo_views.countries(store, a.botnet, a.start, a.end, a.source)
    rows = [{"country": c, "ips": n, "share": s} for c, n, s in table.rows]
    return {"countries": rows, "ips": sum(r["ips"] for r in rows)}


def _ases(store: Store, a: Ask) -> dict[str, Any]:
    table = geo_views.ases(store, a.botnet, a.start, a.end, TOP_ASES, a.source)
    rows = []
    for asn, name, ips, share, country in table.rows:
        label = str(name)
        if looks_like_address(label):
            label = "unknown" if asn is None else f"AS{asn}"
        rows.append({"asn": asn, "as_name": label, "ips": ips, "share": share, "country": country})
    return {"ases": rows}


def _facets(store: Store, a: Ask) -> dict[str, Any]:
    out = []
    for facet in facet_views.facets(store, a.botnet, a.start, a.end, a.source):
        values, withheld = [], 0
        for v in facet.values:
            if looks_like_address(v.value):
                withheld += v.bots
            else:
                values.append({"value": v.value, "bots": v.bots, "share": v.share})
        out.append(
            {
                "key": facet.key,
                "label": facet.label,
                "doc": facet.doc,
                "bots": facet.bots,
                "unknown": facet.unknown,
                "values": values,
                "more_values": facet.more_values,
                "more_bots": facet.more_bots + withheld,
            }
        )
    return {"facets": out}


def _analysis(name: str, store: Store, a: Ask) -> Any:
    """The analysis ``name`` with the server's defaults (as the dashboard's view shows it)."""
    analysis = framework.get(name)
    request = runs.build_request(analysis, a.botnet, a.start, a.end, a.source, settings=a.settings)
    return runs.compute(store, analysis, request)


def _churn(store: Store, a: Ask) -> dict[str, Any]:
    r = _analysis("churn", store, a)
    return {
        "by": r.by,
        "bots": r.bots,
        "sessions": r.sessions,
        "median_session_s": r.median_session_s,
        "median_lifetime_s": r.median_lifetime_s,
        "joins_per_hour": r.joins_per_hour,
        "leaves_per_hour": r.leaves_per_hour,
        "classes": dict(r.classes),
        "session_survival": r.session_survival,
        "rates": [{"t": h.t, "joins": h.joins, "leaves": h.leaves} for h in r.rates],
        "by_country": [
            {
                "country": g.country,
                "bots": g.bots,
                "joins": g.joins,
                "leaves": g.leaves,
                "median_session_s": g.median_session_s,
            }
            for g in r.by_country[:TOP_COUNTRIES]
        ],
    }


def _diurnal(store: Store, a: Ask) -> dict[str, Any]:
    r = _analysis("diurnal", store, a)
    return {
        "by": r.by,
        "bots": r.bots,
        "days": r.days,
        "strength": r.strength,
        "peak_hour_utc": r.peak_hour_utc,
        "peak_hour_local": r.peak_hour_local,
        "regions": [
            {
                "country": g.country,
                "bots": g.bots,
                "strength": g.strength,
                "peak_hour_utc": g.peak_hour_utc,
                "peak_hour_local": g.peak_hour_local,
                "profile_utc": g.profile_utc,
                "profile_local": g.profile_local,
            }
            for g in r.regions[:TOP_COUNTRIES]
        ],
    }


_SPECS = (
    ViewSpec(
        "overview",
        "Botnet size over time",
        "Distinct IP addresses and distinct bot IDs that answered botmon's crawlers or "
        "contacted its sensors in each bucket. One bot may use several addresses in a bucket "
        "(new address, NAT), and bots behind NAT are seen only by sensors, so IPs and IDs "
        "differ; bots that were offline all bucket are not counted.",
        _overview,
    ),
    ViewSpec(
        "geo",
        "Bots per country",
        "Distinct IP addresses seen in the period per country (ISO 3166 code; ?? where the "
        "geolocation data has none), each address counted once where it was last seen, and "
        "its share of all addresses.",
        _geo,
    ),
    ViewSpec(
        "ases",
        f"Top {TOP_ASES} networks (autonomous systems)",
        "Distinct IP addresses seen in the period per autonomous system (AS number and name "
        "from the geolocation data), most first, with their share of all addresses and the "
        "AS's main country.",
        _ases,
    ),
    ViewSpec(
        "facets",
        "What the protocol reveals about the bots",
        "For each property the botnet's protocol tells (a CPU architecture, a version), "
        "distinct bots per value by their latest answer in the period, and the share of the "
        "bots that tell it; 'unknown' counts bots that never did.",
        _facets,
    ),
    ViewSpec(
        "churn",
        "Churn: how long bots stay online",
        "Sessions are runs of answers without a long silence; medians are Kaplan-Meier "
        "estimates over the period (censored at its edges). Joins and leaves are counted per "
        "hour (UTC), and per country.",
        _churn,
        "churn",
    ),
    ViewSpec(
        "diurnal",
        "Daily cycle",
        "How strongly the number of bots online follows the time of day (strength: relative "
        "amplitude of the daily cycle) and when it peaks, for the whole botnet and per "
        "country, in UTC and in the bots' local time; profiles give the mean presence per "
        "hour of day.",
        _diurnal,
        "diurnal",
    ),
)


def catalogue() -> dict[str, ViewSpec]:
    """Every view that may be public here, by name (analysis views only when installed)."""
    installed = {a.name for a in runs.available()}
    return {s.name: s for s in _SPECS if s.analysis is None or s.analysis in installed}


def all_view_names() -> tuple[str, ...]:
    """Every view name botmon knows, installed or not (for messages and documentation)."""
    return tuple(s.name for s in _SPECS)


def compute(
    store: Store,
    botnet: str,
    view: str,
    range_name: str,
    now: float,
    source: SourceFilter = None,
    settings: AnalysisSettings | None = None,
) -> PublicAnswer:
    """The public answer of ``view`` for ``botnet`` over the range ``range_name`` ending at
    ``now`` rounded up to the minute. KeyError for a view or range not in the catalogue;
    UnknownBotnet for a botnet the store does not have."""
    spec = catalogue()[view]
    length, bucket = RANGES[range_name]
    end = runs.default_end(now)
    start = end - length
    ask = Ask(botnet, start, end, bucket, source, settings or AnalysisSettings())
    data = spec.compute(store, ask)
    return PublicAnswer(
        botnet=botnet,
        view=view,
        title=spec.title,
        explains=spec.explains,
        range=range_name,
        start=start,
        end=end,
        bucket_s=bucket,
        computed_at=now,
        data=data,
    )
