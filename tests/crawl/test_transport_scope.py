"""The UDP transport's own scope check: the last guard before the socket refuses and counts.

The engine never hands the transport an out-of-scope peer, so this guard is exercised on its
own: a scope of 127.0.0.1/32, a listener on 127.0.0.2 (loopback, outside that scope) that must
receive nothing, and one on 127.0.0.1 that must receive the in-scope send.
"""

from __future__ import annotations

import asyncio
import socket

from botmon.crawl.counters import Counters
from botmon.crawl.scope import Scope
from botmon.crawl.transport import UdpTransport
from botmon.protocols.contract import Peer


def _listener(ip: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, 0))
    sock.settimeout(0.5)
    return sock


def _received(sock: socket.socket) -> list[bytes]:
    out = []
    for _ in range(10):
        try:
            out.append(sock.recv(100))
        except TimeoutError:
            break
    return out


def test_the_transport_refuses_and_counts_a_send_outside_its_scope() -> None:
    counters = Counters()
    inside, outside = _listener("127.0.0.1"), _listener("127.0.0.2")

    async def main() -> None:
        transport = UdpTransport(Scope(["127.0.0.1/32"]), counters, lambda *_: None)
        await transport.open()
        try:
            transport.send(b"out", Peer("127.0.0.2", outside.getsockname()[1]))
            transport.send(b"in", Peer("127.0.0.1", inside.getsockname()[1]))
        finally:
            transport.close()

    try:
        asyncio.run(main())
        assert _received(outside) == []
        assert _received(inside) == [b"in"]
    finally:
        inside.close()
        outside.close()
    assert counters["scope_blocked"] == 1
    assert counters["send_errors"] == 0
