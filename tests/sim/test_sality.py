"""The emulated Sality v3 botnet without sockets: who answers, what a reply names, how URL
packs spread and how its defences act, read back through the protocol plugin."""

from __future__ import annotations

import array

from botmon.protocols import sality
from botmon.protocols import sality_wire as wire
from botmon.protocols.contract import Peer, RequestContext
from botmon.settings.sim_sality import SalityConfig
from botmon.sim.population import Bot
from botmon.sim.sality import SalityBotnet
from botmon.sim.sality_core import SalityCore

NOW = 1_000.0
CRAWLER = "127.0.0.1"


def _net(**kw: object) -> tuple[SalityBotnet, SalityCore]:
    cfg = SalityConfig(**{"bots": 300, "nat": 0.4, "seed_rng": 3, **kw})  # type: ignore[arg-type]
    net = SalityBotnet(cfg)
    core = SalityCore(
        cfg,
        net.population,
        net.server_ids,
        net.packs,
        net.churn.online,
        net.defences,
        net.stats,
        net.rng,
        net.exchange,
    )
    return net, core


def _ask(core: SalityCore, bot: Bot, data: bytes, src: str = CRAWLER) -> bytes | None:
    _, out = core.handle(src, bot.ip4, bot.port, data, NOW, 40_000)
    return out[0] if out else None


def test_superpeers_and_clients_get_ids_of_their_class_and_lists_hold_superpeers_only() -> None:
    net, _ = _net()
    ids = [int(b.bot_id or 0) for b in net.bots]
    assert len(set(ids)) == len(ids)
    for bot, sid in zip(net.bots, ids, strict=True):
        assert wire.peer_class(sid) == ("client" if bot.nat else "superpeer")
        assert bot.peer_index and all(not net.bots[e].nat for e in bot.peer_index)
        assert bot.index not in bot.peer_index
    truth = net.truth()
    assert {t["bot_id"] for t in truth} == {str(i) for i in ids}
    assert all(t["url_pack"] == 390 for t in truth)


def test_a_superpeer_names_one_peer_of_its_list_with_its_server_id_and_a_client_is_silent() -> None:
    net, core = _net(exchange_interval_s=0.0)
    request = sality.peer_request(Peer("x", 1), RequestContext())
    superpeer = next(b for b in net.bots if not b.nat)
    client = next(b for b in net.bots if b.nat)
    listed = {net.population.entry_texts[e] for e in superpeer.peer_index}
    seen = set()
    for _ in range(200):
        answer = _ask(core, superpeer, request)
        assert answer is not None
        res = sality.read_reply(answer, Peer(superpeer.ip, superpeer.port), NOW, RequestContext())
        (peer,) = res.peers
        seen.add(f"{peer.ip}:{peer.port}")
        named = net.bots[net.population.entry_texts.index(f"{peer.ip}:{peer.port}")]
        assert res.edges[0].dst_id == named.bot_id
    assert seen == listed  # 200 asks of a list of at most 32 see all of it
    assert _ask(core, client, request) is None
    assert net.stats.counters["dropped/nat"] == 1


def test_an_older_hello_gets_the_pack_pushed_back_and_a_current_one_ok() -> None:
    net, core = _net()
    bot = next(b for b in net.bots if not b.nat)
    old = wire.encode(389, wire.HELLO, wire.hello_request(3_000_000))
    pushed = wire.decode(_ask(core, bot, old) or b"")
    hello = wire.read_hello(pushed.body)
    assert hello.pack is not None and hello.pack.version == 390 == pushed.url_pack
    same = wire.encode(390, wire.HELLO, wire.hello_request(3_000_000))
    assert wire.read_hello(wire.decode(_ask(core, bot, same) or b"").body) == wire.Hello(ok=True)
    test = wire.encode(1, wire.SERVER_TEST, wire.server_test_request(17_000_001, 5990))
    assert wire.read_server_test_reply(wire.decode(_ask(core, bot, test) or b"").body) == 17_000_001


def test_a_new_pack_spreads_through_the_exchange_cycle() -> None:
    net, _ = _net(exchange_interval_s=10.0, push_pack_at_s=5.0, push_pack_bots=2)
    net.exchange.start(0.0, net.churn.online)
    spread = []
    for step in range(1, 101):  # 50 virtual seconds, ticks of half a second
        net.exchange.tick(step * 0.5)
        spread.append(sum(1 for v in net.packs if v == 391))
    assert spread[8] == 0 and spread[9] >= 2  # released at 5 s at two superpeers
    assert spread[19] < len(net.bots)  # hop by hop: not everywhere one cycle later
    assert spread[-1] == len(net.bots)  # every bot, clients too, within a few cycles
    assert net.pack_versions() == {391: len(net.bots)}


def test_a_budget_blacklists_a_fast_crawler_and_the_truth_records_it() -> None:
    net, core = _net(budget_requests=5, budget_window_s=60.0, blacklist_period_s=100.0)
    request = sality.peer_request(Peer("x", 1), RequestContext())
    bot = next(b for b in net.bots if not b.nat)
    answers = [_ask(core, bot, request) for _ in range(8)]
    assert all(a is not None for a in answers[:5]) and answers[5:] == [None] * 3
    line = next(t for t in net.truth() if t["ip"] == bot.ip)
    assert line["blacklisted"] == [[CRAWLER, NOW, NOW + 100.0]]


def test_closest_restriction_names_the_peers_nearest_the_requesters_id() -> None:
    net, core = _net(neighbour_restriction="closest", restrict_to=2, exchange_interval_s=0.0)
    bot = next(b for b in net.bots if not b.nat and len(b.peer_index) >= 8)
    target = min(net.server_ids[e] for e in bot.peer_index)
    request = wire.encode(0, wire.PEER_EXCHANGE, wire.peer_request(target))
    ids = set()
    for _ in range(40):
        res = sality.read_reply(
            _ask(core, bot, request) or b"", Peer(bot.ip, bot.port), NOW, RequestContext()
        )
        ids.add(int(res.edges[0].dst_id or 0))
    nearest = sorted(net.server_ids[e] for e in bot.peer_index)[:2]
    assert ids == set(nearest)


def test_garbage_is_counted_never_answered() -> None:
    net, core = _net()
    bot = next(b for b in net.bots if not b.nat)
    for data in (b"", b"\x00" * 13, sality.peer_request(Peer("x", 1), RequestContext())[:-1]):
        assert _ask(core, bot, data) is None
    assert net.stats.counters["dropped/malformed"] == 3
    assert isinstance(net.server_ids, array.array)
