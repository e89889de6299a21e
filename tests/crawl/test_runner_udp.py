"""The engine with real UDP sockets on loopback, against honest and hostile bots."""

from __future__ import annotations

import asyncio
import gc
import socket
import tracemalloc
from typing import Any

import pytest
import uvloop

from botmon.crawl import transport as transport_mod
from botmon.crawl.runner import GC_YOUNG_THRESHOLD, CrawlRunner
from botmon.crawl.sink import ListReporter
from botmon.protocols.contract import Peer
from botmon.settings.crawl import CrawlSettings
from tests.crawl.helpers import hns_reply, registry
from tests.crawl.responders import flooder, garbage, honest, oversized, udp_bot


def _settings(**rounds: Any) -> CrawlSettings:
    s = CrawlSettings.for_protocol(registry().get("hns").defaults)
    s = s.replace("retry", timeouts=(0.3, 0.6))
    s = s.replace("rounds", rounds=1, interval_s=0.0, **rounds)
    return s.replace("rate", per_target_rate=0.0)


def _run(coro: Any) -> Any:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        return r.run(asyncio.wait_for(coro, 30))


def test_crawls_a_small_udp_botnet_on_loopback() -> None:
    bots = [Peer(f"127.31.0.{i}", 16000 + i) for i in range(1, 11)]

    async def main() -> tuple[dict[str, Any], ListReporter]:
        transports = []
        for i, b in enumerate(bots):
            neighbours = [bots[(i + 1) % 10], bots[(i + 2) % 10]]
            t, _ = await udp_bot(b, honest(neighbours))
            transports.append(t)
        reporter = ListReporter()
        runner = CrawlRunner(registry().get("hns"), _settings(), reporter)
        runner.add_seeds([bots[0]])
        try:
            status = await runner.run()
        finally:
            for t in transports:
                t.close()
        return status, reporter

    status, reporter = _run(main())
    assert status["known"] == 10
    assert status["responsive_last_round"] == 10
    assert status["tracked"] == 10
    assert {(e.src_ip, e.dst_ip) for e in reporter.edges} == {
        (bots[i].ip, bots[(i + k) % 10].ip) for i in range(10) for k in (1, 2)
    }
    assert status["scope_blocked"] == 0
    assert status["recv_buffer_bytes"] >= 4 * 1024 * 1024  # room for 50k replies in flight


