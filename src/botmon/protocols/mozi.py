"""Mozi: IoT bots hidden among the ordinary nodes of the BitTorrent DHT (crawler and sensor).

Mozi bots are DHT nodes; they give themselves away only when asked like a Mozi node asks
(PROTOCOLS.md §2.2-2.5): a ``find_node`` from an ID with the botnet's prefix, for a target
with the target prefix, carrying the botnet's ``v``, is answered with the bot's signed
624-byte configuration in ``r.nodes`` instead of node infos. Which of the three a real bot
checks is not public, so every query botmon sends as a Mozi node carries all three, and all
three come from :class:`MoziSettings` (nothing Mozi-specific lives in the engine).

How the crawl splits its work (the find-peers loop of contract v2):

- **Crawl request** (``peer_request``, one per DHT node and round): the Mozi-flavoured
  ``find_node``. A configuration blob makes a ``BOT_REPLY`` with ``bot_id`` = the node ID in
  hex and ``data`` = the DHT conventions plus ``config`` and ``arch``; node infos make a
  ``BENIGN_REPLY`` whose nodes go to the finder: an ordinary DHT node is walked and counted,
  never stored as a reply of the Mozi botnet (``botmon crawl btdht`` is for that).
- **Lookups** (``find_peers``): queries from the same Mozi-looking node ID and ``v`` for
  targets that cover the key space, so every node's routing table, a bot's included, is
  dumped; their node lists are the DHT edges and each listed node becomes a peer to crawl.

Politeness, query shape and bounded memory are the DHT sweep's (:mod:`dht_sweep`, shared
with ``botmon crawl btdht``): 2 queries/s per node, ``ro=1`` (BEP 43) so the crawler, which
answers nobody, stays out of routing tables, and a node-ID table of ~150 bytes per node.

Each distinct blob is decoded and its two P-384 signatures verified once: results are cached
by the blob's SHA-256 (at most ``config_cache`` entries), so a crawl of a million bots
carrying a handful of configurations does a handful of verifications.

Sensor side (PROTOCOLS.md §2.6): a DHT node with a Mozi-looking ID that answers ping,
find_node, get_peers and announce_peer like any node (tokens included) and records the
Mozi bots that query it; plain DHT nodes are answered but not recorded, and only they are
ever named in its node lists, so the sensor never helps a bot find another. ``announce``
pings a bot from the sensor's ID, which puts the sensor into the bot's routing table.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, ClassVar

from cryptography.hazmat.primitives.asymmetric import ec

from botmon.protocols import dht_sweep, krpc, mozi_config
from botmon.protocols.contract import (
    CrawlResult,
    Facet,
    Peer,
    ProtocolDefaults,
    Request,
    RequestContext,
    SensorContext,
    Status,
    no_reply,
)
from botmon.settings import Settings, setting
from botmon.wire import Edge, JsonObject, Reply

DESCRIPTION = "Mozi IoT botnet inside the BitTorrent DHT: find_node answered with a signed config"
TRANSPORT = "udp"
FACETS = (
    Facet(
        "arch",
        "CPU architecture",
        "The [cpu] tag of the bot's signed config: which devices the botnet lives on.",
    ),
)
DEFAULTS = ProtocolDefaults(
    port=6881,
    timeouts=(3.0, 6.0, 12.0),
    max_reply_bytes=krpc.MAX_MESSAGE,
    peers_per_reply=dht_sweep.MAX_LISTED,
    requests_per_round=1,
    lookups_per_node=dht_sweep.SweepConfig().buckets,
    max_in_flight_per_peer=dht_sweep.SweepConfig().buckets,
    per_target_rate=2.0,
)
"""``max_in_flight_per_peer``: a node's lookups need not wait for each other's answers (the
per-target rate paces them); one at a time, a silent node (a NATed bot that others list)
would hold its lookups for 16 timeouts, ~48 s, and with it the round."""

K = 8
"""Nodes named in one find_node / get_peers answer (BEP 5's bucket size)."""
SENSOR_TABLE = 512
"""Most DHT nodes a sensor remembers (by address) to name in its answers."""
TOKEN_PERIOD_S = 300.0
"""A sensor's token secret changes every 5 minutes and a token stays good for two periods
(BEP 5's reference behaviour)."""


class MoziSettings(Settings, frozen=True, kw_only=True):
    """How botmon recognises and imitates the Mozi nodes it watches (section protocol.mozi)."""

    section: ClassVar[str] = "protocol.mozi"
    id_prefix: Annotated[
        str,
        setting(
            "Node-ID prefix of Mozi nodes (text, as the [hp] tag carries it): botmon's queries "
            "come from such an ID and the sensor records queriers whose ID starts with it.",
            min_length=1,
            max_length=16,
        ),
    ] = "88888888"
    v: Annotated[
        str,
        setting(
            "The DHT 'v' value of Mozi nodes in hex (the [ver] tag): sent with every query; "
            "the sensor records only queriers that send it.",
            pattern="^([0-9a-fA-F]{2}){1,16}$",
        ),
    ] = "44421f71"
    target_prefix: Annotated[
        str,
        setting(
            "Prefix (text) of the find_node target that asks a Mozi bot for its configuration.",
            max_length=16,
        ),
    ] = "88888888"
    public_key_1: Annotated[
        str,
        setting(
            "P-384 public key (hex point) that signs the encrypted configuration; empty: "
            "signatures are reported 'unchecked'.",
            max_length=200,
        ),
    ] = ""
    public_key_2: Annotated[
        str,
        setting(
            "P-384 public key (hex point) that signs the decrypted configuration; empty: "
            "signatures are reported 'unchecked'.",
            max_length=200,
        ),
    ] = ""
    config_cache: Annotated[
        int,
        setting("Distinct configuration blobs kept decoded and verified.", ge=1, le=100_000),
    ] = 256

    def problems(self) -> Iterator[tuple[str, str]]:
        """Both public keys or none, each a P-384 point; the prefixes are ASCII."""
        for name in ("id_prefix", "target_prefix"):
            if not getattr(self, name).isascii():
                yield name, "must be ASCII text"
        given = [k for k in ("public_key_1", "public_key_2") if getattr(self, k).strip()]
        for name in given:
            try:
                mozi_config.load_public_key(getattr(self, name))
            except ValueError as exc:
                yield name, str(exc)
        if len(given) == 1:
            yield given[0], "give both public keys or neither"


SETTINGS = MoziSettings


@dataclass(frozen=True, slots=True)
class _Config:
    """The settings as the hooks use them (bytes, loaded keys, the sweep's query shape)."""

    id_prefix: bytes
    v: bytes
    keys: tuple[ec.EllipticCurvePublicKey, ec.EllipticCurvePublicKey] | None
    sweep: dht_sweep.SweepConfig


def _make_config(settings: MoziSettings) -> _Config:
    prefix = settings.id_prefix.encode("ascii")
    v = bytes.fromhex(settings.v)
    keys = None
    if settings.public_key_1.strip() and settings.public_key_2.strip():
        keys = (
            mozi_config.load_public_key(settings.public_key_1),
            mozi_config.load_public_key(settings.public_key_2),
        )
    sweep = dht_sweep.SweepConfig(
        id_prefix=prefix,
        target_prefix=settings.target_prefix.encode("ascii"),
        version=v,
        buckets=dht_sweep.SweepConfig().buckets,
        read_only=True,
    )
    return _Config(prefix, v, keys, sweep)


_config = _make_config(MoziSettings())
_blobs: OrderedDict[bytes, tuple[JsonObject, str | None]] = OrderedDict()
_cache_size = MoziSettings().config_cache
NODE_IDS = dht_sweep.NodeIds()
"""The node IDs this process has heard of, by address (what the bucket targets start from)."""


def configure(settings: Settings) -> None:
    """Take the ``protocol.mozi`` settings (crawl and sensor call this once, at start)."""
    global _config, _cache_size
    assert isinstance(settings, MoziSettings)
    _config = _make_config(settings)
    _cache_size = settings.config_cache
    _blobs.clear()  # verdicts depend on the keys


# -- crawler ---------------------------------------------------------------------------------

reply_key = dht_sweep.reply_key

BLOB_MARK = b"5:nodes%d:%s" % (mozi_config.BLOB_SIZE, mozi_config.MAGIC)
"""How a configuration blob in ``r.nodes`` starts in bencode: a cheap test before decoding
(624 bytes also split into 24 node infos, so a blob would otherwise read as a node list)."""


def peer_request(peer: Peer, ctx: RequestContext) -> Request:
    """The Mozi-flavoured find_node: the prefixed ID and target and the Mozi ``v``."""
    return dht_sweep.crawl_request(_config.sweep, ctx)


def find_peers(node: Peer, ctx: RequestContext) -> list[Request]:
    """The lookups that dump ``node``'s routing table (one per bucket), from the same
    Mozi-looking ID and ``v`` but for targets without the target prefix."""
    # One lookup per bucket: the cover's extra slices of libtorrent's wide top buckets would
    # more than double the lookups for nodes the bots' own tables list anyway.
    return dht_sweep.lookups(_config.sweep, node, ctx, NODE_IDS, DEFAULTS.lookups_per_node)


def _config_data(blob: bytes) -> tuple[JsonObject, str | None]:
    """The decoded ``config`` object and the ``[cpu]`` tag of a blob, verified once."""
    digest = hashlib.sha256(blob).digest()
    hit = _blobs.get(digest)
    if hit is not None:
        _blobs.move_to_end(digest)
        return hit
    config = mozi_config.decode(blob, _config.keys)
    hit = (config.as_data(), config.arch)
    _blobs[digest] = hit
    if len(_blobs) > _cache_size:
        _blobs.popitem(last=False)
    return hit


def read_reply(data: bytes, src: Peer, now: float, ctx: RequestContext) -> CrawlResult:
    """A configuration blob is a bot; node infos are an ordinary DHT node to walk."""
    try:
        if BLOB_MARK in data:
            msg = krpc.decode(data)
            blob = msg.body.get(b"nodes") if msg.kind == "r" and msg.body is not None else None
            if isinstance(blob, bytes) and mozi_config.looks_like_config(blob):
                return _bot(msg, blob, src, now)
        answer = dht_sweep.read_answer(data, src, NODE_IDS)
    except krpc.KrpcError as exc:
        return no_reply(exc.reason)
    listed = answer.peers()
    if ctx.purpose != "find":
        return CrawlResult(Status.BENIGN_REPLY, nodes=listed)
    edges = answer.edges(src, now)
    return CrawlResult(Status.BENIGN_REPLY, peers=listed, edges=edges, nodes=listed)


def _bot(msg: krpc.Message, blob: bytes, src: Peer, now: float) -> CrawlResult:
    node_id = msg.node_id
    try:
        config, arch = _config_data(blob)
    except mozi_config.ConfigError as exc:
        return no_reply(f"config_{exc.reason}")
    NODE_IDS.add(src.ip, src.port, node_id)
    bot_id = node_id.hex()
    data = dht_sweep.node_data(src.ip, node_id, msg.version)
    data["config"] = config
    data["arch"] = arch
    reply = Reply(now, src.ip, src.port, bot_id, data)
    return CrawlResult(Status.BOT_REPLY, replies=(reply,), bot_id=bot_id)


# -- sensor ----------------------------------------------------------------------------------


def _sensor_id(ctx: SensorContext) -> bytes:
    """The sensor's node ID: the Mozi prefix, then bytes fixed by the sensor's own ID (a
    node that changed its ID would drop out of the tables it is in)."""
    own = ctx.state.get("mozi_id")
    if not isinstance(own, bytes) or not own.startswith(_config.id_prefix):
        seed = f"botmon-sensor/{ctx.sensor_id}/{ctx.listen.ip}/{ctx.listen.port}".encode()
        own = (_config.id_prefix + hashlib.sha1(seed).digest())[: krpc.ID_LENGTH]
        ctx.state["mozi_id"] = own
    return own


def _table(ctx: SensorContext) -> OrderedDict[Peer, bytes]:
    """Plain DHT nodes that queried the sensor recently (address -> node ID), bounded."""
    table = ctx.state.get("mozi_table")
    if not isinstance(table, OrderedDict):
        table = ctx.state["mozi_table"] = OrderedDict()
    return table


def _token(ctx: SensorContext, ip: str, period: int) -> bytes:
    secret = ctx.state.get("mozi_secret")
    if not isinstance(secret, bytes):
        secret = ctx.state["mozi_secret"] = hashlib.sha256(_sensor_id(ctx)).digest()
    return hmac.new(secret, f"{ip}/{period}".encode(), hashlib.sha256).digest()[:8]


def _closest(ctx: SensorContext, target: bytes) -> bytes:
    table = _table(ctx)
    best = sorted(table.items(), key=lambda item: krpc.distance(item[1], target))[:K]
    return krpc.encode_nodes((nid, p.ip, p.port) for p, nid in best)[0]


def _answer(msg: krpc.Message, src: Peer, now: float, ctx: SensorContext) -> bytes:
    own = _sensor_id(ctx)
    tid, method, v = msg.tid, msg.method, _config.v
    if method == "ping":
        return krpc.response(tid, {b"id": own}, version=v)
    if method == "find_node":
        target = msg.bytes_arg(b"target", krpc.ID_LENGTH)
        return krpc.response(tid, {b"id": own, b"nodes": _closest(ctx, target)}, version=v)
    period = int(now // TOKEN_PERIOD_S)
    if method == "get_peers":
        info_hash = msg.bytes_arg(b"info_hash", krpc.ID_LENGTH)
        body = {
            b"id": own,
            b"token": _token(ctx, src.ip, period),
            b"nodes": _closest(ctx, info_hash),
        }
        return krpc.response(tid, body, version=v)
    if method == "announce_peer":
        msg.bytes_arg(b"info_hash", krpc.ID_LENGTH)
        token = msg.bytes_arg(b"token", max_length=krpc.MAX_TOKEN)
        good = any(hmac.compare_digest(token, _token(ctx, src.ip, p)) for p in (period, period - 1))
        if not good:
            return krpc.error(tid, krpc.PROTOCOL_ERROR, "bad token", version=v)
        return krpc.response(tid, {b"id": own}, version=v)
    return krpc.error(tid, krpc.METHOD_UNKNOWN, "method unknown", version=v)


def _is_bot(msg: krpc.Message, node_id: bytes) -> bool:
    """Mozi's ID prefix and ``v``, and not read-only: a querier with BEP 43 ``ro=1`` takes no
    part in routing, so it is a crawler (botmon's own Mozi crawler queries that way), never
    a bot."""
    return node_id.startswith(_config.id_prefix) and msg.version == _config.v and not msg.read_only


def handle_request(
    data: bytes, src: Peer, now: float, ctx: SensorContext
) -> tuple[bytes | None, list[Reply | Edge]]:
    """Answer a DHT query like a normal node; record the querier if it is a Mozi bot.

    A bot's query is a ``request`` contact and an edge bot -> sensor (it has the sensor in
    its table); a bot's answer to the sensor's ping is a ``reply`` contact and gets no
    answer. Plain nodes are answered and remembered for node lists, never recorded.
    Anything else is ``(None, [])``: the runtime counts it as malformed.
    """
    try:
        msg = krpc.decode(data)
        if msg.kind == "e":
            return None, []
        node_id = msg.node_id
        bot = _is_bot(msg, node_id)
        if msg.kind == "r":
            if not bot:
                return None, []
            return None, [_contact(msg, src, now, node_id, "reply")]
        answer = _answer(msg, src, now, ctx)
    except krpc.KrpcError:
        return None, []
    if not bot:
        if msg.read_only:
            return answer, []  # BEP 43: kept out of the node lists the sensor hands out
        table = _table(ctx)
        table[src] = node_id
        table.move_to_end(src)
        if len(table) > SENSOR_TABLE:
            table.popitem(last=False)
        return answer, []
    me = ctx.listen
    edge = Edge(now, src.ip, src.port, me.ip, me.port, node_id.hex(), _sensor_id(ctx).hex())
    return answer, [_contact(msg, src, now, node_id, "request"), edge]


def _contact(msg: krpc.Message, src: Peer, now: float, node_id: bytes, kind: str) -> Reply:
    data = dht_sweep.node_data(src.ip, node_id, msg.version)
    data["message"] = kind
    if msg.method is not None:
        data["method"] = msg.method
    return Reply(now, src.ip, src.port, node_id.hex(), data)


def announce(peer: Peer, ctx: SensorContext) -> bytes:
    """A ping from the sensor's Mozi-looking ID: a DHT node adds a node that queries it."""
    return krpc.ping(b"an", _sensor_id(ctx), version=_config.v)
