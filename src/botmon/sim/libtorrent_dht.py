"""Real libtorrent DHT nodes on loopback, many in one process: the DHT botmon's tests crawl.

Emulated DHT nodes answer as botmon's authors believe a DHT node answers; these are the
reference implementation itself (PyPI ``libtorrent``), so the DHT crawler, the Mozi crawler
and sensor and the emulated Mozi bots are checked against what real nodes send. Each node is
one libtorrent session with only its DHT on, bound to its own loopback address in a /24 of
its own (``127.A.B.D``: B counts up, A after 250 nodes), so libtorrent's "one node per /24 in
a bucket" rule would not matter even if it were on. The loopback settings (NOTES.md,
PROTOCOLS.md §1.6) switch off what keeps a DHT of 127.x nodes from forming.

Nodes join by pinging each other (``add_dht_node``; a node that answers enters the asker's
routing table at once), so 20 nodes have full tables well within a second instead of the
15-60 s a bootstrap takes. Usage::

    with LibtorrentDht(20, port=free_port, join=[Peer("127.1.2.3", 6881)]) as dht:
        dht.wait_joined(min_table=19, timeout=10)
        edges = dht.routing_tables()

Calls block for at most their ``timeout`` (a few milliseconds when nodes answer); from
asyncio, run them with ``asyncio.to_thread``. Only the alerts asked for are posted and every
call drains them, and the queue is capped, so memory does not grow with run time.
"""

from __future__ import annotations

import ipaddress
import random
import socket
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import fastbencode
import libtorrent as lt

from botmon.protocols.contract import Peer
from botmon.protocols.krpc import client_version

MAX_NODES = 1000
"""Sessions in one process: ~1.4 MB and 3 threads each."""
MESH_PEERS = 100
"""Each node pings the next this many nodes at start (all of them up to 101 nodes)."""
EXTRA_FANOUT = 8
"""A node from outside (an emulated bot) is pinged by this many libtorrent nodes."""
DEAD_BOOTSTRAP = "127.0.0.1:9"
"""The discard port: libtorrent's default routers are off the machine, so name a dead one."""
_bencode: Callable[[object], bytes] = fastbencode.bencode  # type: ignore[attr-defined]
"""fastbencode imports it from its extension without listing it as exported."""
ALERT_QUEUE = 1000
POLL_S = 0.01

LOOPBACK_SETTINGS: dict[str, Any] = {
    "enable_dht": True,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "enable_outgoing_tcp": False,
    "enable_incoming_tcp": False,
    "enable_outgoing_utp": False,
    "enable_incoming_utp": False,
    "dht_restrict_routing_ips": False,
    "dht_restrict_search_ips": False,
    "dht_prefer_verified_node_ids": False,
    "dht_enforce_node_id": False,
    "dht_ignore_dark_internet": False,
    "dht_block_ratelimit": 100_000,
    "dht_upload_rate_limit": 100_000_000,
    "dht_bootstrap_nodes": DEAD_BOOTSTRAP,
    "alert_mask": 0,
    "alert_queue_size": ALERT_QUEUE,
    "aio_threads": 1,
    "hashing_threads": 1,
}
"""Every node's settings but its address (NOTES.md "libtorrent ... on loopback")."""


def version_v(version: str = lt.__version__) -> bytes:
    """The ``v`` libtorrent puts in its messages: ``LT``, major, then minor and tiny nibbles."""
    major, minor, tiny = (int(part) for part in version.split(".")[:3])
    return b"LT" + bytes([major, (minor << 4) | tiny])


def node_address(first: str, index: int) -> str:
    """The address of node ``index``: one /24 each, counting up from ``first``."""
    a, b, d = _first_octets(first)
    slot = b + index
    return f"127.{a + slot // 250}.{slot % 250}.{d}"


