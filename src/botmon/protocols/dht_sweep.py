"""The BitTorrent DHT sweep every DHT plugin shares: which lookups dump a node's routing table,
how their answers become records, and what per-node state that takes (sans-I/O).

A DHT node keeps its contacts in buckets: bucket ``i`` holds (up to K = 8) nodes whose IDs share
the node's first ``i`` bits and differ at bit ``i``. Asking a node ``find_node`` for a target in
bucket ``i`` (the node's first ``i`` bits, bit ``i`` flipped, the rest random) returns that
bucket, so one lookup per bucket dumps the whole table, as modern DHT crawlers do (libtorrent's
wider top buckets take one lookup per K-sized slice: :data:`WIDE_BUCKETS`). On a DHT of N nodes
the buckets beyond about log2(N) + 3 are empty, so the cover goes a bounded number of buckets
deep (:attr:`SweepConfig.buckets`, 16: enough for ~10,000 nodes; raise it with the DHT). Random
targets alone (what a naive crawler sends) keep hitting the few top buckets; the deep buckets,
a node's close neighbours, are where the nodes few others list are.

Two ways to send the cover, for the engine's two queues:

- **The walk** (crawl queue, per-peer ``state``): :func:`crawl_request` / :func:`walk_on`
  ask one node one lookup after another along :func:`cover_plan`, and :func:`next_step`
  skips what an answer proves is already listed (deeper buckets, the rest of a wide bucket,
  slices of nodes that are not libtorrent). The state is a :class:`Walk`: node ID, flags,
  step, 22 bytes. ``btdht`` uses it: a node's every reply is a bot reply there.
- **Fixed lookups** (find-peers loop): :func:`lookups` gives a node's whole cover at once,
  as the finder wants. The finder knows a node by its address only (``ctx.state`` is None
  for lookups), but the ID arrives with the address in every compact node info that names
  a node: :class:`NodeIds` keeps them, bounded, filled by :func:`read_answer`. For a
  plugin whose overlay nodes are not its bots (Mozi: ordinary nodes are benign replies, and
  the engine asks a benign peer nothing more).

Transaction ids are the match keys (``reply_key`` = :func:`krpc.transaction_id`): 4 bytes
naming whether the query is a crawl request or a lookup, which one in the round, and the
round, so a late answer to an earlier round never completes a new request.

Nothing here is specific to a botnet: the Mozi plugin passes its own ID prefix, target prefix
and ``v`` in a :class:`SweepConfig` so its queries look like a Mozi node's.
"""

from __future__ import annotations

import functools
import random
import socket
from dataclasses import dataclass
from typing import NamedTuple

from botmon.protocols import krpc
from botmon.protocols.contract import MAX_PEER_STATE, Peer, Request, RequestContext
from botmon.wire import Edge, JsonObject

ID_BITS = 8 * krpc.ID_LENGTH
K = 8
"""Nodes in one ``find_node`` answer (BEP 5)."""
MAX_LISTED = 16
"""Most nodes read from one answer (K = 8 in ``nodes`` plus 8 in ``nodes6``): a hostile node
listing 64 cannot make one answer cost more than a normal one."""
WIDE_BUCKETS = 4
"""libtorrent's top buckets are wider (``dht_extended_routing_table``, on by default): 16, 8, 4
and 2 times K. One target returns only the K closest, so the cover sends bucket ``i`` < 4 one
lookup per K-sized slice: 16 + 8 + 4 + 2 of them."""
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
    """Depth of the cover: buckets 0 .. buckets-1 of each node's routing table."""

    @property
    def lookups(self) -> int:
        """Lookups per node and round the cover sends (a plugin's ``lookups_per_node``)."""
        return len(cover_plan(self.buckets))

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


