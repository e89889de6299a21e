"""Plain loopback clients and small utilities for the emulator tests (no botmon code inside)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
Address = tuple[str, int]


def run(coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
    """Run ``coro`` on a fresh loop, failing (not hanging) after ``timeout`` seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def free_port(count: int = 1) -> int:
    """First of ``count`` consecutive ports free for UDP and TCP on 0.0.0.0 right now.

    Other engineers run tests in parallel, so fixed ports would collide.
    """
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first:
            first.bind(("0.0.0.0", 0))
            port = int(first.getsockname()[1])
        if port + count - 1 > 65535:
            continue
        try:
            for p in range(port, port + count):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(socket.AF_INET, kind) as probe:
                        probe.bind(("0.0.0.0", p))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


def udp_client(source: str = "127.0.0.1") -> socket.socket:
    """A UDP socket with a large receive buffer, bound to ``source``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, 33, 64 * 1024 * 1024)  # SO_RCVBUFFORCE (root)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind((source, 0))
    return sock


def ask_udp(
    targets: Iterable[Address],
    *,
    payload: bytes = b"~",
    timeout: float = 2.0,
    idle: float = 0.3,
    source: str = "127.0.0.1",
    repeat: int = 1,
    sock: socket.socket | None = None,
) -> dict[Address, list[bytes]]:
    """Send ``payload`` to every target (``repeat`` times) and gather every datagram back.

    Stops when nothing arrived for ``idle`` seconds after the last send, or at ``timeout``.
    Returns what each *source address* sent, so a reply from the wrong address shows up
    under that wrong address.
    """
    own = sock is None
    s = sock if sock is not None else udp_client(source)
    got: dict[Address, list[bytes]] = {}
    try:
        for _ in range(repeat):
            for target in targets:
                s.sendto(payload, target)
        deadline = time.monotonic() + timeout
        s.settimeout(idle)
        while time.monotonic() < deadline:
            try:
                data, src = s.recvfrom(70_000)
            except TimeoutError:
                break
            got.setdefault((src[0], src[1]), []).append(data)
    finally:
        if own:
            s.close()
    return got


def tcp_ask(target: Address, payload: bytes = b"PEERS\n", timeout: float = 3.0) -> bytes | None:
    """Connect, send ``payload``, read to EOF. None when the connection is reset or refused."""
    try:
        with socket.create_connection(target, timeout=timeout) as sock:
            if payload:
                sock.sendall(payload)
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)
    except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError):
        return None


async def in_thread(func: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a blocking client in a thread while the emulator serves on the loop."""
    return await asyncio.to_thread(func, *args, **kwargs)


def local_non_loopback_ipv4() -> list[str]:
    """Addresses of this machine's own interfaces (packets to them never leave it)."""
    out = []
    try:
        text = Path("/proc/net/fib_trie").read_text()
    except OSError:
        return []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "/32 host LOCAL" in line and i > 0:
            ip = lines[i - 1].split()[-1]
            if not ip.startswith("127."):
                out.append(ip)
    return sorted(set(out))
