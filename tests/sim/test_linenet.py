"""The emulated linenet botnet over real loopback TCP, asked by a plain socket client."""

from __future__ import annotations

import asyncio
import os
import re
import socket
from pathlib import Path

import pytest

from botmon.settings.sim import LinenetConfig
from botmon.sim.linenet import LinenetBotnet
from botmon.sim.population import iter_peers
from botmon.sim.truth import read_truth
from tests.sim.helpers import (
    Address,
    free_port,
    in_thread,
    local_non_loopback_ipv4,
    run,
    tcp_ask,
)

LINE = re.compile(rb"^(BOT [0-9a-f]{16}|PEER \d+\.\d+\.\d+\.\d+ \d+|END)$")


class VirtualClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _cfg(**kw: object) -> LinenetConfig:
    kw.setdefault("port", free_port())
    kw.setdefault("seed_rng", 2)
    # These tests ask passive bots; acting bots (peer exchange) are tested in test_exchange.py.
    kw.setdefault("exchange_interval_s", 0.0)
    return LinenetConfig(**kw)  # type: ignore[arg-type]


def _parse(answer: bytes) -> tuple[str, list[Address]]:
    assert answer.endswith(b"\n")
    lines = answer[:-1].split(b"\n")
    assert len(lines) <= 64 and all(len(line) + 1 <= 128 for line in lines)
    assert all(LINE.match(line) for line in lines), lines
    assert lines[0].startswith(b"BOT ") and lines[-1] == b"END"
    peers = []
    for line in lines[1:-1]:
        _, ip, port = line.decode().split()
        peers.append((ip, int(port)))
    return lines[0][4:].decode(), peers


def _ask_many(targets: list[Address], payload: bytes = b"PEERS\n") -> list[bytes | None]:
    return [tcp_ask(t, payload) for t in targets]


def test_each_bot_answers_its_id_and_peers_on_its_own_address() -> None:
    async def scenario() -> None:
        async with LinenetBotnet(_cfg(bots=200, ports=2, port=free_port(2))) as net:
            answers = await in_thread(_ask_many, [b.address for b in net.bots])
            for bot, answer in zip(net.bots, answers, strict=True):
                assert answer is not None
                bot_id, peers = _parse(answer)
                assert bot_id == bot.bot_id
                assert peers == list(iter_peers(bot.peers))  # all of them: lists are <= 62
            assert net.counters["answers"] == 200

    run(scenario())


def test_long_peer_lists_are_answered_as_a_bounded_random_subset() -> None:
    async def scenario() -> None:
        cfg = _cfg(bots=200, peers_min=100, peers_max=120, peers_per_reply=10)
        async with LinenetBotnet(cfg) as net:
            bot = net.bots[0]
            answers = await in_thread(_ask_many, [bot.address] * 5)
            subsets = [tuple(_parse(a)[1]) for a in answers if a is not None]
            assert len(subsets) == 5 and all(len(s) == 10 for s in subsets)
            assert len(set(subsets)) > 1
            assert set().union(*subsets) <= set(iter_peers(bot.peers))

    run(scenario())


def test_nat_and_offline_bots_reset_without_a_byte() -> None:
    clock = VirtualClock()

    async def scenario() -> None:
        cfg = _cfg(bots=200, nat=0.2, churn="heavy", churn_scale=0.01)
        async with LinenetBotnet(cfg, clock=clock) as net:
            answers = await in_thread(_ask_many, [b.address for b in net.bots])
            for bot, answer in zip(net.bots, answers, strict=True):
                if bot.nat or not net.is_online(bot):
                    assert answer is None, bot
                else:
                    assert answer is not None and _parse(answer)[0] == bot.bot_id
            c = net.counters
            assert c["dropped/nat"] > 0 and c["dropped/offline"] > 0
            assert c["answers"] == sum(1 for a in answers if a)

    run(scenario())


def test_benign_hosts_say_hello_and_bad_requests_get_nothing() -> None:
    async def scenario() -> None:
        async with LinenetBotnet(_cfg(bots=30, benign=2)) as net:
            benign = net.population.benign
            answers = await in_thread(_ask_many, benign)
            assert answers == [b"HELLO\n", b"HELLO\n"]
            bot = net.bots[0].address
            assert await in_thread(tcp_ask, bot, b"GARBAGE\n") is None
            assert await in_thread(tcp_ask, bot, b"P" * 5000) is None
            assert net.counters["dropped/malformed"] == 2
            assert net.counters["benign"] == 2

    run(scenario())


def test_silent_callers_are_cut_off_by_the_read_timeout() -> None:
    async def scenario() -> None:
        async with LinenetBotnet(_cfg(bots=5, read_timeout_s=0.3)) as net:
            answer = await in_thread(tcp_ask, net.bots[0].address, b"", 3.0)
            assert not answer
            assert net.counters["dropped/malformed"] == 1

    run(scenario())


def test_rate_limit_and_blacklist_per_source() -> None:
    clock = VirtualClock()

    async def scenario() -> None:
        async with LinenetBotnet(_cfg(bots=10, blacklist_after=2), clock=clock) as net:
            bot = net.bots[0].address
            answers = await in_thread(_ask_many, [bot] * 4)
            assert [a is not None for a in answers] == [True, True, False, False]
            assert net.counters["dropped/blacklist"] == 2
        async with LinenetBotnet(_cfg(bots=10, rate_limit=1.0), clock=clock) as net:
            bot = net.bots[0].address
            answers = await in_thread(_ask_many, [bot] * 3)
            assert [a is not None for a in answers] == [True, False, False]
            clock.now += 1.0
            assert await in_thread(tcp_ask, bot) is not None

    run(scenario())


