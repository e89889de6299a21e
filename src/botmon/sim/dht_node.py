"""An emulated BitTorrent DHT node (BEP 5), sans-I/O: bytes and ``now`` in, datagrams out.

:class:`DhtNode` answers ``ping``, ``find_node``, ``get_peers`` (with tokens) and
``announce_peer`` as a normal node does, learns the nodes that query it and that answer it,
and decides on its own schedule what to send (:meth:`DhtNode.tick`): every ``interval`` it
pings the entries of its routing table it has heard from least lately (an entry that never
answered first: so a sensor that queried it, or that another node named, gets queried
back), pings a few candidates other nodes named, and runs one hop of a refresh lookup
(``find_node`` to the entries closest to a random target). An entry that misses
:data:`MAX_FAILS` answers in a row leaves the table for the newest replacement.

The routing table (:class:`RoutingTable`) is the fully split Kademlia table: bucket ``i``
holds up to :data:`K` nodes sharing exactly ``i`` leading bits with the node's own ID, with
up to :data:`K` replacements each; so it is bounded by 160 x 2K entries whatever it hears.

Cheap on purpose: 5,000 nodes run in one asyncio process (:mod:`botmon.sim.dht_swarm`);
structures are created on first use, tokens need no per-node state (a keyed hash of the
swarm's secret, the time window, the node ID and the asker's IP). Any datagram that is not
usable KRPC is dropped and counted under :attr:`DhtNode.malformed`; nothing raises.
Subclasses (the emulated Mozi bot) change what a ``find_node`` is answered and what the
node's own queries look like through the ``_answer_find_node`` / ``_find_node_query`` /
``_on_answer`` / ``_on_other`` hooks.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import itertools
import random
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from botmon.protocols import krpc
from botmon.protocols.krpc import KrpcError, Message

K = 8
"""Bucket size (BEP 5)."""
ID_BITS = 160
MAX_FAILS = 2
"""Unanswered queries in a row before an entry leaves the table."""
QUERY_TIMEOUT_S = 5.0
"""An own query not answered within this is a failure, however short the interval: on a
loaded machine answers take their time, and a node that evicts its table on late answers
ends up alone."""
MAX_OUTSTANDING = 64
"""Own queries awaiting an answer; beyond that the node sends nothing new."""
MAX_CANDIDATES = 32
"""Nodes named by others, waiting to be pinged; the oldest are forgotten first."""
PINGS_PER_ROUND = 3
CANDIDATES_PER_ROUND = 4
LOOKUP_FANOUT = 2
TOKEN_WINDOW_S = 300.0
"""A token is good in its 5-minute window and the next (BEP 5: the secret rotates every
5 minutes and tokens up to 10 minutes old are accepted)."""
MAX_INFO_HASHES = 64
MAX_PEERS_PER_HASH = 32
MAX_HISTORY = 1024
"""Addresses recorded in :attr:`DhtNode.history` (the ground truth's ``peers``)."""

Address = tuple[str, int]
Datagram = tuple[bytes, Address]


class Entry:
    """One routing-table entry; ``answered_at`` 0 means it never answered this node."""

    __slots__ = ("answered_at", "fails", "ip", "node_id", "port")

    def __init__(self, node_id: bytes, ip: str, port: int) -> None:
        self.node_id = node_id
        self.ip = ip
        self.port = port
        self.answered_at = 0.0
        self.fails = 0

    @property
    def address(self) -> Address:
        """Where the node listens."""
        return (self.ip, self.port)


class RoutingTable:
    """The k-bucket table of one node: bounded, XOR metric, old good nodes kept.

    No index by ID: a node's bucket is found from its ID and holds at most K entries, and
    leaving the index out halves the memory of 5,000 nodes' tables.
    """

    __slots__ = ("buckets", "own", "replacements", "size")

    def __init__(self, own_id: bytes) -> None:
        self.own = int.from_bytes(own_id, "big")
        self.buckets: dict[int, list[Entry]] = {}
        self.replacements: dict[int, list[Entry]] = {}
        self.size = 0

    def bucket_of(self, node_id: bytes) -> int:
        """Leading bits ``node_id`` shares with the own ID (160 for the own ID itself)."""
        return ID_BITS - (self.own ^ int.from_bytes(node_id, "big")).bit_length()

    def __len__(self) -> int:
        return self.size

    def __contains__(self, node_id: bytes) -> bool:
        return self.get(node_id) is not None

    def entries(self) -> Iterator[Entry]:
        """Every entry, bucket by bucket."""
        return itertools.chain.from_iterable(self.buckets.values())

    def get(self, node_id: bytes) -> Entry | None:
        """The entry of ``node_id``, or None."""
        for entry in self.buckets.get(self.bucket_of(node_id), ()):
            if entry.node_id == node_id:
                return entry
        return None

    def heard(self, node_id: bytes, ip: str, port: int, now: float, answered: bool) -> Entry | None:
        """A node spoke (``answered``: it answered one of our queries); its entry if in the
        table. A full bucket takes it only in place of an entry that failed; otherwise it
        waits among the bucket's replacements (the newest K)."""
        b = self.bucket_of(node_id)
        if b >= ID_BITS:
            return None  # our own ID
        bucket = self.buckets.get(b)
        if bucket is None:
            bucket = self.buckets[b] = []
        entry = next((e for e in bucket if e.node_id == node_id), None)
        if entry is None:
            entry = Entry(node_id, ip, port)
            if len(bucket) >= K:
                failed = next((e for e in bucket if e.fails), None)
                if failed is None:
                    spare = self.replacements.setdefault(b, [])
                    spare[:] = [e for e in spare if e.node_id != node_id][-(K - 1) :]
                    spare.append(entry)
                    return None
                bucket.remove(failed)
                self.size -= 1
            bucket.append(entry)
            self.size += 1
        if answered:
            entry.ip, entry.port = ip, port
            entry.answered_at = now
            entry.fails = 0
        elif not entry.answered_at:
            entry.ip, entry.port = ip, port
        return entry

    def failed(self, node_id: bytes) -> bool:
        """An own query to ``node_id`` went unanswered; True if the entry left the table."""
        entry = self.get(node_id)
        if entry is None:
            return False
        entry.fails += 1
        if entry.fails < MAX_FAILS:
            return False
        b = self.bucket_of(node_id)
        bucket = self.buckets[b]
        bucket.remove(entry)
        spare = self.replacements.get(b)
        if spare:
            bucket.append(spare.pop())
        else:
            self.size -= 1
        return True

    def closest(self, target: bytes, k: int = K) -> list[Entry]:
        """The ``k`` entries closest to ``target`` by XOR distance."""
        key = int.from_bytes(target, "big")
        return heapq.nsmallest(
            k, self.entries(), key=lambda e: int.from_bytes(e.node_id, "big") ^ key
        )


def random_tables(nodes: Sequence[DhtNode], known: int, rng: random.Random) -> None:
    """Give each node ``known`` random others (unverified: each is pinged first), as in a
    young DHT: small tables, so answers hand out most of them."""
    for node in nodes:
        for other in rng.sample(nodes, min(known + 1, len(nodes))):
            if other is not node and len(node.table) < known:
                node.learn(other.node_id, (other.ip, other.port), 0.0, answered=False)


def fill_tables(nodes: Sequence[DhtNode], per_bucket: int, rng: random.Random) -> None:
    """Give each node the table a converged DHT of these nodes would give it: in every
    bucket up to ``per_bucket`` random nodes of the ones sharing exactly that many leading
    bits with it (unverified: each is pinged first). Sorting the IDs makes each bucket's
    candidates two contiguous ranges, so 5,000 nodes take well under a second."""
    per_bucket = min(per_bucket, K)
    if per_bucket <= 0 or len(nodes) < 2:
        return
    order = sorted(nodes, key=lambda n: n.node_id)
    keys = [int.from_bytes(n.node_id, "big") for n in order]
    for node, key in zip(order, keys, strict=True):
        table = node.table
        lo, hi = 0, len(order)  # the nodes sharing >= depth bits with this one
        for depth in range(ID_BITS):
            shift = ID_BITS - depth - 1
            prefix = key >> shift
            inner_lo = bisect.bisect_left(keys, prefix << shift, lo, hi)
            inner_hi = bisect.bisect_left(keys, (prefix + 1) << shift, lo, hi)
            outside = (inner_lo - lo) + (hi - inner_hi)
            if outside:
                picks = rng.sample(range(outside), min(per_bucket, outside))
                chosen = [
                    order[lo + p if p < inner_lo - lo else inner_hi + p - (inner_lo - lo)]
                    for p in picks
                ]
                table.buckets[depth] = [Entry(n.node_id, n.ip, n.port) for n in chosen]
                table.size += len(chosen)
            lo, hi = inner_lo, inner_hi
            if hi - lo <= 1:
                break
        if node.history is not None:
            for entry in table.entries():
                node.history[entry.address] = None


class DhtNode:
    """One emulated DHT node: :meth:`handle` what arrives, :meth:`tick` when due."""

    __slots__ = (
        "_candidates",
        "_next_round",
        "_outstanding",
        "_peers",
        "_tid",
        "history",
        "interval",
        "ip",
        "malformed",
        "node_id",
        "port",
        "rng",
        "secret",
        "table",
        "version",
    )

    def __init__(
        self,
        node_id: bytes,
        ip: str,
        port: int,
        *,
        version: bytes | None,
        interval: float,
        secret: bytes,
        rng: random.Random,
        start: float,
        record_history: bool = False,
    ) -> None:
        self.node_id = node_id
        self.ip = ip
        self.port = port
        self.version = version
        self.interval = interval
        self.secret = secret
        self.rng = rng
        self.table = RoutingTable(node_id)
        self.malformed = 0
        self.history: dict[Address, None] | None = {} if record_history else None
        """Every address that was in this node's table (insertion order; bounded)."""
        self._tid = rng.randrange(1 << 16)
        self._outstanding: dict[bytes, tuple[Address, bytes | None, float, bytes | None]] = {}
        """Own queries by transaction id: (to, find_node target or None, sent at, node ID)."""
        self._candidates: deque[tuple[Address, bytes | None]] | None = None
        self._peers: dict[bytes, list[bytes]] | None = None
        self._next_round = start + rng.random() * interval if interval > 0 else float("inf")

    # -- what arrives ------------------------------------------------------------------------

    def handle(
        self, data: bytes, src: Address, now: float, *, unsolicited: bool = True
    ) -> list[Datagram]:
        """Datagrams to send for ``data`` from ``src``. ``unsolicited`` False: only answers
        to this node's own queries get through (a node behind NAT)."""
        try:
            msg = krpc.decode(data)
        except KrpcError:
            if unsolicited:
                self._on_other(data, src, now)
            self.malformed += 1
            return []
        try:
            if msg.kind == "q":
                if not unsolicited:
                    return []
                return [(self._answer(msg, src, now), src)]
            self._on_reply(msg, src, now)
        except KrpcError:
            self.malformed += 1
            if msg.kind == "q":
                return [(krpc.error(msg.tid, krpc.PROTOCOL_ERROR, "bad arguments"), src)]
        return []

    def _answer(self, msg: Message, src: Address, now: float) -> bytes:
        node_id = msg.node_id
        body: dict[bytes, Any] = {b"id": self.node_id}
        method = msg.method
        if method == "ping":
            pass
        elif method == "find_node":
            body.update(self._answer_find_node(msg, msg.bytes_arg(b"target", krpc.ID_LENGTH)))
        elif method == "get_peers":
            info_hash = msg.bytes_arg(b"info_hash", krpc.ID_LENGTH)
            body[b"token"] = self.token(src[0], now)
            values = self._peers.get(info_hash) if self._peers is not None else None
            if values:
                body[b"values"] = list(values)
            body[b"nodes"] = self._nodes(info_hash)
        elif method == "announce_peer":
            info_hash = msg.bytes_arg(b"info_hash", krpc.ID_LENGTH)
            token = msg.bytes_arg(b"token", max_length=krpc.MAX_TOKEN)
            port = src[1] if msg.int_arg(b"implied_port", 0) else msg.int_arg(b"port")
            if not (0 < port < 65536 and self.token_ok(token, src[0], now)):
                return krpc.error(msg.tid, krpc.PROTOCOL_ERROR, "bad token or port")
            self._store(info_hash, krpc.encode_peer(src[0], port))
        else:
            return krpc.error(msg.tid, krpc.METHOD_UNKNOWN, "method unknown")
        if not msg.read_only:
            self.learn(node_id, src, now, answered=False)
        return krpc.response(msg.tid, body, version=self.version, ip=src)

    def _answer_find_node(self, msg: Message, target: bytes) -> dict[bytes, Any]:
        """The ``find_node`` answer's fields beside ``id`` (a subclass may differ)."""
        return {b"nodes": self._nodes(target)}

    def _nodes(self, target: bytes) -> bytes:
        closest = self.table.closest(target)
        history = self.history
        if history is not None:  # what it names is what the truth's peers must hold
            for entry in closest:
                if len(history) < MAX_HISTORY:
                    history[entry.address] = None
        return krpc.encode_nodes((e.node_id, e.ip, e.port) for e in closest)[0]

    def _on_reply(self, msg: Message, src: Address, now: float) -> None:
        sent = self._outstanding.get(msg.tid)
        if sent is None or sent[0] != src:
            return  # not ours, or from elsewhere: ignored as a real node ignores it
        del self._outstanding[msg.tid]
        if msg.kind == "e":
            return
        self.learn(msg.node_id, src, now, answered=True)
        self._on_answer(msg, src, sent[1], now)

    def _on_answer(self, msg: Message, src: Address, target: bytes | None, now: float) -> None:
        """An answer to our ``find_node`` (``target`` set) or ``ping``: queue named nodes."""
        if target is None:
            return
        for info in msg.nodes:
            if info.node_id != self.node_id and info.node_id not in self.table:
                self.add_candidate((info.ip, info.port), info.node_id)

    def _on_other(self, data: bytes, src: Address, now: float) -> None:
        """A datagram that is no KRPC (a subclass may take some)."""

    def learn(self, node_id: bytes, src: Address, now: float, *, answered: bool) -> None:
        entry = self.table.heard(node_id, src[0], src[1], now, answered)
        history = self.history
        if entry is not None and history is not None and len(history) < MAX_HISTORY:
            history[entry.address] = None

    # -- tokens and announced peers --------------------------------------------------------------

    def token(self, ip: str, now: float, window: int | None = None) -> bytes:
        """The token for ``ip`` in the time window of ``now`` (or ``window``)."""
        w = int(now // TOKEN_WINDOW_S) if window is None else window
        data = self.node_id + ip.encode() + w.to_bytes(8, "big")
        return hashlib.blake2b(data, key=self.secret, digest_size=8).digest()

    def token_ok(self, token: bytes, ip: str, now: float) -> bool:
        """Whether ``token`` was given to ``ip`` in this window or the one before."""
        w = int(now // TOKEN_WINDOW_S)
        return token in (self.token(ip, now, w), self.token(ip, now, w - 1))

    def _store(self, info_hash: bytes, peer: bytes) -> None:
        if self._peers is None:
            self._peers = {}
        peers = self._peers.get(info_hash)
        if peers is None:
            if len(self._peers) >= MAX_INFO_HASHES:
                self._peers.pop(next(iter(self._peers)))
            peers = self._peers[info_hash] = []
        if peer not in peers:
            peers.append(peer)
            del peers[:-MAX_PEERS_PER_HASH]

    # -- what the node sends on its own -----------------------------------------------------------

    def add_candidate(self, address: Address, node_id: bytes | None = None) -> None:
        """A node to contact on the next round: pinged if its ID is known, else asked for
        the nodes near our own ID (a bootstrap node)."""
        if self._candidates is None:
            self._candidates = deque(maxlen=MAX_CANDIDATES)
        self._candidates.append((address, node_id))

    def next_at(self) -> float:
        """When :meth:`tick` has something to do (a round, or an own query timing out)."""
        due = self._next_round
        if self._outstanding:
            due = min(due, min(q[2] for q in self._outstanding.values()) + QUERY_TIMEOUT_S)
        return due

    def tick(self, now: float) -> list[Datagram]:
        """Expire own queries and, when due, run one round; the datagrams to send."""
        out: list[Datagram] = []
        if self._outstanding:
            self._expire(now)
        if now >= self._next_round:
            self._next_round = max(self._next_round + self.interval, now)
            self._round(now, out)
        return out

    def _expire(self, now: float) -> None:
        oldest = now - QUERY_TIMEOUT_S
        late = [tid for tid, q in self._outstanding.items() if q[2] <= oldest]
        for tid in late:
            node_id = self._outstanding.pop(tid)[3]
            if node_id is not None:
                self.table.failed(node_id)

    def _round(self, now: float, out: list[Datagram]) -> None:
        waiting = {q[0] for q in self._outstanding.values()}
        stale = sorted(
            (e for e in self.table.entries() if e.address not in waiting),
            key=lambda e: e.answered_at,
        )
        for entry in stale[:PINGS_PER_ROUND]:
            self._query(out, entry.address, None, now, entry.node_id)
        candidates = self._candidates
        for _ in range(CANDIDATES_PER_ROUND):
            if not candidates:
                break
            address, node_id = candidates.popleft()
            if node_id is not None and node_id in self.table:
                continue
            self._query(out, address, None if node_id is not None else self.node_id, now, node_id)
        target = self._lookup_target()
        for entry in self.table.closest(target, LOOKUP_FANOUT):
            self._query(out, entry.address, target, now, entry.node_id)

    def _lookup_target(self) -> bytes:
        """The target of this round's refresh lookup: random (a subclass may aim)."""
        return self.rng.randbytes(krpc.ID_LENGTH)

    def _query(
        self,
        out: list[Datagram],
        address: Address,
        target: bytes | None,
        now: float,
        node_id: bytes | None = None,
    ) -> None:
        """Send a ``ping`` (``target`` None) or a ``find_node`` for ``target`` to ``address``
        (the node ``node_id`` if known: a failure counts against its entry)."""
        if len(self._outstanding) >= MAX_OUTSTANDING:
            return
        self._tid = (self._tid + 1) & 0xFFFF
        tid = self._tid.to_bytes(2, "big")
        if target is None:
            data = krpc.ping(tid, self.node_id, version=self.version)
        else:
            data = self._find_node_query(tid, target)
        self._outstanding[tid] = (address, target, now, node_id)
        out.append((data, address))

    def _find_node_query(self, tid: bytes, target: bytes) -> bytes:
        """This node's ``find_node`` (a subclass may shape it)."""
        return krpc.find_node(tid, self.node_id, target, version=self.version)
