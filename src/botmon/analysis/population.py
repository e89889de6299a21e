"""How many bots, per time bucket: the one population computation behind every endpoint.

``GET /api/v1/botnets/{botnet}/population`` (:func:`population_points`) and the dashboard's
``/api/v1/stats/...`` population, counting, trend and comparison views all count here, in
buckets aligned as :mod:`botmon.buckets` documents: hours on the hour, days at 00:00 UTC,
ISO weeks from Monday 00:00 UTC. A bucket cut by the range's edges counts only the part
inside the range and is still labelled with the bucket's start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from botmon.analysis.cache import per_bucket, seen_by, whole
from botmon.analysis.scope import botnet_id, botnet_ids, ids_for
from botmon.analysis.series import check_series, dense, ips_and_ids
from botmon.analysis.table import Table
from botmon.store.base import PopulationPoint, Store
from botmon.store.reads import SourceFilter

POPULATION_COLUMNS = ("t", "ips", "ids", "ip_ports", "replies", "failed_tries")


def population(
    store: Store,
    botnet: str,
    start: float,
    end: float,
    bucket_s: int,
    source: SourceFilter = None,
) -> Table:
    """Per bucket: distinct IPs, bot IDs and ip:port pairs, replies and failed tries (of one
    kind of monitor with ``source``)."""
    check_series(start, end, bucket_s)
    found = botnet_id(store, botnet)
    ids = [found]

    def compute(lo: float, hi: float) -> dict[tuple[int, int], Any]:
        ips = store.bucket_counts("replies", ids, lo, hi, bucket_s, "ips", source)
        bots = store.bucket_counts("replies", ids, lo, hi, bucket_s, "ids", source)
        pairs = store.bucket_counts("replies", ids, lo, hi, bucket_s, "ip_ports", source)
        replies = store.bucket_counts("replies", ids, lo, hi, bucket_s, "rows", source)
        return {k: (n, bots.get(k, 0), pairs.get(k, 0), replies.get(k, 0)) for k, n in ips.items()}

    def compute_failed(lo: float, hi: float) -> dict[tuple[int, int], Any]:
        return store.bucket_counts("failed_tries", ids, lo, hi, bucket_s, "rows", source)

    view, failed_view = seen_by("population", source), seen_by("failed", source)
    values = per_bucket(store, view, "replies", ids, start, end, bucket_s, compute)
    failed = per_bucket(
        store, failed_view, "failed_tries", ids, start, end, bucket_s, compute_failed
    )
    rows: dict[int, tuple[Any, ...]] = {}
    for (_, i), value in values.items():
        rows[i] = (*value, failed.get((found, i), 0))
    for (_, i), n in failed.items():
        if i not in rows:
            rows[i] = (0, 0, 0, 0, n)
    return Table(POPULATION_COLUMNS, dense(rows, start, end, bucket_s, 5))


def population_points(
    store: Store,
    botnet: str,
    start: float,
    end: float,
    bucket_s: int,
    source: SourceFilter = None,
) -> list[PopulationPoint]:
    """The buckets of :func:`population` that hold replies, as the core read API's series."""
    return [
        PopulationPoint(t=t, ips=ips, ids=ids, ip_ports=pairs, replies=replies)
        for t, ips, ids, pairs, replies, _ in population(
            store, botnet, start, end, bucket_s, source
        ).rows
        if replies
    ]


def counting(
    store: Store,
    botnet: str,
    start: float,
    end: float,
    bucket_s: int,
    source: SourceFilter = None,
) -> Table:
    """IP-based vs ID-based counts per bucket and their ratio (IPs per ID; None without IDs)."""
    found = botnet_id(store, botnet)
    values = ips_and_ids(store, [found], start, end, bucket_s, source)
    rows = []
    for t, ips, ids in dense({i: v for (_, i), v in values.items()}, start, end, bucket_s, 2):
        rows.append((t, ips, ids, round(ips / ids, 4) if ids else None))
    return Table(("t", "ips", "ids", "ips_per_id"), rows)


def trend(
    store: Store, start: float, end: float, bucket_s: int, source: SourceFilter = None
) -> Table:
    """Distinct IPs and IDs per botnet and bucket (the overview's sparklines)."""
    names = botnet_ids(store)
    values = ips_and_ids(store, list(names.values()), start, end, bucket_s, source)
    out: list[tuple[Any, ...]] = []
    for name, found in names.items():
        per = {i: v for (b, i), v in values.items() if b == found}
        out.extend((name, *row) for row in dense(per, start, end, bucket_s, 2))
    return Table(("botnet", "t", "ips", "ids"), out)


def compare_population(
    store: Store,
    names: Sequence[str],
    start: float,
    end: float,
    bucket_s: int,
    source: SourceFilter = None,
) -> Table:
    """Distinct IPs per botnet and bucket, and the same normalised to each botnet's peak."""
    by_id = ids_for(store, names)
    values = ips_and_ids(store, list(by_id), start, end, bucket_s, source)
    out: list[tuple[Any, ...]] = []
    for found, name in by_id.items():
        per = {i: (v[0],) for (b, i), v in values.items() if b == found}
        series = dense(per, start, end, bucket_s, 1)
        peak = max((r[1] for r in series), default=0) or 1
        out.extend((name, t, ips, round(ips / peak, 4)) for t, ips in series)
    return Table(("botnet", "t", "ips", "normalised"), out)


def returning(
    store: Store,
    botnet: str,
    start: float,
    end: float,
    bucket_s: int,
    by: Literal["ip", "id"] = "ip",
    source: SourceFilter = None,
) -> Table:
    """Per bucket: bots seen, of which new (first reply ever, in this bucket) and returning
    (seen in an earlier bucket, possibly before ``start``). ``by`` is ``ip`` or ``id``.

    A bot's first reply ever is its first sighting in the seen tables, so "new" needs no
    scan of the history before the range.
    """
    found = botnet_id(store, botnet)
    seen = ips_and_ids(store, [found], start, end, bucket_s, source)
    column = 0 if by == "ip" else 1
    if source is None:  # the seen tables: one small read
        new = store.first_seen_counts(found, by, start, end, bucket_s)
    else:  # one kind's first sightings read its replies before ``end``: kept while unchanged

        def first_seen() -> dict[int, int]:
            return store.first_seen_counts(found, by, start, end, bucket_s, source)

        key = ("first-seen", found, by, bucket_s, source, start)
        new = whole(store, key, ("replies",), [found], 0.0, end, first_seen)
    rows: dict[int, tuple[Any, ...]] = {}
    for (_, i), value in seen.items():
        n = value[column]
        if n:
            rows[i] = (n, new.get(i, 0), n - new.get(i, 0))
    return Table(("t", "bots", "new", "returning"), dense(rows, start, end, bucket_s, 3))
