"""The emulated Hide'n'Seek botnet over real loopback sockets, asked by a plain UDP client."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import pytest

from botmon.settings.sim import HnsConfig
from botmon.sim.hns import HnsBotnet
from botmon.sim.population import iter_peers
from botmon.sim.truth import read_truth
from tests.sim.helpers import (
    Address,
    ask_udp,
    free_port,
    in_thread,
    local_non_loopback_ipv4,
    run,
)

TEST_NETS = ("192.0.2.", "198.51.100.")


class VirtualClock:
    """Epoch seconds that move only when the test says so (churn and rate limits freeze)."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _peer(reply: bytes) -> Address:
    assert len(reply) >= 8 and reply[0] == 0x5E, reply[:16]
    return socket.inet_ntoa(reply[4:8]), int.from_bytes(reply[2:4], "big")


def _cfg(**kw: object) -> HnsConfig:
    kw.setdefault("port", free_port())
    kw.setdefault("seed_rng", 1)
    # These tests ask passive bots; acting bots (peer exchange) are tested in test_exchange.py.
    kw.setdefault("exchange_interval_s", 0.0)
    return HnsConfig(**kw)  # type: ignore[arg-type]


def test_answers_come_from_the_called_bot_with_a_peer_from_its_list() -> None:
    async def scenario() -> None:
        port = free_port(3)
        async with HnsBotnet(_cfg(bots=300, port=port, ports=3, nat=0.0)) as net:
            assert {b.port for b in net.bots} == {port, port + 1, port + 2}
            got = await in_thread(ask_udp, [b.address for b in net.bots])
            assert set(got) == {b.address for b in net.bots}
            for bot in net.bots:
                (reply,) = got[bot.address]
                assert len(reply) == 8 and reply[:2] == b"^\x00"
                assert _peer(reply) in set(iter_peers(bot.peers))

    run(scenario())


def test_20000_bots_answer_from_one_process_with_a_handful_of_sockets() -> None:
    async def scenario() -> None:
        fds_before = len(os.listdir("/proc/self/fd"))
        net = HnsBotnet(_cfg(bots=20_000, peers_min=8, peers_max=8))
        await net.start()
        try:
            assert len(os.listdir("/proc/self/fd")) - fds_before <= 3
            started = time.perf_counter()
            got = await in_thread(ask_udp, [b.address for b in net.bots], timeout=20.0)
            elapsed = time.perf_counter() - started
            answered = [b for b in net.bots if len(got.get(b.address, [])) == 1]
            assert len(answered) == 20_000, f"{len(answered)} of 20,000 answered"
            assert set(got) == {b.address for b in net.bots}
            assert net.counters["answers"] == 20_000
            print(f"20,000 bots answered in {elapsed:.2f} s")
        finally:
            await net.stop()

    run(scenario(), timeout=90)


def test_nat_bots_never_answer_but_are_announced() -> None:
    async def scenario() -> None:
        async with HnsBotnet(_cfg(bots=400, nat=0.3)) as net:
            got = await in_thread(ask_udp, [b.address for b in net.bots], repeat=3)
            nat = {b.address for b in net.bots if b.nat}
            assert len(nat) == 120
            assert not nat & set(got)
            assert set(got) == {b.address for b in net.bots if not b.nat}
            announced = {_peer(r) for replies in got.values() for r in replies}
            assert announced & nat
            assert net.counters["dropped/nat"] == 3 * 120

    run(scenario())


