"""Per-source rate limits in a bounded table: what keeps a flood from owning the sensor.

A bot contacts a sensor now and then; a source sending many messages a second is a flood
or a probe. Each source address (IP only: a spoofer varies ports freely) has a token bucket;
the table keeps the most recently seen ``max_sources`` of them, so a flood of spoofed
addresses costs a bounded amount of memory (each new address evicts the least recent one).
"""

from __future__ import annotations

from collections import OrderedDict


class SourceLimiter:
    """``rate`` messages per second per source address, ``burst`` at once; rate 0: no cap."""

    __slots__ = ("_table", "burst", "evicted", "max_sources", "rate")

    def __init__(self, rate: float, burst: float, max_sources: int) -> None:
        self.rate = rate
        self.burst = burst
        self.max_sources = max_sources
        self._table: OrderedDict[str, list[float]] = OrderedDict()
        self.evicted = 0
        """Sources forgotten to make room (a sign of many sources, often spoofed)."""

    def __len__(self) -> int:
        return len(self._table)

    def allow(self, ip: str, now: float) -> bool:
        """Spend one token of ``ip``'s bucket; False when it has none left."""
        if self.rate <= 0:
            return True
        table = self._table
        bucket = table.get(ip)
        if bucket is None:
            if len(table) >= self.max_sources:
                table.popitem(last=False)
                self.evicted += 1
            table[ip] = [self.burst - 1.0, now]
            return True
        table.move_to_end(ip)
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens < 1.0:
            bucket[0] = tokens
            return False
        bucket[0] = tokens - 1.0
        return True
