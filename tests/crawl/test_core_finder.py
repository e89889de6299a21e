"""The find-peers loop on a virtual clock: a toy DHT-style overlay of a few hundred nodes in
which a handful of bots hide, reachable only through lookups; and the loop's budget caps."""

from __future__ import annotations

import dataclasses
import ipaddress
import random
from collections import Counter
from typing import Any

import pytest

from botmon.crawl.memnet import Responder
from botmon.protocols.contract import Peer
from botmon.settings.crawl import CrawlSettings
from tests.crawl import toyproto
from tests.crawl.helpers import T0, make_net, registry

N_NODES = 300
NODES = [Peer(f"127.5.{i // 250}.{i % 250 + 1}", 7000) for i in range(N_NODES)]
BOTS = [Peer(f"127.6.0.{i}", 7000) for i in range(1, 6)]
STORERS = (37, 101, 150, 222, 290)
"""The overlay nodes that know one bot each (like the DHT nodes closest to an info-hash)."""


class Overlay:
    """In-memory overlay nodes and bots speaking the toy protocol; counts what each got."""

    def __init__(self, *, foreign: int = 0, seed: int = 7) -> None:
        rng = random.Random(seed)
        self.ids = rng.sample(range(65_536), N_NODES)
        order = sorted(range(N_NODES), key=lambda i: self.ids[i])
        pos = {i: k for k, i in enumerate(order)}
        self.tables: list[list[Peer]] = []
        for i in range(N_NODES):
            ring = [NODES[order[(pos[i] + d) % N_NODES]] for d in (-2, -1, 1, 2)]
            extra = [NODES[j] for j in rng.sample(range(N_NODES), 4) if j != i]
            outside = [Peer(f"10.0.{i % 250}.{k + 1}", 7000) for k in range(foreign)]
            self.tables.append(ring + extra + outside)
        self.lookups: Counter[Peer] = Counter()
        self.crawled: Counter[Peer] = Counter()
        self.lookup_times: list[float] = []
        self.first_lookup: dict[Peer, float] = {}

    def responders(self) -> dict[Peer, Responder]:
        out: dict[Peer, Responder] = {p: self._node(i) for i, p in enumerate(NODES)}
        out.update({b: self._bot(b) for b in BOTS})
        return out

    def _node(self, i: int) -> Responder:
        me = NODES[i]
        stored = [BOTS[k] for k, s in enumerate(STORERS) if s == i]

        def answer(data: bytes, now: float) -> bytes | None:
            tx = data[1:3]
            if data[:1] == b"Q":
                self.crawled[me] += 1
                return toyproto.encode_answer(b"N", tx, self.tables[i], ())
            self.lookups[me] += 1
            self.lookup_times.append(now)
            self.first_lookup.setdefault(me, now)
            target = data[3] * 256
            table = self.tables[i]
            known = [p for p in table if p in _INDEX]

            def dist(p: Peer) -> int:
                d = abs(self.ids[_INDEX[p]] - target)
                return min(d, 65_536 - d)

            closest = sorted(known, key=dist)[:4] + [p for p in table if p not in _INDEX]
            return toyproto.encode_answer(b"N", tx, closest, stored)

        return answer

    def _bot(self, me: Peer) -> Responder:
        def answer(data: bytes, now: float) -> bytes | None:
            self.crawled[me] += 1
            return toyproto.encode_answer(b"B", data[1:3], (), ()) if data[:1] == b"Q" else None

        return answer


_INDEX = {p: i for i, p in enumerate(NODES)}


def _settings(**finder: Any) -> CrawlSettings:
    s = CrawlSettings.for_protocol(toyproto.DEFAULTS)
    s = s.replace("rounds", rounds=1, interval_s=600)
    return s.replace("finder", **finder) if finder else s


