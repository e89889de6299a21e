"""An in-memory network on a virtual clock, for testing the engine's queue and retry logic.

Bots are plain functions from request bytes to an answer (or None for silence); datagrams
arrive after a fixed latency and a ``drop`` predicate loses chosen ones. :meth:`run` jumps
the clock from event to event, so hours of crawling take milliseconds and every run is
deterministic.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable

from botmon.crawl.core import CrawlCore
from botmon.crawl.sink import ListReporter
from botmon.crawl.transport import RecordingTransport
from botmon.protocols.contract import Peer

Responder = Callable[[bytes, float], bytes | None]
"""A bot: (request bytes, now) -> answer bytes or None."""


class VirtualNet:
    """Connects a :class:`CrawlCore` to in-memory bots; records every destination sent to."""

    def __init__(
        self,
        core: CrawlCore,
        bots: dict[Peer, Responder],
        *,
        start: float,
        latency: float = 0.01,
        drop: Callable[[int, Peer], bool] | None = None,
    ) -> None:
        self.core = core
        self.bots = bots
        self.now = start
        self.latency = latency
        self.drop = drop
        self.reporter = ListReporter()
        self.transport = RecordingTransport(self._deliver)
        self.sent_at: list[tuple[float, Peer]] = []
        self._pending: list[tuple[float, int, bytes, tuple[str, int]]] = []
        self._seq = 0
        self.dropped = 0

    def _deliver(self, data: bytes, peer: Peer) -> None:
        self.sent_at.append((self.now, peer))
        self._seq += 1
        if self.drop is not None and self.drop(self._seq, peer):
            self.dropped += 1
            return
        bot = self.bots.get(peer)
        if bot is None:
            return
        answer = bot(data, self.now)
        if answer is not None:
            heapq.heappush(
                self._pending, (self.now + self.latency, self._seq, answer, (peer.ip, peer.port))
            )

    def inject(self, data: bytes, src: tuple[str, int], at: float) -> None:
        """Deliver an unsolicited datagram from ``src`` at time ``at``."""
        self._seq += 1
        heapq.heappush(self._pending, (at, self._seq, data, src))

    def run(self, until: float, max_steps: int = 10_000_000) -> None:
        """Advance the virtual clock to ``until`` (or until the crawl finished)."""
        core = self.core
        for _ in range(max_steps):
            now = self.now
            core.tick(now)
            if core.finished:
                break
            sends = core.take_sends(now, 1_000_000)
            for peer, data, _ in sends:
                self.transport.send(data, peer)  # type: ignore[arg-type]  # UDP: always bytes
            replies, failed, edges = core.drain_records()
            if replies or failed or edges:
                self.reporter.add(replies=replies, failed_tries=failed, edges=edges)
            delivered = False
            pending = self._pending
            while pending and pending[0][0] <= now:
                _, _, data, src = heapq.heappop(pending)
                core.on_datagram(data, src, now)
                delivered = True
            if delivered or sends:
                continue
            nxt = core.next_wakeup(now)
            if pending:
                nxt = min(nxt, pending[0][0])
            if nxt == math.inf or nxt > until:
                self.now = until
                core.tick(until)
                break
            self.now = max(nxt, now + 1e-6)
        replies, failed, edges = core.drain_records()
        if replies or failed or edges:
            self.reporter.add(replies=replies, failed_tries=failed, edges=edges)
