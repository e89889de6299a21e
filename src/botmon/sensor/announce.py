"""Who the sensor announces itself to, and when (sans-I/O: time is passed in).

Bots forget peers, so one announcement is not enough: every ``interval`` a pass goes over
all targets again. Sends are released under a token bucket (``rate``, the server's
``set_rate`` changes it) and only to targets inside the scope: targets outside it are
refused when they are added and counted, so the send path never sees them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from botmon.crawl.counters import Counters
from botmon.crawl.ratelimit import TokenBucket
from botmon.crawl.scope import Scope
from botmon.protocols.contract import Peer

BURST_S = 1.0
"""Seconds of the announce rate that may go out at once."""


class Announcer:
    """The announcement schedule: passes over the targets, rate-capped."""

    def __init__(
        self,
        scope: Scope,
        counters: Counters,
        *,
        interval_s: float,
        rate: float,
        max_peers: int,
        now: float,
    ) -> None:
        self.scope = scope
        self.counters = counters
        self.interval_s = interval_s
        self.max_peers = max_peers
        self.bucket = TokenBucket(rate, BURST_S, now)
        self.targets: dict[Peer, None] = {}
        self._pending: deque[Peer] = deque()
        self._next_pass = now + interval_s  # targets added now go out at once, via _pending

    def add(self, peers: Iterable[Peer]) -> int:
        """Add targets (in scope, up to the cap); new ones are announced to in this pass."""
        added = 0
        c = self.counters
        for peer in peers:
            if peer in self.targets:
                continue
            if not self.scope.allows(peer.ip):
                c["announce_out_of_scope"] += 1
                continue
            if len(self.targets) >= self.max_peers:
                c["announce_peers_dropped"] += 1
                continue
            self.targets[peer] = None
            self._pending.append(peer)
            added += 1
        return added

    def set_rate(self, rate: float, now: float) -> None:
        """Change the announcement rate (0: no cap)."""
        self.bucket.set_rate(rate, now)

    def take(self, now: float, limit: int) -> list[Peer]:
        """Targets to announce to now: at most ``limit`` and what the rate allows."""
        if not self._pending and now >= self._next_pass and self.targets:
            self._pending.extend(self.targets)
            self._next_pass = now + self.interval_s
            self.counters["announce_passes"] += 1
        if not self._pending:
            return []
        n = min(limit, len(self._pending), int(self.bucket.available(now)))
        self.bucket.take(n)
        pop = self._pending.popleft
        return [pop() for _ in range(n)]

    def next_due(self, now: float) -> float:
        """When :meth:`take` may have something again."""
        if self._pending:
            return self.bucket.next_token_at(now)
        return max(now, self._next_pass) if self.targets else now + self.interval_s
