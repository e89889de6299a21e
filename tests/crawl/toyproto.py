"""A toy keyed, DHT-style protocol plugin for engine tests (KRPC-like, but a few bytes).

Requests carry a 2-byte transaction id (the match key) and a 1-byte target:
``Q`` + tx + target asks a bot for its peers (the target is the request's attempt index, so a
bot can hand out another part of its list each time); ``F`` + tx + target is a find-peers
lookup to an overlay node. Every answer is kind + tx + nodes + peers: kind ``B`` from a bot
(a BOT_REPLY), ``N`` from an ordinary overlay node (BENIGN_REPLY). Each address list is one
count byte and 6-byte IPv4 + port entries.
"""

from __future__ import annotations

import itertools
import socket
from collections.abc import Hashable, Sequence

from botmon.protocols.contract import (
    CrawlResult,
    Peer,
    ProtocolDefaults,
    Request,
    RequestContext,
    Status,
    no_reply,
)
from botmon.wire import Edge, Reply

TRANSPORT = "udp"
DEFAULTS = ProtocolDefaults(
    port=7000,
    timeouts=(1.0, 2.0),
    peers_per_reply=16,
    requests_per_round=8,
    stale_replies=2,
    max_in_flight_per_peer=4,
    lookups_per_node=4,
)
DESCRIPTION = "toy keyed DHT-style protocol (tests only)"
LOOKUP_TARGETS = 4
"""How many lookups ``find_peers`` returns per node (tests raise it to check the cap)."""

_tx = itertools.count(1)


def _next_tx() -> bytes:
    return (next(_tx) % 65_536).to_bytes(2, "big")


def peer_request(peer: Peer, ctx: RequestContext) -> Request:
    """Ask for the part of the bot's list that this attempt's target names."""
    tx = _next_tx()
    return Request(b"Q" + tx + bytes([ctx.attempt & 0xFF]), key=tx)


def find_peers(node: Peer, ctx: RequestContext) -> Sequence[Request]:
    """Lookups spread over the key space, starting at a point that depends on the node."""
    start = sum(socket.inet_aton(node.ip)) % 256
    out = []
    for k in range(LOOKUP_TARGETS):
        tx = _next_tx()
        out.append(Request(b"F" + tx + bytes([(start + k * 256 // LOOKUP_TARGETS) % 256]), key=tx))
    return out


def reply_key(data: bytes) -> Hashable | None:
    """The transaction id of an answer (None when it is not one)."""
    return data[1:3] if len(data) >= 3 and data[:1] in (b"B", b"N") else None


def encode_answer(kind: bytes, tx: bytes, nodes: Sequence[Peer], peers: Sequence[Peer]) -> bytes:
    """An answer as a toy bot or overlay node sends it."""
    out = bytearray(kind + tx)
    for group in (nodes, peers):
        out.append(len(group))
        for p in group:
            out += socket.inet_aton(p.ip) + p.port.to_bytes(2, "big")
    return bytes(out)


def _addresses(data: bytes, at: int) -> tuple[tuple[Peer, ...], int] | None:
    if at >= len(data):
        return None
    n = data[at]
    end = at + 1 + 6 * n
    if end > len(data):
        return None
    out = tuple(
        Peer(socket.inet_ntoa(data[i : i + 4]), int.from_bytes(data[i + 4 : i + 6], "big"))
        for i in range(at + 1, end, 6)
    )
    return out, end


def read_reply(data: bytes, src: Peer, now: float, ctx: RequestContext) -> CrawlResult:
    """A bot's answer (records and peers) or an overlay node's (nodes and peers)."""
    if reply_key(data) is None:
        return no_reply("bad_kind")
    nodes = _addresses(data, 3)
    if nodes is None:
        return no_reply("truncated")
    peers = _addresses(data, nodes[1])
    if peers is None or peers[1] != len(data):
        return no_reply("truncated")
    if data[:1] == b"N":
        return CrawlResult(Status.BENIGN_REPLY, nodes=nodes[0], peers=peers[0])
    bot_id = f"bot-{src.ip}"
    edges = tuple(Edge(now, src.ip, src.port, p.ip, p.port) for p in peers[0])
    return CrawlResult(
        Status.BOT_REPLY,
        peers=peers[0],
        replies=(Reply(now, src.ip, src.port, bot_id),),
        edges=edges,
        bot_id=bot_id,
        nodes=nodes[0],
    )
