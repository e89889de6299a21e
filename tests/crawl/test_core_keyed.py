"""Contract v2 in the engine on a virtual clock: match keys with several requests per bot in
flight, per-peer state, the request context and ``more=False``."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import msgspec

from botmon.crawl.memnet import Responder, VirtualNet
from botmon.protocols.contract import (
    KEEP,
    CrawlResult,
    Peer,
    Plugin,
    ProtocolDefaults,
    Request,
    RequestContext,
    Status,
    no_reply,
)
from botmon.settings.crawl import CrawlSettings
from botmon.wire import Reply
from tests.crawl import toyproto
from tests.crawl.helpers import T0, make_net, registry, ring

BOT = Peer("127.1.0.1", 7000)
LIST = ring(16, base="127.3.0.", port=7000)
"""The bot's peer list: silent addresses, two per answer."""


def _keyed() -> Plugin:
    """The toy protocol's crawl side only (no find-peers loop)."""
    return dataclasses.replace(registry().get("toy"), find_peers=None)


def _toy_settings(**rounds: Any) -> CrawlSettings:
    s = CrawlSettings.for_protocol(toyproto.DEFAULTS)
    s = s.replace("rounds", rounds=1, interval_s=60, **rounds)
    return s.replace("rate", per_target_rate=0.0)


class _KeyedBot:
    """A toy bot that answers request ``a`` with ``LIST[2a:2a+2]``, later requests sooner (so
    answers arrive out of order), and records how many requests it held at once; a hostile
    one also repeats an answer and, while request 2 is out, spoofs answers."""

    def __init__(self, *, hostile: bool = True) -> None:
        self.hostile = hostile
        self.net: VirtualNet | None = None
        self.targets: list[int] = []
        self.txs: list[bytes] = []
        self.open: list[tuple[float, float]] = []
        """(request arrived, answer delivered) per request."""

    def __call__(self, data: bytes, now: float) -> bytes | None:
        assert self.net is not None and data[:1] == b"Q"
        tx, target = data[1:3], data[3]
        self.targets.append(target)
        self.txs.append(tx)
        delay = 0.05 * (8 - target)
        answer = toyproto.encode_answer(b"B", tx, (), LIST[2 * target : 2 * target + 2])
        self.net.inject(answer, BOT, now + delay)
        self.open.append((now, now + delay))
        if not self.hostile:
            return None
        if target == 1:  # a duplicate of a completed answer, later
            self.net.inject(answer, BOT, now + 1.0)
        if target == 2:
            x = Peer("127.9.9.9", 7000)
            for data_, src in (
                (toyproto.encode_answer(b"B", b"\xff\xfe", (), [x]), BOT),  # unknown key
                (toyproto.encode_answer(b"B", tx, (), [x]), ("127.1.0.66", 7000)),  # wrong source
                (b"zz", BOT),  # no key at all
            ):
                self.net.inject(data_, src, now + 0.001)
        return None


