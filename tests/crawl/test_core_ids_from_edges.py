"""A bot's ID learnt from the peers that name it (Sality), on a virtual clock, in memory.

Sality's peer-exchange reply names a peer with its server ID but never carries the answering
bot's own; the engine keeps the first ID a peer was named with, so that bot's later replies
(and its failed tries) carry it.
"""

from __future__ import annotations

from botmon.crawl.memnet import Responder
from botmon.protocols import sality_wire as wire
from botmon.protocols.contract import Peer
from botmon.protocols.registry import get_plugin
from botmon.settings.crawl import CrawlSettings
from tests.crawl.helpers import T0, make_net, ring


def _sality_bot(peers: list[tuple[Peer, int]]) -> Responder:
    """Names its peers in turn, each with its server ID."""
    state = {"i": 0}

    def answer(data: bytes, now: float) -> bytes | None:
        peer, sid = peers[state["i"] % len(peers)]
        state["i"] += 1
        fields = wire.pack_peer(bytes(map(int, peer.ip.split("."))), peer.port, sid)
        return wire.encode(390, wire.PEER_EXCHANGE, fields)

    return answer


def test_replies_carry_the_server_id_their_peers_named_them_with() -> None:
    plugin = get_plugin("sality")
    peers = ring(12, port=5990)
    ids = {p: 16_000_000 + 1000 * i for i, p in enumerate(peers)}
    bots = {
        p: _sality_bot([(peers[(i + k) % 12], ids[peers[(i + k) % 12]]) for k in (1, 2, 3)])
        for i, p in enumerate(peers)
    }
    settings = CrawlSettings.for_protocol(plugin.defaults).replace(
        "rounds", rounds=2, interval_s=60.0
    )
    net = make_net(bots, [peers[0]], settings, plugin=plugin)
    net.run(T0 + 300)
    replies = net.reporter.replies
    assert {r.ip for r in replies} == {p.ip for p in peers}
    named = [r for r in replies if r.bot_id is not None]
    # Only the seed's first replies come before anyone named it; every ID given is right.
    assert len(named) >= len(replies) - 10
    for r in named:
        assert r.bot_id == str(ids[Peer(r.ip, r.port)])
        assert r.data is not None and r.data["peer_class"] == "superpeer"
    for e in net.reporter.edges:
        assert e.dst_id == str(ids[Peer(e.dst_ip, e.dst_port)])
