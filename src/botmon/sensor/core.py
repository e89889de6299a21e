"""The sensor's sans-I/O heart: one message in, the answer and the records out, all counted.

Every message from a bot passes the same gates, cheapest first: its size (oversized ones
are dropped), the pause, its source's rate (:class:`~botmon.sensor.limits.SourceLimiter`),
then the plugin's ``handle_request``. What the plugin returns is recorded whatever the
source; the answer goes out only to a source inside the scope and under the global answer
rate, so a spoofed flood can neither reach outside the scope nor be amplified.

Memory is bounded everywhere: the source table, each listen address's ``contacts`` sample,
the set behind ``peers_known`` and the announcement targets all have caps from the settings;
records wait here only until the runner's next flush.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from botmon.crawl.counters import Counters
from botmon.crawl.ratelimit import TokenBucket
from botmon.crawl.scope import Scope
from botmon.protocols.contract import Peer, Plugin, RequestContext, SensorContext, Status
from botmon.sensor.announce import Announcer
from botmon.sensor.limits import SourceLimiter
from botmon.settings.sensor import SensorSettings
from botmon.wire import Edge, FailedTry, Reply

ANSWER_BURST_S = 1.0
"""Seconds of the answer rate that may go out at once."""

Announcement = tuple[int, Peer, bytes]
"""(index of the listen address to send from, target, bytes)."""


class SensorCounters(Counters):
    """A sensor's counters; each key keeps its meaning.

    ``contacts`` (messages received), ``handled`` (messages the plugin understood),
    ``answered``, ``malformed``, ``oversized``, ``rate_limited`` (over a source's rate),
    ``answers_capped`` (over the global answer rate), ``out_of_scope`` (answers withheld
    from sources outside the scope), ``dropped_paused``, ``plugin_errors``, ``announced``,
    ``announce_out_of_scope`` (targets refused), ``scope_blocked`` (a send the transport
    refused: must stay 0), ``send_errors``, ``records_replies``, ``records_edges``.
    """

    stable_keys = (
        "contacts",
        "handled",
        "answered",
        "malformed",
        "oversized",
        "rate_limited",
        "answers_capped",
        "out_of_scope",
        "dropped_paused",
        "plugin_errors",
        "announced",
        "announce_out_of_scope",
        "scope_blocked",
        "send_errors",
        "records_replies",
        "records_edges",
    )


def sensor_id(botnet: str, protocol: str, listen: Peer) -> str:
    """A sensor's stable ID (16 lowercase hex): the same sensor keeps it across restarts."""
    text = f"{botnet}/{protocol}/{listen.ip}/{listen.port}".encode()
    return hashlib.sha256(text).hexdigest()[:16]


class SensorCore:
    """The gates, the plugin calls and the bookkeeping of one sensor (all listen addresses)."""

    def __init__(
        self,
        plugin: Plugin,
        settings: SensorSettings,
        listens: Sequence[Peer],
        botnet: str,
        now: float,
        counters: SensorCounters | None = None,
    ) -> None:
        if plugin.handle_request is None:
            raise ValueError(f"protocol {plugin.name!r} has no handle_request: it cannot sense")
        self.plugin = plugin
        self.handle = plugin.handle_request
        self.settings = settings
        self.counters = counters if counters is not None else SensorCounters()
        self.scope = Scope(settings.scope)
        self.contexts: list[SensorContext] = []
        self._samples: list[deque[Peer]] = []
        for listen in listens:
            ctx = SensorContext(listen, sensor_id(botnet, plugin.name, listen))
            sample: deque[Peer] = deque(maxlen=settings.contacts_sample)
            ctx.contacts = sample  # the plugin reads it; the core appends to it
            self.contexts.append(ctx)
            self._samples.append(sample)
        self.max_request = settings.max_request_bytes or plugin.defaults.max_reply_bytes
        self.limiter = SourceLimiter(
            settings.per_source_rate, settings.per_source_burst, settings.max_sources
        )
        self.answers = TokenBucket(settings.answer_rate, ANSWER_BURST_S, now)
        self.answers.tokens = self.answers.capacity  # a sensor may answer a burst at once
        self.announcer = Announcer(
            self.scope,
            self.counters,
            interval_s=settings.announce_interval_s,
            rate=settings.announce_rate,
            max_peers=settings.max_announce_peers,
            now=now,
        )
        self.known: set[tuple[str, int]] = set()
        self._own: frozenset[tuple[str, int]] = frozenset(listens)  # the sensor is no new peer
        self.paused = False
        self._replies: list[Reply] = []
        self._edges: list[Edge] = []
        self._failed: list[FailedTry] = []
        self._read_ctx = RequestContext()

    # ----- contacts ----------------------------------------------------------------------

    def on_message(self, data: bytes, src: Peer, listen: int, now: float) -> bytes | None:
        """One message from ``src`` to listen address ``listen``: the answer to send, if any."""
        c = self.counters
        c["contacts"] += 1
        if len(data) > self.max_request:
            c["oversized"] += 1
            return None
        if self.paused:
            c["dropped_paused"] += 1
            return None
        if not self.limiter.allow(src.ip, now):
            c["rate_limited"] += 1
            return None
        ctx = self.contexts[listen]
        ctx.now = now
        try:
            answer, records = self.handle(data, src, now, ctx)
        except Exception:  # a plugin bug must not stop the sensor; it is counted
            c["plugin_errors"] += 1
            return None
        if answer is None and not records:
            c["malformed"] += 1
            return None
        c["handled"] += 1
        self._record(records)
        self._samples[listen].append(src)
        if src not in self.known:
            self._know(src)
        if answer is None:
            return None
        if not self.scope.allows(src.ip):
            c["out_of_scope"] += 1
            return None
        answers = self.answers
        if answers.rate > 0:
            if answers.available(now) < 1:
                c["answers_capped"] += 1
                return None
            answers.tokens -= 1
        c["answered"] += 1
        return answer

    def _record(self, records: Iterable[Reply | Edge | FailedTry]) -> None:
        known, own = self.known, self._own
        for record in records:
            if isinstance(record, Reply):
                self._replies.append(record)
            elif isinstance(record, Edge):
                self._edges.append(record)
                peer = (record.dst_ip, record.dst_port)
                if peer not in known and peer not in own:
                    self._know(peer)
            elif isinstance(record, FailedTry):
                self._failed.append(record)
            else:
                self.counters["plugin_errors"] += 1

    def _know(self, peer: tuple[str, int]) -> None:
        # A Peer equals the plain tuple of its fields, so either form finds the other.
        known = self.known
        if peer in known or peer in self._own:
            return
        if len(known) >= self.settings.max_known_peers:
            self.counters["known_dropped"] += 1
            return
        known.add(peer)

    def drain_records(self) -> tuple[list[Reply], list[FailedTry], list[Edge]]:
        """Records gathered since the last call (the runner hands them to the reporter)."""
        out = (self._replies, self._failed, self._edges)
        self._replies, self._failed, self._edges = [], [], []
        c = self.counters
        c["records_replies"] += len(out[0])
        c["records_edges"] += len(out[2])
        return out

    # ----- announcements -----------------------------------------------------------------

    def add_targets(self, peers: Iterable[Peer]) -> int:
        """Peers to announce to (a peer list, or the server's ``add_seeds``)."""
        return self.announcer.add(peers)

    def set_rate(self, rate: float, now: float) -> None:
        """Change the announcement rate (the server's ``set_rate``)."""
        self.announcer.set_rate(rate, now)

    def announcements(self, now: float, limit: int) -> list[Announcement]:
        """What to announce now, from each listen address (nothing while paused)."""
        if self.paused:
            return []
        announce = self.plugin.announce
        if announce is None:
            return []
        out: list[Announcement] = []
        c = self.counters
        for peer in self.announcer.take(now, limit):
            for i, ctx in enumerate(self.contexts):
                ctx.now = now
                try:
                    data = announce(peer, ctx)
                except Exception:
                    c["plugin_errors"] += 1
                    continue
                if data:
                    out.append((i, peer, data))
        c["announced"] += len(out)
        return out

    def next_announcement(self, now: float) -> float:
        """When :meth:`announcements` may have something again."""
        if self.plugin.announce is None:
            return now + self.settings.announce_interval_s
        return self.announcer.next_due(now)

    def on_announce_answer(self, data: bytes, peer: Peer, now: float) -> None:
        """A TCP bot's answer to an announcement, read the crawler's way and recorded."""
        ctx = self._read_ctx
        ctx.now = now
        try:
            result = self.plugin.read_reply(data, peer, now, ctx)
        except Exception:
            self.counters["plugin_errors"] += 1
            return
        if result.status is Status.BOT_REPLY:
            self.counters["announce_answers"] += 1
            self._record((*result.replies, *result.edges))
        else:
            self.counters["announce_bad_answers"] += 1

    def count_bad(self, reason: str) -> None:
        """A contact the listener could not even frame (TCP): counted as malformed."""
        c = self.counters
        c["contacts"] += 1
        c["malformed"] += 1
        c[f"malformed/{reason}"] += 1

    # ----- status ------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Counters and gauges under stable keys (progress display, heartbeat counters)."""
        out: dict[str, Any] = self.counters.snapshot()
        out["peers_known"] = len(self.known)
        out["sources_tracked"] = len(self.limiter)
        out["sources_evicted"] = self.limiter.evicted
        out["announce_targets"] = len(self.announcer.targets)
        out["paused"] = self.paused
        return out
