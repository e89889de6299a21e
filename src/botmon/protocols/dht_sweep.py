"""The BitTorrent DHT sweep every DHT plugin shares: which lookups dump a node's routing table,
how their answers become records, and the node IDs it has to remember (sans-I/O).

A DHT node keeps its contacts in buckets: bucket ``i`` holds (up to K = 8) nodes whose IDs share
the node's first ``i`` bits and differ at bit ``i``. Asking a node ``find_node`` for a target in
bucket ``i`` (the node's first ``i`` bits, bit ``i`` flipped, the rest random) returns that
bucket, so one lookup per bucket dumps the whole table, as modern DHT crawlers do. On a DHT of
N nodes the buckets beyond about log2(N) + 3 are empty, so the cover asks a bounded number of
buckets (:attr:`SweepConfig.buckets`, 16 by default: enough for ~10,000 nodes; raise it with
the DHT). Random targets alone (what a naive crawler does) keep hitting the few top buckets,
which hold the nodes of a table least likely to be missing from everyone else's; the deep
buckets, a node's close neighbours, are where the rarely-listed nodes hide.

Bucket targets need the node's ID, but the find-peers loop knows an overlay node only by its
address (``ctx.state`` is None for lookups). The ID arrives with the address: every compact
node info that names a node carries it, and so does the node's own answer. :class:`NodeIds`
keeps them in one bounded dict of packed integers (about 150 bytes per node, measured by
benchmarks/dht.py), so a node named by anyone is walked with its real bucket targets; a node
whose ID is not known yet (a seed, in the first round) gets targets spread over the top of the
key space instead, and its ID for the next round.

A crawl request's per-peer ``state`` is the node's 20-byte ID (:func:`pack_state`): later
rounds ask for the node's own ID, that is its closest neighbours.

Transaction ids are the match keys (``reply_key`` = :func:`krpc.transaction_id`): 4 bytes
naming whether the query is a crawl request or a lookup, which one in the round, and the
round, so a late answer to an earlier round never completes a new request.

Nothing here is specific to a botnet: the Mozi plugin passes its own ID prefix, target prefix
and ``v`` in a :class:`SweepConfig` so its queries look like a Mozi node's.
"""

from __future__ import annotations

import random
import socket
from dataclasses import dataclass

from botmon.protocols import krpc
from botmon.protocols.contract import KEEP, MAX_PEER_STATE, Peer, Request, RequestContext
from botmon.wire import Edge, JsonObject

ID_BITS = 8 * krpc.ID_LENGTH
MAX_LISTED = 16
"""Most nodes read from one answer (K = 8 in ``nodes`` plus 8 in ``nodes6``): a hostile node
listing 64 cannot make one answer cost more than a normal one."""
MAX_NODE_IDS = 2_000_000
"""Default cap of :class:`NodeIds` (the crawl engine's default cap of known peers)."""

_CRAWL = 0
_FIND = 1
_rng = random.Random()


@dataclass(frozen=True, slots=True)
class SweepConfig:
    """How a DHT plugin's queries look; fixed once a plugin is configured."""

    id_prefix: bytes = b""
    """First bytes of the node ID botmon's queries carry; the rest is random per query."""
    target_prefix: bytes = b""
    """First bytes of every crawl request's target (the lookups' targets are the buckets')."""
    version: bytes | None = None
    """The ``v`` every query carries (None: none)."""
    buckets: int = 16
    """Lookups per node and round: buckets 0 .. buckets-1 of its routing table."""
    read_only: bool = False
    """BEP 43 ``ro=1``: ask nodes not to put botmon into their routing tables."""

    def own_id(self) -> bytes:
        """A node ID for one query: the prefix, then random bytes."""
        prefix = self.id_prefix[: krpc.ID_LENGTH]
        return prefix + _random_bytes(krpc.ID_LENGTH - len(prefix))

    def find_node(self, tid: bytes, target: bytes) -> bytes:
        """A ``find_node`` query for ``target`` shaped by this configuration."""
        return krpc.find_node(
            tid, self.own_id(), target, version=self.version, read_only=self.read_only
        )


