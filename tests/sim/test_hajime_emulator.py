"""Emulated Hajime bots on a virtual clock: they announce under the day's keys where lookups
end, fetch from the bots announced there, re-announce at UTC midnight, obey defences."""

from __future__ import annotations

import asyncio
import heapq

from botmon.protocols import hajime_keys, krpc, utp
from botmon.settings import load
from botmon.settings.sim_hajime import HajimeConfig
from botmon.sim.hajime import HajimeBotnet
from botmon.sim.hajime_core import HajimeBot, preload
from tests.sim.hajime_net import Net
from tests.sim.helpers import free_port

MIDNIGHT = 1_551_052_800.0  # 2019-02-25 00:00 UTC


def _nearest(net: Net, info_hash: bytes, k: int = 8) -> list[object]:
    """The k reachable nodes nearest the key (NATed ones take no announcements)."""
    target = int.from_bytes(info_hash, "big")
    reachable = [n for a, n in net.nodes.items() if a not in net.nat]
    return heapq.nsmallest(k, reachable, key=lambda n: int.from_bytes(n.node_id, "big") ^ target)


def _stored(node: object, info_hash: bytes) -> set[tuple[str, int]]:
    peers = (getattr(node, "_peers", None) or {}).get(info_hash, [])
    return {krpc.decode_peer(p) for p in peers}


def test_seeders_announce_at_the_nearest_nodes_and_nated_bots_fetch_from_them() -> None:
    net = Net(bots=60, nat=12, plain=20)
    net.run(12.0)
    seeders = [b for b in net.bots() if b.seeder]
    day = hajime_keys.utc_day(net.now)
    missing = 0
    for bot in seeders:
        assert bot.announced_at is not None and bot.announced_day == day
        # its modules' keys (config's has more announcers than a node keeps: 32, BEP 5 style)
        for key in hajime_keys.day_keys(bot.files[1:], day):
            near = _nearest(net, key.info_hash)
            missing += not any((bot.ip, bot.port) in _stored(n, key.info_hash) for n in near)
    assert missing <= 0.05 * 2 * len(seeders), f"{missing} announcements missed the nearest"
    fetchers = [b for b in net.bots() if not b.seeder]
    addresses = {(b.ip, b.port): b for b in seeders}
    contacted = [a for b in fetchers for a in b.fetched]
    assert contacted and all(tuple(a.split(":")) in {(i, str(p)) for i, p in addresses}
                             for a in contacted)  # fmt: skip
    assert sum(b.served for b in seeders) >= len(fetchers)
    assert not net.outside, "nothing left the botnet"


def test_bots_announce_the_new_days_keys_after_midnight() -> None:
    net = Net(bots=30, nat=0, plain=10, start=MIDNIGHT - 10.0)
    net.run(25.0)
    new_day = hajime_keys.utc_day(MIDNIGHT)
    for bot in net.bots():
        assert bot.announced_day == new_day
        for key in hajime_keys.day_keys(bot.files, new_day):
            holders = [
                n for n in net.nodes.values() if (bot.ip, bot.port) in _stored(n, key.info_hash)
            ]
            assert holders, f"{bot.ip} not announced under {key.file} of {new_day}"


def test_preload_stores_each_key_at_its_nearest_nodes() -> None:
    net = Net(bots=40, nat=10, plain=10)
    nodes = list(net.nodes.values())
    day = hajime_keys.utc_day(net.now)
    assert preload(nodes, day) == 30 * 3 * 8
    for bot in net.bots():
        for key in hajime_keys.day_keys(bot.files, day):
            stored = sum((bot.ip, bot.port) in _stored(n, key.info_hash) for n in nodes)
            assert stored == (8 if bot.seeder else 0)


def test_defences_silence_a_bot_towards_a_blacklisted_source() -> None:
    net = Net(bots=2, nat=0, plain=0)
    bot = next(iter(net.bots()))
    assert isinstance(bot, HajimeBot)
    me = ("127.0.0.1", 5000)
    assert bot.handle(utp.syn(7, 1, net.now), me, net.now)
    bot.admit = lambda ip, now: "blacklisted"
    assert bot.handle(utp.syn(8, 1, net.now), me, net.now) == []


def test_a_bot_that_ignores_strangers_still_hears_the_nodes_it_asked() -> None:
    options = {"bots": 4, "port": free_port(), "ignore_unknown": True, "seed_rng": 3}
    cfg = load(HajimeConfig, options=options, env={}).settings

    async def main() -> None:
        async with HajimeBotnet(cfg) as net:
            assert net.swarm is not None
            assert net._admit(0, "127.9.9.9", 1.0, False) is None  # an answer to its query
            assert net._admit(0, "127.9.9.9", 1.5, True) is None  # heard of: no stranger
            assert net._admit(0, "127.8.8.8", 1.0, True) == "unknown"  # a stranger's query
            assert net._admit(0, "127.8.8.8", 2.0, True) is None  # remembered: answered now

    asyncio.run(main())