def test_truth_has_bot_ids_and_the_same_seed_gives_the_same_truth(tmp_path: Path) -> None:
    port = free_port()

    async def truth_of(seed: int, path: Path) -> list[dict[str, object]]:
        clock = VirtualClock()
        cfg = _cfg(
            bots=100, nat=0.1, churn="light", churn_scale=0.01, seed_rng=seed, port=port, truth=path
        )
        async with LinenetBotnet(cfg, clock=clock):
            clock.now += 30.0
            await asyncio.sleep(0.15)
        return read_truth(path)

    first = run(truth_of(5, tmp_path / "a.jsonl"))
    second = run(truth_of(5, tmp_path / "b.jsonl"))
    assert first == second
    assert first != run(truth_of(6, tmp_path / "c.jsonl"))
    assert all(re.fullmatch(r"[0-9a-f]{16}", str(r["bot_id"])) for r in first)
    assert sum(bool(r["nat"]) for r in first) == 10


def test_stop_closes_listeners_and_open_connections() -> None:
    async def scenario() -> None:
        port = free_port()
        fds_before = len(os.listdir("/proc/self/fd"))
        tasks_before = asyncio.all_tasks()
        net = LinenetBotnet(_cfg(bots=20, port=port, read_timeout_s=30.0))
        await net.start()
        # A caller that connects and says nothing holds a handler open.
        idle = socket.create_connection(net.bots[0].address, timeout=5)
        for _ in range(100):
            if net._handlers:
                break
            await asyncio.sleep(0.01)
        assert net._handlers
        await asyncio.wait_for(net.stop(), 5)
        assert asyncio.all_tasks() == tasks_before
        try:
            leftover = idle.recv(10)  # the emulator closed the idle caller's connection
        except ConnectionResetError:
            leftover = b""
        assert leftover == b""
        idle.close()
        assert len(os.listdir("/proc/self/fd")) == fds_before
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", port))

    run(scenario())


def test_connections_from_off_loopback_are_reset() -> None:
    local = local_non_loopback_ipv4()
    if not local:
        pytest.skip("this machine has no non-loopback IPv4 address")

    def ask_from(source: str, target: Address) -> bytes | None:
        try:
            with socket.create_connection(target, timeout=3, source_address=(source, 0)) as s:
                s.sendall(b"PEERS\n")
                return s.recv(100)
        except (ConnectionResetError, BrokenPipeError):
            return None

    async def scenario() -> None:
        async with LinenetBotnet(_cfg(bots=10)) as net:
            answer = await in_thread(ask_from, local[0], net.bots[0].address)
            assert not answer
            assert net.counters["dropped/not_loopback"] == 1
            assert net.counters.get("answers", 0) == 0

    run(scenario())


def test_bots_with_ip_change_come_back_under_a_new_address_with_the_same_id(
    tmp_path: Path,
) -> None:
    clock = VirtualClock()
    truth = tmp_path / "truth.jsonl"

    async def scenario() -> None:
        cfg = _cfg(
            bots=120,
            churn="heavy",
            churn_scale=0.01,
            ip_change=0.5,
            truth=truth,
            truth_interval_s=0.0,
        )
        async with LinenetBotnet(cfg, clock=clock) as net:
            changers = [b for b in net.bots if b.ip_change]
            assert len(changers) == 60
            before = {b.index: b.address for b in net.bots}
            clock.now += 20.0  # a few heavy-churn sessions at 1/100 scale
            await asyncio.sleep(0.2)
            moved = [b for b in net.bots if b.address != before[b.index]]
            assert moved and all(b.ip_change for b in moved)
            assert net.counters["ip_changes"] >= len(moved)
            for bot in moved:
                assert bot.ip.split(".")[1] == before[bot.index][0].split(".")[1]  # same region
            ids = {b.address: b.bot_id for b in net.bots}
            assert len(ids) == 120  # addresses stay distinct
            online_moved = [b for b in moved if net.is_online(b)]
            assert online_moved
            bot = online_moved[0]
            answers = await in_thread(_ask_many, [bot.address, before[bot.index]])
            assert answers[0] is not None and _parse(answers[0])[0] == bot.bot_id
            assert answers[1] is None  # nobody lives at the old address
            # Lists that name the bot now say its new address.
            listers = [
                b for b in net.bots if bot.index in b.peer_index and net.is_online(b) and not b.nat
            ]
            assert listers
            answer = await in_thread(tcp_ask, listers[0].address)
            assert answer is not None and bot.address in _parse(answer)[1]
            await asyncio.sleep(0.1)
            records = {r["bot_id"]: r for r in read_truth(truth)}
            record = records[bot.bot_id]
            assert record["ip_change"] is True
            assert (record["ip"], record["port"]) == bot.address
            assert len(record["addresses"]) >= 2
            assert record["addresses"][-1][1] == f"{bot.ip}:{bot.port}"
            assert record["addresses"][-1][0] == record["sessions"][-1][0]
            assert "addresses" not in records[next(b for b in net.bots if not b.ip_change).bot_id]

    run(scenario())
