"""ZeroAccess v2: ask a bot with ``getL``, read the 16 peers of its ``retL`` (UDP).

The codec is :mod:`zeroaccess_wire`; this module is the plugin around it. The variant (2013,
key "ftp2", or the 2015 revival, key '1234') and, if ever needed, another key come from
:class:`ZeroAccessSettings` (section ``protocol.zeroaccess``: ``--protocol-option
variant=2015``). Bots have no ID (``bot_id`` is null); a reply's ``data`` holds:

- ``variant``: ``2013`` or ``2015``; ``network``: the UDP port the bot answered on, as text
  (ZeroAccess runs separate networks per port); ``arch`` (2015): ``32-bit`` or ``64-bit``
  from the port range;
- ``list_age``: how old the newest entry of the returned list is, bucketed (``<1 h``,
  ``1-6 h``, ``6-24 h``, ``1-7 d``, ``>7 d``); ``opaque`` for the 2013 variant, whose word
  is not a known clock (PROTOCOLS.md Appendix A);
- ``peer_ts``: the 16 raw second words of the records (2015: port offset and hours);
- ``session_id`` (2015): the answering bot's session ID in hex, random per bot start.

Ports: a 2013 record has none, so every peer is taken on the port the bot answered on (the
network's port); a 2015 record has a 14-bit offset from the base of the answering bot's
range. The retL carries no nonce, so answers are matched by source address.

Sensor side (PROTOCOLS.md §6.5): bots put the sender of a getL into their list with a fresh
timestamp, and a retL names the freshest entries first, so a sensor announces itself with a
getL and answers a bot's getL with a retL naming only itself, freshest: it stays at the top
of lists without ever naming a bot. A bot's getL is a ``request`` contact (with its nonce or
session ID) and an edge bot -> sensor; a bot's retL (the answer to an announcement) is a
``reply`` contact with its edges; a newL is a ``newL`` contact and an edge to the peer it
advertises.
"""

from __future__ import annotations

import hashlib
import socket
from typing import Annotated, ClassVar

from botmon.protocols import zeroaccess_wire as wire
from botmon.protocols.contract import (
    CrawlResult,
    Facet,
    Peer,
    ProtocolDefaults,
    RequestContext,
    SensorContext,
    Status,
    no_reply,
)
from botmon.settings import Settings, setting
from botmon.wire import Edge, JsonObject, Reply

DESCRIPTION = "ZeroAccess v2 (2013 'ftp2' and 2015 '1234' variants): getL -> retL with 16 peers"
TRANSPORT = "udp"
FACETS = (
    Facet("variant", "Protocol variant", "2013 (key ftp2) or the 2015 revival (key 1234)."),
    Facet(
        "network",
        "Network (UDP port)",
        "ZeroAccess runs separate networks (32- and 64-bit bots) on separate UDP ports.",
    ),
    Facet(
        "list_age",
        "Newest peer-list entry",
        "Age of the freshest peer a bot names; bots list peers most recently heard first, "
        "so a stale top entry means a quiet neighbourhood (2013: the word is opaque).",
    ),
)
DEFAULTS = ProtocolDefaults(
    port=16471,
    timeouts=(4.0, 8.0, 16.0, 32.0),
    max_reply_bytes=wire.MAX_DATAGRAM,
    peers_per_reply=wire.PEERS,
    requests_per_round=1,
)

AGE_BUCKETS: tuple[tuple[float, str], ...] = (
    (3600.0, "<1 h"),
    (6 * 3600.0, "1-6 h"),
    (24 * 3600.0, "6-24 h"),
    (7 * 86400.0, "1-7 d"),
)
OLDEST_BUCKET = ">7 d"
OPAQUE = "opaque"


class ZeroAccessSettings(Settings, frozen=True, kw_only=True):
    """Which ZeroAccess the crawler and sensor speak (section protocol.zeroaccess)."""

    section: ClassVar[str] = "protocol.zeroaccess"
    variant: Annotated[
        wire.Variant,
        setting(
            "2013: the 'ftp2' getL/retL with a peer count and 2013 records; 2015: the later "
            "'1234' variant with session IDs and port/hour records."
        ),
    ] = "2013"
    key: Annotated[
        str,
        setting(
            "The XOR key as 8 hex digits (32-bit word); empty: the variant's own "
            "(66747032 for 2013, 31323334 for 2015).",
            pattern="^([0-9a-fA-F]{8})?$",
        ),
    ] = ""


SETTINGS = ZeroAccessSettings

_variant: wire.Variant = "2013"
_key: int = wire.KEY_2013


def configure(settings: Settings) -> None:
    """Take the ``protocol.zeroaccess`` settings (crawl and sensor call this once, at start)."""
    global _variant, _key
    assert isinstance(settings, ZeroAccessSettings)
    _variant = settings.variant
    _key = int(settings.key, 16) if settings.key else wire.KEYS[settings.variant]


def _random_word(*parts: object) -> int:
    """A random-looking 32-bit value fixed by ``parts`` (sans-I/O: no generator, no clock)."""
    text = "/".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2s(text, digest_size=4).digest(), "little")


def _getl(seed: tuple[object, ...]) -> bytes:
    word = _random_word(*seed)
    if _variant == "2013":
        return wire.getl_2013(word, key=_key)
    return wire.getl_2015(word, word >> 22, key=_key)


def peer_request(peer: Peer, ctx: RequestContext) -> bytes:
    """A getL with a nonce (2015: session ID and counter) that differs per peer and round."""
    return _getl(("crawl", peer.ip, peer.port, ctx.round, ctx.try_))