def bucket_target(node_id: bytes, bucket: int, sub: int = 0, sub_bits: int = 0) -> bytes:
    """A target in bucket ``bucket`` of the node ``node_id``: its first ``bucket`` bits, the
    next bit flipped, then ``sub`` in the following ``sub_bits`` bits (a slice of a wide
    bucket), the rest random."""
    if not 0 <= bucket < ID_BITS - sub_bits or not 0 <= sub < 1 << sub_bits:
        raise ValueError(f"bucket {bucket} (slice {sub} of {1 << sub_bits}) out of range")
    shift = ID_BITS - 1 - bucket - sub_bits
    own = int.from_bytes(node_id, "big")
    head = (((own >> (shift + sub_bits)) ^ 1) << sub_bits | sub) << shift
    return (head | _rng.getrandbits(shift)).to_bytes(krpc.ID_LENGTH, "big")


@functools.cache
def cover_plan(buckets: int) -> tuple[tuple[int, int, int], ...]:
    """``(bucket, slice, slice bits)`` of every lookup of the cover, in sending order: one per
    bucket from the top first (a cut-short cover still reaches every depth), then the other
    slices of the wide top buckets."""
    buckets = max(0, min(buckets, ID_BITS - WIDE_BUCKETS))
    bits = [max(0, WIDE_BUCKETS - i) for i in range(buckets)]
    plan = [(i, 0, bits[i]) for i in range(buckets)]
    plan += [(i, j, bits[i]) for i in range(buckets) for j in range(1, 1 << bits[i])]
    return tuple(plan)


def cover_targets(node_id: bytes | None, buckets: int, limit: int | None = None) -> list[bytes]:
    """The lookup targets that dump the routing table of node ``node_id`` down to bucket
    ``buckets - 1`` (:func:`cover_plan`, its first ``limit`` lookups: one per bucket first).
    Unknown ID: as many targets spread evenly over the key space (each in a different slice),
    which still dump the top buckets of any node."""
    plan = cover_plan(buckets)[:limit]
    if node_id is not None:
        return [bucket_target(node_id, i, j, bits) for i, j, bits in plan]
    count = len(plan)
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


# -- transaction ids -----------------------------------------------------------------------


def tid(find: bool, attempt: int, round_no: int) -> bytes:
    """The transaction id (and match key) of request ``attempt`` of round ``round_no``."""
    return bytes((_FIND if find else _CRAWL, attempt & 0xFF)) + (round_no & 0xFFFF).to_bytes(
        2, "big"
    )


reply_key = krpc.transaction_id
"""The match key of an answer: its transaction id (None when the datagram is not KRPC)."""


# -- the crawl queue's walk of one node's table (per-peer state) ---------------------------


class Walk(NamedTuple):
    """A crawl peer's state while its routing table is walked (22 bytes packed)."""

    node_id: bytes
    flags: int
    """:data:`WIDE` if the node keeps wide top buckets; bit ``i`` < 4: bucket ``i`` is known
    to be dumped whole."""
    step: int
    """Index in :func:`cover_plan` of the lookup in flight (after an answer: the next one)."""


WIDE = 0x80
"""Walk flag: the node is libtorrent (``v`` starts ``LT``), whose top buckets are wide."""
_DUMPED = 0x0F


def pack_state(walk: Walk) -> bytes:
    """A walk as contract ``state`` bytes (well within ``MAX_PEER_STATE``)."""
    return walk.node_id + bytes((walk.flags, walk.step))


def unpack_state(state: bytes | None) -> Walk | None:
    """The walk a state holds, or None (no state yet, or one of another shape)."""
    if state is None or len(state) != krpc.ID_LENGTH + 2:
        return None
    return Walk(state[: krpc.ID_LENGTH], state[-2], state[-1])


assert krpc.ID_LENGTH + 2 <= MAX_PEER_STATE


