"""Time buckets: the one alignment every count per hour, day or week in botmon uses.

Bucket ``i`` of ``bucket_s`` seconds covers ``[ORIGIN + i * bucket_s, ORIGIN + (i + 1) * bucket_s)``
in UTC, with ``ORIGIN`` Monday 1970-01-05 00:00 UTC. So hours start on the hour, days at
00:00 UTC and weeks are ISO weeks (Monday 00:00 UTC to Sunday 24:00), whichever API asks.
Counting weeks from the Unix epoch instead would start them on Thursday (1970-01-01 was
one), which is why the origin is not 0. The store computes bucket indexes in SQL with the
same formula (:mod:`botmon.store.reads`), so this module is the whole contract.
"""

from __future__ import annotations

import math

BUCKET_ORIGIN = 4 * 86400
"""Monday 1970-01-05 00:00 UTC: buckets of an hour, a day or a week all start on boundaries."""
HOUR = 3600
DAY = 86400
WEEK = 7 * DAY


def bucket_index(t: float, bucket_s: int) -> int:
    """Index of the bucket holding the instant ``t`` (epoch seconds)."""
    return math.floor((t - BUCKET_ORIGIN) / bucket_s)


def bucket_start(index: int, bucket_s: int) -> float:
    """Epoch seconds at which bucket ``index`` starts."""
    return float(index * bucket_s + BUCKET_ORIGIN)


def buckets_between(start: float, end: float, bucket_s: int) -> range:
    """Indexes of the buckets meeting ``[start, end)`` (empty when ``end <= start``)."""
    if end <= start:
        return range(0)
    return range(bucket_index(start, bucket_s), bucket_index(end - 1e-6, bucket_s) + 1)
