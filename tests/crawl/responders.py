"""Small loopback responders for engine tests with real sockets: honest and hostile bots."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from botmon.protocols.contract import Peer
from tests.crawl.helpers import hns_reply

UdpBehaviour = Callable[[bytes, tuple[str, int], asyncio.DatagramTransport], None]


class _Bot(asyncio.DatagramProtocol):
    def __init__(self, behaviour: UdpBehaviour) -> None:
        self.behaviour = behaviour
        self.transport: asyncio.DatagramTransport | None = None
        self.requests = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's UDPTransport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.requests += 1
        assert self.transport is not None
        self.behaviour(data, addr, self.transport)


async def udp_bot(peer: Peer, behaviour: UdpBehaviour) -> tuple[asyncio.DatagramTransport, _Bot]:
    """Bind a UDP bot on ``peer`` (a loopback address) with the given behaviour."""
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: _Bot(behaviour), local_addr=(peer.ip, peer.port), family=socket.AF_INET
    )
    return transport, proto


def honest(peers: list[Peer]) -> UdpBehaviour:
    """Answers each ``~`` with the next peer of its list."""
    state = {"i": 0}

    def act(data: bytes, addr: tuple[str, int], t: asyncio.DatagramTransport) -> None:
        if data == b"~" and peers:
            t.sendto(hns_reply(peers[state["i"] % len(peers)]), addr)
            state["i"] += 1

    return act


def garbage(data: bytes, addr: tuple[str, int], t: asyncio.DatagramTransport) -> None:
    """Answers random-looking bytes."""
    t.sendto(b"\x00\xff" * 7, addr)


def oversized(data: bytes, addr: tuple[str, int], t: asyncio.DatagramTransport) -> None:
    """Answers a 60,000-byte datagram that starts like a valid reply."""
    t.sendto(hns_reply(Peer("127.50.0.1", 6000)) + b"\x00" * 60_000, addr)


def flooder(count: int) -> UdpBehaviour:
    """Answers each request with ``count`` valid-looking replies (only one was asked for)."""

    def act(data: bytes, addr: tuple[str, int], t: asyncio.DatagramTransport) -> None:
        for i in range(count):
            t.sendto(hns_reply(Peer(f"127.60.{i // 250}.{i % 250 + 1}", 6000)), addr)

    return act
