"""Emulators that fight back, over real loopback sockets: HNS (UDP), linenet (TCP), Mozi (DHT).

Each emulator runs on a virtual clock so budgets and periods are exact; a plain client asks.
What the bots did is read back from the emulator's truth file and counters.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from botmon.cli.loading import load_settings
from botmon.cli.simulate import setting_options, settings_given
from botmon.protocols import krpc
from botmon.settings.sim import HnsConfig, LinenetConfig
from botmon.sim.hns import HnsBotnet
from botmon.sim.linenet import LinenetBotnet
from botmon.sim.mozi import MoziBotnet, MoziSimConfig
from botmon.sim.registry import CAPABILITIES
from botmon.sim.truth import read_truth
from tests.sim.helpers import Address, ask_udp, free_port, in_thread, run, tcp_ask

T0 = 1_800_000_000.0
DEFENCE_WORDS = ("blacklisting", "ignore_unknown", "reply_shaping")


class VirtualClock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_capabilities_name_the_defences_each_emulator_applies() -> None:
    from botmon.sim import btdht, hns, linenet, mozi

    assert set(DEFENCE_WORDS) <= set(CAPABILITIES)
    assert set(DEFENCE_WORDS) <= set(hns.CAPABILITIES)
    assert set(DEFENCE_WORDS) <= set(linenet.CAPABILITIES)
    assert {"blacklisting", "ignore_unknown"} <= set(mozi.CAPABILITIES)
    assert "reply_shaping" not in mozi.CAPABILITIES  # DHT answers name the K closest anyway
    assert not set(DEFENCE_WORDS) & set(btdht.CAPABILITIES)  # real libtorrent nodes


def test_hns_blacklistings_are_in_the_truth_file_and_the_counters(tmp_path: Path) -> None:
    clock = VirtualClock()
    truth = tmp_path / "truth.jsonl"
    cfg = HnsConfig(
        bots=40,
        nat=0.0,
        port=free_port(),
        seed_rng=3,
        exchange_interval_s=0.0,
        budget_requests=2,
        budget_window_s=10.0,
        blacklist_period_s=30.0,
        truth=truth,
        truth_interval_s=0.0,
    )

    async def scenario() -> None:
        async with HnsBotnet(cfg, clock=clock) as net:
            caught = [b.address for b in net.bots[:10]]
            spared = [b.address for b in net.bots[10:]]
            got = await in_thread(ask_udp, caught, repeat=5)
            assert all(len(got.get(a, [])) == 2 for a in caught), got  # the budget, no more
            got = await in_thread(ask_udp, spared, repeat=2)
            assert all(len(got.get(a, [])) == 2 for a in spared)
            assert net.counters["defences/blacklistings"] == 10
            assert net.counters["dropped/blacklisted"] == 30
            clock.now += 30.0  # the period ends: forgiven
            got = await in_thread(ask_udp, caught)
            assert all(len(got.get(a, [])) == 1 for a in caught)

    run(scenario())
    records = {(r["ip"], r["port"]): r for r in read_truth(truth)}
    listed = {a for a, r in records.items() if r.get("blacklisted")}
    assert len(listed) == 10
    for address in listed:
        assert records[address]["blacklisted"] == [["127.0.0.1", T0, T0 + 30.0]]


def _peers_of(answer: bytes | None) -> list[str]:
    assert answer is not None and answer.startswith(b"BOT ") and answer.endswith(b"END\n")
    lines = answer.decode().splitlines()[1:-1]
    return [":".join(line.split()[1:]) for line in lines]


def test_linenet_names_the_peers_closest_to_the_requesters_id() -> None:
    cfg = LinenetConfig(
        bots=100,
        port=free_port(),
        seed_rng=4,
        peers_min=20,
        peers_max=30,
        exchange_interval_s=0.0,
        neighbour_restriction="closest",
        restrict_to=4,
    )

    async def scenario() -> None:
        async with LinenetBotnet(cfg) as net:
            bot = net.bots[0]
            ids = {f"{b.ip}:{b.port}": int(b.bot_id or "0", 16) for b in net.bots}
            listed = [net.population.entry_texts[e] for e in bot.peer_index]
            for requester in (net.bots[50], net.bots[77]):
                mine = int(requester.bot_id or "0", 16)
                line = f"PEERS {requester.bot_id}\n".encode()
                named = _peers_of(await in_thread(tcp_ask, bot.address, line))
                assert named == sorted(listed, key=lambda p: ids[p] ^ mine)[:4]
            # Without an ID: a few at random, the same few for every request of this caller.
            first = _peers_of(await in_thread(tcp_ask, bot.address))
            again = _peers_of(await in_thread(tcp_ask, bot.address))
            assert len(first) == 4 and set(first) <= set(listed) and again == first

    run(scenario())


def test_linenet_budget_resets_and_strangers_are_answered_once_heard_of() -> None:
    clock = VirtualClock()
    cfg = LinenetConfig(
        bots=30,
        nat=0.0,
        port=free_port(),
        seed_rng=6,
        exchange_interval_s=0.0,
        budget_requests=3,
        budget_window_s=60.0,
        ignore_unknown=True,
    )

    async def scenario() -> None:
        async with LinenetBotnet(cfg, clock=clock) as net:
            target: Address = net.bots[0].address
            answers = [await in_thread(tcp_ask, target) for _ in range(6)]
            # A stranger's first connection is reset (remembered), then three answers fit the
            # budget (the reset one counted too), and the next overspends it.
            assert answers[0] is None
            assert all(a is not None for a in answers[1:3]), answers
            assert answers[3:] == [None, None, None]
            assert net.counters["defences/blacklistings"] == 1
            counters = net.counters
            assert counters["dropped/unknown"] == 1 and counters["dropped/blacklisted"] == 3
            (entry,) = net.truth()[0]["blacklisted"]
            assert entry == ["127.0.0.1", T0, T0 + cfg.blacklist_period_s]

    run(scenario())


def _ping(tid: bytes) -> bytes:
    return krpc.ping(tid, b"\x01" * 8 + os.urandom(12))


def test_mozi_bots_blacklist_a_source_that_overspends_on_queries() -> None:
    clock = VirtualClock()
    cfg = MoziSimConfig(
        bots=20,
        benign=5,
        nat=0.0,
        port=free_port(),
        seed_rng=8,
        exchange_interval_s=0.0,
        budget_requests=2,
        budget_window_s=60.0,
    )

    async def scenario() -> None:
        net = MoziBotnet(cfg, clock=clock)
        async with net:
            bots = [b.address for b in net.bots[:5]]
            plain = [(n.ip, n.port) for n in net.plain_nodes()][:5]
            for k in range(4):
                got = await in_thread(ask_udp, bots + plain, payload=_ping(bytes([k, k])))
                answered = {a for a, d in got.items() if d}
                assert set(plain) <= answered  # plain DHT nodes answer everyone
                assert (set(bots) <= answered) == (k < 2), (k, answered)
            assert net.counters["defences/blacklistings"] == 5
            truth = {(r["ip"], r["port"]): r for r in net.truth()}
            assert all(truth[a]["blacklisted"][0][0] == "127.0.0.1" for a in bots)

    run(scenario())


def test_simulate_options_switch_the_defences(monkeypatch: pytest.MonkeyPatch) -> None:
    """``botmon simulate hns``'s options (and variables) reach the settings the emulator gets,
    the ``--ignore-unknown/--no-ignore-unknown`` switch both ways."""
    options, params = setting_options(HnsConfig)
    got: list[HnsConfig] = []

    def keep(**kw: Any) -> None:
        got.append(load_settings(HnsConfig, settings_given(params, kw)))

    command = click.Command("hns", params=list(options), callback=keep)
    argv = ["--budget", "5", "--budget-window", "2.5", "--blacklist-period", "0"]
    argv += ["--ignore-unknown", "--peer-order", "recent", "--peer-list-cap", "16"]
    argv += ["--neighbour-restriction", "closest", "--restrict-to", "4", "--reply-peers", "1"]
    CliRunner().invoke(command, argv, catch_exceptions=False)
    cfg = got.pop()
    assert (cfg.budget_requests, cfg.budget_window_s, cfg.blacklist_period_s) == (5, 2.5, 0.0)
    assert cfg.ignore_unknown and cfg.peer_order == "recent" and cfg.peer_list_cap == 16
    assert (cfg.neighbour_restriction, cfg.restrict_to, cfg.reply_peers) == ("closest", 4, 1)
    monkeypatch.setenv("BOTMON_SIM_HNS_IGNORE_UNKNOWN", "true")
    CliRunner().invoke(command, [], catch_exceptions=False)
    assert got.pop().ignore_unknown  # the variable, no option
    CliRunner().invoke(command, ["--no-ignore-unknown"], catch_exceptions=False)
    assert not got.pop().ignore_unknown  # the option wins over the variable
    result = CliRunner().invoke(command, ["--peer-order", "oldest"])
    assert result.exit_code != 0 and not got
