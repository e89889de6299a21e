"""Crawlers beside sensors: which bots each kind of monitor sees, and which both see.

Crawlers reach the bots that answer; sensors are contacted by bots, including those behind NAT
that no crawler reaches. Per bucket and over the whole range, each bot (by address, and by
bot ID where the protocol has them) is counted once: seen by crawlers only, by sensors only,
or by both. A bot seen by both in a bucket is "both" there even if the two saw it at
different times of that bucket.
"""

from __future__ import annotations

from typing import Any

from botmon.analysis.cache import per_bucket, seen_by, whole
from botmon.analysis.scope import botnet_id
from botmon.analysis.series import check_series, dense, ips_and_ids
from botmon.analysis.table import Table
from botmon.store.base import Store
from botmon.store.reads import SourceFilter, excludes_monitors

SOURCE_COLUMNS = (
    "t",
    "ips_crawler_only",
    "ips_both",
    "ips_sensor_only",
    "ids_crawler_only",
    "ids_both",
    "ids_sensor_only",
)
"""Columns of :func:`sources`: per bucket, bots by address and by bot ID, in the order a
stacked chart draws them (crawler only, both, sensor only)."""


def _split(
    store: Store,
    ids: list[int],
    lo: float,
    hi: float,
    bucket_s: int | None,
    source: SourceFilter,
) -> dict[tuple[int, int], tuple[int, ...]]:
    """Per (botnet id, bucket): the six counts of :data:`SOURCE_COLUMNS` after ``t``."""
    ips = store.source_overlap(ids, lo, hi, bucket_s, "ips", source)
    bots = store.source_overlap(ids, lo, hi, bucket_s, "ids", source)
    out: dict[tuple[int, int], tuple[int, ...]] = {}
    for key in ips.keys() | bots.keys():
        c, s, both = ips.get(key, (0, 0, 0))
        ic, i_s, iboth = bots.get(key, (0, 0, 0))
        out[key] = (c, both, s, ic, iboth, i_s)
    return out


def sources(
    store: Store,
    botnet: str,
    start: float,
    end: float,
    bucket_s: int,
    source: SourceFilter = None,
) -> Table:
    """Per bucket, bots seen by crawlers only, by both and by sensors only (by address and by
    bot ID); the last row, with ``t`` None, counts the whole range (distinct over the range,
    not a sum of buckets). With ``source``, only that kind's replies count, as in every
    view: all its bots are then "that kind only"."""
    check_series(start, end, bucket_s)
    found = botnet_id(store, botnet)
    ids = [found]
    kinds = store.batch_source_types(ids, start, end).get(found, set())
    if len(kinds) == 1 and not excludes_monitors(source):  # the summaries keep everyone
        return _one_kind(store, found, kinds.pop(), start, end, bucket_s, source)

    def compute(lo: float, hi: float) -> dict[tuple[int, int], Any]:
        return _split(store, ids, lo, hi, bucket_s, source)

    view = seen_by("sources", source)
    values = per_bucket(store, view, "replies", ids, start, end, bucket_s, compute)
    rows = dense({i: v for (_, i), v in values.items()}, start, end, bucket_s, 6)

    def compute_total() -> tuple[int, ...]:
        return _split(store, ids, start, end, None, source).get((found, 0), (0,) * 6)

    key = ("sources-total", found, source)
    total = whole(store, key, ("replies",), ids, start, end, compute_total)
    return Table(SOURCE_COLUMNS, [*rows, (None, *total)])


def _one_kind(
    store: Store,
    found: int,
    kind: str,
    start: float,
    end: float,
    bucket_s: int,
    source: SourceFilter,
) -> Table:
    """The range holds replies of one kind only (the usual case without sensors): every bot
    is that kind's only, counted as the population views count (the summaries), not by a
    pass over the replies that tells sources apart."""
    if source is not None and source != kind:
        rows = dense({}, start, end, bucket_s, 6)
        return Table(SOURCE_COLUMNS, [*rows, (None, *(0,) * 6)])

    def placed(n_ips: int, n_ids: int) -> tuple[int, ...]:
        return (n_ips, 0, 0, n_ids, 0, 0) if kind == "crawler" else (0, 0, n_ips, 0, 0, n_ids)

    per = ips_and_ids(store, [found], start, end, bucket_s)
    rows = dense({i: placed(*v) for (_, i), v in per.items()}, start, end, bucket_s, 6)

    def compute_total() -> dict[int, tuple[int, ...]]:
        return store.range_counts("replies", [found], start, end, ("ips", "ids"))

    totals = whole(
        store, ("replies-total", found), ("replies",), [found], start, end, compute_total
    )
    n_ips, n_ids = totals.get(found, (0, 0))
    return Table(SOURCE_COLUMNS, [*rows, (None, *placed(n_ips, n_ids))])
