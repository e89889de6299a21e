"""Contract v2 over real UDP sockets on loopback: match keys with answers out of order and
spoofed keys, and the find-peers loop walking a small overlay to bots hidden in it."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import uvloop

from botmon.crawl.runner import CrawlRunner
from botmon.crawl.sink import ListReporter
from botmon.protocols.contract import Peer
from botmon.settings.crawl import CrawlSettings
from tests.crawl import toyproto
from tests.crawl.helpers import registry
from tests.crawl.responders import udp_bot

BOT = Peer("127.36.0.1", 17001)
SPOOFER = Peer("127.36.0.2", 17002)
LIST = [Peer(f"127.36.1.{i}", 17003) for i in range(1, 17)]
"""The bot's peer list: silent addresses, two per answer."""


def _settings() -> CrawlSettings:
    s = CrawlSettings.for_protocol(toyproto.DEFAULTS)
    s = s.replace("retry", timeouts=(2.0, 4.0))  # generous: the machine may be busy
    s = s.replace("rounds", rounds=1, interval_s=0.0)
    return s.replace("rate", per_target_rate=0.0)


def _run(coro: Any) -> Any:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        return r.run(asyncio.wait_for(coro, 30))


def test_keyed_requests_over_udp_several_in_flight_answers_out_of_order() -> None:
    held = {"now": 0, "most": 0}
    x = Peer("127.36.9.9", 17003)

    async def main() -> tuple[dict[str, Any], ListReporter]:
        loop = asyncio.get_running_loop()
        spoofer, _ = await udp_bot(SPOOFER, lambda d, a, t: None)

        def answer(t: asyncio.DatagramTransport, data: bytes, addr: tuple[str, int]) -> None:
            held["now"] -= 1
            t.sendto(data, addr)

        def act(data: bytes, addr: tuple[str, int], t: asyncio.DatagramTransport) -> None:
            tx, target = data[1:3], data[3]
            held["now"] += 1
            held["most"] = max(held["most"], held["now"])
            reply = toyproto.encode_answer(b"B", tx, (), LIST[2 * target : 2 * target + 2])
            loop.call_later(0.02 * (8 - target), answer, t, reply, addr)  # later: sooner
            if target == 2:
                t.sendto(toyproto.encode_answer(b"B", b"\xff\xfe", (), [x]), addr)
                spoofer.sendto(toyproto.encode_answer(b"B", tx, (), [x]), addr)

        bot, _ = await udp_bot(BOT, act)
        reporter = ListReporter()
        crawl_only = dataclasses.replace(registry().get("toy"), find_peers=None)
        runner = CrawlRunner(crawl_only, _settings(), reporter)
        runner.add_seeds([BOT])
        try:
            status = await runner.run()
        finally:
            bot.close()
            spoofer.close()
        return status, reporter

    status, reporter = _run(main())
    assert held["most"] == 4
    assert {(e.src_ip, e.dst_ip) for e in reporter.edges} == {(BOT.ip, p.ip) for p in LIST}
    assert status["unmatched"] == 2
    assert status["replies"] == 8
    assert status["known"] == 1 + len(LIST)  # the spoofed peer was never taken
    assert [f for f in reporter.failed_tries if f.ip == BOT.ip] == []
    assert status["in_flight"] == 0


def test_the_find_peers_loop_walks_a_udp_overlay_to_the_bots_hidden_in_it() -> None:
    nodes = [Peer(f"127.37.0.{i}", 17100 + i) for i in range(1, 31)]
    bots = [Peer("127.37.1.1", 17201), Peer("127.37.1.2", 17202)]
    storers = {nodes[17]: [bots[0]], nodes[29]: [bots[1]]}
    lookups: dict[Peer, int] = {}

    def node(i: int) -> Any:
        me = nodes[i]
        table = [nodes[(i + d) % len(nodes)] for d in (1, 2, 5)]

        def act(data: bytes, addr: tuple[str, int], t: asyncio.DatagramTransport) -> None:
            if data[:1] == b"F":
                lookups[me] = lookups.get(me, 0) + 1
                t.sendto(toyproto.encode_answer(b"N", data[1:3], table, storers.get(me, [])), addr)
            else:
                t.sendto(toyproto.encode_answer(b"N", data[1:3], (), ()), addr)

        return act

    def bot(data: bytes, addr: tuple[str, int], t: asyncio.DatagramTransport) -> None:
        if data[:1] == b"Q":
            t.sendto(toyproto.encode_answer(b"B", data[1:3], (), ()), addr)

    async def main() -> tuple[dict[str, Any], ListReporter]:
        transports = [(await udp_bot(p, node(i)))[0] for i, p in enumerate(nodes)]
        transports += [(await udp_bot(b, bot))[0] for b in bots]
        reporter = ListReporter()
        runner = CrawlRunner(registry().get("toy"), _settings(), reporter)
        runner.add_seeds([nodes[0]])  # a bootstrap node, given as an ordinary seed
        try:
            status = await runner.run()
        finally:
            for t in transports:
                t.close()
        return status, reporter

    status, reporter = _run(main())
    assert {r.ip for r in reporter.replies} == {b.ip for b in bots}
    assert status["overlay_nodes"] == len(nodes)
    assert set(lookups) == set(nodes)
    assert max(lookups.values()) <= toyproto.DEFAULTS.lookups_per_node
    assert status["lookups_answered"] == status["lookups_sent"] == sum(lookups.values())
    assert status["scope_blocked"] == 0
