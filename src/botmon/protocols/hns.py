"""Hide'n'Seek: ask with ``~``, read one announced peer from a ``^`` reply (UDP).

Wire format (PAPER.md "BaseCrawler", PROTOCOLS.md §4, botmon's 8-byte reading): the request is
the single byte 0x7E; a reply has at least 8 bytes, byte 0 is 0x5E, byte 1 is not interpreted,
bytes 2-3 are a port and bytes 4-7 an IPv4 address, both big-endian. Bots have no ID. One
peer per reply, so the engine asks a bot several times per round (``requests_per_round``) and
stops when its answers repeat (``stale_replies``).

Sensor side (botmon's recipe; PROTOCOLS.md has none confirmed): bots add peers that
contact them, so a sensor announces itself with ``~`` and answers a bot's ``~`` with a
``^`` that names the sensor itself (byte 1 = 0).
"""

from __future__ import annotations

import socket

from botmon.protocols.contract import (
    CrawlResult,
    Peer,
    ProtocolDefaults,
    RequestContext,
    SensorContext,
    Status,
    no_reply,
)
from botmon.wire import Edge, Reply

DESCRIPTION = "Hide'n'Seek IoT botnet: '~' peer request, '^' reply with one IPv4 peer"
TRANSPORT = "udp"
DEFAULTS = ProtocolDefaults(
    port=6000,
    timeouts=(4.0, 8.0, 16.0, 32.0),
    max_reply_bytes=1500,
    peers_per_reply=1,
    requests_per_round=32,
    stale_replies=3,
)

REQUEST = b"~"
REPLY_MAGIC = 0x5E
MIN_REPLY = 8

_ntoa = socket.inet_ntoa
_BOT = Status.BOT_REPLY


def _peer(ip: str, port: int) -> Peer:
    # tuple.__new__ skips NamedTuple's Python-level __new__ (it runs once per reply).
    return tuple.__new__(Peer, (ip, port))


def peer_request(peer: Peer, ctx: RequestContext) -> bytes:
    """Every HNS peer request is the single byte ``~``."""
    return REQUEST


def read_reply(data: bytes, src: Peer, now: float, ctx: RequestContext) -> CrawlResult:
    """A ``^`` reply is a bot reply announcing one peer; anything else is NO_REPLY."""
    n = len(data)
    if n < MIN_REPLY:
        return no_reply("empty" if n == 0 else "short")
    if n > DEFAULTS.max_reply_bytes:
        return no_reply("oversized")
    if data[0] != REPLY_MAGIC:
        return no_reply("bad_magic")
    port = (data[2] << 8) | data[3]
    ip_bytes = data[4:8]
    reply = Reply(now, src.ip, src.port)
    first = data[4]
    if port == 0 or first == 0 or first >= 224:
        # The bot answered, so it counts; the peer it named (0.0.0.0, multicast, broadcast,
        # port 0) cannot be crawled or graphed.
        return CrawlResult(Status.BOT_REPLY, "unusable_peer", replies=(reply,))
    ip = _ntoa(ip_bytes)
    edge = Edge(now, src.ip, src.port, ip, port)
    return CrawlResult(_BOT, None, (_peer(ip, port),), (reply,), (edge,))


def _sensor_address(ctx: SensorContext) -> bytes | None:
    """The sensor's own port and IPv4 as a ``^`` reply carries them (None: not nameable)."""
    ip, port = ctx.listen
    try:
        packed = socket.inet_aton(ip) if ":" not in ip else b""
    except OSError:
        return None
    if len(packed) != 4 or packed[0] == 0 or packed[0] >= 224:
        return None  # IPv6, a wildcard or multicast address: nothing a bot could use
    return port.to_bytes(2, "big") + packed


def handle_request(
    data: bytes, src: Peer, now: float, ctx: SensorContext
) -> tuple[bytes | None, list[Reply | Edge]]:
    """Sensor side: a bot's ``~`` or its ``^`` answer to an announcement, as records.

    A ``~`` (the bot asks the sensor for a peer) is answered with a ``^`` naming the sensor
    itself, never a bot, so the sensor stays in the bot's list without helping the botnet;
    it is recorded as a ``request`` contact and an edge bot -> sensor. A ``^`` (the bot
    answering the sensor's announcement) is a ``reply`` contact and an edge bot -> the peer
    it named; it gets no answer. Anything else is ``(None, [])``: the runtime counts it.
    """
    n = len(data)
    if n == 0 or n > DEFAULTS.max_reply_bytes:
        return None, []
    if data[0] == 0x7E and n == 1:
        me = ctx.listen
        records: list[Reply | Edge] = [
            Reply(now, src.ip, src.port, data={"message": "request"}),
            Edge(now, src.ip, src.port, me.ip, me.port),
        ]
        state = ctx.state
        if "hns_answer" not in state:  # once per sensor: its listen address does not change
            address = _sensor_address(ctx)
            state["hns_answer"] = None if address is None else b"^\x00" + address
        answer = state["hns_answer"]
        return (answer if isinstance(answer, bytes) else None), records
    if data[0] == REPLY_MAGIC and n >= MIN_REPLY:
        reply = Reply(now, src.ip, src.port, data={"message": "reply"})
        port = (data[2] << 8) | data[3]
        first = data[4]
        if port == 0 or first == 0 or first >= 224:
            return None, [reply]
        return None, [reply, Edge(now, src.ip, src.port, _ntoa(data[4:8]), port)]
    return None, []


def announce(peer: Peer, ctx: SensorContext) -> bytes:
    """A sensor announces itself with a ``~``: an HNS bot adds a peer that contacts it."""
    return REQUEST
