"""The engine's queues, retries, removal, pacing and scope on a virtual clock, in memory."""

from __future__ import annotations

import dataclasses
import itertools

import msgspec
import pytest

from botmon.crawl.memnet import Responder
from botmon.crawl.peers import DISCOVERY, TRACKING
from botmon.ipaddr import ip_to_int, is_loopback
from botmon.protocols.contract import CrawlResult, Peer
from tests.crawl.helpers import (
    T0,
    PluginRaised,
    cycling_bot,
    hns_reply,
    hns_settings,
    make_net,
    registry,
    ring,
)


def _ring_botnet(n: int, degree: int) -> dict[Peer, Responder]:
    peers = ring(n)
    return {
        p: cycling_bot([peers[(i + k) % n] for k in range(1, degree + 1)])
        for i, p in enumerate(peers)
    }


def test_one_round_finds_every_bot_from_one_seed_and_enumerates_peer_lists() -> None:
    bots = _ring_botnet(20, 3)
    net = make_net(bots, [ring(20)[0]], hns_settings(rounds=1, interval_s=60))
    net.run(T0 + 120)
    core = net.core
    assert core.finished
    assert len(core.peers) == 20
    assert core.n_tracked == 20
    assert core.responsive_last_round == 20
    distinct_edges = {(e.src_ip, e.dst_ip) for e in net.reporter.edges}
    assert len(distinct_edges) == 60  # every bot's whole list of 3, though HNS names 1 per reply
    assert len({r.ip for r in net.reporter.replies}) == 20
    assert net.reporter.failed_tries == []
    # 3 fresh answers, then 3 stale ones stop the enumeration: 6 requests per bot
    assert core.status()["sent"] == 20 * 6


def test_tracked_bot_gets_retries_at_4_8_16_32_then_a_failed_try() -> None:
    bot, nat = Peer("127.1.0.1", 6000), Peer("127.1.0.9", 6000)
    online = {"on": True}
    inner = cycling_bot([nat])

    def flaky(data: bytes, now: float) -> bytes | None:
        return inner(data, now) if online["on"] else None

    net = make_net({bot: flaky}, [bot], hns_settings(interval_s=100, rounds=2))
    net.run(T0 + 50)
    assert net.core.peers[bot].queue == TRACKING
    online["on"] = False
    net.run(T0 + 200)
    round2 = [t - (T0 + 100) for t, p in net.sent_at if p == bot and t >= T0 + 100]
    assert [round(t, 3) for t in round2] == [0.0, 4.0, 8.0, 16.0]
    failed = [f for f in net.reporter.failed_tries if f.ip == bot.ip]
    assert len(failed) == 1
    assert failed[0].reason == "timeout"
    assert round(failed[0].timestamp - (T0 + 100), 3) == 32.0
    # the NAT peer is a discovery peer: exactly one try per round, never a retry
    nat_sends = [t for t, p in net.sent_at if p == nat]
    assert len(nat_sends) == 2
    assert net.core.c["retries"] == 3


def test_lost_requests_are_retried_and_the_answer_still_counts() -> None:
    bot = Peer("127.1.0.1", 6000)
    bots = {bot: cycling_bot([bot])}
    settings = hns_settings(interval_s=100, rounds=2, requests_per_round=1)
    losses = {"n": 0}

    def drop(seq: int, peer: Peer) -> bool:
        # round 2: lose the first two requests to the bot
        if net.now >= T0 + 100 and losses["n"] < 2:
            losses["n"] += 1
            return True
        return False

    net = make_net(bots, [bot], settings, drop=drop)
    net.run(T0 + 300)
    assert net.core.finished
    assert net.dropped == 2
    assert net.core.c["retries"] == 2
    assert net.reporter.failed_tries == []
    assert net.core.responsive_last_round == 1
    assert len(net.reporter.replies) == 2


