"""The crawl engine's state machine, without I/O: peers and queues, rounds, retries, pacing.

Every method takes ``now``; the asyncio runner (:mod:`botmon.crawl.runner`) feeds it real
time and real datagrams, tests feed it a virtual clock and in-memory datagrams. One heap
holds the deadlines of every outstanding request (NOTES: a timer per request halves
throughput); another holds sends waiting for the per-target rate.

Replies are matched to requests by source address only, so at most one request per target
is outstanding; a bot is asked again (HNS: one peer per reply) only after it answered, up to
``requests_per_round`` times, until ``stale_replies`` answers in a row named nothing new.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import deque
from collections.abc import Iterable
from typing import Any

from botmon.crawl.counters import Counters
from botmon.crawl.peers import DISCOVERY, TRACKING, PeerState
from botmon.crawl.ratelimit import TokenBucket
from botmon.crawl.retry import next_attempt, tries_for
from botmon.crawl.scope import Scope
from botmon.protocols.contract import (
    Conversation,
    CrawlResult,
    Peer,
    Plugin,
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
        self.capacity = (settings.queues.discovery_capacity, settings.queues.tracking_capacity)
        self.peers: dict[Peer, PeerState] = {}
        self.out_of_scope: set[Peer] = set()
        self.ready: tuple[deque[PeerState], deque[PeerState]] = (deque(), deque())
        self.retry_q: deque[PeerState] = deque()
        self.delayed: list[tuple[float, int, PeerState]] = []
        self.timers: list[tuple[float, int, PeerState]] = []
        self.outstanding: dict[tuple[str, int], PeerState] = {}
        self.in_flight = [0, 0]
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
        """Add seeds (start, peer list, server command); returns how many were new in scope."""
        added = 0
        for p in peers:
            if p not in self.peers and self._add_peer(p, now) is not None:
                added += 1
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

    def _round_done(self) -> bool:
        return not (
            self.outstanding or self.retry_q or self.delayed or self.ready[0] or self.ready[1]
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
                self._give_up(st, st.fail_reason or "timeout", now)
            else:
                st.attempt = nxt
                st.retry_pending = True
                self.retry_q.append(st)
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
        if not self.round_active and not self.finished:
            t = min(t, self.next_round_at)
        if not self.paused and (self.retry_q or self._sendable()):
            t = min(t, self.bucket.next_token_at(now))
        return t

    def _sendable(self) -> bool:
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
                if gap and st.last_sent + gap > now:
                    self._seq += 1
                    heapq.heappush(self.delayed, (st.last_sent + gap, self._seq, st))
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
        if self.n_in_flight > self.peak_in_flight:
            self.peak_in_flight = self.n_in_flight
        self.bucket.take(len(out))
        return out

    def _emit(self, st: PeerState, now: float, attempt: int, out: list[Send]) -> None:
        try:
            ctx = self.ctx
            ctx.attempt = st.asked - 1
            ctx.try_ = attempt
            ctx.bot_id = st.bot_id
            ctx.now = now
            ctx.round = self.round
            data: bytes | Conversation
            if self._open_conversation is not None:
                data = self._open_conversation(st.peer, ctx)
            else:
                request = self._peer_request(st.peer, ctx)
                # Match keys and per-peer state (contract v2) are not used by the engine yet.
                data = request if type(request) is bytes else request.data  # type: ignore[union-attr]
        except Exception:  # a plugin bug must not stop the crawl; count it and move on
            self.c["plugin_errors"] += 1
            self._give_up(st, "plugin_error", now)
            return
        self._seq += 1
        st.token = self._seq
        st.attempt = attempt
        st.last_sent = now
        st.tried = True
        heapq.heappush(self.timers, (st.first_sent + self.timeouts[attempt], self._seq, st))
        self.n_sent += 1
        out.append((st.peer, data, self._seq))

    # ----- answers -----------------------------------------------------------------------

    def on_datagram(self, data: bytes, src: tuple[str, int], now: float) -> None:
        """One UDP datagram; only a peer with a request outstanding is listened to."""
        st = self.outstanding.get(src)
        if st is None:
            self.c["unexpected_source"] += 1
            return
        try:
            ctx = self.ctx
            ctx.attempt = st.asked - 1
            ctx.try_ = st.attempt
            ctx.bot_id = st.bot_id
            ctx.now = now
            res = self._read_reply(data, st.peer, now, ctx)
        except Exception:  # plugins promise not to raise; if one does, the crawl goes on
            self.c["plugin_errors"] += 1
            res = CrawlResult(_NO, "plugin_error")
        if res.status is _NO:
            # Keep waiting: the real answer may still come (and garbage may be spoofed).
            self._count_malformed(res.reason)
            st.fail_reason = "malformed"
            return
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
        res = data if type(data) is CrawlResult else self._read(data, st.peer, now)  # type: ignore[arg-type]
        if res.status is _NO:
            self._count_malformed(res.reason)
            self._attempt_failed(st, f"no_reply:{res.reason}", now)
            return
        self._answered(st, res, now)

    def _read(self, data: bytes, peer: Peer, now: float) -> CrawlResult:
        try:
            ctx = self.ctx
            ctx.now = now
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
            self._give_up(st, reason, now)
        # else the try's deadline, still in the timer heap, schedules the retry

    def _release(self, st: PeerState) -> None:
        del self.outstanding[st.peer]
        self.in_flight[st.slot] -= 1
        self.n_in_flight -= 1
        st.retry_pending = False

    def _give_up(self, st: PeerState, reason: str, now: float) -> None:
        if self.outstanding.get(st.peer) is st:
            self._release(st)
        if reason == "timeout":
            self.c["timeouts"] += 1
        if st.answered == self.round and st.asked > 1:
            # A follow-up went unanswered; the bot did answer this round, so it is no failure.
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
        self.enumerated.pop(st.peer, None)

    def _answered(self, st: PeerState, res: CrawlResult, now: float) -> None:
        del self.outstanding[st.peer]  # _release, inlined: this runs once per answer
        self.in_flight[st.slot] -= 1
        self.n_in_flight -= 1
        st.retry_pending = False
        self.n_replies += 1
        if res.replies:
            self.replies.extend(res.replies)
        if res.edges:
            self.edges.extend(res.edges)
        if res.status is _BENIGN:
            self.c["benign_replies"] += 1
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
        for p in res.peers[: self.max_peers_per_reply]:
            if p not in peers:
                self._add_peer(p, now)
            if seen is not None:
                h = hash(p)
                if h not in seen:
                    seen.append(h)
                    fresh = True
        if seen is None:
            return
        st.stale = 0 if fresh else st.stale + 1
        if st.asked < self.rpr and st.stale < self.stale_limit and self.round_active:
            when = st.last_sent + self.gap
            if when <= now:
                self.ready[TRACKING].appendleft(st)
            else:
                self._seq += 1
                heapq.heappush(self.delayed, (when, self._seq, st))
        else:
            del self.enumerated[st.peer]

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
        queued = len(self.ready[0]) + len(self.ready[1]) + len(self.retry_q) + len(self.delayed)
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
        )
        return out
