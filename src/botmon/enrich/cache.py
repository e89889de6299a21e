"""The address -> GeoInfo cache on the ingest path: two generations of plain dicts.

``functools.lru_cache`` costs a C call per address and keeps a GC-tracked list node per entry,
so every full garbage collection walks the whole cache; in a busy server that made warm
10,000-reply batches several times slower. Here a batch is one ``map(dict.get, ...)`` over
the young generation; misses look in the old generation (and move up) before computing.
When the young generation is full it becomes the old one and the previous old one is
dropped: an approximate LRU that never holds more than ``maxsize`` entries and whose dicts,
holding only ints, strings and untracked structs, the garbage collector skips.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Generic, NamedTuple, TypeVar

V = TypeVar("V")


class CacheInfo(NamedTuple):
    """Counters in the shape of ``functools.lru_cache``'s (approximate under threads)."""

    hits: int
    misses: int
    maxsize: int
    currsize: int


class GenerationalCache(Generic[V]):
    """Approximately-LRU memo of ``compute(key)``; values must never be None."""

    def __init__(self, maxsize: int, compute: Callable[[Hashable], V]) -> None:
        if maxsize < 0:
            raise ValueError("cache size must be 0 or more")
        self.maxsize = maxsize
        self._half = max(1, maxsize // 2)
        self._compute = compute
        self._young: dict[Hashable, V] = {}
        self._old: dict[Hashable, V] = {}
        self._lookups = 0
        self._misses = 0

    def _fill(self, key: Hashable) -> V:
        young = self._young
        value = young.get(key)
        if value is not None:
            return value
        value = self._old.pop(key, None)
        if value is None:
            value = self._compute(key)
            self._misses += 1
        if self.maxsize:
            if len(young) >= self._half:
                self._old, self._young = young, {}
                young = self._young
            young[key] = value
        return value

    def get(self, key: Hashable) -> V:
        """The cached or computed value of one key."""
        self._lookups += 1
        value = self._young.get(key)
        return value if value is not None else self._fill(key)

    def get_many(self, keys: Sequence[Hashable]) -> list[V | None]:
        """Values of many keys in order (the list holds no None on return)."""
        out: list[V | None] = list(map(self._young.get, keys))
        self._lookups += len(out)
        if None in out:
            fill = self._fill
            for i, value in enumerate(out):
                if value is None:
                    out[i] = fill(keys[i])
        return out

    def info(self) -> CacheInfo:
        """Hits, misses, capacity and current size."""
        size = len(self._young) + len(self._old)
        return CacheInfo(self._lookups - self._misses, self._misses, self.maxsize, size)

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        self._young, self._old = {}, {}
        self._lookups = self._misses = 0