def test_silent_bot_falls_back_to_discovery_then_is_removed() -> None:
    bot, nat = Peer("127.1.0.1", 6000), Peer("127.1.0.9", 6000)
    online = {"on": True}
    inner = cycling_bot([nat])

    def flaky(data: bytes, now: float) -> bytes | None:
        return inner(data, now) if online["on"] else None

    settings = hns_settings(interval_s=100).replace(
        "queues", tracking_remove_s=150, discovery_remove_s=300
    )
    net = make_net({bot: flaky}, [bot], settings)
    net.run(T0 + 50)
    online["on"] = False
    net.run(T0 + 150)  # round 2: silent 100 s, still tracked
    assert net.core.peers[bot].queue == TRACKING
    net.run(T0 + 250)  # round 3: silent 200 s > 150 s: demoted, one try only
    assert net.core.peers[bot].queue == DISCOVERY
    assert len([t for t, p in net.sent_at if p == bot and t >= T0 + 200]) == 1
    assert net.core.c["demoted"] == 1
    net.run(T0 + 450)  # the NAT peer, never answering, is gone after 300 s
    assert nat not in net.core.peers
    assert bot in net.core.peers
    net.run(T0 + 650)  # demoted at 200, silent since: removed at the round of 600
    assert bot not in net.core.peers
    assert net.core.c["removed"] == 2


def test_unresponsive_peers_never_hold_up_tracked_bots() -> None:
    bot = Peer("127.1.0.1", 6000)
    silent = ring(100, base="127.2.0.")
    settings = hns_settings(interval_s=100, requests_per_round=1).replace(
        "queues", discovery_capacity=10, tracking_capacity=5
    )
    net = make_net({bot: cycling_bot([bot])}, [bot, *silent], settings)
    net.run(T0 + 60)
    assert net.core.peers[bot].queue == TRACKING
    net.run(T0 + 100.001)  # round 2 just started: 10 silent peers in flight, the bot too
    round2 = [p for t, p in net.sent_at if t >= T0 + 100]
    assert bot in round2
    assert net.core.in_flight[DISCOVERY] == 10
    assert net.core.peak_in_flight <= 15


def test_global_rate_limit_paces_sends() -> None:
    silent = ring(200, base="127.3.0.")
    settings = hns_settings(interval_s=1000).replace("rate", global_rate=50.0)
    net = make_net({}, silent, settings)
    net.run(T0 + 10)
    times = sorted(t for t, _ in net.sent_at)
    assert len(times) == 200  # all sent, at ~50/s
    assert times[-1] - times[0] >= 3.5
    for start in range(int(T0), int(T0) + 4):
        in_window = [t for t in times if start <= t < start + 1]
        assert len(in_window) <= 52


def test_per_target_rate_spaces_requests_to_one_bot() -> None:
    bot = Peer("127.1.0.1", 6000)
    others = ring(10, base="127.4.0.")
    settings = hns_settings(interval_s=1000).replace("rate", per_target_rate=2.0)
    net = make_net({bot: cycling_bot(others)}, [bot], settings)
    net.run(T0 + 30)
    times = [t for t, p in net.sent_at if p == bot]
    assert len(times) == 13  # 10 fresh answers, 3 stale ones
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.5 - 1e-9


def test_scope_guard_never_sends_outside_scope_and_counts_what_it_saw() -> None:
    bot = Peer("127.1.0.1", 6000)
    outside = [Peer(f"192.0.2.{i}", 6000) for i in range(1, 6)]
    seeds = [bot, Peer("192.0.2.200", 6000)]
    net = make_net({bot: cycling_bot(outside)}, seeds, hns_settings(rounds=2, interval_s=10))
    net.run(T0 + 100)
    assert net.core.finished
    assert all(is_loopback(ip_to_int(ip)) for ip in net.transport.destinations())
    assert net.core.c["out_of_scope"] == 6
    assert {e.dst_ip for e in net.reporter.edges} == {p.ip for p in outside}
    assert len(net.core.peers) == 1


