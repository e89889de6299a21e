"""Sality v3: peer exchange over UDP, one peer per reply (PROTOCOLS.md §5).

Crawler: a peer-exchange request (command 2) carrying a client-range server ID; a reply names
**one** peer of the bot's list (address, port, server ID), so enumerating a list of L peers
takes about L·ln L requests (coupon collector) and the engine asks each bot many times per
round (``requests_per_round``) until its answers repeat (``stale_replies``). Only superpeers
answer, and they name only superpeers, so NATed clients are never found by crawling.

What a reply reveals (``data``): ``url_pack``, the URL-pack version in the bot's header (how
far a new pack has spread), and for a peer whose server ID is known ``server_id`` and
``peer_class``. A bot's own ID is not in its peer-exchange reply; edges carry the named
peer's ID as ``dst_id``, from which the engine fills ``ctx.bot_id`` of the named peer, so
replies of a bot some peer has named carry its server ID as ``bot_id``.

Sensor (§5.5): bots contact a superpeer they learnt of with hellos (command 3) in their
40-minute cycle; the sensor answers a hello with ``OK``, a server test with the tester's own
ID, and a peer exchange with itself (never a bot), and records every contact with the
sender's server ID, so it sees NATed clients the crawler cannot. It announces itself with a
hello carrying a superpeer ID derived from its sensor ID, which puts it into the bot's list;
its pack version 0 makes bots push their pack back, which the sensor records too.
"""

from __future__ import annotations

import functools
import socket

from botmon.protocols import sality_wire as wire
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
from botmon.wire import Edge, Reply

DESCRIPTION = "Sality v3 file infector: RC4 UDP peer exchange, one superpeer per reply"
TRANSPORT = "udp"
DEFAULTS = ProtocolDefaults(
    port=5990,
    timeouts=(4.0, 8.0, 16.0, 32.0),
    max_reply_bytes=wire.MAX_PACKET,
    peers_per_reply=1,
    requests_per_round=256,
    stale_replies=24,
)
"""Real Sality bots pick their UDP port at random (UNCONFIRMED how); 5990 is botmon's
emulator default. A list of ~30 peers needs ~120 requests to be seen whole; 24 repeats in a
row leave a single missing entry of 32 unseen with a chance of 0.47, and the next round
asks again."""

FACETS = (
    Facet(
        "url_pack",
        "URL-pack version",
        "The URL-pack version a bot's packets carry: how far a new download list has spread.",
    ),
    Facet(
        "peer_class",
        "Peer class",
        "Superpeer or NATed client, from the server ID range the bot announced itself with.",
    ),
)

CRAWLER_SERVER_ID = 3_000_001
"""The ID botmon's crawler sends: a client (below 16,000,000), so bots never hand it out."""
CRAWLER_URL_PACK = 0
"""Oldest possible pack: the crawler never claims to hold a newer one."""
_REQUEST = wire.encode(CRAWLER_URL_PACK, wire.PEER_EXCHANGE, wire.peer_request(CRAWLER_SERVER_ID))


def peer_request(peer: Peer, ctx: RequestContext) -> bytes:
    """The same peer-exchange request every time: built once, at import."""
    return _REQUEST


def _peer(ip: str, port: int) -> Peer:
    return tuple.__new__(Peer, (ip, port))


def _id_data(data: dict[str, object], server_id: int) -> None:
    data["server_id"] = str(server_id)
    data["peer_class"] = wire.peer_class(server_id)


@functools.lru_cache(maxsize=1 << 15)
def _read(data: bytes) -> tuple[int, wire.PeerEntry | None] | str:
    """``(url_pack, named peer)`` of an answer, or the reason it is not one.

    Memoised (a pure function of the bytes): a bot names each of its peers many times with
    the same bytes, and decrypting costs more than the rest of the engine's work per reply.
    """
    if len(data) > wire.MAX_PACKET:
        return "oversized"  # never keep large inputs in the cache
    try:
        packet = wire.decode(data)
        if packet.command == wire.PEER_EXCHANGE:
            return packet.url_pack, wire.read_peer_reply(packet.body)
        if packet.command == wire.HELLO:
            wire.read_hello(packet.body)
        else:
            wire.read_server_test_reply(packet.body)
    except wire.SalityError as exc:
        return exc.reason
    return packet.url_pack, None


