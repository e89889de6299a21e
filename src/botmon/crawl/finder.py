"""The find-peers loop's table and queue (the original's PeerFinder), without I/O.

Some botnets live inside a larger overlay (BitTorrent DHT): their bots are found by walking
overlay nodes with lookups, not by asking bots. The :class:`Finder` remembers the overlay
nodes (capped at ``finder.max_nodes``, scope-guarded), queues each one once per round, and
asks the plugin's ``find_peers`` for its lookups (capped at ``finder.lookups_per_node``).
:class:`~botmon.crawl.core.CrawlCore` sends them under their own capacity and share of the
rate, and feeds what the answers name back: ``peers`` to the crawl, ``nodes`` to :meth:`add`.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque

from botmon.crawl.counters import Counters
from botmon.crawl.peers import NodeState
from botmon.crawl.scope import Scope
from botmon.protocols.contract import FindPeers, Peer, Request, RequestContext
from botmon.settings.crawl import FinderSettings


class Finder:
    """Overlay nodes known, the queue of nodes with lookups to send, and their pacing."""

    def __init__(
        self,
        find_peers: FindPeers,
        settings: FinderSettings,
        scope: Scope,
        counters: Counters,
        ctx: RequestContext,
    ) -> None:
        self._find_peers = find_peers
        self.capacity = settings.capacity
        self.share = settings.share
        self.max_nodes = settings.max_nodes
        self.per_node = settings.lookups_per_node
        self.scope = scope
        self.c = counters
        self.ctx = ctx
        self.nodes: dict[Peer, NodeState] = {}
        self.queue: deque[NodeState] = deque()
        self.waiting: list[tuple[float, int, NodeState]] = []
        """Nodes held back by per-target pacing, by when they may send again."""
        self._seq = 0

    def add(self, peer: Peer, now: float, round_no: int) -> None:
        """Remember an overlay node; queue it at once when a round (``round_no`` > 0) runs."""
        if peer in self.nodes:
            return
        if not self.scope.allows(peer.ip):
            self.c["nodes_out_of_scope"] += 1
            return
        if len(self.nodes) >= self.max_nodes:
            self.c["nodes_dropped"] += 1
            return
        node = self.nodes[peer] = NodeState(peer, now)
        if round_no:
            node.round = round_no
            self.queue.append(node)

    def start_round(self, round_no: int, now: float, remove_s: float) -> None:
        """Queue every node for this round; forget nodes tried and silent for ``remove_s``."""
        for peer, node in list(self.nodes.items()):
            if node.last_sent >= node.since and now - max(node.last_answer, node.since) > remove_s:
                del self.nodes[peer]
                self.c["nodes_removed"] += 1
                continue
            node.round = round_no
            node.sent = 0
            node.todo = None
            self.queue.append(node)

    def lookups(self, node: NodeState, now: float, round_no: int) -> list[bytes | Request]:
        """The plugin's lookups for ``node`` this round, capped, last to send first."""
        ctx = find_context(self.ctx, node.sent, now, round_no)
        room = self.per_node - node.sent
        try:
            got = list(itertools.islice(self._find_peers(node.peer, ctx), room + 1))
        except Exception:  # a plugin bug must not stop the crawl; count it and move on
            self.c["plugin_errors"] += 1
            return []
        finally:
            ctx.purpose = "crawl"  # where it rests (the engine's per-packet paths rely on it)
        if len(got) > room:
            self.c["lookups_capped"] += 1
            del got[room:]
        out = [r for r in got if type(r) is bytes or isinstance(r, Request)]
        if len(out) < len(got):
            self.c["plugin_errors"] += 1
        out.reverse()
        return out

    def wait(self, node: NodeState, until: float) -> None:
        """Hold ``node`` back until ``until`` (pacing, or its address is busy)."""
        self._seq += 1
        heapq.heappush(self.waiting, (until, self._seq, node))

    def release(self, now: float) -> None:
        """Put nodes whose wait is over back at the front of the queue."""
        waiting = self.waiting
        while waiting and waiting[0][0] <= now:
            _, _, node = heapq.heappop(waiting)
            if self.nodes.get(node.peer) is node:
                self.queue.appendleft(node)

    def busy(self) -> bool:
        """Whether nodes still wait for lookups to be sent this round."""
        return bool(self.queue or self.waiting)


def find_context(ctx: RequestContext, attempt: int, now: float, round_no: int) -> RequestContext:
    """``ctx`` filled for the find-peers loop: lookup ``attempt`` to a node, no per-peer
    state or bot ID (those belong to crawled peers), ``purpose == "find"``."""
    ctx.attempt = attempt
    ctx.try_ = 0
    ctx.bot_id = None
    ctx.state = None
    ctx.now = now
    ctx.round = round_no
    ctx.purpose = "find"
    return ctx
