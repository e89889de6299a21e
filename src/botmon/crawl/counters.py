"""The engine's counters under stable keys, read by the progress display, heartbeats and tests.

Keys never change meaning: ``sent``, ``replies`` (answers from a peer with a request
outstanding), ``bot_replies``, ``benign_replies``, ``malformed`` and ``malformed/<reason>``,
``retries``, ``timeouts``, ``failed_tries``, ``unexpected_source``, ``out_of_scope``,
``scope_blocked`` (a send the transport refused: must stay 0), ``discovered``, ``promoted``,
``demoted``, ``removed``, ``peers_dropped``, ``rounds``, ``records_replies``,
``records_edges``, ``send_errors``, ``connect_failed``, ``unmatched`` (a datagram that
matches no keyed request or lookup), ``lookups_sent``, ``lookups_answered``,
``lookups_timed_out``, ``nodes_dropped`` (the find-peers loop); gauges such as ``known`` and
``in_flight`` are added by :meth:`botmon.crawl.core.CrawlCore.status`.
"""

from __future__ import annotations

from collections import Counter
from typing import ClassVar

STABLE_KEYS = (
    "sent",
    "replies",
    "bot_replies",
    "benign_replies",
    "malformed",
    "retries",
    "timeouts",
    "failed_tries",
    "unexpected_source",
    "out_of_scope",
    "scope_blocked",
    "discovered",
    "promoted",
    "demoted",
    "removed",
    "peers_dropped",
    "rounds",
    "records_replies",
    "records_edges",
    "send_errors",
    "connect_failed",
    "unmatched",
    "lookups_sent",
    "lookups_answered",
    "lookups_timed_out",
    "nodes_dropped",
)
"""Counters always present in a snapshot (0 when nothing happened)."""


class Counters(Counter[str]):
    """A :class:`collections.Counter` whose snapshot always carries the stable keys."""

    stable_keys: ClassVar[tuple[str, ...]] = STABLE_KEYS
    """The keys every snapshot has (a sensor's counters have their own)."""

    def snapshot(self) -> dict[str, int]:
        """A plain dict with every stable key plus any ``<key>/<reason>`` detail keys."""
        out = dict.fromkeys(self.stable_keys, 0)
        out.update(self)
        return out


class RateMeter:
    """How fast a counter grows, measured between two looks (requests/s from ``sent``).

    Each reader keeps its own meter, so the progress display (every few seconds) and the
    heartbeat (every ten) each measure over their own interval.
    """

    def __init__(self, now: float) -> None:
        self._value = 0
        self._at = now
        self.rate = 0.0

    def update(self, value: int, now: float) -> float:
        """The counter's growth per second since the previous call (0.0 on the first)."""
        if now > self._at:
            self.rate = max(0.0, (value - self._value) / (now - self._at))
        self._value, self._at = value, now
        return self.rate