def next_step(cfg: SweepConfig, walk: Walk, answer: Answer) -> Walk | None:
    """Where the walk goes after ``answer`` (to the lookup ``walk.step``); None: done.

    Every node of a region nearer ``target`` than anything outside it comes first, so an
    answer that lists a node outside the region its target lies in has listed the whole
    region. Hence: an answer with fewer than K nodes listed the whole table; a bucket ``i``
    lookup answered with a node sharing fewer than ``i`` bits with the node has listed
    every deeper bucket too (the rest of the bucket pass is skipped); a node outside bucket
    ``i`` means bucket ``i`` is dumped (its remaining slices are skipped). Slices are asked
    only of libtorrent nodes (:data:`WIDE`): other nodes keep K per bucket, which one
    lookup lists.
    """
    plan = cover_plan(cfg.buckets)
    if walk.step >= len(plan) or len(answer.listed) < K:
        return None
    bucket = plan[walk.step][0]
    depths = [
        krpc.ID_LENGTH * 8 - krpc.distance(walk.node_id, n.node_id).bit_length()
        for n in answer.listed
    ]
    flags = walk.flags
    if any(d != bucket for d in depths) and bucket < WIDE_BUCKETS:
        flags |= 1 << bucket
    step = walk.step + 1
    if step < cfg.buckets and any(d < bucket for d in depths):
        flags |= _DUMPED & ~((1 << bucket) - 1)  # this bucket and every deeper one
        step = cfg.buckets
    while step < len(plan) and step >= cfg.buckets:
        if flags & WIDE and not flags & (1 << plan[step][0]):
            break
        step += 1
    return Walk(walk.node_id, flags, step) if step < len(plan) else None


def crawl_request(cfg: SweepConfig, ctx: RequestContext) -> Request:
    """The next request of a node's walk, keyed by its transaction id.

    A node whose ID is not known yet gets a probe: a ``find_node`` for a target under
    ``cfg.target_prefix`` (random without one), whose answer starts the walk. A known node
    starts each round at the first step of :func:`cover_plan` again.
    """
    key = tid(False, ctx.attempt, ctx.round)
    walk = unpack_state(ctx.state)
    plan = cover_plan(cfg.buckets)
    if walk is not None and ctx.attempt == 0:
        walk = Walk(walk.node_id, walk.flags & WIDE, 0)
    if walk is None or walk.step >= len(plan):  # unknown, or a walk that already ended
        return Request(cfg.find_node(key, prefixed_target(cfg.target_prefix)), key=key)
    bucket, sub, bits = plan[walk.step]
    target = bucket_target(walk.node_id, bucket, sub, bits)
    return Request(cfg.find_node(key, target), key=key, state=pack_state(walk))


def walk_on(cfg: SweepConfig, ctx: RequestContext, answer: Answer) -> tuple[bytes | None, bool]:
    """The node's new state after ``answer`` to its crawl request, and whether to ask it
    again this round (``CrawlResult.state`` and ``.more``)."""
    walk = unpack_state(ctx.state)
    if walk is None or walk.node_id != answer.node_id:  # a probe, or a new node there
        wide = WIDE if (answer.version or b"")[:2] == b"LT" else 0
        return pack_state(Walk(answer.node_id, wide, 0)), True
    after = next_step(cfg, walk, answer)
    if after is None:
        return pack_state(Walk(walk.node_id, walk.flags, 0xFF)), False
    return pack_state(after), True


# -- the find-peers loop's cover: node IDs by address, fixed lookups ------------------------


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
    130 bytes per node (tracemalloc, 200,000 IPv4 nodes) instead of about 300. Beyond ``cap``
    new addresses are not remembered (those nodes get spread targets), so memory stays
    bounded whatever nodes answer.
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


def lookups(
    cfg: SweepConfig, node: Peer, ctx: RequestContext, ids: NodeIds, limit: int | None = None
) -> list[Request]:
    """The find-peers lookups that dump ``node``'s routing table this round, keyed; at most
    ``limit`` (one per bucket first, then the slices of wide buckets)."""
    targets = cover_targets(ids.get(node), cfg.buckets, limit)
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
