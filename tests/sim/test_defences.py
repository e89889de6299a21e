"""Every defence of an emulated botnet on a virtual clock (``now`` passed in, nothing sleeps).

The population is a real one (:func:`build_population`), so peer addresses, IDs and lists
are what an emulator would hold.
"""

from __future__ import annotations

from typing import Any

import pytest

from botmon.settings.sim import HnsConfig, LinenetConfig
from botmon.sim import defences as defences_module
from botmon.sim.defences import Defences
from botmon.sim.population import build_population

T0 = 1_800_000_000.0
CRAWLER = "127.0.0.1"


def make(cfg_cls: type[HnsConfig] | type[LinenetConfig] = HnsConfig, **kw: Any) -> Defences:
    kw.setdefault("bots", 50)
    kw.setdefault("exchange_interval_s", 0.0)
    cfg = cfg_cls(**kw)
    return Defences(cfg, build_population(cfg, 5))


def ask(d: Defences, times: list[float], bot: int = 0, source: str = CRAWLER) -> list[str | None]:
    return [d.check(bot, source, T0 + t) for t in times]


def peer_ip(d: Defences, entry: int) -> str:
    return d.population.entry_texts[entry].rpartition(":")[0]


# -- request budget and blacklisting ---------------------------------------------------------


def test_no_defence_answers_everything() -> None:
    d = make()
    assert ask(d, [0.0] * 1000) == [None] * 1000
    assert d.counters["defences/blacklistings"] == 0
    assert not d.shapes_replies


def test_overspending_the_budget_blacklists_for_the_period_then_forgives() -> None:
    d = make(budget_requests=3, budget_window_s=10.0, blacklist_period_s=100.0)
    verdicts = ask(d, [0.0, 1.0, 2.0, 3.0])
    assert verdicts == [None, None, None, "blacklisted"]
    (entry,) = d.blacklistings_of(0)
    assert (entry.bot, entry.source, entry.since, entry.until) == (0, CRAWLER, T0 + 3, T0 + 103)
    assert entry.as_truth() == [CRAWLER, round(T0 + 3, 3), round(T0 + 103, 3)]
    assert d.counters["defences/blacklistings"] == 1
    assert d.touched == {0}
    # Ignored for the whole period, whatever the pace; requests inside it extend nothing.
    assert ask(d, [4.0, 50.0, 102.9]) == ["blacklisted"] * 3
    assert d.blacklisted(0, CRAWLER, T0 + 102.9)
    # Forgiven at the end of the period, with a fresh budget.
    assert not d.blacklisted(0, CRAWLER, T0 + 103.0)
    assert ask(d, [103.0, 104.0, 105.0]) == [None] * 3
    assert ask(d, [106.0]) == ["blacklisted"]
    assert len(d.blacklistings_of(0)) == 2
    assert d.counters["defences/blacklistings"] == 2


def test_the_budget_counts_a_sliding_window_per_bot_and_source() -> None:
    d = make(budget_requests=3, budget_window_s=10.0)
    # Three every ten seconds, for ever: never more than three in any window.
    assert ask(d, [10.0 * k + j for k in range(20) for j in (0.0, 0.1, 0.2)]) == [None] * 60
    # Another bot and another source have budgets of their own.
    assert ask(d, [300.0, 300.0, 300.0], bot=1) == [None] * 3
    assert ask(d, [300.0, 300.0, 300.0], source="127.0.0.2") == [None] * 3
    assert ask(d, [300.0], source="127.0.0.2") == ["blacklisted"]
    assert ask(d, [300.0]) == [None]  # 127.0.0.1's window only holds 297..300's three
    assert d.blacklistings_of(1) == []


def test_period_zero_blacklists_for_good() -> None:
    d = make(budget_requests=1, budget_window_s=1.0, blacklist_period_s=0.0)
    assert ask(d, [0.0, 0.0]) == [None, "blacklisted"]
    assert d.blacklistings_of(0)[0].as_truth()[2] is None
    assert ask(d, [1e6, 1e9]) == ["blacklisted"] * 2
    assert d.blacklisted(0, CRAWLER, T0 + 1e9)


def test_the_older_rate_limit_and_permanent_blacklist_run_first() -> None:
    d = make(rate_limit=1.0, blacklist_after=3)
    assert ask(d, [0.0, 0.0]) == [None, "rate_limit"]
    assert ask(d, [5.0, 10.0]) == [None, "blacklist"]
    assert d.blacklisted(0, CRAWLER, T0 + 11)


