"""A per-client token bucket for routes anyone may call (the public views).

Each client address gets ``burst`` requests at once and then ``rate`` per second. Time is a
parameter (``now``, seconds on any monotonic clock), so tests step a virtual clock. The table
of clients is capped: past ``max_clients`` the longest idle are dropped, a flood of source
addresses costs a bounded amount of memory, and a dropped client starts again with a full
bucket (which is what an idle one would have had anyway, give or take).
"""

from __future__ import annotations

import math
from collections import OrderedDict


class RateLimiter:
    """Token buckets per key (a client address)."""

    def __init__(self, rate_per_s: float, burst: int, max_clients: int) -> None:
        if rate_per_s <= 0 or burst < 1 or max_clients < 1:
            raise ValueError("rate, burst and max_clients must be positive")
        self.rate = rate_per_s
        self.burst = float(burst)
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        """key -> (tokens left, when they were counted), least recently used first."""

    def take(self, key: str, now: float) -> float:
        """Spend one request of ``key`` at ``now``: 0.0 when allowed, else the seconds until
        one is allowed again (the ``Retry-After``; nothing is spent then)."""
        tokens, at = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + max(0.0, now - at) * self.rate)
        if tokens >= 1.0:
            self._remember(key, tokens - 1.0, now)
            return 0.0
        self._remember(key, tokens, now)
        return (1.0 - tokens) / self.rate

    def _remember(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after(wait_s: float) -> str:
    """A ``Retry-After`` header value: whole seconds, at least 1."""
    return str(max(1, math.ceil(wait_s)))