def test_hostile_bots_cause_no_crash_and_counters_say_what_happened(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = Peer("127.32.0.1", 16101)
    bad_garbage = Peer("127.32.0.2", 16102)
    bad_big = Peer("127.32.0.3", 16103)
    bad_flood = Peer("127.32.0.4", 16104)
    testnet = [Peer(f"192.0.2.{i}", 6000) for i in range(1, 4)]  # data only: never contacted
    sent_to: list[str] = []
    real_send = transport_mod.UdpTransport.send

    def spy(self: transport_mod.UdpTransport, data: bytes, peer: Peer) -> None:
        sent_to.append(peer.ip)
        real_send(self, data, peer)

    monkeypatch.setattr(transport_mod.UdpTransport, "send", spy)

    async def main() -> tuple[dict[str, Any], ListReporter, int]:
        ts = [
            (await udp_bot(good, honest([bad_garbage, bad_big, bad_flood, *testnet])))[0],
            (await udp_bot(bad_garbage, garbage))[0],
            (await udp_bot(bad_big, oversized))[0],
        ]
        flood_t, flood_bot = await udp_bot(bad_flood, flooder(300))
        ts.append(flood_t)
        # an unsolicited stranger, spraying replies at whatever port the crawler uses
        stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        stranger.bind(("127.33.0.1", 0))
        reporter = ListReporter()
        runner = CrawlRunner(registry().get("hns"), _settings(requests_per_round=8), reporter)
        runner.add_seeds([good, Peer("192.0.2.99", 6000)])
        task = asyncio.ensure_future(runner.run())
        await asyncio.sleep(0.05)
        assert runner._udp is not None
        port = runner._udp.local_ports()[0]
        for _ in range(500):
            stranger.sendto(b"^\x00\x17\x70\x7f\x01\x01\x01", ("127.0.0.1", port))
        try:
            status = await task
        finally:
            stranger.close()
            for t in ts:
                t.close()
        return status, reporter, flood_bot.requests

    status, reporter, flood_requests = _run(main())
    assert all(ip.startswith("127.") for ip in sent_to)
    assert not any(ip.startswith("192.0.2.") for ip in sent_to)
    assert status["scope_blocked"] == 0
    assert status["out_of_scope"] == 4  # three announced + one seed, seen and counted
    assert status["malformed/bad_magic"] >= 1
    assert status["malformed/oversized"] >= 1
    assert status["unexpected_source"] >= 500  # stranger's spray + the flood's extra replies
    # good, its three loopback peers and what the flood bot's accepted answers named
    # (one per request, at most requests_per_round = 8); nothing from the stranger's spray
    assert 5 <= status["known"] <= 4 + 8
    assert "127.1.1.1" not in {e.dst_ip for e in reporter.edges}
    assert {e.src_ip for e in reporter.edges if e.dst_ip.startswith("127.60.")} == {bad_flood.ip}
    hostile = [f for f in reporter.failed_tries if f.ip.startswith("127.32.")]
    assert {f.ip for f in hostile} == {bad_garbage.ip, bad_big.ip}
    assert {f.reason for f in hostile} == {"malformed"}
    assert flood_requests >= 1
    # the flood bot's first reply is accepted, the other 299 per request are not trusted
    assert status["bot_replies"] >= 2
    assert {e.dst_ip for e in reporter.edges} >= {p.ip for p in testnet}


def test_a_flood_of_unsolicited_replies_is_counted_in_bounded_memory() -> None:
    good = Peer("127.37.0.1", 16201)
    flood = 20_000

    async def main() -> tuple[dict[str, Any], int]:
        bot_t, _ = await udp_bot(good, honest([good]))
        runner = CrawlRunner(
            registry().get("hns"),
            _settings(requests_per_round=1).replace("rounds", rounds=0, interval_s=60),
            ListReporter(),
        )
        runner.add_seeds([good])
        task = asyncio.ensure_future(runner.run())
        await asyncio.sleep(0.02)
        assert runner._udp is not None
        port = runner._udp.local_ports()[0]
        spray = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        spray.bind(("127.37.0.2", 0))
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        try:
            for i in range(flood):  # each names a different peer: none may be learned
                spray.sendto(hns_reply(Peer(f"127.38.{i // 250}.{i % 250 + 1}", 6000)),
                             ("127.0.0.1", port))  # fmt: skip
                if i % 2000 == 0:
                    await asyncio.sleep(0)
            for _ in range(100):  # until the engine has read them all (bounded)
                await asyncio.sleep(0.05)
                if runner.status()["unexpected_source"] >= flood:
                    break
            runner.stop()
            status = await task
            peak = tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()
            spray.close()
            bot_t.close()
        return status, peak

    status, peak = _run(main())
    assert status["known"] == 1
    assert status["bot_replies"] == 1
    assert status["unexpected_source"] == flood
    assert peak < 4 * 1024 * 1024


def test_ipv6_loopback_bot_is_crawled() -> None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    bot = Peer("::1", 16301)
    v4 = Peer("127.39.0.1", 16302)

    async def main() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        t6, _ = await loop.create_datagram_endpoint(
            lambda: _Bot6(v4), local_addr=("::1", bot.port), family=socket.AF_INET6
        )
        t4, _ = await udp_bot(v4, honest([v4]))
        runner = CrawlRunner(registry().get("hns"), _settings(), ListReporter())
        runner.add_seeds([bot])
        try:
            status: dict[str, Any] = await runner.run()
        finally:
            t6.close()
            t4.close()
        return status

    status = _run(main())
    assert status["known"] == 2
    assert status["responsive_last_round"] == 2


class _Bot6(asyncio.DatagramProtocol):
    def __init__(self, announce: Peer) -> None:
        self.announce = announce
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.transport.sendto(hns_reply(self.announce), addr)


def test_the_collector_runs_rarely_during_a_crawl_and_is_put_back_after() -> None:
    """Deadlines live long enough to be promoted, so at Python's default threshold the
    collector walked the whole peer table ~20 times a round (a quarter of the CPU)."""
    bot = Peer("127.33.0.1", 16201)
    before = gc.get_threshold()
    during: list[int] = []

    def answer(data: bytes, addr: tuple[str, int], t: asyncio.DatagramTransport) -> None:
        during.append(gc.get_threshold()[0])
        t.sendto(hns_reply(bot), addr)

    async def main() -> dict[str, Any]:
        transport, _ = await udp_bot(bot, answer)
        runner = CrawlRunner(registry().get("hns"), _settings(), ListReporter())
        runner.add_seeds([bot])
        try:
            return await runner.run()
        finally:
            transport.close()

    status = _run(main())
    assert status["responsive_last_round"] == 1
    assert during and min(during) >= GC_YOUNG_THRESHOLD > before[0]
    assert gc.get_threshold() == before
