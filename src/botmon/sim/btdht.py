"""``botmon simulate btdht``: a DHT of real libtorrent nodes on loopback, to crawl and to join.

The nodes come from :mod:`botmon.sim.libtorrent_dht`; this module makes them an emulator of
the registry: seeds printed and written like every emulator's, a ground-truth file in the
emulators' format (one line a node, ``peers`` being its routing table: the DHT's edges), and
a peer-list file of outside nodes to join (``--join``, e.g. the emulated Mozi bots' seeds),
re-read when it changes so the two emulators can start in either order. libtorrent nodes do
not churn, sit behind NAT or limit anyone, so those settings of other emulators are fixed
here and have no option.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from botmon.crawl.peerlist import PeerListError, read_peerlist
from botmon.settings.loader import setting
from botmon.settings.sim import CommonConfig
from botmon.sim.libtorrent_dht import MAX_NODES, LibtorrentDht, is_loopback, layout_problem
from botmon.sim.runtime import TruthFileError

PROTOCOL = "btdht"
DESCRIPTION = "BitTorrent DHT (real libtorrent nodes)"
CAPABILITIES = ()
DEMO = {"bots": 20}
"""The demo's DHT: 20 libtorrent nodes, whatever ``botmon demo --bots`` says."""

DHT_PORT = 6881
_FIXED = "Fixed for libtorrent nodes: always online, reachable, answering everyone."
_NO_DEFENCES = (
    "rate_limit",
    "rate_burst",
    "blacklist_after",
    "budget_requests",
    "peer_list_cap",
    "reply_peers",
)
"""Defences libtorrent nodes cannot take (:mod:`botmon.sim.defences` needs the emulator to
see each request); the others are fixed to their values of a botnet that does not fight."""
_UNUSED = "Not used by libtorrent nodes (they have their own tables, schedule and addresses)."


class BtdhtConfig(CommonConfig, frozen=True, kw_only=True):
    """Real libtorrent DHT nodes (``sim.btdht``); ``bots`` is the number of nodes."""

    section: ClassVar[str] = "sim.btdht"

    bots: Annotated[
        int, setting("Number of libtorrent DHT nodes.", option="--nodes", ge=1, le=MAX_NODES)
    ] = 20
    port: Annotated[
        int, setting("UDP port every node listens on.", option="--port", ge=1, le=65535)
    ] = DHT_PORT
    first_address: Annotated[
        str,
        setting(
            "Address of the first node (127.A.B.D); each next node takes the next /24.",
            min_length=7,
        ),
    ] = "127.64.0.1"
    join: (
        Annotated[
            Path,
            setting(
                "Peer list (one ip:port a line) of outside nodes the libtorrent nodes ping so "
                "they enter their routing tables; re-read when it changes.",
                option="--join",
            ),
        ]
        | None
    ) = None
    truth: (
        Annotated[
            Path,
            setting(
                "Ground-truth JSON-lines file: a line per node, its routing table as peers.",
                option="--truth",
            ),
        ]
        | None
    ) = None
    truth_interval_s: Annotated[
        float,
        setting(
            "Seconds between two reads of the routing tables (and of the --join file); the "
            "truth file is rewritten each time.",
            option="--truth-interval",
            ge=0.1,
        ),
    ] = 1.0
    ports: Annotated[int, setting(_FIXED, ge=1, le=1)] = 1
    nat: Annotated[float, setting(_FIXED, ge=0.0, le=0.0)] = 0.0
    churn: Annotated[Literal["none"], setting(_FIXED)] = "none"
    churn_scale: Annotated[float, setting(_FIXED, ge=1.0, le=1.0)] = 1.0
    peers_min: Annotated[int, setting(_UNUSED, ge=0, le=10_000)] = 8
    peers_max: Annotated[int, setting(_UNUSED, ge=0, le=10_000)] = 32
    host: Annotated[str, setting(_UNUSED, min_length=1)] = "0.0.0.0"
    first_octets: Annotated[tuple[int, int], setting(_UNUSED)] = (1, 40)
    news_share: Annotated[int, setting(_UNUSED, ge=1, le=1000)] = 8
    list_cap: Annotated[int, setting(_UNUSED, ge=1, le=10_000)] = 64
    rate_limit: Annotated[float, setting(_FIXED, gt=0)] | None = None
    rate_burst: Annotated[float, setting(_FIXED, ge=1)] | None = None
    blacklist_after: Annotated[int, setting(_FIXED, ge=1)] | None = None
    budget_requests: Annotated[int, setting(_FIXED, ge=1)] | None = None
    budget_window_s: Annotated[float, setting(_FIXED, gt=0)] = 60.0
    blacklist_period_s: Annotated[float, setting(_FIXED, ge=0)] = 600.0
    ignore_unknown: Annotated[bool, setting(_FIXED)] = False
    peer_order: Annotated[Literal["random"], setting(_FIXED)] = "random"
    peer_list_cap: Annotated[int, setting(_FIXED, ge=1, le=10_000)] | None = None
    neighbour_restriction: Annotated[Literal["none"], setting(_FIXED)] = "none"
    restrict_to: Annotated[int, setting(_FIXED, ge=1, le=1000)] = 10
    reply_peers: Annotated[int, setting(_FIXED, ge=1, le=1000)] | None = None
    exchange_interval_s: Annotated[float, setting(_UNUSED, ge=0)] = 0.0
    exchange_fanout: Annotated[int, setting(_UNUSED, ge=1, le=64)] = 8

    def problems(self) -> Iterator[tuple[str, str]]:
        """The first address must leave room for every node; nothing acts, nothing limits."""
        yield from super().problems()
        problem = layout_problem(self.bots, self.first_address)
        if problem is not None:
            yield "first_address", problem
        for name in _NO_DEFENCES:
            if getattr(self, name) is not None:
                yield name, _FIXED
        if self.ignore_unknown:
            yield "ignore_unknown", _FIXED


