"""One UDP socket that plays any number of loopback addresses (IP_PKTINFO).

The socket is bound to ``host:port`` (0.0.0.0 by default); ``IP_PKTINFO`` makes each
received datagram carry the address it was sent to, and the same option on ``sendmsg``
makes the answer leave from that address. So one file descriptor serves 50,000 bots where a
socket per bot would hit the open-file limit (20,000 here, NOTES.md).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections import Counter
from collections.abc import Callable, Iterator

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
SO_SNDBUFFORCE = getattr(socket, "SO_SNDBUFFORCE", 32)
_PKTINFO = struct.Struct("=I4s4s")
"""struct in_pktinfo: interface index, local (spec_dst) address, header destination."""
ANC_BUFSIZE = socket.CMSG_SPACE(_PKTINFO.size)


def set_buffer(sock: socket.socket, size: int, *, receive: bool) -> int:
    """Ask for a ``size``-byte buffer (forced when root, else up to rmem/wmem_max)."""
    force, plain = (
        (SO_RCVBUFFORCE, socket.SO_RCVBUF) if receive else (SO_SNDBUFFORCE, socket.SO_SNDBUF)
    )
    try:
        sock.setsockopt(socket.SOL_SOCKET, force, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, plain, size)
    return sock.getsockopt(socket.SOL_SOCKET, plain)


def open_socket(host: str, port: int, buffer_bytes: int) -> socket.socket:
    """A bound, non-blocking UDP socket with ``IP_PKTINFO`` on and large buffers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        set_buffer(sock, buffer_bytes, receive=True)
        set_buffer(sock, min(buffer_bytes, 16 * 1024 * 1024), receive=False)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def destination_of(ancdata: list[tuple[int, int, bytes]]) -> bytes | None:
    """The 4-byte destination address of a received datagram, from its ancillary data."""
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= _PKTINFO.size:
            return data[8:12]
    return None


def source_option(ip4: bytes) -> list[tuple[int, int, bytes]]:
    """Ancillary data that makes ``sendmsg`` send from ``ip4``."""
    return [(socket.IPPROTO_IP, IP_PKTINFO, _PKTINFO.pack(0, ip4, b"\0\0\0\0"))]


def drain(
    sock: socket.socket, batch: int, size: int, counters: Counter[str]
) -> Iterator[tuple[bytes, bytes | None, tuple[str, int]]]:
    """Up to ``batch`` datagrams waiting on ``sock`` (each cut to ``size`` bytes): the data,
    the 4-byte address it was sent to (None without IP_PKTINFO) and its source. Stops at an
    empty socket; a receive error is counted under ``receive_errors`` and ends the batch."""
    for _ in range(batch):
        try:
            data, ancdata, _flags, source = sock.recvmsg(size, ANC_BUFSIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            counters["receive_errors"] += 1
            return
        yield data, destination_of(ancdata), source


class PortSockets:
    """The sockets of an emulator whose bots share ports ``first .. first+count-1``: one
    socket per port, each read by ``on_readable(sock, port)`` on the running loop, and the
    ``sendmsg`` option per bot address (built once per address, used on every answer)."""

    def __init__(self, buffer_bytes: int) -> None:
        self.buffer_bytes = buffer_bytes
        self.sockets: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._options: dict[bytes, list[tuple[int, int, bytes]]] = {}

    def open(
        self,
        host: str,
        first: int,
        count: int,
        on_readable: Callable[[socket.socket, int], None],
    ) -> None:
        """Bind every port and start reading it; on a failure close what was opened."""
        self._loop = asyncio.get_running_loop()
        try:
            for port in range(first, first + count):
                sock = open_socket(host, port, self.buffer_bytes)
                self.sockets.append(sock)
                self._loop.add_reader(sock.fileno(), on_readable, sock, port)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop reading and close every socket (idempotent)."""
        for sock in self.sockets:
            if self._loop is not None and sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self.sockets.clear()

    def option(self, ip4: bytes) -> list[tuple[int, int, bytes]]:
        """The ``sendmsg`` ancillary data that sends from ``ip4``."""
        option = self._options.get(ip4)
        if option is None:
            option = self._options[ip4] = source_option(ip4)
        return option
