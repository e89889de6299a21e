"""Time series helpers: dense rows for charts and the distinct IPs and IDs per bucket that
the overview, the counting view and the comparison share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from botmon.analysis.cache import per_bucket, seen_by
from botmon.analysis.scope import reaches_newest
from botmon.buckets import bucket_index, bucket_start, buckets_between
from botmon.store.base import Store
from botmon.store.reads import SourceFilter


def check_series(start: float, end: float, bucket_s: int) -> None:
    """Refuse a bucket or range no series can have (the HTTP layer caps sizes)."""
    if isinstance(bucket_s, bool) or not isinstance(bucket_s, int) or bucket_s < 1:
        raise ValueError("bucket_s must be a whole number of seconds >= 1")
    if not end > start:
        raise ValueError("end must be after start")


def dense(
    counts: dict[int, tuple[Any, ...]], start: float, end: float, bucket_s: int, width: int
) -> list[tuple[Any, ...]]:
    """One row per bucket from start to end, zeros where nothing was seen (charts need gaps
    to show as zero, not as a line jumping over them)."""
    return [
        (bucket_start(i, bucket_s), *counts.get(i, (0,) * width))
        for i in buckets_between(start, end, bucket_s)
    ]


def ips_and_ids(
    store: Store,
    ids: Sequence[int],
    start: float,
    end: float,
    bucket_s: int,
    source: SourceFilter = None,
) -> dict[tuple[int, int], tuple[int, int]]:
    """Distinct IPs and bot IDs per (botnet id, bucket) with any reply.

    Closed buckets come from the validated cache (or are computed once); when the range
    reaches the newest data, its last bucket (the one a live view sees grow) is counted in
    the seen tables instead of over every reply in it, which for a week's bucket is the
    difference between milliseconds and seconds.
    """
    check_series(start, end, bucket_s)

    def compute(lo: float, hi: float) -> dict[tuple[int, int], Any]:
        ips = store.bucket_counts("replies", ids, lo, hi, bucket_s, "ips", source)
        bots = store.bucket_counts("replies", ids, lo, hi, bucket_s, "ids", source)
        return {k: (n, bots.get(k, 0)) for k, n in ips.items()}

    store.refresh_summaries()
    cut = end
    last = bucket_index(end - 1e-6, bucket_s)
    if reaches_newest(store, ids, end):
        cut = max(start, bucket_start(last, bucket_s))
    view = seen_by("ips-ids", source)
    values = per_bucket(store, view, "replies", ids, start, cut, bucket_s, compute)
    if cut < end:
        for botnet_id, (n_ips, n_ids) in store.seen_since(ids, cut, source).items():
            if n_ips:
                values[(botnet_id, last)] = (n_ips, n_ids)
    return values