def test_wider_scope_is_explicit() -> None:
    bot = Peer("127.1.0.1", 6000)
    far = Peer("192.0.2.7", 6000)  # TEST-NET: only ever "contacted" in memory here
    settings = hns_settings(rounds=1, interval_s=10, requests_per_round=1)
    wide = msgspec.structs.replace(settings, scope=("127.0.0.0/8", "192.0.2.0/24"))
    net = make_net({bot: cycling_bot([far])}, [bot], wide)
    net.run(T0 + 60)
    assert far in net.core.peers
    assert far.ip in net.transport.destinations()
    assert net.core.c["out_of_scope"] == 0


def test_unexpected_sources_and_garbage_are_counted_not_trusted() -> None:
    bot = Peer("127.1.0.1", 6000)
    calls = {"n": 0}

    def slow(data: bytes, now: float) -> bytes | None:
        calls["n"] += 1
        return hns_reply(Peer("127.1.0.2", 6000))

    settings = hns_settings(rounds=1, interval_s=10, requests_per_round=1)
    net = make_net({bot: slow}, [bot], settings, latency=1.0)
    net.inject(b"^\x00\x17\x70\x7f\x05\x05\x05", ("127.66.0.1", 6000), T0 + 0.1)
    net.inject(b"\xff" * 20, (bot.ip, bot.port), T0 + 0.2)  # garbage from the bot itself
    net.inject(b"x" * 60_000, (bot.ip, bot.port), T0 + 0.3)  # oversized
    net.run(T0 + 60)
    c = net.core.status()
    assert c["unexpected_source"] == 1
    assert c["malformed"] == 2
    assert c["malformed/bad_magic"] == 1
    assert c["malformed/oversized"] == 1
    assert c["bot_replies"] == 1  # the real answer after 1 s still counted
    assert Peer("127.5.5.5", 6000) not in net.core.peers  # the spoofed announcement was ignored


def test_peer_table_is_capped_against_endless_announcements() -> None:
    bot = Peer("127.1.0.1", 6000)
    counter = {"i": 0}

    def endless(data: bytes, now: float) -> bytes | None:
        counter["i"] += 1
        i = counter["i"]
        return hns_reply(Peer(f"127.8.{i // 250}.{i % 250 + 1}", 6000))

    settings = hns_settings(rounds=6, interval_s=5).replace("queues", max_known_peers=50)
    net = make_net({bot: endless}, [bot], settings)
    net.run(T0 + 600)
    assert len(net.core.peers) == 50
    assert net.core.c["peers_dropped"] > 0


def test_rounds_repeat_at_the_interval_and_stop_after_n() -> None:
    bot = Peer("127.1.0.1", 6000)
    net = make_net({bot: cycling_bot([bot])}, [bot], hns_settings(rounds=3, interval_s=30))
    net.run(T0 + 1000)
    assert net.core.finished
    assert [r["round"] for r in net.core.round_log] == [1, 2, 3]
    starts = [r["started"] - T0 for r in net.core.round_log]
    assert [round(s, 3) for s in starts] == [0.0, 30.0, 60.0]


def test_pause_sends_nothing_and_resume_continues() -> None:
    peers = ring(5)
    net = make_net({}, peers, hns_settings(interval_s=1000))
    net.core.paused = True
    net.run(T0 + 10)
    assert net.sent_at == []
    net.core.paused = False
    net.run(T0 + 20)
    assert len(net.sent_at) == 5


def test_a_plugin_exception_fails_an_engine_test_instead_of_being_counted() -> None:
    hns = registry().get("hns")

    def broken(data: bytes, peer: Peer, now: float, ctx: object) -> CrawlResult:
        raise ValueError("plugin bug")

    bots = _ring_botnet(3, 1)
    net = make_net(bots, [ring(3)[0]], plugin=dataclasses.replace(hns, read_reply=broken))
    with pytest.raises(PluginRaised, match="plugin bug"):
        net.run(T0 + 60)
