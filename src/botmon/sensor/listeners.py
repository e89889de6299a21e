"""The sensor's sockets: one UDP socket or one TCP server per listen address.

UDP answers and announcements leave from the listen socket itself, so a bot learns the
address the sensor listens on. TCP connections carry one request (framed by the plugin's
``request_frame``), get the answer and are closed; the number of connections open at once,
the bytes read and the time per connection are capped. Every send passes the scope guard
right before the socket (``scope_blocked`` counts refusals and must stay 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import time
from collections.abc import Callable
from typing import Any

from botmon.crawl.tcp import exchange
from botmon.crawl.transport import size_buffers
from botmon.protocols.contract import Peer
from botmon.sensor.core import SensorCore

READ_BATCH = 2048
"""Datagrams read per readiness callback before the loop gets control back."""

Clock = Callable[[], float]


def _family(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


class UdpListeners:
    """One non-blocking UDP socket per listen address, read in bounded batches."""

    def __init__(self, core: SensorCore, recv_buffer: int, clock: Clock = time.time) -> None:
        self.core = core
        self.recv_buffer = recv_buffer
        self.clock = clock
        self.read_size = core.max_request + 1  # one byte more tells an oversized datagram
        self._socks: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self) -> None:
        """Bind every listen address (an address in use raises OSError naming it)."""
        self._loop = asyncio.get_running_loop()
        for i, ctx in enumerate(self.core.contexts):
            host, port = ctx.listen
            sock = socket.socket(_family(host), socket.SOCK_DGRAM)
            try:
                size_buffers(sock, self.recv_buffer, 1024 * 1024)
                sock.bind((host, port))
                sock.setblocking(False)
            except OSError as exc:
                sock.close()
                self.close()
                raise OSError(f"cannot listen on {host}:{port} (udp): {exc.strerror}") from None
            self._socks.append(sock)
            self._loop.add_reader(sock.fileno(), self._read, i, READ_BATCH)

    def ports(self) -> list[int]:
        """The bound ports (a listen port 0 picks a free one: tests use that)."""
        return [s.getsockname()[1] for s in self._socks]

    def _read(self, index: int, limit: int) -> int:
        sock = self._socks[index]
        recv, size, on_message = sock.recvfrom, self.read_size, self.core.on_message
        allows, counters = self.core.scope.allows, self.core.counters
        now = self.clock()
        n = 0
        while n < limit:
            try:
                data, addr = recv(size)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                counters["recv_errors"] += 1
                break
            n += 1
            src = tuple.__new__(Peer, addr[:2])
            answer = on_message(data, src, index, now)
            if answer is not None:
                if not allows(src.ip):  # the core checked already; this guard is the last
                    counters["scope_blocked"] += 1
                    continue
                try:
                    sock.sendto(answer, addr)
                except OSError:
                    counters["send_errors"] += 1
        return n

    def drain(self) -> int:
        """Read what already waits in every socket (bounded)."""
        return sum(self._read(i, READ_BATCH) for i in range(len(self._socks)))

    def send(self, index: int, peer: Peer, data: bytes) -> None:
        """An announcement from listen address ``index`` to ``peer`` (scope-checked)."""
        counters = self.core.counters
        if not self.core.scope.allows(peer.ip):
            counters["scope_blocked"] += 1
            return
        try:
            self._socks[index].sendto(data, (peer.ip, peer.port))
        except (OSError, ValueError, IndexError):
            counters["send_errors"] += 1

    def close(self) -> None:
        """Stop reading and close every socket."""
        for sock in self._socks:
            if self._loop is not None:
                with contextlib.suppress(ValueError, OSError):
                    self._loop.remove_reader(sock.fileno())
            sock.close()
        self._socks.clear()


class TcpListeners:
    """One asyncio server per listen address; one framed request per connection."""

    def __init__(
        self, core: SensorCore, max_connections: int, timeout_s: float, clock: Clock = time.time
    ) -> None:
        self.core = core
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        self.clock = clock
        self.open_connections = 0
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._serving: set[asyncio.Task[Any]] = set()

    async def open(self) -> None:
        """Start a server on every listen address (an address in use raises OSError)."""
        for i, ctx in enumerate(self.core.contexts):
            host, port = ctx.listen
            try:
                server = await asyncio.start_server(
                    functools.partial(self._serve, index=i), host, port, reuse_address=True
                )
            except OSError as exc:
                await self.close()
                raise OSError(f"cannot listen on {host}:{port} (tcp): {exc.strerror}") from None
            self._servers.append(server)

    def ports(self) -> list[int]:
        """The bound ports."""
        return [s.sockets[0].getsockname()[1] for s in self._servers]

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int
    ) -> None:
        core = self.core
        counters = core.counters
        if self.open_connections >= self.max_connections:
            counters["tcp_refused"] += 1
            writer.transport.abort()
            return
        self.open_connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._serving.add(task)
        try:
            peername = writer.get_extra_info("peername")
            src = Peer(peername[0], peername[1])
            request = await asyncio.wait_for(self._read_request(reader), self.timeout_s)
            if request is None:
                return
            answer = core.on_message(request, src, index, self.clock())
            if answer is not None:
                if not core.scope.allows(src.ip):
                    counters["scope_blocked"] += 1
                    return
                writer.write(answer)
                await asyncio.wait_for(writer.drain(), self.timeout_s)
        except TimeoutError:
            counters["tcp_timeouts"] += 1
        except (ConnectionError, OSError, RuntimeError):
            counters["tcp_resets"] += 1
        except asyncio.CancelledError:
            pass  # the sensor is stopping (close() cancels open connections); end quietly
        finally:
            if task is not None:
                self._serving.discard(task)
            self.open_connections -= 1
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        """One whole request (framed by the plugin), or None (counted) when there is none."""
        core = self.core
        frame = core.plugin.request_frame
        cap = core.max_request
        buf = b""
        while True:
            if buf and frame is not None:
                n = frame(buf)
                if n > 0:
                    return buf[:n]
                if n < 0:
                    core.count_bad("frame")
                    return None
            if len(buf) > cap:
                return buf  # the core counts it as oversized
            chunk = await reader.read(cap + 1 - len(buf))
            if not chunk:
                if frame is None and buf:
                    return buf  # no framing: the request is everything until the close
                core.count_bad("incomplete" if buf else "empty")
                return None
            buf += chunk

    async def announce(self, peer: Peer, data: bytes, connect_timeout: float) -> None:
        """Connect to ``peer``, send an announcement, record its answer (scope-checked)."""
        core = self.core
        if not core.scope.allows(peer.ip):
            core.counters["scope_blocked"] += 1
            return
        answer, error = await exchange(
            peer, data, connect_timeout, self.timeout_s, core.plugin.defaults.max_reply_bytes
        )
        if error is not None or answer is None:
            core.counters[f"announce_failed/{error}"] += 1
            return
        core.on_announce_answer(answer, peer, self.clock())

    def spawn(self, peer: Peer, data: bytes, connect_timeout: float) -> None:
        """Run :meth:`announce` as a task, bounded by the connection cap (over it: counted)."""
        if len(self._tasks) >= self.max_connections:
            self.core.counters["announce_skipped"] += 1
            return
        task = asyncio.ensure_future(self.announce(peer, data, connect_timeout))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop listening; cancel announcements in flight and connections still open."""
        for server in self._servers:
            server.close()
        running = [*self._tasks, *self._serving]
        for task in running:
            task.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        for server in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), 2.0)
        self._servers.clear()
