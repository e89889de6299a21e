"""Botnets side by side: shared infected addresses and hour-of-day profiles."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from botmon.analysis.cache import per_bucket, seen_by, whole
from botmon.analysis.scope import ids_for, reaches_newest
from botmon.analysis.table import Table
from botmon.buckets import HOUR, bucket_start, buckets_between
from botmon.enrich.timezones import utc_offset_hours
from botmon.store.base import Store
from botmon.store.reads import SourceFilter


def compare_overlap(
    store: Store, names: Sequence[str], start: float, end: float, source: SourceFilter = None
) -> Table:
    """For each pair of botnets: distinct IPs of each, IPs seen in both, and Jaccard index."""
    by_id = ids_for(store, names)
    ids = list(by_id)
    store.refresh_summaries()

    def compute() -> dict[frozenset[int], int]:
        from_seen = reaches_newest(store, ids, end)
        return store.ip_overlap(ids, start, end, from_seen=from_seen, source=source)

    key = ("overlap", tuple(ids), source)
    groups = whole(store, key, ("replies",), ids, start, end, compute)
    sizes: dict[int, int] = defaultdict(int)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for members, n in groups.items():
        ordered = [b for b in ids if b in members]
        for j, a in enumerate(ordered):
            sizes[a] += n
            for b in ordered[j + 1 :]:
                shared[(min(a, b), max(a, b))] += n
    rows = []
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            both = shared.get((min(a, b), max(a, b)), 0)
            na, nb = sizes.get(a, 0), sizes.get(b, 0)
            union = na + nb - both
            rows.append(
                (by_id[a], by_id[b], na, nb, both, round(both / union, 6) if union else 0.0)
            )
    return Table(("botnet_a", "botnet_b", "ips_a", "ips_b", "shared_ips", "jaccard"), rows)


def compare_hours(
    store: Store, names: Sequence[str], start: float, end: float, source: SourceFilter = None
) -> Table:
    """Hour-of-day profile per botnet: mean distinct IPs online in each hour of the day, by
    UTC hour and by the bots' local hour (each country's main time zone, at mid-range).

    Bots in countries without a known time zone count in the UTC profile only.
    """
    by_id = ids_for(store, names)
    ids = list(by_id)

    def compute(lo: float, hi: float) -> dict[tuple[int, int], Any]:
        return store.hour_profile(ids, lo, hi, source)

    values = per_bucket(store, seen_by("hours", source), "replies", ids, start, end, HOUR, compute)
    mid = (start + end) / 2
    offsets: dict[str | None, float | None] = {}
    utc: dict[int, list[float]] = {b: [0.0] * 24 for b in by_id}
    local: dict[int, list[float]] = {b: [0.0] * 24 for b in by_id}
    for (found, b), per_country in values.items():
        t = bucket_start(b, HOUR)
        for cc, n in per_country:
            utc[found][int(t // HOUR) % 24] += n
            if cc not in offsets:
                offsets[cc] = utc_offset_hours(cc, mid) if cc else None
            off = offsets[cc]
            if off is not None:
                local[found][int((t + off * HOUR) // HOUR) % 24] += n
    # Mean per day: divide by how many times each UTC hour occurs in the range.
    occurs = [0] * 24
    for i in buckets_between(start, end, HOUR):
        occurs[int(bucket_start(i, HOUR) // HOUR) % 24] += 1
    days = max(1, round((end - start) / 86400))
    out = []
    for found, name in by_id.items():
        u = [utc[found][h] / max(1, occurs[h]) for h in range(24)]
        lo = [local[found][h] / days for h in range(24)]
        pu, pl = max(u) or 1.0, max(lo) or 1.0
        for h in range(24):
            out.append(
                (
                    name,
                    h,
                    round(u[h], 3),
                    round(lo[h], 3),
                    round(u[h] / pu, 4),
                    round(lo[h] / pl, 4),
                )
            )
    return Table(("botnet", "hour", "utc", "local", "utc_normalised", "local_normalised"), out)
