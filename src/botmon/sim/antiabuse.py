"""Anti-crawling as real bots do it: each bot rate-limits and blacklists each source IP.

Sans-I/O: :meth:`AntiAbuse.check` takes ``now``. State is per (bot, source IP), so a crawler
that paces each target stays below the limit however fast it crawls overall. The table is
capped; once full, new pairs are not tracked (and so not limited) rather than growing
without bound.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_TRACKED_PAIRS = 2_000_000


@dataclass(slots=True)
class _Pair:
    tokens: float
    stamp: float
    requests: int


class AntiAbuse:
    """Token bucket of ``rate`` per second (``burst`` deep) and a request-count blacklist."""

    def __init__(
        self, rate: float | None, burst: float | None, blacklist_after: int | None
    ) -> None:
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate or 1.0)
        self.blacklist_after = blacklist_after
        self._pairs: dict[tuple[int, str], _Pair] = {}

    @property
    def active(self) -> bool:
        """False when neither a rate limit nor a blacklist is configured."""
        return self.rate is not None or self.blacklist_after is not None

    def check(self, bot: int, source: str, now: float) -> str | None:
        """Count a request; return ``"blacklist"`` or ``"rate_limit"`` to drop it, else None."""
        if not self.active:
            return None
        key = (bot, source)
        pair = self._pairs.get(key)
        if pair is None:
            if len(self._pairs) >= MAX_TRACKED_PAIRS:
                return None
            pair = self._pairs[key] = _Pair(self.burst, now, 0)
        pair.requests += 1
        if self.blacklist_after is not None and pair.requests > self.blacklist_after:
            return "blacklist"
        if self.rate is not None:
            pair.tokens = min(self.burst, pair.tokens + (now - pair.stamp) * self.rate)
            pair.stamp = now
            if pair.tokens < 1.0:
                return "rate_limit"
            pair.tokens -= 1.0
        return None

    def blacklisted(self, bot: int, source: str) -> bool:
        """True once ``bot`` ignores ``source`` for good."""
        pair = self._pairs.get((bot, source))
        return (
            pair is not None
            and self.blacklist_after is not None
            and pair.requests > self.blacklist_after
        )
