"""A token bucket for the global request rate; time is passed in so tests use a virtual clock."""

from __future__ import annotations

import math


class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; rate 0 means unlimited."""

    def __init__(self, rate: float, burst_s: float, now: float) -> None:
        self.burst_s = burst_s
        self.rate = 0.0
        self.capacity = math.inf
        self.tokens = math.inf
        self.stamp = now
        self.set_rate(rate, now)

    def set_rate(self, rate: float, now: float) -> None:
        """Change the rate at run time (server command ``set_rate``)."""
        self.rate = rate
        self.stamp = now
        if rate <= 0:
            self.capacity = self.tokens = math.inf
        else:
            self.capacity = max(1.0, rate * self.burst_s)
            self.tokens = min(self.tokens, self.capacity) if self.tokens != math.inf else 1.0

    def available(self, now: float) -> float:
        """Whole or fractional tokens available at ``now``."""
        if self.rate > 0 and now > self.stamp:
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        return self.tokens

    def take(self, n: int) -> None:
        """Spend ``n`` tokens (after :meth:`available` said they are there)."""
        if self.rate > 0:
            self.tokens -= n

    def next_token_at(self, now: float) -> float:
        """When at least one token will be available."""
        if self.rate <= 0 or self.tokens >= 1:
            return now
        return now + (1 - self.tokens) / self.rate