def _first_octets(first: str) -> tuple[int, int, int]:
    try:
        ip = ipaddress.IPv4Address(first)
    except ValueError:
        raise ValueError(f"first address {first!r} is not an IPv4 address") from None
    _, a, b, d = ip.packed
    if ip.packed[0] != 127 or a < 1 or b >= 250 or not 1 <= d <= 254:
        raise ValueError(f"first address {first} must be 127.A.B.D with A >= 1, B < 250, D 1-254")
    return a, b, d


def layout_problem(count: int, first: str) -> str | None:
    """Why ``count`` nodes cannot start at address ``first``, or None if they can."""
    try:
        a, b, _ = _first_octets(first)
    except ValueError as exc:
        return str(exc)
    if a + (b + count - 1) // 250 > 255:
        return f"{count} nodes from {first} leave 127/8"
    return None


def is_loopback(ip: str) -> bool:
    """Only loopback peers are ever named to a node: its pings must not leave the machine."""
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class DhtNode:
    """One libtorrent node as a crawler sees it; keys as in a DHT reply's ``data``."""

    ip: str
    port: int
    node_id: str
    """40 hex digits."""
    v: str
    """Hex of the raw ``v`` value the node sends."""

    @property
    def peer(self) -> Peer:
        """The node's address."""
        return Peer(self.ip, self.port)

    @property
    def client(self) -> str | None:
        """The 2-character client code of ``v`` (``LT``), as a crawler decodes it."""
        return client_version(bytes.fromhex(self.v))[0]

    @property
    def client_version(self) -> int | None:
        """The 2 version bytes of ``v`` as an integer, as a crawler decodes them."""
        return client_version(bytes.fromhex(self.v))[1]


def _probe(ip: str, port: int) -> None:
    """Raise OSError now if the address is taken (libtorrent would only post an alert)."""
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind((ip, port))


def _session(ip: str, port: int, node_id: bytes) -> Any:
    settings = {**LOOPBACK_SETTINGS, "listen_interfaces": f"{ip}:{port}"}
    encoded = {
        key.encode(): value.encode() if isinstance(value, str) else int(value)
        for key, value in settings.items()
    }
    # The ID goes in as saved DHT state: a list of 20-byte ID + packed address entries.
    state = {b"node-id": [node_id + socket.inet_aton(ip)]}
    params = lt.read_session_params(_bencode({b"settings": encoded, b"dht state": state}))
    return lt.session(params)


def random_node_ids(count: int, rng: random.Random) -> list[bytes]:
    """Distinct random IDs; never all zeros, which libtorrent replaces with one of its own."""
    out: list[bytes] = []
    seen: set[bytes] = {bytes(20)}
    while len(out) < count:
        nid = rng.randbytes(20)
        if nid not in seen:
            seen.add(nid)
            out.append(nid)
    return out


