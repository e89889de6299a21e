"""gossipnet (UDP): keyed peer requests with bot IDs, up to eight peers per answer.

Wire format, all integers big-endian:

- request ``GQ`` + transaction id (2 bytes) + the asker's ID (8 bytes);
- answer ``GR`` + the same transaction id + the answering bot's ID (8 bytes) + a count (1 byte,
  at most 8) + count entries of IPv4 address (4 bytes) and port (2 bytes);
- hello ``GH`` + port (2 bytes): "I listen on this port at the address you see"; a bot adds
  the sender and answers with an empty ``GR`` (transaction id 0).

A bot answers eight random peers of its list per request, so a crawler asks each bot a few
times per round, each time with a new transaction id.
"""

from __future__ import annotations

import socket
import struct

from botmon.protocols.contract import (
    CrawlResult,
    Peer,
    ProtocolDefaults,
    Request,
    RequestContext,
    SensorContext,
    Status,
    no_reply,
)
from botmon.wire import Edge, Reply

DESCRIPTION = "gossipnet (third-party test plugin): keyed UDP peer exchange with bot IDs"
TRANSPORT = "udp"
DEFAULTS = ProtocolDefaults(
    port=7700,
    timeouts=(2.0, 4.0),
    max_reply_bytes=64,
    peers_per_reply=8,
    requests_per_round=4,
    stale_replies=2,
)
MAX_ENTRIES = 8
CRAWLER_ID = bytes(8)
_HEAD = struct.Struct(">2sH8sB")


def _txid(ctx: RequestContext) -> int:
    return ((ctx.round & 0xFF) << 8 | (ctx.attempt & 0x3F) << 2 | (ctx.try_ & 0x3)) & 0xFFFF or 1


def peer_request(peer: Peer, ctx: RequestContext) -> Request:
    """``GQ`` with a transaction id that differs per round, request and try."""
    txid = _txid(ctx)
    return Request(b"GQ" + txid.to_bytes(2, "big") + CRAWLER_ID, key=txid)


def reply_key(data: bytes) -> int | None:
    """The transaction id of a ``GR`` answer."""
    if len(data) < 4 or data[:2] != b"GR":
        return None
    return int.from_bytes(data[2:4], "big")


def encode_answer(txid: int, bot_id: bytes, peers: list[tuple[str, int]]) -> bytes:
    """A ``GR`` answer (used by the emulator and the sensor side)."""
    body = b"".join(socket.inet_aton(ip) + port.to_bytes(2, "big") for ip, port in peers)
    return _HEAD.pack(b"GR", txid, bot_id, len(peers)) + body


def read_reply(data: bytes, src: Peer, now: float, ctx: RequestContext) -> CrawlResult:
    """A ``GR`` answer is a bot reply with its ID and up to eight peers."""
    if len(data) < _HEAD.size:
        return no_reply("short")
    if len(data) > DEFAULTS.max_reply_bytes:
        return no_reply("oversized")
    magic, _txid_value, raw_id, count = _HEAD.unpack_from(data)
    if magic != b"GR":
        return no_reply("bad_magic")
    if count > MAX_ENTRIES or len(data) != _HEAD.size + 6 * count:
        return no_reply("bad_count")
    bot_id = raw_id.hex()
    peers: list[Peer] = []
    for pos in range(_HEAD.size, len(data), 6):
        ip = socket.inet_ntoa(data[pos : pos + 4])
        port = int.from_bytes(data[pos + 4 : pos + 6], "big")
        if port and 0 < data[pos] < 224:
            peers.append(Peer(ip, port))
    reply = Reply(now, src.ip, src.port, bot_id=bot_id)
    edges = tuple(Edge(now, src.ip, src.port, p.ip, p.port, src_id=bot_id) for p in peers)
    return CrawlResult(Status.BOT_REPLY, None, tuple(peers), (reply,), edges, bot_id)


def announce(peer: Peer, ctx: SensorContext) -> bytes:
    """A sensor says hello with the port it listens on."""
    return b"GH" + ctx.listen.port.to_bytes(2, "big")


def handle_request(
    data: bytes, src: Peer, now: float, ctx: SensorContext
) -> tuple[bytes | None, list[Reply | Edge]]:
    """Answer a bot's ``GQ`` naming only the sensor itself; record the contact."""
    if len(data) != 12 or data[:2] != b"GQ":
        return None, []
    txid = int.from_bytes(data[2:4], "big")
    asker = data[4:12].hex()
    sensor_id = bytes.fromhex(ctx.sensor_id) if ctx.sensor_id else bytes(8)
    answer = encode_answer(txid, sensor_id, [(ctx.listen.ip, ctx.listen.port)])
    records: list[Reply | Edge] = [
        Reply(now, src.ip, src.port, bot_id=asker, data={"message": "GQ"}),
        Edge(now, src.ip, src.port, ctx.listen.ip, ctx.listen.port, src_id=asker),
    ]
    return answer, records
