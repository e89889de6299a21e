"""Given settings and a seed, the emulated botnet has exactly the promised shape."""

from __future__ import annotations

import ipaddress

import pytest

from botmon.settings import SettingsError
from botmon.settings.sim import (
    HnsConfig,
    LinenetConfig,
)
from botmon.sim.population import HOSTILE_MODES, build_population, iter_peers


def test_same_seed_same_botnet_and_other_seed_differs() -> None:
    cfg = HnsConfig(bots=500, nat=0.2, garbage=0.1, out_of_scope=0.1, ports=3)
    a, b, c = (build_population(cfg, s) for s in (7, 7, 8))
    assert a.bots == b.bots
    assert a.seed_order == b.seed_order
    assert [x.ip for x in a.bots] != [x.ip for x in c.bots]


def test_addresses_are_distinct_loopback_in_the_configured_first_octets() -> None:
    pop = build_population(HnsConfig(bots=3000, first_octets=(5, 9)), 1)
    ips = [b.ip for b in pop.bots]
    assert len(set(ips)) == len(ips)
    for ip in ips:
        a, b, c = (int(x) for x in ip.split(".")[1:])
        assert ip.startswith("127.") and 5 <= a <= 9 and 1 <= b <= 254 and 1 <= c <= 254
    # 1/rank weighting: the first A value holds more bots than the last.
    firsts = [int(ip.split(".")[1]) for ip in ips]
    assert firsts.count(5) > firsts.count(9) * 2


def test_ports_spread_over_the_configured_range() -> None:
    pop = build_population(HnsConfig(bots=400, port=6000, ports=4), 3)
    assert {b.port for b in pop.bots} == {6000, 6001, 6002, 6003}


def test_peer_lists_have_the_configured_size_and_never_list_the_bot_itself() -> None:
    pop = build_population(HnsConfig(bots=300, peers_min=8, peers_max=12), 2)
    addresses = {b.address for b in pop.bots}
    for bot in pop.bots:
        peers = list(iter_peers(bot.peers))
        assert 8 <= len(peers) <= 12
        assert len(set(peers)) == len(peers)
        assert bot.address not in peers
        assert set(peers) <= addresses


def test_nat_fraction_is_exact_and_nat_bots_are_listed_by_others() -> None:
    pop = build_population(HnsConfig(bots=1000, nat=0.25), 4)
    nat = {b.address for b in pop.bots if b.nat}
    assert len(nat) == 250
    listed = {p for b in pop.bots for p in iter_peers(b.peers)}
    assert nat & listed == nat
    assert all(not pop.bots[i].nat and pop.bots[i].mode == "normal" for i in pop.seed_order)


def test_hostile_roles_are_disjoint_exact_and_never_nat() -> None:
    cfg = HnsConfig(bots=1000, nat=0.1, garbage=0.1, oversized=0.05, flood=0.02, out_of_scope=0.2)
    pop = build_population(cfg, 5)
    counts = {m: sum(b.mode == m for b in pop.bots) for m in HOSTILE_MODES}
    assert counts == {"garbage": 100, "oversized": 50, "flood": 20, "out_of_scope": 200}
    assert not any(b.nat and b.mode != "normal" for b in pop.bots)


def test_out_of_scope_bots_list_only_test_net_addresses_beyond_the_botnet() -> None:
    pop = build_population(HnsConfig(bots=200, out_of_scope=0.5), 6)
    for bot in pop.bots:  # the packed list and the text list say the same
        texts = [pop.entry_texts[j] for j in bot.peer_index]
        assert texts == [f"{ip}:{port}" for ip, port in iter_peers(bot.peers)]
    nets = [ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("198.51.100.0/24")]
    bots = {b.address for b in pop.bots}
    for bot in pop.bots:
        foreign = [p for p in iter_peers(bot.peers) if p not in bots]
        if bot.mode == "out_of_scope":
            assert foreign
            assert all(any(ipaddress.ip_address(ip) in n for n in nets) for ip, _ in foreign)
        else:
            assert not foreign


def test_linenet_bots_have_unique_16_hex_ids_and_benign_hosts_are_listed() -> None:
    pop = build_population(LinenetConfig(bots=300, benign=4), 9)
    ids = [b.bot_id for b in pop.bots]
    assert all(i is not None and len(i) == 16 and int(i, 16) >= 0 and i == i.lower() for i in ids)
    assert len(set(ids)) == 300
    assert len(pop.benign) == 4
    listed = {p for b in pop.bots for p in iter_peers(b.peers)}
    assert set(pop.benign) <= listed
    assert not set(pop.benign) & {b.address for b in pop.bots}


def test_hns_bots_have_no_id() -> None:
    assert all(b.bot_id is None for b in build_population(HnsConfig(bots=10), 1).bots)


@pytest.mark.parametrize(
    "cfg",
    [
        HnsConfig(bots=0),
        HnsConfig(bots=10, nat=1.5),
        HnsConfig(bots=10, garbage=0.6, flood=0.6),
        HnsConfig(bots=10, churn="wild"),  # type: ignore[arg-type]
        HnsConfig(bots=10, port=65535, ports=2),
        HnsConfig(bots=10, peers_min=9, peers_max=3),
        HnsConfig(bots=10, rate_limit=0),
        HnsConfig(bots=10, blacklist_after=0),
        HnsConfig(bots=10, oversized_bytes=70_000),
        HnsConfig(bots=10, first_octets=(0, 3)),
        HnsConfig(bots=10, churn="heavy", churn_scale=1e-6),
    ],
)
def test_bad_settings_are_one_clear_error(cfg: HnsConfig) -> None:
    with pytest.raises(SettingsError, match=r"^sim\.hns\.\w+: ") as info:
        cfg.validate()
    assert "\n" not in str(info.value) and str(info.value)


def test_bad_linenet_settings_are_rejected() -> None:
    with pytest.raises(SettingsError, match=r"sim\.linenet\.peers_per_reply: must be <= 62"):
        LinenetConfig(bots=10, peers_per_reply=63).validate()
