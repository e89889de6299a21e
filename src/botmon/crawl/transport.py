"""The engine's datagram layer: one interface with one method, a real UDP one and test ones.

Every real send passes the scope guard a second time, right before the socket, so a bug in
the queues can never put a packet outside the scope; a refused send is counted as
``scope_blocked`` (which must stay 0). The UDP receive buffer is sized for tens of thousands
of replies in flight (NOTES: the default buffer dropped ~10k replies at 10k in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from botmon.crawl.counters import Counters
from botmon.crawl.scope import Scope
from botmon.protocols.contract import Peer

SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
OnDatagram = Callable[[bytes, tuple[str, int], float], None]
"""Called with each datagram, its source and the time its batch was read."""


class DatagramTransport(Protocol):
    """Puts one datagram on the wire; replies come back through the ``on_datagram`` callback."""

    def send(self, data: bytes, peer: Peer) -> None:
        """Send ``data`` to ``peer`` (never raises for a per-packet problem; counts it)."""


def read_rmem_max() -> int:
    """The kernel's cap for SO_RCVBUF without privileges (0 when unknown)."""
    try:
        with open("/proc/sys/net/core/rmem_max") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 0


def size_buffers(sock: socket.socket, recv_bytes: int, send_bytes: int) -> int:
    """Ask for ``recv_bytes`` of receive buffer (forced as root); return what the kernel gave."""
    for opt, size, fallback in (
        (SO_RCVBUFFORCE, recv_bytes, socket.SO_RCVBUF),
        (SO_SNDBUFFORCE, send_bytes, socket.SO_SNDBUF),
    ):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, size)
        except OSError:
            cap = read_rmem_max() if fallback == socket.SO_RCVBUF else size
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, fallback, min(size, cap) if cap else size)
    # Linux reports double the requested size (bookkeeping overhead); halve to the usable part.
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2


READ_BATCH = 2048
"""Datagrams read per readiness callback before the loop gets control back."""


class UdpTransport:
    """A few non-blocking UDP sockets read with ``add_reader`` in bounded batches.

    Reading the socket ourselves (rather than through a ``DatagramProtocol``) lets the
    engine drain everything that already arrived *before* it expires deadlines, so a busy
    moment never turns answers waiting in the buffer into timeouts.
    """

    def __init__(
        self,
        scope: Scope,
        counters: Counters,
        on_datagram: OnDatagram,
        *,
        sockets: int = 1,
        recv_buffer: int = 64 * 1024 * 1024,
        send_buffer: int = 8 * 1024 * 1024,
        max_datagram: int = 65_535,
        loopback_only: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.scope = scope
        self.counters = counters
        self.on_datagram = on_datagram
        self.n_sockets = sockets
        self.recv_buffer = recv_buffer
        self.send_buffer = send_buffer
        self.max_datagram = max_datagram
        self.loopback_only = loopback_only
        self._v4: list[socket.socket] = []
        self._v6: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.recv_buffer_granted = 0
        self._i = 0
        self.after_read: Callable[[], None] | None = None
        """Called after each batch read by the readiness callback (the runner's wake-up)."""

    async def open(self) -> None:
        """Bind the sockets (to loopback when the scope is loopback only)."""
        self._loop = asyncio.get_running_loop()
        for family, bind, out in (
            (socket.AF_INET, "127.0.0.1" if self.loopback_only else "0.0.0.0", self._v4),
            (socket.AF_INET6, "::1" if self.loopback_only else "::", self._v6),
        ):
            for _ in range(self.n_sockets):
                try:
                    sock = socket.socket(family, socket.SOCK_DGRAM)
                except OSError:
                    break  # no IPv6 here: IPv6 peers will count as send errors
                try:
                    granted = size_buffers(sock, self.recv_buffer, self.send_buffer)
                    sock.bind((bind, 0))
                    sock.setblocking(False)
                except OSError:
                    sock.close()
                    break
                self.recv_buffer_granted = max(self.recv_buffer_granted, granted)
                self._loop.add_reader(sock.fileno(), self._readable, sock)
                out.append(sock)
        if not self._v4:
            raise OSError("cannot open a UDP socket")

    def _read(self, sock: socket.socket, limit: int) -> int:
        recv, size, deliver = sock.recvfrom, self.max_datagram, self.on_datagram
        now = self.clock()  # one clock read per batch: they all arrived by now
        n = 0
        while n < limit:
            try:
                data, addr = recv(size)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.counters["recv_errors"] += 1
                break
            n += 1
            deliver(data, addr if len(addr) == 2 else (addr[0], addr[1]), now)
        return n

    def _readable(self, sock: socket.socket) -> None:
        if self._read(sock, READ_BATCH) and self.after_read is not None:
            self.after_read()

    def drain(self, limit: int = 200_000) -> int:
        """Read what already waits in the sockets (bounded); returns how many datagrams."""
        return sum(self._read(sock, limit) for sock in (*self._v4, *self._v6))

    def send(self, data: bytes, peer: Peer) -> None:
        """Send one request; out-of-scope destinations are refused and counted."""
        self.send_all(((peer, data, 0),))

    def send_all(self, sends: Iterable[tuple[Peer, Any, int]]) -> None:
        """Send a batch of ``(peer, bytes, token)`` (the runner's :data:`~botmon.crawl.core.Send`),
        each through the scope guard; the loop's lookups are done once per batch, not per
        packet (this runs for every request of a crawl)."""
        allows = self.scope.allows
        v4, v6 = self._v4, self._v6
        counters = self.counters
        i = self._i
        for peer, data, _ in sends:
            ip = peer[0]
            if not allows(ip):
                counters["scope_blocked"] += 1
                continue
            pool = v6 if ":" in ip else v4
            if not pool:
                counters["send_errors"] += 1
                continue
            i += 1
            try:
                pool[i % len(pool)].sendto(data, peer)
            except (OSError, ValueError, TypeError):
                # A full send buffer drops this request; its deadline and retries cover it.
                counters["send_errors"] += 1
        self._i = i

    def local_ports(self) -> list[int]:
        """The ports the sockets are bound to (tests aim unsolicited traffic at them)."""
        return [s.getsockname()[1] for s in (*self._v4, *self._v6)]

    def close(self) -> None:
        """Stop reading and close every socket."""
        for sock in (*self._v4, *self._v6):
            if self._loop is not None:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._v4.clear()
        self._v6.clear()


class RecordingTransport:
    """For tests: remembers every destination and hands each datagram to an in-memory network."""

    def __init__(self, deliver: Callable[[bytes, Peer], None] | None = None) -> None:
        self.sent: list[tuple[bytes, Peer]] = []
        self.deliver = deliver

    def send(self, data: bytes, peer: Peer) -> None:
        """Record, then deliver (if a network is attached)."""
        self.sent.append((data, peer))
        if self.deliver is not None:
            self.deliver(data, peer)

    def destinations(self) -> set[str]:
        """Every IP that was sent to."""
        return {p.ip for _, p in self.sent}
