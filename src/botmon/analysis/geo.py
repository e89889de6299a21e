"""Where the bots are: distinct addresses per country and per AS, per botnet or for all.

An address counts where its latest located reply came from (per botnet, when several), as
enrichment stored it at ingest.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botmon.analysis.cache import whole
from botmon.analysis.scope import one_or_all, reaches_newest
from botmon.analysis.table import Table
from botmon.store.base import Store
from botmon.store.reads import SourceFilter

UNKNOWN_COUNTRY = "??"
"""Country code shown for addresses enrichment could not place."""


def countries(
    store: Store, botnet: str | None, start: float, end: float, source: SourceFilter = None
) -> Table:
    """Distinct IPs per country in the range, and each country's share of them, most
    first (ties by country code)."""
    found, ids = one_or_all(store, botnet)

    def compute() -> list[tuple[str, int]]:
        from_seen = reaches_newest(store, ids, end)
        rows = store.ips_per_country(ids, start, end, from_seen=from_seen, source=source)
        named = [(c if c is not None else UNKNOWN_COUNTRY, n) for c, n in rows]
        return sorted(named, key=lambda r: (-r[1], r[0]))

    key = ("countries", found, source)
    rows = whole(store, key, ("replies",), ids, start, end, compute)
    total = sum(n for _, n in rows) or 1
    return Table(("country", "ips", "share"), [(c, n, round(n / total, 6)) for c, n in rows])


def ases(
    store: Store,
    botnet: str | None,
    start: float,
    end: float,
    limit: int,
    source: SourceFilter = None,
) -> Table:
    """The ASes with most distinct IPs in the range, with name, main country and share."""
    found, ids = one_or_all(store, botnet)

    def compute() -> list[tuple[Any, ...]]:
        from_seen = reaches_newest(store, ids, end)
        return store.ips_per_as(ids, start, end, limit, from_seen=from_seen, source=source)

    rows = whole(store, ("ases", found, limit, source), ("replies",), ids, start, end, compute)
    return Table(
        ("asn", "as_name", "ips", "share", "country"),
        [
            (
                asn,
                name if name is not None else ("unknown" if asn is None else f"AS{asn}"),
                ips,
                round(ips / total, 6) if total else 0.0,
                country,
            )
            for asn, name, ips, country, total in rows
        ],
    )


def compare_countries(
    store: Store,
    names: Sequence[str],
    start: float,
    end: float,
    limit: int,
    source: SourceFilter = None,
) -> Table:
    """Each botnet's country mix side by side: distinct IPs and share, top ``limit`` each."""
    out: list[tuple[Any, ...]] = []
    for name in names:
        table = countries(store, name, start, end, source)
        out.extend((name, *row) for row in table.rows[:limit])
    return Table(("botnet", "country", "ips", "share"), out)