class LibtorrentDht:
    """``count`` libtorrent DHT nodes on loopback; ``start()``, read, ``close()``.

    ``node_ids`` chooses the nodes' IDs (20 bytes each, not all zeros); otherwise they are
    random from ``seed``. ``join`` names nodes outside (emulated bots) the libtorrent nodes
    ping at start, as :meth:`add_node` does later.
    """

    def __init__(
        self,
        count: int,
        *,
        first_address: str = "127.64.0.1",
        port: int = 6881,
        node_ids: Sequence[bytes] | None = None,
        seed: int | None = None,
        join: Iterable[Peer] = (),
    ) -> None:
        if not 1 <= count <= MAX_NODES:
            raise ValueError(f"count must be 1..{MAX_NODES}, got {count}")
        if not 1 <= port <= 65535:
            raise ValueError(f"port must be 1..65535, got {port}")
        problem = layout_problem(count, first_address)
        if problem is not None:
            raise ValueError(problem)
        if node_ids is None:
            node_ids = random_node_ids(count, random.Random(seed))
        elif len(node_ids) != count or any(len(n) != 20 or not any(n) for n in node_ids):
            raise ValueError(f"node_ids must be {count} IDs of 20 bytes, not all zeros")
        v = version_v().hex()
        self.nodes: list[DhtNode] = [
            DhtNode(node_address(first_address, i), port, nid.hex(), v)
            for i, nid in enumerate(node_ids)
        ]
        self._join = list(join)
        self._sessions: list[Any] = []
        self.joined: set[Peer] = set()
        """Outside nodes named to the libtorrent nodes so far."""
        self.refused = 0
        """Outside nodes refused because they are not on loopback."""

    def start(self, timeout: float = 10.0) -> None:
        """Open every node, wait (bounded) until each DHT runs, then join them to each other.

        Raises OSError naming the address if one is taken, TimeoutError if a DHT does not
        start in ``timeout`` seconds; either way nothing stays open.
        """
        if self._sessions:
            raise RuntimeError("the nodes start once")
        try:
            for node in self.nodes:
                _probe(node.ip, node.port)
                self._sessions.append(_session(node.ip, node.port, bytes.fromhex(node.node_id)))
            deadline = time.monotonic() + timeout
            for session, node in zip(self._sessions, self.nodes, strict=False):
                while not (session.is_dht_running() and session.is_listening()):
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"the DHT of {node.ip}:{node.port} did not start")
                    time.sleep(POLL_S)
        except BaseException:
            self.close()
            raise
        count = len(self.nodes)
        for i, session in enumerate(self._sessions):
            for k in range(1, min(count - 1, MESH_PEERS) + 1):
                other = self.nodes[(i + k) % count]
                session.add_dht_node((other.ip, other.port))
        for peer in self._join:
            self.add_node(peer)

    def add_node(self, peer: Peer) -> bool:
        """Have a few libtorrent nodes ping ``peer``; it enters their tables if it answers.

        Which nodes depends on the address only. False (and counted) for a peer that is not
        on loopback or was named before.
        """
        if not is_loopback(peer.ip):
            self.refused += 1
            return False
        if peer in self.joined or not self._sessions:
            return False
        self.joined.add(peer)
        start = zlib.crc32(f"{peer.ip}:{peer.port}".encode()) % len(self._sessions)
        for k in range(min(EXTRA_FANOUT, len(self._sessions))):
            self._sessions[(start + k) % len(self._sessions)].add_dht_node((peer.ip, peer.port))
        return True

    def routing_tables(self, timeout: float = 2.0) -> dict[Peer, list[tuple[str, Peer]]]:
        """Per libtorrent node, the ``(node ID hex, address)`` entries of its routing table.

        This is the ground truth of the DHT's edges (libtorrent's live nodes: those that
        answered, not its replacement cache). A node whose answer is not in by ``timeout``
        is missing from the result.
        """
        pending: dict[int, Any] = {}
        for i, (session, node) in enumerate(zip(self._sessions, self.nodes, strict=False)):
            session.dht_live_nodes(lt.sha1_hash(bytes.fromhex(node.node_id)))
            pending[i] = session
        tables: dict[Peer, list[tuple[str, Peer]]] = {}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for i, session in list(pending.items()):
                for alert in session.pop_alerts():
                    if isinstance(alert, lt.dht_live_nodes_alert):
                        tables[self.nodes[i].peer] = [
                            (bytes(entry["nid"].to_bytes()).hex(), Peer(*entry["endpoint"]))
                            for entry in alert.nodes
                        ]
                        del pending[i]
                        break
            if pending:
                time.sleep(POLL_S)
        return tables

    def wait_joined(self, min_table: int | None = None, timeout: float = 10.0) -> bool:
        """Wait until every node's routing table holds ``min_table`` nodes; False at timeout.

        The default asks for every other libtorrent node, up to 8 (a full bucket).
        """
        want = min(len(self.nodes) - 1, 8) if min_table is None else min_table
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            tables = self.routing_tables(timeout=max(0.1, min(2.0, left)))
            if len(tables) == len(self.nodes) and all(len(t) >= want for t in tables.values()):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def close(self) -> None:
        """Stop every node and free its ports. Idempotent."""
        # Dropping the last reference to a session stops it and waits for its threads.
        self._sessions.clear()

    def __enter__(self) -> LibtorrentDht:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
