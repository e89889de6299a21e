"""A small in-process cache whose entries expire: one computation per key per lifetime.

The public views use it so that any number of anonymous readers cost the store one query
per (botnet, view, range) per ``ttl``. Time is a parameter (``now``), so tests step a clock.
The cache is capped in entries; past the cap the oldest entry goes first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values by key, each valid for ``ttl`` seconds after it was put."""

    def __init__(self, ttl: float, max_entries: int) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K, now: float) -> tuple[V, float] | None:
        """(value, seconds it stays valid) while fresh at ``now``; None when missing or
        expired (an expired entry is dropped)."""
        hit = self._entries.get(key)
        if hit is None:
            return None
        expires, value = hit
        if now >= expires:
            del self._entries[key]
            return None
        return value, expires - now

    def put(self, key: K, value: V, now: float) -> float:
        """Keep ``value`` for ``ttl`` from ``now``; returns when it expires."""
        self._entries.pop(key, None)
        expires = now + self.ttl
        self._entries[key] = (expires, value)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return expires

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