def read_reply(data: bytes, src: Peer, now: float, ctx: RequestContext) -> CrawlResult:
    """A peer-exchange reply: the bot, and the one peer it named (or none). Any other
    well-formed Sality answer counts as the bot's, naming nobody."""
    read = _read(data)
    if isinstance(read, str):
        return no_reply(read)
    url_pack, named = read
    bot_id = ctx.bot_id
    info: dict[str, object] = {"url_pack": str(url_pack)}
    if bot_id is not None and bot_id.isdigit():
        _id_data(info, int(bot_id))
    reply = Reply(now, src.ip, src.port, bot_id, info)
    if named is None:
        # A well-formed answer naming nobody (an empty peer exchange, or a hello or server
        # test answer): still a Sality bot.
        return CrawlResult(Status.BOT_REPLY, "no_peer", replies=(reply,))
    first = int(named.ip.split(".", 1)[0])
    if named.port == 0 or first == 0 or first >= 224:
        return CrawlResult(Status.BOT_REPLY, "unusable_peer", replies=(reply,))
    edge = Edge(now, src.ip, src.port, named.ip, named.port, bot_id, str(named.server_id))
    # bot_id stays None in the result: the engine then learns IDs from the edges' dst_id
    # (the reply carries the bot's ID only as others named it, in ctx.bot_id).
    return CrawlResult(Status.BOT_REPLY, None, (_peer(named.ip, named.port),), (reply,), (edge,))


# -- sensor side --------------------------------------------------------------------------------


def sensor_server_id(ctx: SensorContext) -> int:
    """The superpeer ID this sensor claims: stable per sensor, inside 16,000,000-20,000,000."""
    cached = ctx.state.get("sality_id")
    if isinstance(cached, int):
        return cached
    seed = ctx.sensor_id or f"{ctx.listen.ip}:{ctx.listen.port}"
    try:
        number = int(seed, 16)
    except ValueError:
        number = sum(seed.encode())
    value = wire.SUPERPEER_MIN + number % (wire.SUPERPEER_MAX - wire.SUPERPEER_MIN + 1)
    ctx.state["sality_id"] = value
    return value


def _sensor_ip4(ctx: SensorContext) -> bytes | None:
    ip = ctx.listen.ip
    try:
        packed = socket.inet_aton(ip) if ":" not in ip else b""
    except OSError:
        return None
    if len(packed) != 4 or packed[0] == 0 or packed[0] >= 224:
        return None  # IPv6, a wildcard or multicast address: nothing a bot could use
    return packed


def handle_request(
    data: bytes, src: Peer, now: float, ctx: SensorContext
) -> tuple[bytes | None, list[Reply | Edge]]:
    """A bot's server test, peer exchange or hello (``data.message`` names it), or its
    answer to the sensor's hello (``reply``); every contact is recorded with what it shows."""
    try:
        packet = wire.decode(data)
    except wire.SalityError:
        return None, []
    me = ctx.listen
    own_id = sensor_server_id(ctx)
    info: dict[str, object] = {"url_pack": str(packet.url_pack)}
    answer: bytes | None = None
    sender: int | None = None
    try:
        if packet.command == wire.SERVER_TEST:
            sender, _port = wire.read_server_test_request(packet.body)
            info["message"] = "server_test"
            # Confirm the tester's own ID: the sensor promotes nobody.
            answer = wire.encode(packet.url_pack, wire.SERVER_TEST, wire.server_test_reply(sender))
        elif packet.command == wire.PEER_EXCHANGE:
            sender = wire.read_peer_request(packet.body)
            info["message"] = "peer_exchange"
            ip4 = _sensor_ip4(ctx)
            if ip4 is not None:
                named = wire.pack_peer(ip4, me.port, own_id)
                answer = wire.encode(packet.url_pack, wire.PEER_EXCHANGE, named)
        else:
            hello = wire.read_hello(packet.body)
            if hello.pack is not None:
                info["pushed_pack"] = str(hello.pack.version)
            if hello.server_id is None:
                info["message"] = "reply"
            else:
                sender = hello.server_id
                info["message"] = "hello"
                # Mirror the bot's version: the sensor never claims a newer pack.
                answer = wire.encode(packet.url_pack, wire.HELLO, wire.hello_ok())
    except wire.SalityError:
        return None, []
    bot_id = None
    if sender is not None:
        _id_data(info, sender)
        bot_id = str(sender)
    records: list[Reply | Edge] = [Reply(now, src.ip, src.port, bot_id, info)]
    if info["message"] != "reply":
        records.append(Edge(now, src.ip, src.port, me.ip, me.port, bot_id, str(own_id)))
    return answer, records


def announce(peer: Peer, ctx: SensorContext) -> bytes:
    """A hello with the sensor's superpeer ID and pack version 0: the bot lists the sensor
    and pushes its newer pack back."""
    return wire.encode(0, wire.HELLO, wire.hello_request(sensor_server_id(ctx)))
