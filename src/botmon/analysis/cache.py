"""Speed without approximation: answers cached per store, reused only while provably current.

A cached value is reused only while a cheap check (stored batches per bucket, from the small
``batches`` table: :meth:`~botmon.store.base.Store.batch_spans`) is equal to the check it was
computed under. Records are never changed in place and every write is a batch, so equal
checks mean equal rows; the check runs on every call, so late imports are never missed.

Time series are cached per bucket, so a refresh of a live view recomputes only the buckets
that received rows (normally the newest one) and the partial buckets at the range's edges.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from botmon.buckets import bucket_start, buckets_between
from botmon.store.base import Store
from botmon.store.reads import Ids, SourceFilter, SpanKind

CACHE_ENTRIES = 20_000
"""Most cached values per store (per-bucket values are small tuples)."""


class Cache:
    """Values with the check they were computed under; a value is reused only while the
    check computed now is equal."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.data: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()

    def get(self, key: tuple[Any, ...], check: Any) -> tuple[bool, Any]:
        with self.lock:
            hit = self.data.get(key)
            if hit is None or hit[0] != check:
                return False, None
            self.data.move_to_end(key)
            return True, hit[1]

    def put(self, key: tuple[Any, ...], check: Any, value: Any) -> None:
        with self.lock:
            self.data[key] = (check, value)
            self.data.move_to_end(key)
            while len(self.data) > CACHE_ENTRIES:
                self.data.popitem(last=False)


_caches: weakref.WeakKeyDictionary[Any, Cache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_of(store: Store) -> Cache | None:
    """The cache of ``store`` (None for a store that cannot be weakly referenced)."""
    try:
        with _caches_lock:
            cache = _caches.get(store)
            if cache is None:
                cache = _caches[store] = Cache()
            return cache
    except TypeError:
        return None


def seen_by(view: str, source: SourceFilter) -> str:
    """A view's cache name for the records of one kind of monitor (unchanged for both)."""
    return view if source is None else f"{view}:{source}"


def clear_cache(store: Store) -> None:
    """Forget every cached answer for ``store`` (benchmarks measure cold queries with it)."""
    with _caches_lock:
        _caches.pop(store, None)


def _bucket_checks(
    store: Store, kind: SpanKind, ids: Ids, start: float, end: float, bucket_s: int
) -> dict[tuple[int, int], int]:
    """Per (botnet id, bucket): how many stored batches of ``kind`` touch it."""
    span = buckets_between(start, end, bucket_s)
    checks: dict[tuple[int, int], int] = defaultdict(int)
    for botnet_id, lo, hi, n in store.batch_spans(kind, ids, start, end, bucket_s):
        for i in range(max(lo, span.start), min(hi, span.stop - 1) + 1):
            checks[(botnet_id, i)] += n
    return checks


Compute = Callable[[float, float], dict[tuple[int, int], Any]]


def per_bucket(
    store: Store,
    view: str,
    kind: SpanKind,
    ids: Sequence[int],
    start: float,
    end: float,
    bucket_s: int,
    compute: Compute,
) -> dict[tuple[int, int], Any]:
    """Values per (botnet id, bucket) in [start, end), from the cache where still valid.

    Invalid buckets are recomputed by ``compute(lo, hi)`` over as few contiguous spans as
    possible; buckets it returns nothing for hold no rows (None).
    """
    if end <= start:
        return {}
    cache = cache_of(store)
    checks = _bucket_checks(store, kind, ids, start, end, bucket_s)
    result: dict[tuple[int, int], Any] = {}
    dirty: set[int] = set()
    for bid in ids:
        for i in buckets_between(start, end, bucket_s):
            if cache is not None:
                key = _bucket_key(view, bid, bucket_s, i, start, end)
                ok, value = cache.get(key, checks.get((bid, i), 0))
                if ok:
                    if value is not None:
                        result[(bid, i)] = value
                    continue
            dirty.add(i)
    for lo_i, hi_i in _spans(sorted(dirty)):
        lo = max(start, bucket_start(lo_i, bucket_s))
        hi = min(end, bucket_start(hi_i + 1, bucket_s))
        found = compute(lo, hi)
        for bid in ids:
            for i in range(lo_i, hi_i + 1):
                value = found.get((bid, i))
                if value is not None:
                    result[(bid, i)] = value
                if cache is not None:
                    key = _bucket_key(view, bid, bucket_s, i, start, end)
                    cache.put(key, checks.get((bid, i), 0), value)
    return result


def _bucket_key(
    view: str, botnet_id: int, bucket_s: int, i: int, start: float, end: float
) -> tuple[Any, ...]:
    """Cache key of one bucket's value; a bucket cut by the range's edges is keyed by the part
    the range covers, so a sliding window reuses its edges while they stay put."""
    lo, hi = bucket_start(i, bucket_s), bucket_start(i + 1, bucket_s)
    return (view, botnet_id, bucket_s, i, max(lo, start), min(hi, end))


def _spans(indexes: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs of sorted bucket indexes, as (first, last) pairs."""
    spans: list[tuple[int, int]] = []
    for i in indexes:
        if spans and spans[-1][1] == i - 1:
            spans[-1] = (spans[-1][0], i)
        else:
            spans.append((i, i))
    return spans


def checked(store: Store, key: tuple[Any, ...], check: Any, compute: Callable[[], Any]) -> Any:
    """The cached value of ``key`` while it was computed under ``check``, else ``compute()``
    (then cached under ``check``)."""
    cache = cache_of(store)
    if cache is not None:
        ok, value = cache.get(key, check)
        if ok:
            return value
    value = compute()
    if cache is not None:
        cache.put(key, check, value)
    return value


def whole(
    store: Store,
    key: tuple[Any, ...],
    kinds: Sequence[SpanKind],
    ids: Ids,
    start: float,
    end: float,
    compute: Callable[[], Any],
) -> Any:
    """A whole-range answer, reused while the stored batches touching the range are the same."""
    check = tuple(tuple(sorted(store.batch_spans(kind, ids, start, end, 3600))) for kind in kinds)
    return checked(store, (*key, start, end), check, compute)


def watermarked(store: Store, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
    """An answer from the seen tables, reused while their watermark is unchanged."""
    return checked(store, key, store.summary_watermark(), compute)