SETTINGS = BtdhtConfig


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class BtdhtNet:
    """The running libtorrent DHT as ``botmon simulate`` drives an emulator.

    It has the surface of :class:`botmon.sim.runtime.Emulator` the command uses (``start``,
    ``stop``, ``seeds``, ``status_line``, ``truth``) without its bot population: the nodes
    are libtorrent's, not botmon's.
    """

    protocol = PROTOCOL

    def __init__(self, cfg: BtdhtConfig, *, clock: Callable[[], float] = time.time) -> None:
        cfg.validate()
        self.cfg = cfg
        self.clock = clock
        self.seed = cfg.seed_rng if cfg.seed_rng is not None else int.from_bytes(os.urandom(7))
        self.dht = LibtorrentDht(
            cfg.bots, first_address=cfg.first_address, port=cfg.port, seed=self.seed
        )
        self.tables: dict[tuple[str, int], list[str]] = {}
        self.join_errors: list[str] = []
        """The last 100 problems of the ``--join`` file (bad lines, peers off loopback)."""
        self._join_seen: tuple[float, int] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.started_at: float | None = None
        self.stopped_at: float | None = None

    def seeds(self, k: int = 5) -> list[tuple[str, int]]:
        """The first ``k`` nodes' addresses (all of them with ``k >= --nodes``)."""
        return [(node.ip, node.port) for node in self.dht.nodes[:k]]

    def truth(self) -> list[dict[str, Any]]:
        """One record per node: ID, ``v`` as a crawler decodes it, routing table as peers."""
        end = self.stopped_at
        return [
            {
                "ip": node.ip,
                "port": node.port,
                "bot_id": None,
                "node_id": node.node_id,
                "client": node.client,
                "client_version": node.client_version,
                "v": node.v,
                "nat": False,
                "mode": "normal",
                "peers": self.tables.get((node.ip, node.port), []),
                "sessions": [] if self.started_at is None else [[self.started_at, end]],
                "contacted": {},
            }
            for node in self.dht.nodes
        ]

    def status_line(self) -> str:
        """Nodes, routing-table sizes, outside nodes joined and the last ``--join`` problem."""
        sizes = [len(t) for t in self.tables.values()] or [0]
        state = "stopped" if self.stopped_at is not None else "running"
        problem = f" | {self.join_errors[-1]}" if self.join_errors else ""
        return (
            f"{PROTOCOL}: {len(self.dht.nodes)} libtorrent nodes {state} | routing tables "
            f"{min(sizes)}-{max(sizes)} nodes | outside nodes joined {len(self.dht.joined)}"
            f"{problem}"
        )

    async def __aenter__(self) -> BtdhtNet:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the nodes (in a thread: 100 take ~1.3 s), join them, write the first truth."""
        if self.started_at is not None:
            raise RuntimeError("an emulator starts once")
        await asyncio.to_thread(self.dht.start)
        self.started_at = self.clock()
        try:
            await self._refresh()
        except TruthFileError:
            await asyncio.to_thread(self.dht.close)
            raise
        self._task = asyncio.create_task(self._tick(), name="sim-btdht-tick")

    async def stop(self) -> None:
        """Read the routing tables a last time, close the nodes, write the final truth."""
        if self.started_at is None or self.stopped_at is not None:
            return
        # Not cancelled: a read in its thread would go on and take the alerts this one waits for.
        self._stopping.set()
        if self._task is not None:
            await self._task
        await self._read_tables()
        self.stopped_at = self.clock()
        await asyncio.to_thread(self.dht.close)
        self._write_truth()

    async def _tick(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.cfg.truth_interval_s)
                return
            with contextlib.suppress(TruthFileError):  # a full disk must not stop the DHT
                await self._refresh()

    async def _refresh(self) -> None:
        self._join_file()
        await self._read_tables()
        self._write_truth()

    async def _read_tables(self) -> None:
        """Update each node's table; a node late to answer keeps its last one."""
        tables = await asyncio.to_thread(self.dht.routing_tables)
        for node, entries in tables.items():
            self.tables[(node.ip, node.port)] = [f"{peer.ip}:{peer.port}" for _, peer in entries]

    def _join_file(self) -> None:
        """Name the ``--join`` file's new loopback peers to the nodes when the file changed."""
        path = self.cfg.join
        if path is None:
            return
        try:
            stat = path.stat()
        except OSError:
            return  # not written yet: the other emulator may start later
        seen = (stat.st_mtime, stat.st_size)
        if seen == self._join_seen:
            return
        self._join_seen = seen
        try:
            peers, bad = read_peerlist(path)
        except PeerListError as exc:
            self.join_errors.append(str(exc))
            return
        self.join_errors.extend(f"{path}:{number}: {problem}" for number, problem in bad)
        for peer in peers:
            if not is_loopback(peer.ip):
                self.join_errors.append(f"{path}: {peer.ip} is not on loopback; not joined")
            self.dht.add_node(peer)
        del self.join_errors[:-100]  # bounded

    def _write_truth(self) -> None:
        path = self.cfg.truth
        if path is None:
            return
        encode = msgspec.json.Encoder().encode
        try:
            _write_atomically(path, b"".join(encode(r) + b"\n" for r in self.truth()))
        except OSError as exc:
            raise TruthFileError(
                f"cannot write the truth file {path}: {exc.strerror or exc}"
            ) from None


def build(cfg: BtdhtConfig) -> BtdhtNet:
    """The emulator for loaded settings (the ``botmon.emulators`` entry point's factory)."""
    return BtdhtNet(cfg)
