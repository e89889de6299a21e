"""Thousands of emulated DHT nodes in one asyncio process: the I/O around :mod:`dht_node`.

One UDP socket on ``host:port`` plays every node, each on its own 127.a.b.c address
(IP_PKTINFO, :mod:`botmon.sim.udp`): a datagram is handed to the node it was sent to and the
node's answers leave from that node's address. Nodes' own schedules run from one timer (a
heap of due times checked every :data:`TICK_S`), never a timer per node, so 5,000 nodes cost
one socket and one task. Traffic between the swarm's own nodes goes through the kernel like
any other: they are ordinary DHT nodes to each other.

Per node the swarm keeps whether it is online (churn) and behind NAT: an offline node gets
and sends nothing; a NATed one gets only the answers to its own queries. Usage::

    swarm = DhtSwarm("0.0.0.0", 6890, stats)
    swarm.add(node)
    await swarm.open()
    ...
    await swarm.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import socket
import time
from collections.abc import Callable

from botmon.sim.dht_node import DhtNode
from botmon.sim.stats import Stats
from botmon.sim.udp import drain, open_socket, source_option

TICK_S = 0.05
"""How often due nodes run their schedule; bounds how late a node's round is."""
MAX_DUE_PER_TICK = 2_000
"""Nodes run per tick at most, so one late tick never stalls the socket."""
READ_BATCH = 512
"""Datagrams handled per wake-up before yielding to the loop."""
RECEIVE_BYTES = 4096
"""KRPC's cap (:data:`botmon.protocols.krpc.MAX_MESSAGE`); longer is cut and malformed."""
RECEIVE_BUFFER_BYTES = 64 * 1024 * 1024
OFFLINE_RECHECK_S = 1.0

_QUERY = b"1:y1:q"
"""A KRPC query's type field (``y`` = ``q``); answers carry ``1:y1:r`` or ``1:y1:e``."""

OutsideContact = Callable[[int, str, int, float], None]
"""``(node index, ip, port, now)``: a node sent to an address that is not the swarm's."""


class DhtSwarm:
    """Nodes by address behind one socket, their schedules, and what they send."""

    def __init__(
        self,
        host: str,
        port: int,
        stats: Stats,
        *,
        clock: Callable[[], float] = time.time,
        on_outside: OutsideContact | None = None,
        admit: Callable[[int, str, float, bool], str | None] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.stats = stats
        self.clock = clock
        self.on_outside = on_outside
        self.admit = admit
        """``(node index, source ip, now, query)`` -> None to take a datagram, else the drop
        reason (an emulator's defences). ``query`` is False for answers to the node's own
        queries, which a bot takes from anyone it asked (it may only note who answered)."""
        self.nodes: list[DhtNode] = []
        self.by_address: dict[tuple[str, int], int] = {}
        self.online = bytearray()
        self.nat = bytearray()
        self.sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._due: list[tuple[float, int]] = []
        self._options: dict[str, list[tuple[int, int, bytes]]] = {}

    def add(self, node: DhtNode, *, nat: bool = False, online: bool = True) -> int:
        """Add ``node`` (on ``node.ip:node.port``); its index."""
        index = len(self.nodes)
        self.nodes.append(node)
        self.by_address[(node.ip, node.port)] = index
        self.online.append(online)
        self.nat.append(nat)
        heapq.heappush(self._due, (node.next_at(), index))
        return index

    def move(self, index: int, ip: str) -> None:
        """Node ``index`` takes the address ``ip`` (same port)."""
        node = self.nodes[index]
        self.by_address.pop((node.ip, node.port), None)
        node.ip = ip
        self.by_address[(ip, node.port)] = index

    async def open(self) -> None:
        """Bind the socket and start the nodes' schedules."""
        self._loop = asyncio.get_running_loop()
        self.sock = open_socket(self.host, self.port, RECEIVE_BUFFER_BYTES)
        self._loop.add_reader(self.sock.fileno(), self._on_readable)
        self._task = asyncio.create_task(self._run(), name="sim-dht-swarm")

    async def close(self) -> None:
        """Stop the schedules and close the socket. Idempotent."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.sock is not None:
            if self._loop is not None and self.sock.fileno() >= 0:
                self._loop.remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None

    def _on_readable(self) -> None:
        sock = self.sock
        if sock is None:
            return
        counters, stats = self.stats.counters, self.stats
        nodes, by_address, online, nat = self.nodes, self.by_address, self.online, self.nat
        admit = self.admit
        now = self.clock()
        for data, dst, src in drain(sock, READ_BATCH, RECEIVE_BYTES, counters):
            source = stats.request(src[0])
            if dst is None:
                stats.drop("no_destination", source)
                continue
            index = by_address.get((socket.inet_ntoa(dst), self.port))
            if index is None:
                stats.drop("unknown_destination", source)
                continue
            if not src[0].startswith("127."):
                stats.drop("not_loopback", source)
                continue
            if not online[index]:
                stats.drop("offline", source)
                continue
            unsolicited = not nat[index]
            if admit is not None and unsolicited and data[:1] == b"d":
                reason = admit(index, src[0], now, _QUERY in data)
                if reason is not None:
                    stats.drop(reason, source)
                    continue
            out = nodes[index].handle(data, (src[0], src[1]), now, unsolicited=unsolicited)
            if out:
                stats.answer(source)
                self._send(index, out, now)

    def _send(self, index: int, out: list[tuple[bytes, tuple[str, int]]], now: float) -> None:
        sock = self.sock
        if sock is None:
            return
        node = self.nodes[index]
        option = self._options.get(node.ip)
        if option is None:
            option = self._options[node.ip] = source_option(socket.inet_aton(node.ip))
        counters = self.stats.counters
        for payload, (ip, port) in out:
            if not ip.startswith("127."):  # never send off loopback, whatever a node was told
                counters["dropped/send_not_loopback"] += 1
                continue
            if self.on_outside is not None and (ip, port) not in self.by_address:
                self.on_outside(index, ip, port, now)
            try:
                sock.sendmsg([payload], option, 0, (ip, port))
                counters["sent"] += 1
            except OSError:
                counters["send_errors"] += 1

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.run_due(self.clock())

    def run_due(self, now: float) -> None:
        """Run every node whose schedule is due at ``now`` (at most MAX_DUE_PER_TICK)."""
        due, nodes, online = self._due, self.nodes, self.online
        for _ in range(MAX_DUE_PER_TICK):
            if not due or due[0][0] > now:
                return
            _, index = heapq.heappop(due)
            node = nodes[index]
            if not online[index]:
                heapq.heappush(due, (now + OFFLINE_RECHECK_S, index))
                continue
            out = node.tick(now)
            if out:
                self._send(index, out, now)
            heapq.heappush(due, (max(node.next_at(), now + TICK_S), index))