def test_the_find_peers_loop_walks_the_overlay_and_finds_every_hidden_bot() -> None:
    overlay = Overlay()
    net = make_net(overlay.responders(), [NODES[0]], _settings(), registry().get("toy"))
    net.run(T0 + 600)
    core = net.core
    assert core.finished
    status = core.status()
    assert status["overlay_nodes"] == N_NODES  # the whole overlay, from one bootstrap node
    assert {r.ip for r in net.reporter.replies} == {b.ip for b in BOTS}
    assert all(core.peers[b].queue == 1 for b in BOTS)  # promoted: confirmed bots
    # within budget: at most lookups_per_node lookups to each node, every one answered
    assert max(overlay.lookups.values()) <= toyproto.DEFAULTS.lookups_per_node
    assert status["lookups_sent"] == sum(overlay.lookups.values()) <= 4 * N_NODES
    assert status["lookups_answered"] == status["lookups_sent"]
    assert status["lookups_timed_out"] == 0
    assert status["find_in_flight"] == 0 and core.pending == {}
    # a bot is crawled, never walked; an overlay node is walked, and crawled only as a seed
    assert all(overlay.lookups[b] == 0 for b in BOTS)
    assert set(overlay.crawled) == {NODES[0], *BOTS}


def test_without_the_find_peers_loop_the_bots_stay_hidden() -> None:
    overlay = Overlay()
    plugin = dataclasses.replace(registry().get("toy"), find_peers=None)
    net = make_net(overlay.responders(), [NODES[0]], _settings(), plugin)
    net.run(T0 + 600)
    assert net.core.finished
    assert net.reporter.replies == []
    assert net.core.status()["overlay_nodes"] == 0


def test_budget_caps_hold_lookups_per_node_max_nodes_capacity_and_scope(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(toyproto, "LOOKUP_TARGETS", 50)  # the plugin asks for too much
    overlay = Overlay(foreign=2)
    settings = _settings(lookups_per_node=16, max_nodes=40, capacity=3)
    net = make_net(overlay.responders(), [NODES[0]], settings, registry().get("toy"))
    net.run(T0 + 900)
    core = net.core
    status = core.status()
    assert core.finished
    assert max(overlay.lookups.values()) == 16
    assert status["lookups_capped"] == len(overlay.lookups)
    assert status["overlay_nodes"] == 40
    assert len(overlay.lookups) <= 40
    assert status["nodes_dropped"] > 0
    assert status["nodes_out_of_scope"] > 0
    # out of scope: never contacted
    assert all(ipaddress.ip_address(p.ip).is_loopback for _, p in net.sent_at)
    # lookups in flight never exceed the finder's capacity (answers take the net's latency)
    times = sorted(overlay.lookup_times)
    assert max(sum(1 for u in times if t <= u < t + net.latency) for t in times) <= 3


def test_every_round_walks_the_overlay_again_within_the_per_round_cap() -> None:
    overlay = Overlay()
    settings = _settings().replace("rounds", rounds=2, interval_s=300)
    net = make_net(overlay.responders(), [NODES[0]], settings, registry().get("toy"))
    net.run(T0 + 900)
    assert net.core.finished
    assert net.core.c["rounds"] == 2
    assert set(overlay.lookups.values()) == {8}  # 4 per node and round, twice
    assert {r.ip for r in net.reporter.replies if r.timestamp >= T0 + 300} == {b.ip for b in BOTS}


@pytest.mark.parametrize("share", [0.25, 0.5])
def test_lookups_take_their_share_of_a_limited_rate_and_the_crawl_the_rest(share: float) -> None:
    overlay = Overlay()
    settings = _settings(share=share).replace("rate", global_rate=200.0, per_target_rate=0.0)
    # every node is a seed: as much crawl work as find work waits
    net = make_net(overlay.responders(), NODES, settings, registry().get("toy"))
    net.run(T0 + 2)
    status = net.core.status()
    assert 300 <= status["sent"] <= 420  # the global rate holds for both
    assert status["lookups_sent"] / status["sent"] == pytest.approx(share, abs=0.05)


def test_a_finder_at_its_capacity_does_not_hold_up_the_crawl() -> None:
    overlay = Overlay()
    net = make_net(overlay.responders(), [NODES[0]], _settings(capacity=1), registry().get("toy"))
    net.run(T0 + 600)
    assert net.core.finished
    # one lookup at a time: the walk takes seconds, yet each bot is asked as soon as a
    # lookup named it, not when the walk is over
    walk_end = max(overlay.lookup_times)
    assert walk_end - T0 > 10
    for storer, bot in zip(STORERS, BOTS, strict=True):
        named = overlay.first_lookup[NODES[storer]] + net.latency
        asked = min(t for t, p in net.sent_at if p == bot)
        assert asked - named < 0.01
