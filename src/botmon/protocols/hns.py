"""Hide'n'Seek: ask with ``~``, read one announced peer from a ``^`` reply (UDP).

Wire format (PAPER.md "BaseCrawler", PROTOCOLS.md §4, botmon's 8-byte reading): the request is
the single byte 0x7E; a reply has at least 8 bytes, byte 0 is 0x5E, byte 1 is not interpreted,
bytes 2-3 are a port and bytes 4-7 an IPv4 address, both big-endian. Bots have no ID. One
peer per reply, so the engine asks a bot several times per round (``requests_per_round``) and
stops when its answers repeat (``stale_replies``).
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


def handle_request(
    data: bytes, src: Peer, now: float, ctx: SensorContext
) -> tuple[bytes | None, list[Reply]]:
    """Sensor side: a ``~`` from a bot is recorded as a contact; botmon announces no peer."""
    if data[:1] == REQUEST and len(data) <= DEFAULTS.max_reply_bytes:
        return None, [Reply(timestamp=now, ip=src.ip, port=src.port, data={"message": "~"})]
    return None, []