def _random_bytes(n: int) -> bytes:
    return _rng.getrandbits(8 * n).to_bytes(n, "big") if n > 0 else b""


# -- targets -------------------------------------------------------------------------------


def bucket_target(node_id: bytes, bucket: int) -> bytes:
    """A target in bucket ``bucket`` of the node ``node_id``: its first ``bucket`` bits, the
    next bit flipped, the rest random (``bucket`` in 0 .. 159)."""
    if not 0 <= bucket < ID_BITS:
        raise ValueError(f"bucket {bucket} out of 0..{ID_BITS - 1}")
    shift = ID_BITS - 1 - bucket
    own = int.from_bytes(node_id, "big")
    head = ((own >> shift) ^ 1) << shift
    return (head | _rng.getrandbits(shift)).to_bytes(krpc.ID_LENGTH, "big")


def cover_targets(node_id: bytes | None, count: int) -> list[bytes]:
    """``count`` lookup targets that dump the routing table of node ``node_id``: one per
    bucket from the top. Unknown ID: ``count`` targets spread evenly over the key space (each
    in a different top slice), which still dump the top buckets of any node."""
    count = max(0, min(count, ID_BITS))
    if node_id is not None:
        return [bucket_target(node_id, i) for i in range(count)]
    out = []
    for i in range(count):
        head = (i << ID_BITS) // count
        width = ((i + 1) << ID_BITS) // count - head
        out.append((head + _rng.randrange(width)).to_bytes(krpc.ID_LENGTH, "big"))
    return out


def prefixed_target(prefix: bytes) -> bytes:
    """A target that starts with ``prefix``, the rest random (mozitools' Mozi-looking one)."""
    prefix = prefix[: krpc.ID_LENGTH]
    return prefix + _random_bytes(krpc.ID_LENGTH - len(prefix))


# -- transaction ids and state -------------------------------------------------------------


def tid(find: bool, attempt: int, round_no: int) -> bytes:
    """The transaction id (and match key) of request ``attempt`` of round ``round_no``."""
    return bytes((_FIND if find else _CRAWL, attempt & 0xFF)) + (round_no & 0xFFFF).to_bytes(
        2, "big"
    )


reply_key = krpc.transaction_id
"""The match key of an answer: its transaction id (None when the datagram is not KRPC)."""


def pack_state(node_id: bytes) -> bytes:
    """A crawl peer's state: its node ID (20 bytes, within ``MAX_PEER_STATE``)."""
    assert len(node_id) == krpc.ID_LENGTH <= MAX_PEER_STATE
    return node_id


def unpack_state(state: bytes | None) -> bytes | None:
    """The node ID a state holds, or None (no state yet, or one of another shape)."""
    return state if state is not None and len(state) == krpc.ID_LENGTH else None


# -- node IDs by address -------------------------------------------------------------------


def _address_key(ip: str, port: int) -> int | None:
    try:
        if ":" in ip:
            packed = socket.inet_pton(socket.AF_INET6, ip)
            return (1 << 160) | (int.from_bytes(packed, "big") << 16) | port
        return (int.from_bytes(socket.inet_aton(ip), "big") << 16) | port
    except OSError:
        return None


class NodeIds:
    """Node ID by address, for every node the sweep has heard of; at most ``cap`` of them.

    Keys and values are ints (a packed address, a 160-bit ID), not tuples and bytes: about
    150 bytes per node instead of about 300. Beyond ``cap`` new addresses are not remembered
    (those nodes get spread targets), so memory stays bounded whatever nodes answer.
    """

    __slots__ = ("_ids", "cap", "refused")

    def __init__(self, cap: int = MAX_NODE_IDS) -> None:
        self._ids: dict[int, int] = {}
        self.cap = cap
        self.refused = 0
        """Addresses not remembered because the table was full."""

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ip: str, port: int, node_id: bytes) -> None:
        """Remember (or update) the ID of the node at ``ip``:``port``."""
        key = _address_key(ip, port)
        if key is None:
            return
        ids = self._ids
        if key not in ids and len(ids) >= self.cap:
            self.refused += 1
            return
        ids[key] = int.from_bytes(node_id, "big")

    def get(self, peer: Peer) -> bytes | None:
        """The ID last seen for ``peer``, or None."""
        key = _address_key(peer.ip, peer.port)
        value = None if key is None else self._ids.get(key)
        return None if value is None else value.to_bytes(krpc.ID_LENGTH, "big")


