"""The emulated ZeroAccess bot, in memory and on real sockets, checked against its truth.

Given a small botnet, a bot's retL names 16 peers of its list, freshest first with their
timestamps and never the asker; a getL's sender goes to the top of the asked bot's list (so
a sensor spreads); NATed and offline bots stay silent; the shared defences (a request budget)
blacklist a fast source and the truth records it; the 2015 records carry the real ports.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest

from botmon.protocols import zeroaccess as za
from botmon.protocols import zeroaccess_wire as wire
from botmon.protocols.contract import Peer, RequestContext, Status
from botmon.settings import load
from botmon.settings.sim_zeroaccess import ZeroAccessConfig
from botmon.sim.zeroaccess import ZeroAccessBotnet
from botmon.sim.zeroaccess_core import ZeroAccessCore
from tests.sim.helpers import run

START = 1_790_000_000.0


def _net(**options: Any) -> tuple[ZeroAccessBotnet, ZeroAccessCore]:
    cfg = ZeroAccessConfig(bots=200, seed_rng=3, exchange_interval_s=0.0, **options)
    net = ZeroAccessBotnet(cfg, clock=lambda: START)
    core = ZeroAccessCore(
        cfg, net.population, net.churn.online, net.defences, net.stats, net.rng,
        net.exchange, START,
    )  # fmt: skip
    net.exchange.on_heard = core.heard  # type: ignore[attr-defined]
    return net, core


def _ask(
    core: ZeroAccessCore, net: ZeroAccessBotnet, index: int, src: Peer, now: float
) -> bytes | None:
    bot = net.bots[index]
    counter = int(now) & 0x3FF
    request = wire.getl_2013(0x1234) if core.variant == "2013" else wire.getl_2015(0x1234, counter)
    _, answer = core.handle(src.ip, src.port, bot.ip4, bot.port, request, now)
    return answer


def _answering(net: ZeroAccessBotnet) -> list[int]:
    return [b.index for b in net.bots if not b.nat]


@pytest.mark.parametrize("variant", ["2013", "2015"])
def test_a_retl_names_16_listed_peers_freshest_first_and_never_the_asker(variant: str) -> None:
    net, core = _net(variant=variant)
    truth = {f"{t['ip']}:{t['port']}": t for t in net.truth()}
    crawler = Peer("127.0.0.1", 40000)
    for i in _answering(net)[:50]:
        bot = net.bots[i]
        answer = _ask(core, net, i, crawler, START + 1)
        assert answer is not None
        msg = wire.decode(answer, variant)  # type: ignore[arg-type]
        named = [p for p in msg.peers if p[0] != "0.0.0.0"]
        listed = truth[f"{bot.ip}:{bot.port}"]["peers"]
        assert len(named) == min(16, len(listed))
        if variant == "2013":
            stamps = [w for _, w in named]
            assert all(f"{ip}:{bot.port}" in listed for ip, _ in named)
        else:
            stamps = [wire.split_word(w)[1] for _, w in named]
            res = za.read_reply(answer, Peer(bot.ip, bot.port), START, RequestContext())
            assert {f"{p.ip}:{p.port}" for p in res.peers} <= set(listed)  # the real ports
        assert stamps == sorted(stamps, reverse=True), "freshest first"
        assert crawler.ip not in {ip for ip, _ in named}


@pytest.mark.parametrize("variant", ["2013", "2015"])
def test_a_getl_sender_goes_to_the_top_of_the_list_with_a_fresh_stamp(variant: str) -> None:
    if variant == "2015":
        za.configure(za.ZeroAccessSettings(variant="2015"))
    try:
        net, core = _net(variant=variant)
        i = _answering(net)[0]
        bot = net.bots[i]
        sensor = Peer("127.0.0.1", 0x4000 + 999)
        assert _ask(core, net, i, sensor, START + 10) is not None
        answer = _ask(core, net, i, Peer("127.0.0.2", 40001), START + 20)
        assert answer is not None
        first_ip, first_word = wire.decode(answer, variant).peers[0]  # type: ignore[arg-type]
        assert first_ip == sensor.ip
        if variant == "2013":
            assert first_word == int(START + 10)
        else:
            offset, hours = wire.split_word(first_word)
            assert 0x4000 + offset == sensor.port
            assert hours == int((START + 10 - wire.HOURS_EPOCH) // 3600)
            read = za.read_reply(answer, Peer(bot.ip, bot.port), START + 20, RequestContext())
            assert read.status is Status.BOT_REPLY and read.peers[0] == sensor
            assert read.replies[0].data["list_age"] == "<1 h"  # type: ignore[index]
        assert f"{sensor.ip}:{sensor.port}" in net.truth()[i]["peers"]
    finally:
        za.configure(za.ZeroAccessSettings())


def test_nated_offline_and_malformed_get_no_answer() -> None:
    net, core = _net(nat=0.3)
    nated = next(b for b in net.bots if b.nat)
    src = Peer("127.0.0.1", 40000)
    assert _ask(core, net, nated.index, src, START) is None
    normal = _answering(net)[0]
    net.churn.online[normal] = 0
    assert _ask(core, net, normal, src, START) is None
    net.churn.online[normal] = 1
    bot = net.bots[normal]
    assert core.handle(src.ip, src.port, bot.ip4, bot.port, b"\x00" * 16, START)[1] is None
    assert core.handle("10.0.0.1", 1, bot.ip4, bot.port, wire.getl_2013(1), START)[1] is None
    counters = net.counters
    for reason in ("nat", "offline", "malformed", "not_loopback"):
        assert counters[f"dropped/{reason}"] == 1, reason


def test_a_source_over_the_budget_is_blacklisted_and_the_truth_says_so() -> None:
    net, core = _net(budget_requests=3, budget_window_s=60.0, blacklist_period_s=100.0)
    i = _answering(net)[0]
    src = Peer("127.0.0.9", 40000)
    answers = [_ask(core, net, i, src, START + k) for k in range(6)]
    assert [a is not None for a in answers] == [True, True, True, False, False, False]
    assert net.truth()[i]["blacklisted"] == [["127.0.0.9", START + 3, START + 103]]
    assert _ask(core, net, i, src, START + 104) is not None  # the period is over


def test_the_2015_ports_must_stay_in_one_range_and_2013_uses_one_port() -> None:
    from botmon.settings import SettingsError

    with pytest.raises(SettingsError, match=r"16384\.\.32767"):
        load(ZeroAccessConfig, options={"variant": "2015", "port": 60000}, env={})
    with pytest.raises(SettingsError, match="use one port"):
        load(ZeroAccessConfig, options={"ports": 2}, env={})
    assert load(ZeroAccessConfig, options={"variant": "2015"}, env={}).settings.port == 16471


def test_on_real_sockets_bots_answer_getl_and_nated_ones_do_not() -> None:
    from tests.sim.helpers import free_port

    port = free_port()
    while not 0x4000 <= port <= 0xBFFF - 1:
        port = free_port()

    async def main() -> tuple[int, int, int]:
        cfg = ZeroAccessConfig(bots=60, nat=0.5, seed_rng=5, port=port, variant="2015",
                               exchange_interval_s=0.0)  # fmt: skip
        async with ZeroAccessBotnet(cfg) as net:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(0.5)
            got = nat_answers = 0
            with sock:
                for bot in net.bots:
                    sock.sendto(wire.getl_2015(7, 1), bot.address)
                import asyncio

                await asyncio.sleep(0.3)
                sock.setblocking(False)
                for _ in range(200):
                    try:
                        data, src = sock.recvfrom(8192)
                    except BlockingIOError:
                        break
                    assert wire.decode(data, "2015").command == "retL"
                    got += 1
                    nat_answers += any(b.nat and b.address == src for b in net.bots)
            return got, nat_answers, sum(not b.nat for b in net.bots)

    got, nat_answers, answering = run(main(), 30)
    assert got == answering and nat_answers == 0
