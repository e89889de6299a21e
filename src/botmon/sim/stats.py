"""Counters of what an emulator saw and did, under stable keys tests and status lines read.

Keys: ``requests`` (every datagram or connection received), ``answers`` (answers sent),
``dropped/<reason>`` (``not_loopback``, ``unknown_destination``, ``malformed``, ``offline``,
``nat``, ``rate_limit``, ``blacklist``, ``busy``; the defences of :mod:`botmon.sim.defences`
add ``blacklisted`` and ``unknown``), ``hostile/<mode>`` (hostile answers sent,
flood datagrams counted one by one), ``benign`` and ``send_errors``; the DHT emulator adds
``sent`` (every datagram its nodes sent), ``config_pushes`` and ``ip_changes``. An emulator's
``counters`` also hold ``defences/blacklistings`` (every blacklisting made) and
``defences/untracked`` (sources too many to count or blacklist).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

MAX_SOURCES = 10_000
"""Sources tracked one by one; beyond that only the totals grow."""


@dataclass(slots=True)
class SourceStats:
    """What one source IP asked and got."""

    requests: int = 0
    answers: int = 0
    dropped: int = 0


class Stats:
    """Totals by key and per-source tallies."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.by_source: dict[str, SourceStats] = {}

    def source(self, ip: str) -> SourceStats | None:
        """The tally of ``ip`` (created on first use while there is room), else None."""
        stats = self.by_source.get(ip)
        if stats is None and len(self.by_source) < MAX_SOURCES:
            stats = self.by_source[ip] = SourceStats()
        return stats

    def request(self, ip: str) -> SourceStats | None:
        """Count one incoming request from ``ip``."""
        self.counters["requests"] += 1
        stats = self.source(ip)
        if stats is not None:
            stats.requests += 1
        return stats

    def drop(self, reason: str, stats: SourceStats | None) -> None:
        """Count a request that got no answer, and why."""
        self.counters[f"dropped/{reason}"] += 1
        if stats is not None:
            stats.dropped += 1

    def answer(self, stats: SourceStats | None, datagrams: int = 1) -> None:
        """Count an answer (``datagrams`` sent for it)."""
        self.counters["answers"] += 1
        if datagrams > 1:
            self.counters["answers/extra_datagrams"] += datagrams - 1
        if stats is not None:
            stats.answers += 1

    def dropped_total(self) -> int:
        """All dropped requests, whatever the reason."""
        return sum(v for k, v in self.counters.items() if k.startswith("dropped/"))