# -- requests ------------------------------------------------------------------------------


def crawl_request(cfg: SweepConfig, ctx: RequestContext) -> Request:
    """The crawl request to one node, keyed by its transaction id: a ``find_node`` for a
    target under ``cfg.target_prefix`` when there is one (a botnet's nodes may check it),
    else for the node's own ID once ``ctx.state`` knows it (its closest neighbours), else
    for a random target."""
    node_id = unpack_state(ctx.state)
    use_own = node_id is not None and not cfg.target_prefix
    target = node_id if use_own and node_id is not None else prefixed_target(cfg.target_prefix)
    key = tid(False, ctx.attempt, ctx.round)
    return Request(cfg.find_node(key, target), key=key, state=KEEP)


def lookups(cfg: SweepConfig, node: Peer, ctx: RequestContext, ids: NodeIds) -> list[Request]:
    """The find-peers lookups that dump ``node``'s routing table this round, keyed."""
    targets = cover_targets(ids.get(node), cfg.buckets)
    out = []
    for i, target in enumerate(targets):
        key = tid(True, ctx.attempt + i, ctx.round)
        out.append(Request(cfg.find_node(key, target), key=key))
    return out


# -- answers -------------------------------------------------------------------------------


def node_data(ip: str, node_id: bytes, version: bytes | None) -> JsonObject:
    """A DHT node's reply ``data`` per the shared conventions (node_id, client,
    client_version, v, bep42)."""
    client, client_version = krpc.client_version(version)
    data: JsonObject = {
        "node_id": node_id.hex(),
        "client": client,
        "client_version": client_version,
        "bep42": krpc.bep42_valid(ip, node_id),
    }
    if version is not None:
        data["v"] = version.hex()
    return data


@dataclass(frozen=True, slots=True)
class Answer:
    """What one ``find_node``/``get_peers`` answer says: who answered, and whom it lists."""

    node_id: bytes
    version: bytes | None
    listed: tuple[krpc.NodeInfo, ...]

    def data(self, ip: str) -> JsonObject:
        """The answering node's reply ``data``."""
        return node_data(ip, self.node_id, self.version)

    def edges(self, src: Peer, now: float) -> tuple[Edge, ...]:
        """One edge from the answering node to each node it lists, IDs in hex."""
        src_id = self.node_id.hex()
        return tuple(
            Edge(now, src.ip, src.port, n.ip, n.port, src_id, n.node_id.hex()) for n in self.listed
        )

    def peers(self) -> tuple[Peer, ...]:
        """The listed nodes as addresses."""
        return tuple(Peer(n.ip, n.port) for n in self.listed)


def read_answer(data: bytes, src: Peer, ids: NodeIds | None = None) -> Answer:
    """Decode one answer to a sweep query; remember every node ID it reveals in ``ids``.

    Raises :class:`krpc.KrpcError` (its ``reason`` is the plugin's NO_REPLY reason) for
    anything but a well-formed response: a query or an error answer is ``not_response``.
    """
    msg = krpc.decode(data)
    if msg.kind != "r":
        raise krpc.KrpcError("not_response", msg.kind)
    node_id = msg.node_id
    listed = tuple(msg.nodes[:MAX_LISTED])
    if ids is not None:
        ids.add(src.ip, src.port, node_id)
        for n in listed:
            ids.add(n.ip, n.port, n.node_id)
    return Answer(node_id, msg.version, listed)