def age_bucket(age_s: float) -> str:
    """The ``list_age`` text for an age in seconds (a clock in the future reads ``<1 h``)."""
    for limit, label in AGE_BUCKETS:
        if age_s < limit:
            return label
    return OLDEST_BUCKET


def _usable(ip: str, port: int) -> bool:
    first = int(ip.partition(".")[0])
    return 0 < first < 224 and 0 < port <= 65535


def _reading(msg: wire.Message, src: Peer, now: float) -> tuple[JsonObject, list[Peer], list[Edge]]:
    """What a retL says: its ``data`` keys, the peers it names and the edges to them."""
    data: JsonObject = {"variant": msg.variant, "network": str(src.port)}
    peers: list[Peer] = []
    edges: list[Edge] = []
    newest: float | None = None
    if msg.variant == "2015":
        base = wire.port_base(src.port)
        data["arch"] = "64-bit" if base == wire.PORT_BASE_64 else "32-bit"
        data["session_id"] = f"{msg.word:08x}"
    seen: set[Peer] = set()
    for ip, word in msg.peers:
        if msg.variant == "2015":
            offset, hours = wire.split_word(word)
            port = base + offset
            if ip != "0.0.0.0":
                stamp = wire.HOURS_EPOCH + hours * 3600.0
                newest = stamp if newest is None else max(newest, stamp)
        else:
            port = src.port
        if not _usable(ip, port):
            continue
        peer = tuple.__new__(Peer, (ip, port))
        if peer in seen:
            continue
        seen.add(peer)
        peers.append(peer)
        edges.append(Edge(now, src.ip, src.port, ip, port))
    if msg.variant == "2015":
        data["list_age"] = OPAQUE if newest is None else age_bucket(now - newest)
    else:
        data["list_age"] = OPAQUE
    data["peer_ts"] = [word for _ip, word in msg.peers]
    if msg.files:
        data["files"] = len(msg.files)
    return data, peers, edges


def read_reply(data: bytes, src: Peer, now: float, ctx: RequestContext) -> CrawlResult:
    """A retL with a good CRC is a bot reply naming up to 16 peers; anything else NO_REPLY."""
    try:
        msg = wire.decode(data, _variant, _key)
    except wire.WireError as exc:
        return no_reply(exc.reason)
    if msg.command != "retL":
        return no_reply("not_retl")
    info, peers, edges = _reading(msg, src, now)
    reply = Reply(now, src.ip, src.port, None, info)
    reason = None if peers else "no_usable_peer"
    return CrawlResult(Status.BOT_REPLY, reason, tuple(peers), (reply,), tuple(edges))


# -- sensor ----------------------------------------------------------------------------------


def _own_record(ctx: SensorContext, now: float) -> list[tuple[str, int]]:
    """The sensor itself as the freshest record (none if its address cannot be named)."""
    ip, port = ctx.listen
    try:
        packed = socket.inet_aton(ip) if ":" not in ip else b""
    except OSError:
        return []
    if len(packed) != 4 or packed[0] == 0 or packed[0] >= 224:
        return []  # a wildcard, multicast or IPv6 address: nothing a bot could use
    if _variant == "2013":
        return [(ip, int(now) & 0xFFFFFFFF)]
    hours = int((now - wire.HOURS_EPOCH) // 3600)
    return [(ip, wire.peer_word(port - wire.port_base(port), hours))]


def _session(ctx: SensorContext) -> int:
    own = ctx.state.get("zeroaccess_session")
    if not isinstance(own, int):
        own = ctx.state["zeroaccess_session"] = _random_word("sensor", ctx.sensor_id, ctx.listen)
    return own


def _contact(msg: wire.Message, src: Peer, kind: str) -> JsonObject:
    data: JsonObject = {"message": kind, "variant": msg.variant, "network": str(src.port)}
    if msg.variant == "2015":
        base = wire.port_base(src.port)
        data["arch"] = "64-bit" if base == wire.PORT_BASE_64 else "32-bit"
        data["session_id"] = f"{msg.word:08x}"
    elif kind == "request":
        data["nonce"] = f"{msg.nonce:08x}"
    return data


def handle_request(
    data: bytes, src: Peer, now: float, ctx: SensorContext
) -> tuple[bytes | None, list[Reply | Edge]]:
    """Sensor side: a bot's getL (answered), retL or newL, as records; else ``(None, [])``."""
    try:
        msg = wire.decode(data, _variant, _key)
    except wire.WireError:
        return None, []
    me = ctx.listen
    if msg.command == "getL":
        records: list[Reply | Edge] = [
            Reply(now, src.ip, src.port, None, _contact(msg, src, "request")),
            Edge(now, src.ip, src.port, me.ip, me.port),
        ]
        if msg.variant == "2015" and msg.opt2 & wire.FILE_LIST_FLAG:
            return None, records  # a file-list request: bots answer those with files only
        own = _own_record(ctx, now)
        if _variant == "2013":
            answer = wire.retl_2013(own, key=_key)
        else:
            answer = wire.retl_2015(_session(ctx), msg.opt2, own, key=_key)
        return answer, records
    if msg.command == "newL":
        reply = Reply(now, src.ip, src.port, None, _contact(msg, src, "newL"))
        ip = msg.advertised or "0.0.0.0"
        if not _usable(ip, src.port):
            return None, [reply]
        return None, [reply, Edge(now, src.ip, src.port, ip, src.port)]
    info, _peers, edges = _reading(msg, src, now)
    info["message"] = "reply"
    return None, [Reply(now, src.ip, src.port, None, info), *edges]


def announce(peer: Peer, ctx: SensorContext) -> bytes:
    """A getL from the sensor: the bot puts the sender into its list, freshest."""
    return _getl(("announce", ctx.sensor_id, peer.ip, peer.port, int(ctx.now // 60)))