def _most_open(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    most = cur = 0
    for _, d in events:
        cur += d
        most = max(most, cur)
    return most


def test_keyed_requests_go_out_several_at_a_time_and_match_out_of_order_answers() -> None:
    bot = _KeyedBot()
    net = make_net({BOT: bot}, [BOT], _toy_settings(), _keyed())
    bot.net = net
    net.run(T0 + 30)
    core = net.core
    assert core.finished
    # each request asked for another part of the list: attempts 0..7, once each, no retry
    assert sorted(bot.targets) == list(range(8))
    assert len(set(bot.txs)) == 8
    assert _most_open(bot.open) == 4  # max_in_flight_per_peer, never more
    assert {(e.src_ip, e.dst_ip) for e in net.reporter.edges} == {(BOT.ip, p.ip) for p in LIST}
    assert all(p in core.peers for p in LIST)
    # a wrong key from the right source, a right key from the wrong source, a keyless
    # datagram and a duplicate answer complete nothing and name no peer
    assert Peer("127.9.9.9", 7000) not in core.peers
    assert core.c["unmatched"] == 4
    assert core.status()["replies"] == 8
    assert [f for f in net.reporter.failed_tries if f.ip == BOT.ip] == []
    assert core.n_in_flight == 0 and core.in_flight == [0, 0, 0] and core.pending == {}


def test_a_lost_keyed_request_is_retried_alone_and_its_peer_count_stays_right() -> None:
    bot = _KeyedBot()
    lost: list[int] = []

    def drop(seq: int, peer: Peer) -> bool:
        # lose the first send of request 3 (it is retried after the first deadline)
        if peer == BOT and len(bot.targets) == 3 and not lost:
            lost.append(seq)
            return True
        return False

    net = make_net({BOT: bot}, [BOT], _toy_settings(), _keyed(), drop=drop)
    bot.net = net
    net.run(T0 + 30)
    assert lost and net.core.c["retries"] == 1
    assert sorted(bot.targets) == list(range(8))  # the retry asked for the same target
    assert net.core.peers[BOT].n_out == 0
    assert net.core.in_flight == [0, 0, 0]
    assert all(p in net.core.peers for p in LIST)


def test_keys_too_long_are_refused_and_counted() -> None:
    def long_key(peer: Peer, ctx: RequestContext) -> Request:
        return Request(b"Q\x00\x01\x00", key=b"k" * 65)

    net = make_net({}, [BOT], _toy_settings(), dataclasses.replace(_keyed(), peer_request=long_key))
    net.run(T0 + 30)
    assert net.core.c["key_refused"] == 1
    assert net.core.c["plugin_errors"] == 1
    assert net.sent_at == []
    assert net.core.finished and net.core.in_flight == [0, 0, 0]


# ----- per-peer state, the context, more=False ----------------------------------------------


class _Stepper:
    """An HNS-like plugin (no keys) that keeps its enumeration step in the per-peer state and
    asks for step N in request N; records every context it was given for ``BOT``."""

    def __init__(self, *, stop_at: int | None = None, big_state_at: int | None = None) -> None:
        self.seen: list[tuple[int, int, int, bytes | None, str | None, str]] = []
        self.stop_at = stop_at
        self.big_state_at = big_state_at

    def plugin(self) -> Plugin:
        return Plugin(
            name="stepper",
            transport="udp",
            defaults=ProtocolDefaults(port=7000, requests_per_round=5, stale_replies=99),
            peer_request=self.peer_request,
            read_reply=self.read_reply,
        )

    def peer_request(self, peer: Peer, ctx: RequestContext) -> Request:
        c = ctx
        if peer == BOT:
            self.seen.append((c.round, c.attempt, c.try_, c.state, c.bot_id, c.purpose))
        step = ctx.state[0] if ctx.state else 0
        return Request(b"S" + bytes([step]))  # state KEEP: the answer moves it on

    def read_reply(self, data: bytes, src: Peer, now: float, ctx: RequestContext) -> CrawlResult:
        if data[:1] != b"A":
            return no_reply("bad_kind")
        step = data[1]
        state: bytes | None = bytes([step + 1])
        if step == self.big_state_at:
            state = b"x" * 300
        return CrawlResult(
            Status.BOT_REPLY,
            peers=(Peer(f"127.4.0.{step + 1}", 7000),),
            replies=(Reply(now, src.ip, src.port, "b1"),),
            bot_id="b1",
            state=state,
            more=step != self.stop_at,
        )


def _step_bot(log: list[int]) -> Responder:
    def answer(data: bytes, now: float) -> bytes | None:
        log.append(data[1])
        return b"A" + data[1:2]

    return answer


def _stepper_settings(rounds: int) -> CrawlSettings:
    s = CrawlSettings.for_protocol(ProtocolDefaults(port=7000, requests_per_round=5))
    s = s.replace("rounds", rounds=rounds, interval_s=60, stale_replies=99)
    return s.replace("retry", timeouts=(4.0, 8.0))


def test_per_peer_state_carries_the_enumeration_step_across_requests_and_rounds() -> None:
    stepper = _Stepper()
    steps: list[int] = []
    lost: list[int] = []

    def drop(seq: int, peer: Peer) -> bool:
        if peer == BOT and len(steps) == 5 and not lost:  # first send of round 2
            lost.append(seq)
            return True
        return False

    net = make_net(
        {BOT: _step_bot(steps)}, [BOT], _stepper_settings(2), stepper.plugin(), drop=drop
    )
    net.run(T0 + 200)
    assert net.core.finished
    # the step survives from request to request and from round to round
    assert steps == list(range(10))
    assert net.core.peers[BOT].state == bytes([10])
    crawl = [s for s in stepper.seen if s[0] == 1]
    assert [(a, t) for _, a, t, *_ in crawl] == [(i, 0) for i in range(5)]
    assert crawl[0][3:5] == (None, None)  # no state nor bot ID before the first answer
    assert crawl[1][3:5] == (b"\x01", "b1")
    assert {s[5] for s in stepper.seen} == {"crawl"}
    # round 2: the lost first request is retried as try 1 of attempt 0, same state
    round2 = [s[:4] for s in stepper.seen if s[0] == 2]
    assert round2[:2] == [(2, 0, 0, b"\x05"), (2, 0, 1, b"\x05")]
    assert [a for _, a, *_ in round2] == [0, 0, 1, 2, 3, 4]


def test_a_state_over_the_cap_is_refused_and_the_old_one_kept() -> None:
    stepper = _Stepper(big_state_at=1)
    steps: list[int] = []
    net = make_net({BOT: _step_bot(steps)}, [BOT], _stepper_settings(1), stepper.plugin())
    net.run(T0 + 100)
    assert net.core.c["state_refused"] == 4  # every answer from step 1 on tries it again
    assert net.core.c["plugin_errors"] == 4
    assert steps == [0, 1, 1, 1, 1]
    assert net.core.peers[BOT].state == b"\x01"


def test_more_false_stops_asking_that_bot_this_round() -> None:
    stepper = _Stepper(stop_at=2)
    steps: list[int] = []
    net = make_net({BOT: _step_bot(steps)}, [BOT], _stepper_settings(1), stepper.plugin())
    net.run(T0 + 100)
    assert net.core.finished
    assert steps == [0, 1, 2]  # requests_per_round is 5 and every answer named a new peer


def test_none_clears_the_state_and_keep_leaves_it() -> None:
    stepper = _Stepper()
    plugin = stepper.plugin()
    answers = iter([b"\x07", KEEP, None, KEEP])

    def read_reply(data: bytes, src: Peer, now: float, ctx: RequestContext) -> CrawlResult:
        res = stepper.read_reply(data, src, now, ctx)
        return msgspec.structs.replace(res, state=next(answers))

    steps: list[int] = []
    net = make_net(
        {BOT: _step_bot(steps)},
        [BOT],
        _stepper_settings(1).replace("rounds", requests_per_round=4),
        dataclasses.replace(plugin, read_reply=read_reply),
    )
    net.run(T0 + 100)
    assert [s[3] for s in stepper.seen] == [None, b"\x07", b"\x07", None]
    assert net.core.peers[BOT].state is None


def test_plain_bytes_from_a_keyed_plugin_go_one_at_a_time_and_match_by_source() -> None:
    bot = _KeyedBot(hostile=False)

    def keyless(peer: Peer, ctx: RequestContext) -> bytes:
        return toyproto.peer_request(peer, ctx).data

    net = make_net(
        {BOT: bot}, [BOT], _toy_settings(), dataclasses.replace(_keyed(), peer_request=keyless)
    )
    bot.net = net
    net.run(T0 + 30)
    assert net.core.finished
    assert sorted(bot.targets) == list(range(8))
    assert _most_open(bot.open) == 1  # no key: one request at a time, as in v1
    assert all(p in net.core.peers for p in LIST)


def test_keyed_requests_respect_the_queue_capacity_and_the_per_target_rate() -> None:
    bot = _KeyedBot(hostile=False)
    settings = _toy_settings().replace("queues", tracking_capacity=2)
    net = make_net({BOT: bot}, [BOT], settings, _keyed())
    bot.net = net
    net.run(T0 + 30)
    assert sorted(bot.targets) == list(range(8))
    assert _most_open(bot.open) == 2  # the tracking queue's capacity, below the 4 per bot

    paced = _KeyedBot(hostile=False)
    net = make_net(
        {BOT: paced}, [BOT], _toy_settings().replace("rate", per_target_rate=5.0), _keyed()
    )
    paced.net = net
    net.run(T0 + 30)
    sent = [t for t, p in net.sent_at if p == BOT]
    assert len(sent) == 8
    assert min(b - a for a, b in itertools.pairwise(sent)) >= 0.2 - 1e-9