def test_offline_bots_do_not_answer_and_the_truth_says_when_they_were_online(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    truth = tmp_path / "truth.jsonl"

    def online_in_truth(record: dict[str, object], at: float) -> bool:
        sessions = record["sessions"]
        assert isinstance(sessions, list)
        return any(s <= at and (e is None or at < e) for s, e in sessions)

    async def ask_and_check(net: HnsBotnet) -> set[Address]:
        await asyncio.sleep(0.2)  # let the churn tick apply the new virtual time
        got = await in_thread(ask_udp, [b.address for b in net.bots])
        expected = {b.address for b in net.bots if net.is_online(b) and not b.nat}
        assert set(got) == expected
        await asyncio.sleep(0.2)
        records = read_truth(truth)
        assert {(r["ip"], r["port"]) for r in records if online_in_truth(r, clock.now)} == {
            b.address for b in net.bots if net.is_online(b)
        }
        return expected

    async def scenario() -> None:
        cfg = _cfg(
            bots=300, nat=0.1, churn="heavy", churn_scale=0.01, truth=truth, truth_interval_s=0.0
        )
        net = HnsBotnet(cfg, clock=clock)
        async with net:
            first = await ask_and_check(net)
            assert 0 < len(first) < 270  # heavy churn: about half online
            clock.now += 7.3  # about a mean session at 1/100 scale
            second = await ask_and_check(net)
            assert first != second
            assert net.counters["dropped/offline"] > 0

    run(scenario())


def test_same_seed_gives_the_same_botnet_and_truth() -> None:
    port = free_port()

    async def truth_of(seed: int) -> list[dict[str, object]]:
        clock = VirtualClock()
        cfg = _cfg(bots=200, nat=0.2, churn="light", churn_scale=0.01, seed_rng=seed, port=port)
        async with HnsBotnet(cfg, clock=clock) as net:
            clock.now += 30.0
            await asyncio.sleep(0.15)
        return net.truth()

    first, second, other = run(truth_of(42)), run(truth_of(42)), run(truth_of(43))
    assert first == second
    assert first != other


def test_truth_file_is_written_at_start_and_final_at_stop(tmp_path: Path) -> None:
    truth = tmp_path / "sub" / "truth.jsonl"
    clock = VirtualClock()

    async def scenario() -> None:
        cfg = _cfg(bots=50, nat=0.2, out_of_scope=0.1, truth=truth)
        async with HnsBotnet(cfg, clock=clock) as net:
            records = read_truth(truth)
            assert len(records) == 50
            for record, bot in zip(records, net.bots, strict=True):
                assert set(record) >= {"ip", "port", "bot_id", "nat", "sessions", "peers", "mode"}
                assert (record["ip"], record["port"], record["nat"]) == (bot.ip, bot.port, bot.nat)
                assert record["bot_id"] is None
                assert record["sessions"] == [[clock.now, None]]
                assert all(":" in p for p in record["peers"])
            clock.now += 10.0
        final = read_truth(truth)
        assert all(r["sessions"] == [[clock.now - 10.0, clock.now]] for r in final)
        assert not [p for p in truth.parent.iterdir() if p.name != "truth.jsonl"]

    run(scenario())


def test_rate_limit_and_blacklist_per_source() -> None:
    clock = VirtualClock()

    async def scenario() -> None:
        cfg = _cfg(bots=20, rate_limit=1.0, rate_burst=2.0)
        async with HnsBotnet(cfg, clock=clock) as net:
            bot = net.bots[0]
            got = await in_thread(ask_udp, [bot.address], repeat=6)
            assert len(got[bot.address]) == 2  # the burst, then frozen time gives no tokens
            assert net.counters["dropped/rate_limit"] == 4
            clock.now += 1.0
            got = await in_thread(ask_udp, [bot.address], repeat=3)
            assert len(got[bot.address]) == 1
            # Another source is limited on its own.
            got = await in_thread(ask_udp, [bot.address], repeat=3, source="127.0.0.2")
            assert len(got[bot.address]) == 2
        cfg = _cfg(bots=20, blacklist_after=3)
        async with HnsBotnet(cfg, clock=clock) as net:
            bot = net.bots[1]
            got = await in_thread(ask_udp, [bot.address], repeat=5)
            assert len(got[bot.address]) == 3
            clock.now += 3600.0
            assert await in_thread(ask_udp, [bot.address], repeat=2) == {}
            assert net.counters["dropped/blacklist"] == 4
            assert net.stats.by_source["127.0.0.1"].answers == 3

    run(scenario())


def test_hostile_bots_send_garbage_oversized_floods_and_test_net_peers() -> None:
    async def scenario() -> None:
        cfg = _cfg(
            bots=80,
            garbage=0.25,
            oversized=0.25,
            flood=0.25,
            out_of_scope=0.25,
            flood_count=40,
            flood_total_max=100,
        )
        async with HnsBotnet(cfg) as net:
            by_mode: dict[str, list[Address]] = {}
            for bot in net.bots:
                by_mode.setdefault(bot.mode, []).append(bot.address)
            got = await in_thread(ask_udp, by_mode["garbage"], repeat=5)
            assert got and all(
                not (len(r) >= 8 and r[0] == 0x5E) for rs in got.values() for r in rs
            )
            got = await in_thread(ask_udp, by_mode["oversized"])
            assert len(got) == 20
            assert all(len(r) == 65_000 and r[0] == 0x5E for rs in got.values() for r in rs)
            flooder = by_mode["flood"][0]
            got = await in_thread(ask_udp, [flooder], repeat=5)
            assert len(got[flooder]) == 100 + 5  # 5 answers + the 100 extra the cap allows
            got = await in_thread(ask_udp, by_mode["out_of_scope"], repeat=20)
            announced = [_peer(r) for rs in got.values() for r in rs]
            assert any(ip.startswith(TEST_NETS) for ip, _ in announced)
            assert all(ip.startswith((*TEST_NETS, "127.")) for ip, _ in announced)

    run(scenario())


def test_datagrams_from_off_loopback_are_dropped() -> None:
    local = local_non_loopback_ipv4()
    if not local:
        pytest.skip("this machine has no non-loopback IPv4 address")

    async def scenario() -> None:
        async with HnsBotnet(_cfg(bots=10)) as net:
            got = await in_thread(ask_udp, [net.bots[0].address], source=local[0], idle=0.5)
            assert got == {}
            await asyncio.sleep(0.05)
            assert net.counters.get("dropped/not_loopback", 0) == net.counters["requests"] == 1

    run(scenario())


def test_stop_closes_every_socket_and_task_and_frees_the_port() -> None:
    async def scenario() -> None:
        port = free_port(2)
        fds_before = len(os.listdir("/proc/self/fd"))
        net = HnsBotnet(_cfg(bots=100, port=port, ports=2))
        tasks_before = asyncio.all_tasks()
        await net.start()
        sockets = list(net.sockets)
        assert len(sockets) == 2
        assert len(asyncio.all_tasks() - tasks_before) == 1  # the churn tick
        await net.stop()
        await net.stop()  # idempotent
        assert all(s.fileno() == -1 for s in sockets)
        assert asyncio.all_tasks() == tasks_before
        assert len(os.listdir("/proc/self/fd")) == fds_before
        for p in (port, port + 1):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("0.0.0.0", p))
        assert not net.running

    run(scenario())


def test_a_port_in_use_is_a_clean_error_and_leaves_nothing_open() -> None:
    async def scenario() -> None:
        port = free_port(2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as blocker:
            blocker.bind(("0.0.0.0", port + 1))
            net = HnsBotnet(_cfg(bots=10, port=port, ports=2))
            with pytest.raises(OSError):
                await net.start()
            assert net.sockets == []
            assert not net.running

    run(scenario())
