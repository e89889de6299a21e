"""The crawl engine's state machine, without I/O: peers and queues, rounds, retries, pacing.

Every method takes ``now``; the asyncio runner (:mod:`botmon.crawl.runner`) feeds it real
time and real datagrams, tests feed it a virtual clock and in-memory datagrams. Deadlines
live in heaps, never in a timer per request (NOTES: that halves throughput): one for requests
matched by source address, one for keyed requests and lookups; another heap holds sends
waiting for the per-target rate.

Matching (contract v2). A plugin without ``reply_key`` is matched as in v1: by source address
only, so at most one request per target is outstanding (the request lives on its
:class:`PeerState`, the fast path); a bot is asked again (HNS: one peer per reply) only after
it answered, up to ``requests_per_round`` times, until ``stale_replies`` answers in a row named
nothing new or an answer says ``more=False``. A UDP plugin with ``reply_key`` is matched by
``(source, key)``: each request is an :class:`InFlight` with its own retries and deadline, a
confirmed bot may have up to ``max_in_flight_per_peer`` of them out at once, and an answer
whose key is None, unknown or too long completes none of them (``unmatched``). A request
without a key keeps the v1 rule even there: while it is out nothing else goes to that peer,
and any answer from the peer that matches no key completes it. Keys are ignored for plugins
without ``reply_key`` and over TCP (an exchange is its own match); keys are bytes, str or int
of at most ``MAX_KEY_BYTES`` (others are refused: ``key_refused``).

Per-peer state: ``Request.state`` / ``CrawlResult.state`` are kept on the peer (``KEEP``
leaves it, None clears it); a state that is not bytes or over ``MAX_PEER_STATE`` is refused
(``plugin_errors`` and ``state_refused``).

Find-peers loop (UDP plugins with ``find_peers``): overlay nodes come from the seeds (every
seed is both a peer to crawl and a node to walk) and from the ``nodes`` of any answer; the
:class:`~botmon.crawl.finder.Finder` queues each once per round, its lookups go out one try
each with the first deadline under ``finder.capacity`` and ``finder.share`` of each send pass,
and their answers feed the crawl (``peers``) and the finder (``nodes``). A round ends when
both the crawl and the finder are done.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import deque
from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from botmon.crawl.counters import Counters
from botmon.crawl.finder import Finder, find_context
from botmon.crawl.peers import DISCOVERY, FIND, TRACKING, UNSENT, InFlight, NodeState, PeerState
from botmon.crawl.ratelimit import TokenBucket
from botmon.crawl.retry import next_attempt, tries_for
from botmon.crawl.scope import Scope
from botmon.protocols.contract import (
    KEEP,
    MAX_KEY_BYTES,
    MAX_PEER_STATE,
    Conversation,
    CrawlResult,
    Peer,
    Plugin,
    Request,
    RequestContext,
    Status,
)
from botmon.settings.crawl import CrawlSettings
from botmon.wire import Edge, FailedTry, Reply

Send = tuple[Peer, "bytes | Conversation", int]
"""A request to put on the wire: destination, bytes (or, for a TCP plugin with conversations,
the Conversation to run), token (echoed back for TCP results)."""

_BOT = Status.BOT_REPLY
_BENIGN = Status.BENIGN_REPLY
_NO = Status.NO_REPLY
MAX_ROUND_LOG = 100
_DONE = 1 << 30
"""``stale`` of a peer whose answer said ``more=False``: asked no more this round."""


def key_fits(key: object) -> bool:
    """Whether a match key is usable: bytes or str of at most ``MAX_KEY_BYTES``, or an int
    of at most that many bytes (anything else could be costly to hash or hold)."""
    t = type(key)
    if t is bytes or t is str:
        return len(key) <= MAX_KEY_BYTES  # type: ignore[arg-type]
    return t is int and key.bit_length() <= 8 * MAX_KEY_BYTES  # type: ignore[attr-defined]


class CrawlCore:
    """Everything the engine decides; the runner only moves bytes and the clock."""

    def __init__(
        self,
        plugin: Plugin,
        settings: CrawlSettings,
        now: float,
        *,
        counters: Counters | None = None,
        scope: Scope | None = None,
    ) -> None:
        self.plugin = plugin
        self._read_reply = plugin.read_reply
        self._peer_request = plugin.peer_request
        self._open_conversation = plugin.conversation if plugin.transport == "tcp" else None
        self.ctx = RequestContext()
        """The one context handed to the plugin on every call (see the contract)."""
        self.settings = settings.validate()
        self.scope = scope if scope is not None else Scope(settings.scope)
        self.c = counters if counters is not None else Counters()
        self.timeouts = settings.retry.timeouts
        udp = plugin.transport == "udp"
        self._reply_key = plugin.reply_key if udp else None
        self.keyed = self._reply_key is not None
        """Requests are :class:`InFlight` objects matched by ``(source, key)``."""
        self.max_per_peer = settings.rounds.max_in_flight_per_peer if self.keyed else 1
        self.finder = (
            Finder(plugin.find_peers, settings.finder, self.scope, self.c, self.ctx)
            if udp and plugin.find_peers is not None
            else None
        )
        self._find_credit = 0.0
        self.capacity = (
            settings.queues.discovery_capacity,
            settings.queues.tracking_capacity,
            settings.finder.capacity,
        )
        self.peers: dict[Peer, PeerState] = {}
        self.out_of_scope: set[Peer] = set()
        self.ready: tuple[deque[PeerState], deque[PeerState]] = (deque(), deque())
        self.retry_q: deque[PeerState] = deque()
        self.delayed: list[tuple[float, int, PeerState]] = []
        self.timers: list[tuple[float, int, PeerState]] = []
        self.outstanding: dict[tuple[str, int], PeerState] = {}
        """Unkeyed requests in flight, by target (v1 matching)."""
        self.pending: dict[tuple[tuple[str, int], Hashable | None], InFlight] = {}
        """Keyed requests and lookups in flight, by ``(target, key)``."""
        self.pending_timers: list[tuple[float, int, InFlight]] = []
        self.pending_retry_q: deque[InFlight] = deque()
        self.in_flight = [0, 0, 0]
        self.n_in_flight = 0
        self.peak_in_flight = 0
        self.n_tracked = 0
        self.enumerated: dict[Peer, array[int]] = {}
        """Hashes of the peers each bot named so far this round, while it is being asked
        again. An ``array`` of 64-bit hashes, not a set: tens of thousands of bots are
        enumerated at once, and a set of 32 peers costs about ten times the memory."""
        self.round = 0
        self.round_active = False
        self.round_started = now
        self.next_round_at = now
        self.responsive = 0
        self.responsive_last_round = 0
        self.round_log: deque[dict[str, Any]] = deque(maxlen=MAX_ROUND_LOG)
        self.paused = False
        self.finished = False
        self.bucket = TokenBucket(settings.rate.global_rate, settings.rate.burst_s, now)
        per_target = settings.rate.per_target_rate
        self.gap = 1.0 / per_target if per_target > 0 else 0.0
        self.rpr = settings.rounds.requests_per_round
        self.stale_limit = settings.rounds.stale_replies
        self.max_peers_per_reply = max(1, plugin.defaults.peers_per_reply)
        self.n_sent = 0
        self.n_replies = 0
        self.n_bot_replies = 0
        """Counters bumped once per packet live as plain ints; :meth:`status` merges them."""
        self.replies: list[Reply] = []
        self.edges: list[Edge] = []
        self.failed: list[FailedTry] = []
        self._seq = 0

    # ----- peers -------------------------------------------------------------------------

    def add_peers(self, peers: Iterable[Peer], now: float) -> int:
        """Add seeds (start, peer list, server command); returns how many were new in scope.

        With a find-peers loop every seed is also an overlay node to walk: a DHT crawl starts
        from bootstrap nodes given as ordinary seeds.
        """
        added = 0
        finder = self.finder
        for p in peers:
            if p not in self.peers and self._add_peer(p, now) is not None:
                added += 1
            if finder is not None:
                finder.add(p, now, self.round if self.round_active else 0)
        return added

    def _add_peer(self, p: Peer, now: float) -> PeerState | None:
        if not self.scope.allows(p.ip):
            # Seen, recorded (its edge is reported), counted, never contacted.
            oos = self.out_of_scope
            if p not in oos:
                if len(oos) < self.settings.queues.max_out_of_scope:
                    oos.add(p)
                self.c["out_of_scope"] += 1
            return None
        if len(self.peers) >= self.settings.queues.max_known_peers:
            self.c["peers_dropped"] += 1
            return None
        st = PeerState(p, now)
        self.peers[p] = st
        self.c["discovered"] += 1
        if self.round_active:
            st.round = self.round
            self.ready[DISCOVERY].append(st)
        return st

    def _promote(self, st: PeerState, now: float) -> None:
        st.queue = TRACKING
        st.since = now
        st.tried = False
        self.n_tracked += 1
        self.c["promoted"] += 1

    def _demote(self, st: PeerState, now: float) -> None:
        st.queue = DISCOVERY
        st.since = now
        st.tried = False
        self.n_tracked -= 1
        self.c["demoted"] += 1

    # ----- rounds ------------------------------------------------------------------------

    def _start_round(self, now: float) -> None:
        self.round += 1
        self.ctx.round = self.round
        self.round_active = True
        self.round_started = now
        self.responsive = 0
        q = self.settings.queues
        ready = self.ready
        for p, st in list(self.peers.items()):
            silent = now - max(st.last_reply, st.since)
            if st.queue == TRACKING:
                if silent > q.tracking_remove_s:
                    self._demote(st, now)
            elif st.tried and silent > q.discovery_remove_s:
                del self.peers[p]
                self.c["removed"] += 1
                continue
            st.round = self.round
            st.asked = 0
            st.stale = 0
            ready[st.queue].append(st)
        if self.finder is not None:
            self.finder.start_round(self.round, now, q.discovery_remove_s)

    def _round_done(self) -> bool:
        return not (
            self.outstanding
            or self.retry_q
            or self.delayed
            or self.ready[0]
            or self.ready[1]
            or self.pending
            or (self.finder is not None and self.finder.busy())
        )

    def _end_round(self, now: float) -> None:
        self.round_active = False
        self.c["rounds"] += 1
        self.responsive_last_round = self.responsive
        self.round_log.append(
            {
                "round": self.round,
                "started": self.round_started,
                "ended": now,
                "known": len(self.peers),
                "tracked": self.n_tracked,
                "responsive": self.responsive,
            }
        )
        self.next_round_at = self.round_started + self.settings.rounds.interval_s
        limit = self.settings.rounds.rounds
        if limit and self.round >= limit:
            self.finished = True

    # ----- time --------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        """Expire deadlines, release paced sends, start and end rounds."""
        timers = self.timers
        outstanding = self.outstanding
        while timers and timers[0][0] <= now:
            _, token, st = heapq.heappop(timers)
            if st.token != token or outstanding.get(st.peer) is not st or st.retry_pending:
                continue
            nxt = next_attempt(st.attempt, st.tries)
            if nxt is None:
                self._give_up(st, st.fail_reason or "timeout", now, st.asked - 1)
            else:
                st.attempt = nxt
                st.retry_pending = True
                self.retry_q.append(st)
        if self.pending_timers:
            self._expire_pending(now)
        if self.finder is not None:
            self.finder.release(now)
        delayed = self.delayed
        while delayed and delayed[0][0] <= now:
            _, _, st = heapq.heappop(delayed)
            if self.peers.get(st.peer) is st:
                self.ready[st.queue].appendleft(st)
        if self.round_active and self._round_done():
            self._end_round(now)
        if not self.round_active and not self.finished and now >= self.next_round_at:
            self._start_round(now)
            if self._round_done():  # nothing to crawl: an empty round ends at once
                self._end_round(now)

    def next_wakeup(self, now: float) -> float:
        """The earliest time :meth:`tick` or :meth:`take_sends` has something to do."""
        t = math.inf
        if self.timers:
            t = self.timers[0][0]
        if self.delayed:
            t = min(t, self.delayed[0][0])
        if self.pending_timers:
            t = min(t, self.pending_timers[0][0])
        finder = self.finder
        if finder is not None and finder.waiting:
            t = min(t, finder.waiting[0][0])
        if not self.round_active and not self.finished:
            t = min(t, self.next_round_at)
        if not self.paused and (self.retry_q or self.pending_retry_q or self._sendable()):
            t = min(t, self.bucket.next_token_at(now))
        return t

    def _sendable(self) -> bool:
        if (
            self.finder is not None
            and self.finder.queue
            and self.in_flight[FIND] < self.capacity[FIND]
        ):
            return True
        return any(
            self.ready[k] and self.in_flight[k] < self.capacity[k] for k in (TRACKING, DISCOVERY)
        )

    # ----- sending -----------------------------------------------------------------------

    def take_sends(self, now: float, limit: int) -> list[Send]:
        """Requests to send now, within capacities, the global rate and per-target pacing."""
        if self.paused or self.finished:
            return []
        avail = self.bucket.available(now)
        budget = min(limit, int(avail) if avail != math.inf else limit)
        out: list[Send] = []
        if budget <= 0:
            return out
        finder = self.finder
        total = budget
        if finder is not None and finder.queue:
            # Keep the finder's share of this pass (as much as its capacity can take; a
            # fraction carries over, so a share of a small budget still comes round); it
            # also gets whatever the crawl leaves.
            share = budget * finder.share
            self._find_credit = min(self._find_credit + share, max(1.0, share))
            room = self.capacity[FIND] - self.in_flight[FIND]
            budget -= min(int(self._find_credit), room)
        if self.keyed:
            self._take_keyed(now, budget, out)
        else:
            self._take_unkeyed(now, budget, out)
        if finder is not None and finder.queue:
            before = len(out)
            self._take_lookups(now, total, out)
            self._find_credit = max(0.0, self._find_credit - (len(out) - before))
        if self.n_in_flight > self.peak_in_flight:
            self.peak_in_flight = self.n_in_flight
        self.bucket.take(len(out))
        return out

    def _take_unkeyed(self, now: float, budget: int, out: list[Send]) -> None:
        """v1 sends: retries first, then tracked bots, then discovery peers, one per peer."""
        retry_q = self.retry_q
        while retry_q and len(out) < budget:
            st = retry_q.popleft()
            if not st.retry_pending or self.outstanding.get(st.peer) is not st:
                continue
            st.retry_pending = False
            self.c["retries"] += 1
            self._emit(st, now, st.attempt, out)
        gap = self.gap
        tracking_tries = tries_for(True, self.timeouts)
        for kind in (TRACKING, DISCOVERY):
            ready = self.ready[kind]
            cap = self.capacity[kind]
            in_flight = self.in_flight
            while ready and in_flight[kind] < cap and len(out) < budget:
                st = ready.popleft()
                if self.peers.get(st.peer) is not st or st.peer in self.outstanding:
                    continue
                wait = st.last_sent + gap if gap else 0.0
                if self.pending and (st.peer, None) in self.pending:
                    # a keyless lookup is out to the same address: answers would be mixed up
                    wait = max(wait, now + self.timeouts[0])
                if wait > now:
                    self._seq += 1
                    heapq.heappush(self.delayed, (wait, self._seq, st))
                    continue
                st.slot = kind
                st.tries = tracking_tries if kind == TRACKING else 1
                st.asked += 1
                st.fail_reason = None
                st.first_sent = now
                in_flight[kind] += 1
                self.n_in_flight += 1
                self.outstanding[st.peer] = st
                self._emit(st, now, 0, out)

    def _emit(self, st: PeerState, now: float, attempt: int, out: list[Send]) -> None:
        try:
            ctx = self.ctx
            ctx.attempt = st.asked - 1
            ctx.try_ = attempt
            ctx.bot_id = st.bot_id
            ctx.state = st.state
            ctx.now = now  # round: set at round start; purpose rests at "crawl"
            data: bytes | Conversation
            if self._open_conversation is not None:
                data = self._open_conversation(st.peer, ctx)
            else:
                request = self._peer_request(st.peer, ctx)
                if type(request) is bytes:
                    data = request
                else:  # a Request: its key means nothing here (v1 matching), its state does
                    data = request.data  # type: ignore[union-attr]
                    if request.state is not KEEP:  # type: ignore[union-attr]
                        self._set_state(st, request.state)  # type: ignore[union-attr]
        except Exception:  # a plugin bug must not stop the crawl; count it and move on
            self.c["plugin_errors"] += 1
            self._give_up(st, "plugin_error", now, st.asked - 1)
            return
        self._seq += 1
        st.token = self._seq
        st.attempt = attempt
        st.last_sent = now
        st.tried = True
        heapq.heappush(self.timers, (st.first_sent + self.timeouts[attempt], self._seq, st))
        self.n_sent += 1
        out.append((st.peer, data, self._seq))

    def _set_state(self, st: PeerState, state: bytes | None) -> None:
        if state is not None and (type(state) is not bytes or len(state) > MAX_PEER_STATE):
            self.c["plugin_errors"] += 1
            self.c["state_refused"] += 1
            return
        st.state = state

    # ----- keyed requests and lookups ----------------------------------------------------

    def _take_keyed(self, now: float, budget: int, out: list[Send]) -> None:
        """Keyed sends: retries first, then tracked bots (several requests each), then
        discovery peers (one until they answer)."""
        retry_q = self.pending_retry_q
        pending = self.pending
        while retry_q and len(out) < budget:
            p = retry_q.popleft()
            if not p.retry_pending or pending.get((p.owner.peer, p.key)) is not p:
                continue
            p.retry_pending = False
            self.c["retries"] += 1
            self._emit_keyed(p, now, out)
        gap = self.gap
        tracking_tries = tries_for(True, self.timeouts)
        in_flight = self.in_flight
        for kind in (TRACKING, DISCOVERY):
            ready = self.ready[kind]
            cap = self.capacity[kind]
            while ready and in_flight[kind] < cap and len(out) < budget:
                st = ready.popleft()
                if self.peers.get(st.peer) is not st or not self._wants_more(st):
                    continue
                if gap and st.last_sent + gap > now:
                    self._seq += 1
                    heapq.heappush(self.delayed, (st.last_sent + gap, self._seq, st))
                    continue
                tries = tracking_tries if kind == TRACKING else 1
                p = InFlight(st, kind, st.asked, tries, now)
                st.asked += 1
                st.n_out += 1
                in_flight[kind] += 1
                self.n_in_flight += 1
                if self._emit_keyed(p, now, out) and st.queue == TRACKING and self._wants_more(st):
                    self._ask_again(st, now)

    def _wants_more(self, st: PeerState) -> bool:
        """Whether another keyed request may go to ``st`` now (a keyless one blocks)."""
        return (
            st.n_out < self.max_per_peer
            and st.asked < self.rpr
            and st.stale < self.stale_limit
            and (st.peer, None) not in self.pending
        )

    def _emit_keyed(self, p: InFlight, now: float, out: list[Send]) -> bool:
        st: PeerState = p.owner  # type: ignore[assignment]
        try:
            request = self._peer_request(st.peer, self._context(st, p.attempt, p.try_, now))
            if type(request) is not bytes and request.state is not KEEP:  # type: ignore[union-attr]
                self._set_state(st, request.state)  # type: ignore[union-attr]
        except Exception:  # a plugin bug must not stop the crawl; count it and move on
            self.c["plugin_errors"] += 1
            self._drop(p, "plugin_error", now)
            return False
        if not self._register(p, request, now, out):
            return False
        st.last_sent = now
        st.tried = True
        return True

    def _register(self, p: InFlight, request: bytes | Request, now: float, out: list[Send]) -> bool:
        """File ``p`` under its (new) key, arm its deadline and queue its bytes."""
        if type(request) is bytes:
            data, key = request, None
        elif isinstance(request, Request):
            data, key = request.data, request.key if self.keyed else None
        else:
            self.c["plugin_errors"] += 1
            self._drop(p, "plugin_error", now)
            return False
        peer = p.owner.peer
        pending = self.pending
        if key != p.key:
            if (key is not None and not key_fits(key)) or (peer, key) in pending:
                # too long, of an odd type, or already used by another request to this peer
                self.c["plugin_errors"] += 1
                self.c["key_refused"] += 1
                self._drop(p, "plugin_error", now)
                return False
            if p.key is not UNSENT:
                del pending[(peer, p.key)]
            pending[(peer, key)] = p
            p.key = key
        self._seq += 1
        p.token = self._seq
        heapq.heappush(self.pending_timers, (p.first_sent + self.timeouts[p.try_], self._seq, p))
        self.n_sent += 1
        out.append((peer, data, self._seq))
        return True

    def _take_lookups(self, now: float, budget: int, out: list[Send]) -> None:
        """Find-peers lookups, one per node per pass (round robin), within their capacity."""
        finder = self.finder
        assert finder is not None
        queue, nodes, pending = finder.queue, finder.nodes, self.pending
        cap, gap, in_flight = self.capacity[FIND], self.gap, self.in_flight
        while queue and in_flight[FIND] < cap and len(out) < budget:
            node = queue.popleft()
            if nodes.get(node.peer) is not node or node.round != self.round:
                continue
            if node.todo is None:
                node.todo = finder.lookups(node, now, self.round)
            todo = node.todo
            if not todo:
                continue
            if gap and node.last_sent + gap > now:
                finder.wait(node, node.last_sent + gap)
                continue
            req = todo[-1]
            keyless = type(req) is bytes or not self.keyed or req.key is None  # type: ignore[union-attr]
            busy = (node.peer, None) in pending or (
                node.n_out > 0 or node.peer in self.outstanding
                if keyless
                else node.n_out >= self.max_per_peer
            )
            if busy:
                if not node.n_out:  # a crawl request holds the address: try again later
                    finder.wait(node, now + self.timeouts[0])
                continue  # else the node is queued again when one of its lookups ends
            todo.pop()
            p = InFlight(node, FIND, node.sent, 1, now)
            node.sent += 1
            node.n_out += 1
            in_flight[FIND] += 1
            self.n_in_flight += 1
            if self._register(p, req, now, out):
                node.last_sent = now
                self.c["lookups_sent"] += 1
            if todo:
                queue.append(node)

    def _finish(self, p: InFlight) -> None:
        """``p`` is answered or given up: free its key, its slot and its peer's count."""
        owner = p.owner
        k = (owner.peer, p.key)
        if self.pending.get(k) is p:
            del self.pending[k]
        self.in_flight[p.slot] -= 1
        self.n_in_flight -= 1
        owner.n_out -= 1
        p.retry_pending = False
        if p.slot == FIND and owner.todo and owner.round == self.round:  # type: ignore[union-attr]
            self.finder.queue.append(owner)  # type: ignore[union-attr, arg-type]

    def _drop(self, p: InFlight, reason: str, now: float) -> None:
        self._finish(p)
        if p.slot == FIND:
            self.c["lookups_timed_out" if reason == "timeout" else "lookups_failed"] += 1
        else:
            self._give_up(p.owner, reason, now, p.attempt)  # type: ignore[arg-type]

    def _expire_pending(self, now: float) -> None:
        timers = self.pending_timers
        pending = self.pending
        while timers and timers[0][0] <= now:
            _, token, p = heapq.heappop(timers)
            if p.token != token or p.retry_pending or pending.get((p.owner.peer, p.key)) is not p:
                continue
            nxt = next_attempt(p.try_, p.tries)
            if nxt is None:
                self._drop(p, p.fail_reason or "timeout", now)
            else:
                p.try_ = nxt
                p.retry_pending = True
                self.pending_retry_q.append(p)

    def _on_keyed(self, data: bytes, src: tuple[str, int], now: float) -> None:
        """A datagram for a keyed request or a lookup: match ``(src, reply_key(data))``."""
        key: Hashable | None = None
        if self._reply_key is not None:
            try:
                key = self._reply_key(data)
            except Exception:  # plugins promise not to raise; if one does, the crawl goes on
                self.c["plugin_errors"] += 1
                key = UNSENT
            if key is not None and not key_fits(key):
                key = UNSENT
        pending = self.pending
        p = pending.get((src, key))
        if p is None and key is not None:
            p = pending.get((src, None))  # a keyless request takes any answer from its target
        if p is None:
            self.c["unmatched"] += 1
            return
        owner = p.owner
        find = p.slot == FIND
        if find:
            ctx = find_context(self.ctx, p.attempt, now, self.round)
        else:
            ctx = self._context(owner, p.attempt, p.try_, now)  # type: ignore[arg-type]
        res = self._read(data, owner.peer, now, ctx)
        ctx.purpose = "crawl"  # where it rests (the per-packet paths do not set it)
        if res.status is _NO:
            self._count_malformed(res.reason)
            p.fail_reason = "malformed"
            return
        self._finish(p)
        if find:
            self._found(owner, res, now)  # type: ignore[arg-type]
        else:
            self._answered(owner, res, now)  # type: ignore[arg-type]

    def _found(self, node: NodeState, res: CrawlResult, now: float) -> None:
        """A lookup's answer: its peers go to the crawl, its nodes to the finder."""
        self.c["lookups_answered"] += 1
        node.last_answer = now
        if res.replies:
            self.replies.extend(res.replies)
        if res.edges:
            self.edges.extend(res.edges)
        peers = self.peers
        for p in res.peers[: self.max_peers_per_reply]:
            if p not in peers:
                self._add_peer(p, now)
        if res.nodes:
            self._add_nodes(res.nodes, now)

    def _add_nodes(self, nodes: Iterable[Peer], now: float) -> None:
        finder = self.finder
        if finder is not None:
            round_no = self.round if self.round_active else 0
            for n in nodes:
                finder.add(n, now, round_no)

    # ----- answers -----------------------------------------------------------------------

    def on_datagram(self, data: bytes, src: tuple[str, int], now: float) -> None:
        """One UDP datagram; only a peer with a request outstanding is listened to."""
        st = self.outstanding.get(src)
        if st is None:
            if self.pending:
                self._on_keyed(data, src, now)
            else:
                self.c["unexpected_source"] += 1
            return
        try:
            ctx = self.ctx
            ctx.attempt = st.asked - 1
            ctx.try_ = st.attempt
            ctx.bot_id = st.bot_id
            ctx.state = st.state
            ctx.now = now  # round: set at round start; purpose rests at "crawl"
            res = self._read_reply(data, st.peer, now, ctx)
        except Exception:  # plugins promise not to raise; if one does, the crawl goes on
            self.c["plugin_errors"] += 1
            res = CrawlResult(_NO, "plugin_error")
        if res.status is _NO:
            # Keep waiting: the real answer may still come (and garbage may be spoofed).
            self._count_malformed(res.reason)
            st.fail_reason = "malformed"
            return
        del self.outstanding[st.peer]  # _release, inlined: this runs once per answer
        self.in_flight[st.slot] -= 1
        self.n_in_flight -= 1
        st.retry_pending = False
        self._answered(st, res, now)

    def on_stream(
        self, src: Peer, token: int, data: bytes | CrawlResult | None, error: str | None, now: float
    ) -> None:
        """The outcome of one TCP exchange: the whole answer (a conversation's result), or why
        there is none."""
        st = self.outstanding.get(src)
        if st is None or st.token != token or st.retry_pending:
            self.c["late_results"] += 1
            return
        if error is not None or data is None:
            self.c[
                "connect_failed" if error in ("refused", "connect_timeout") else "stream_errors"
            ] += 1
            self._attempt_failed(st, error or "error", now)
            return
        if type(data) is CrawlResult:  # a TCP conversation's final (or partial) result
            res = data
        else:
            ctx = self._context(st, st.asked - 1, st.attempt, now)
            res = self._read(data, st.peer, now, ctx)  # type: ignore[arg-type]
        if res.status is _NO:
            self._count_malformed(res.reason)
            self._attempt_failed(st, f"no_reply:{res.reason}", now)
            return
        self._release(st)
        self._answered(st, res, now)

    def _context(self, st: PeerState, attempt: int, try_: int, now: float) -> RequestContext:
        """The shared context filled for request ``attempt`` (try ``try_``) to ``st``; the
        per-packet paths (:meth:`_emit`, :meth:`on_datagram`) fill it inline instead."""
        ctx = self.ctx
        ctx.attempt = attempt
        ctx.try_ = try_
        ctx.bot_id = st.bot_id
        ctx.state = st.state
        ctx.now = now
        ctx.round = self.round
        ctx.purpose = "crawl"
        return ctx

    def _read(self, data: bytes, peer: Peer, now: float, ctx: RequestContext) -> CrawlResult:
        try:
            return self._read_reply(data, peer, now, ctx)
        except Exception:  # plugins promise not to raise; if one does, the crawl goes on
            self.c["plugin_errors"] += 1
            return CrawlResult(_NO, "plugin_error")

    def _count_malformed(self, reason: str | None) -> None:
        self.c["malformed"] += 1
        self.c[f"malformed/{reason or 'unknown'}"] += 1

    def _attempt_failed(self, st: PeerState, reason: str, now: float) -> None:
        st.fail_reason = reason
        if next_attempt(st.attempt, st.tries) is None:
            self._give_up(st, reason, now, st.asked - 1)
        # else the try's deadline, still in the timer heap, schedules the retry

    def _release(self, st: PeerState) -> None:
        del self.outstanding[st.peer]
        self.in_flight[st.slot] -= 1
        self.n_in_flight -= 1
        st.retry_pending = False

    def _give_up(self, st: PeerState, reason: str, now: float, attempt: int) -> None:
        """Request number ``attempt`` of this round to ``st`` failed for good."""
        if self.outstanding.get(st.peer) is st:
            self._release(st)
        if reason == "timeout":
            self.c["timeouts"] += 1
        if st.answered == self.round or attempt > 0:
            # A follow-up went unanswered (or the bot answered another request this round):
            # one failed try per bot and round at most, for its first request.
            self.c["followup_timeouts"] += 1
        else:
            self.c["failed_tries"] += 1
            self.failed.append(
                FailedTry(
                    timestamp=now, ip=st.peer.ip, port=st.peer.port, bot_id=st.bot_id, reason=reason
                )
            )
            if (
                st.queue == TRACKING
                and now - st.last_reply > self.settings.queues.tracking_remove_s
            ):
                self._demote(st, now)
        if not st.n_out:
            self.enumerated.pop(st.peer, None)

    def _answered(self, st: PeerState, res: CrawlResult, now: float) -> None:
        """A usable answer to a crawl request (its request already released)."""
        self.n_replies += 1
        if res.replies:
            self.replies.extend(res.replies)
        if res.edges:
            self.edges.extend(res.edges)
        if res.state is not KEEP:
            self._set_state(st, res.state)
        if res.nodes:
            self._add_nodes(res.nodes, now)
        if res.status is _BENIGN:
            self.c["benign_replies"] += 1
            if not st.n_out:
                self.enumerated.pop(st.peer, None)
            return
        self.n_bot_replies += 1
        st.last_reply = now
        if res.bot_id is not None:
            st.bot_id = res.bot_id
        if st.answered != self.round:
            st.answered = self.round
            self.responsive += 1
        if st.queue == DISCOVERY:
            self._promote(st, now)
        peers = self.peers
        fresh = False
        seen: array[int] | None = None
        if self.rpr > 1:
            seen = self.enumerated.get(st.peer)
            if seen is None:
                seen = self.enumerated[st.peer] = array("q")
        edges = res.edges
        for p in res.peers[: self.max_peers_per_reply]:
            if p not in peers:
                self._add_peer(p, now)
            if seen is not None:
                h = hash(p)
                if h not in seen:
                    seen.append(h)
                    fresh = True
        if edges and res.bot_id is None and edges[0].dst_id is not None:
            self._learn_ids(edges)
        if seen is None:
            return
        if res.more and st.stale < _DONE:
            st.stale = 0 if fresh else st.stale + 1
        else:
            st.stale = _DONE
        if st.asked < self.rpr and st.stale < self.stale_limit and self.round_active:
            self._ask_again(st, now)
        elif not st.n_out:
            del self.enumerated[st.peer]

    def _learn_ids(self, edges: Sequence[Edge]) -> None:
        """A bot's ID as its peers name it, for protocols whose replies do not carry the
        answering bot's own ID (``res.bot_id`` None) but name peers with theirs (Sality: a
        peer's server ID); ``ctx.bot_id`` then has it. The first name sticks, so one lying
        bot cannot relabel a peer already known."""
        peers = self.peers
        for e in edges:
            if e.dst_id is not None:
                named = peers.get(tuple.__new__(Peer, (e.dst_ip, e.dst_port)))
                if named is not None and named.bot_id is None:
                    named.bot_id = e.dst_id

    def _ask_again(self, st: PeerState, now: float) -> None:
        """Queue another request to bot ``st`` this round, paced by the per-target rate."""
        when = st.last_sent + self.gap
        if when <= now:
            self.ready[TRACKING].appendleft(st)
        else:
            self._seq += 1
            heapq.heappush(self.delayed, (when, self._seq, st))

    # ----- reading out -------------------------------------------------------------------

    def drain_records(self) -> tuple[list[Reply], list[FailedTry], list[Edge]]:
        """Hand over the records gathered since the last call (the runner sends them on)."""
        replies, failed, edges = self.replies, self.failed, self.edges
        if replies or failed or edges:
            self.replies, self.failed, self.edges = [], [], []
            self.c["records_replies"] += len(replies)
            self.c["records_edges"] += len(edges)
        return replies, failed, edges

    def set_rate(self, rate: float, now: float) -> None:
        """Change the global request rate (0 = unlimited)."""
        self.bucket.set_rate(rate, now)

    def status(self) -> dict[str, Any]:
        """Counters and gauges under stable keys, for the display and the heartbeat."""
        out: dict[str, Any] = self.c.snapshot()
        out["sent"] = self.n_sent
        out["replies"] = self.n_replies
        out["bot_replies"] = self.n_bot_replies
        queued = (
            len(self.ready[0])
            + len(self.ready[1])
            + len(self.retry_q)
            + len(self.pending_retry_q)
            + len(self.delayed)
        )
        finder = self.finder
        out.update(
            known=len(self.peers),
            tracked=self.n_tracked,
            discovery=len(self.peers) - self.n_tracked,
            responsive=self.responsive,
            responsive_last_round=self.responsive_last_round,
            in_flight=self.n_in_flight,
            peak_in_flight=self.peak_in_flight,
            queued=queued,
            round=self.round,
            round_active=self.round_active,
            paused=self.paused,
            rate=self.bucket.rate,
            out_of_scope_known=len(self.out_of_scope),
            overlay_nodes=0 if finder is None else len(finder.nodes),
            find_queued=0 if finder is None else len(finder.queue) + len(finder.waiting),
            find_in_flight=self.in_flight[FIND],
        )
        return out
