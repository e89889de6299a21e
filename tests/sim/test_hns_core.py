"""The Hide'n'Seek answer logic with plain bytes: no sockets, no clock."""

from __future__ import annotations

import random
import socket

from botmon.settings.sim import HnsConfig
from botmon.sim.defences import Defences
from botmon.sim.hns_core import HnsCore
from botmon.sim.population import build_population, iter_peers
from botmon.sim.stats import Stats


def _core(cfg: HnsConfig, online: int = 1) -> HnsCore:
    pop = build_population(cfg, 1)
    return HnsCore(
        cfg,
        pop.bots,
        bytearray([online]) * cfg.bots,
        Defences(cfg, pop),
        Stats(),
        random.Random(1),
    )


def _parse(reply: bytes) -> tuple[str, int]:
    assert len(reply) >= 8 and reply[0] == 0x5E
    return socket.inet_ntoa(reply[4:8]), int.from_bytes(reply[2:4], "big")


def test_each_request_gets_one_8_byte_reply_with_a_peer_from_the_list() -> None:
    core = _core(HnsConfig(bots=50))
    bot = core.bots[0]
    seen = set()
    for _ in range(300):
        called, out = core.handle("127.0.0.1", bot.ip4, bot.port, b"~", 0.0)
        assert called is bot and len(out) == 1 and len(out[0]) == 8 and out[0][1] == 0
        seen.add(_parse(out[0]))
    assert seen == set(iter_peers(bot.peers))  # every peer shows up over 300 asks
    assert core.stats.counters["answers"] == 300


def test_no_answer_for_off_machine_unknown_malformed_offline_or_nat() -> None:
    core = _core(HnsConfig(bots=20, nat=0.5))
    nat_bot = next(b for b in core.bots if b.nat)
    free_bot = next(b for b in core.bots if not b.nat)
    assert core.handle("192.0.2.2", free_bot.ip4, free_bot.port, b"~", 0)[1] == []
    assert core.handle("127.0.0.1", b"\x7f\x00\x00\x05", free_bot.port, b"~", 0)[1] == []
    assert core.handle("127.0.0.1", free_bot.ip4, free_bot.port + 1, b"~", 0)[1] == []
    assert core.handle("127.0.0.1", free_bot.ip4, free_bot.port, b"~~", 0)[1] == []
    assert core.handle("127.0.0.1", nat_bot.ip4, nat_bot.port, b"~", 0)[1] == []
    core.online[free_bot.index] = 0
    assert core.handle("127.0.0.1", free_bot.ip4, free_bot.port, b"~", 0)[1] == []
    c = core.stats.counters
    assert c["answers"] == 0 and c["requests"] == 6
    for reason in ("not_loopback", "nat", "offline", "malformed"):
        assert c[f"dropped/{reason}"] == 1
    assert c["dropped/unknown_destination"] == 2


def test_hostile_modes_produce_what_they_say() -> None:
    cfg = HnsConfig(
        bots=40,
        garbage=0.25,
        oversized=0.25,
        flood=0.25,
        out_of_scope=0.25,
        oversized_bytes=30_000,
        flood_count=20,
        flood_total_max=50,
    )
    core = _core(cfg)
    by_mode = {
        m: next(b for b in core.bots if b.mode == m)
        for m in ("garbage", "oversized", "flood", "out_of_scope")
    }
    for _ in range(50):
        bot = by_mode["garbage"]
        out = core.handle("127.0.0.1", bot.ip4, bot.port, b"~", 0)[1]
        assert len(out) == 1 and not (len(out[0]) >= 8 and out[0][0] == 0x5E)
    bot = by_mode["oversized"]
    out = core.handle("127.0.0.1", bot.ip4, bot.port, b"~", 0)[1]
    assert len(out) == 1 and len(out[0]) == 30_000 and _parse(out[0]) in set(iter_peers(bot.peers))
    bot = by_mode["flood"]
    sizes = [len(core.handle("127.0.0.1", bot.ip4, bot.port, b"~", 0)[1]) for _ in range(5)]
    assert sizes == [20, 20, 13, 1, 1]  # 19 + 19 + 12 extra datagrams reach the cap of 50
    bot = by_mode["out_of_scope"]
    announced = {
        _parse(core.handle("127.0.0.1", bot.ip4, bot.port, b"~", 0)[1][0]) for _ in range(400)
    }
    assert any(ip.startswith(("192.0.2.", "198.51.100.")) for ip, _ in announced)
