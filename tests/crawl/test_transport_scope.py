"""The transports' own scope checks: the last guard before a socket refuses and counts.

The engine never hands a transport an out-of-scope peer, so these guards are exercised on
their own: a scope of 127.0.0.1/32, a listener on 127.0.0.2 (loopback, outside that scope) that
must receive nothing, and for UDP one on 127.0.0.1 that must receive the in-scope send. The
TCP guard sits in the runner's exchange, the one place a TCP connection is opened (for a
one-piece answer and for a conversation alike).
"""

from __future__ import annotations

import asyncio
import socket

import msgspec
import pytest

from botmon.crawl.counters import Counters
from botmon.crawl.runner import CrawlRunner
from botmon.crawl.scope import Scope
from botmon.crawl.sink import ListReporter
from botmon.crawl.transport import UdpTransport
from botmon.protocols.contract import Peer
from botmon.settings.crawl import CrawlSettings
from tests.crawl.chatproto import chat_plugin
from tests.crawl.helpers import registry


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


@pytest.mark.parametrize("kind", ["one-piece", "conversation"])
def test_a_tcp_exchange_outside_the_scope_is_refused_before_connecting(kind: str) -> None:
    plugin = registry().get("linenet") if kind == "one-piece" else chat_plugin()
    settings = CrawlSettings.for_protocol(plugin.defaults)
    settings = msgspec.structs.replace(settings, scope=("127.0.0.1/32",))
    runner = CrawlRunner(plugin, settings, ListReporter())
    outside = socket.create_server(("127.0.0.2", 0))
    outside.settimeout(0.5)
    peer = Peer("127.0.0.2", outside.getsockname()[1])

    async def main() -> None:
        runner._tcp_slots = asyncio.Semaphore(1)  # what run() sets up before any exchange
        opens = plugin.conversation
        await runner._exchange(peer, opens(peer, runner.core.ctx) if opens else b"PEERS\n", 1)

    try:
        asyncio.run(main())
        try:
            conn, _ = outside.accept()
        except TimeoutError:
            conn = None
        assert conn is None, "a connection reached 127.0.0.2, outside the scope"
    finally:
        outside.close()
    assert runner.counters["scope_blocked"] == 1