def test_memory_stays_bounded_under_a_scan_of_many_sources(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cap = 500
    monkeypatch.setattr(defences_module, "MAX_TRACKED_SOURCES", cap)
    d = make(budget_requests=1, budget_window_s=10.0, blacklist_period_s=0.0)
    # 20 rounds of 400 new sources, each overspending at once, one second apart.
    for k in range(20):
        for j in range(400):
            source = f"127.{k + 1}.{j // 250}.{j % 250 + 1}"
            d.check(j % 50, source, T0 + k)
            d.check(j % 50, source, T0 + k)
        assert len(d._recent) <= cap and len(d._banned) <= cap
    assert d.counters["defences/blacklistings"] == len(d._banned) <= cap
    assert d.counters["defences/untracked"] > 0  # counted, never grown
    # Stale pairs and ended blacklistings are forgotten, so later sources are tracked again.
    d2 = make(budget_requests=1, budget_window_s=1.0, blacklist_period_s=1.0)
    for k in range(20):
        for j in range(400):
            source = f"127.{k + 1}.{j // 250}.{j % 250 + 1}"
            d2.check(j % 50, source, T0 + 5 * k)
            d2.check(j % 50, source, T0 + 5 * k)
        assert len(d2._recent) <= cap and len(d2._banned) <= cap
    assert d2.counters["defences/blacklistings"] > cap


def test_a_scan_of_many_sources_is_cheap_even_when_the_table_stays_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(defences_module, "MAX_TRACKED_SOURCES", 1000)
    d = make(budget_requests=5, budget_window_s=60.0)
    pruned = 0
    original = d._prune

    def counting(now: float) -> None:
        nonlocal pruned
        pruned += 1
        original(now)

    monkeypatch.setattr(d, "_prune", counting)
    for j in range(20_000):  # all inside one window: nothing is stale, nothing is pruned
        d.check(0, f"127.9.{j // 250}.{j % 250 + 1}", T0 + j * 1e-4)
    assert len(d._recent) == 1000
    assert d.counters["defences/untracked"] == 19_000
    # One full pass, when the table filled (the 1001st source), not one per new source.
    assert d._pruned_at == pytest.approx(T0 + 1000 * 1e-4)
    assert pruned == 19_000  # asked each time, returned at once


# -- strangers ----------------------------------------------------------------------------------


def test_strangers_are_ignored_until_heard_of() -> None:
    d = make(ignore_unknown=True)
    bot = d.population.bots[0]
    listed = peer_ip(d, bot.peer_index[0])
    assert d.check(0, listed, T0) is None  # in its list: answered at once
    assert d.check(0, CRAWLER, T0) == "unknown"  # a stranger's first request: remembered
    assert d.check(0, CRAWLER, T0 + 1) is None  # now heard of
    assert d.check(1, CRAWLER, T0 + 1) == "unknown"  # another bot never heard of it
    d.heard(2, "127.0.0.9", T0)  # a bot that heard from a peer answers it
    assert d.check(2, "127.0.0.9", T0 + 1) is None


def test_a_learned_peer_is_known_and_a_moved_address_is_seen() -> None:
    d = make(LinenetConfig, ignore_unknown=True)
    bot = d.population.bots[0]
    other = next(i for i in range(1, 50) if i not in bot.peer_index)
    new_ip = peer_ip(d, other)
    assert not d.knows(0, new_ip)
    bot.peer_index.append(other)  # learned through the exchange
    assert d.knows(0, new_ip)
    entry = bot.peer_index[0]
    old_ip = peer_ip(d, entry)
    d.population.entry_texts[entry] = "127.200.1.1:5"  # that peer moved
    d.addresses_changed()
    assert d.knows(0, "127.200.1.1") and not d.knows(0, old_ip)


def test_heard_memory_per_bot_is_capped_oldest_first() -> None:
    d = make(peer_order="recent")
    cap = defences_module.MAX_HEARD_PER_BOT
    for j in range(cap + 10):
        d.heard(0, f"127.5.0.{j}", T0 + j)
    assert len(d._heard[0]) == cap
    assert "127.5.0.0" not in d._heard[0] and f"127.5.0.{cap + 9}" in d._heard[0]


# -- what a reply names -----------------------------------------------------------------------


def test_recent_order_puts_the_peers_heard_from_latest_first() -> None:
    d = make(peer_order="recent")
    assert d.shapes_replies
    entries = list(d.population.bots[0].peer_index)
    a, b = entries[3], entries[5]
    d.heard(0, peer_ip(d, a), T0 + 1)
    d.heard(0, peer_ip(d, b), T0 + 2)
    chosen = d.choose(0, entries)
    assert chosen[:2] == [b, a]
    assert chosen[2:] == [e for e in entries if e not in (a, b)]  # the rest in list order
    d.heard(0, peer_ip(d, a), T0 + 3)
    assert d.choose(0, entries)[:2] == [a, b]


def test_peer_list_cap_keeps_the_first_of_the_order() -> None:
    d = make(peer_order="recent", peer_list_cap=4)
    entries = list(d.population.bots[0].peer_index)
    assert len(entries) > 4
    last = entries[-1]
    d.heard(0, peer_ip(d, last), T0)
    chosen = d.choose(0, entries)
    assert chosen == [last, *entries[:3]]
    plain = make(peer_list_cap=4)
    assert plain.choose(0, entries) == entries[:4]


def test_closest_restriction_names_the_peers_nearest_the_requesters_id() -> None:
    d = make(LinenetConfig, neighbour_restriction="closest", restrict_to=3)
    pop = d.population
    entries = list(pop.bots[0].peer_index)
    ids = {e: int(pop.bots[e].bot_id or "0", 16) for e in entries if e < len(pop.bots)}
    requester_id = int(pop.bots[7].bot_id or "0", 16)

    def distance(entry: int) -> int:
        return ids[entry] ^ requester_id

    chosen = d.choose(0, list(ids), distance=distance)
    assert chosen == sorted(ids, key=distance)[:3]
    # The same requester always gets the same peers; another requester other (nearest) ones.
    assert d.choose(0, list(ids), distance=distance) == chosen
    other_id = requester_id ^ (1 << 63)
    far = d.choose(0, list(ids), distance=lambda e: ids[e] ^ other_id)
    assert far == sorted(ids, key=lambda e: ids[e] ^ other_id)[:3]


def test_closest_without_ids_acts_as_random_and_random_is_stable_per_requester() -> None:
    d = make(neighbour_restriction="closest", restrict_to=3)
    entries = list(d.population.bots[0].peer_index)
    assert len(entries) > 3
    draws = {tuple(d.choose(0, entries)) for _ in range(50)}
    assert all(len(c) == 3 and set(c) <= set(entries) for c in draws)
    assert len(draws) > 1  # without a requester each reply draws afresh
    r = make(neighbour_restriction="random", restrict_to=3)
    mine = {tuple(r.choose(0, entries, requester=CRAWLER)) for _ in range(50)}
    assert len(mine) == 1  # asking again reveals nothing more
    (picked,) = mine
    assert len(picked) == 3 and set(picked) <= set(entries)
    others = {tuple(r.choose(0, entries, requester=f"127.0.0.{k}")) for k in range(2, 30)}
    assert len(others) > 1  # other requesters get other subsets
    assert len(r.choose(0, entries[:2], requester=CRAWLER)) == 2  # fewer than restrict_to: all


def test_reply_peers_caps_each_reply() -> None:
    d = make(reply_peers=1)
    entries = list(d.population.bots[0].peer_index)
    draws = [d.choose(0, entries) for _ in range(200)]
    assert all(len(c) == 1 and c[0] in entries for c in draws)
    assert len({c[0] for c in draws}) > len(entries) // 2  # one random peer per reply
    ordered = make(peer_order="recent", reply_peers=2)
    ordered.heard(0, peer_ip(ordered, entries[4]), T0)
    assert ordered.choose(0, entries) == [entries[4], entries[0]]
    restricted = make(LinenetConfig, neighbour_restriction="closest", restrict_to=5, reply_peers=2)
    assert restricted.choose(0, entries, distance=lambda e: e) == sorted(entries)[:2]


def test_nothing_is_remembered_when_no_defence_needs_it() -> None:
    d = make(budget_requests=5)
    for j in range(1000):
        d.heard(j % 50, f"127.7.{j // 250}.{j % 250 + 1}", T0)
    assert d._heard == {}
