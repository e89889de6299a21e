"""Shared pieces of the sensor tests: plugins, settings and HNS bytes."""

from __future__ import annotations

import socket
from typing import Any

from botmon.protocols.contract import Peer, Plugin
from botmon.protocols.registry import Registry
from botmon.settings.sensor import SensorSettings

T0 = 1_700_000_000.0


def plugin(name: str) -> Plugin:
    """A built-in plugin registered by hand (no entry-point discovery)."""
    r = Registry(discover=False)
    r.register(name, f"botmon.protocols.{name}")
    return r.get(name)


def settings(**changes: Any) -> SensorSettings:
    """Sensor settings with ``changes`` applied and checked."""
    return SensorSettings(**changes).validate()


def hns_reply(peer: Peer) -> bytes:
    """A ``^`` naming ``peer``."""
    return b"^\x00" + peer.port.to_bytes(2, "big") + socket.inet_aton(peer.ip)


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port nothing is bound to on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class UdpBot:
    """A test "bot": a non-blocking UDP socket on its own loopback address."""

    def __init__(self, ip: str, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, port))
        self.sock.setblocking(False)
        self.peer = Peer(ip, self.sock.getsockname()[1])
        self.inbox: list[tuple[bytes, tuple[str, int]]] = []

    def send(self, data: bytes, to: Peer) -> None:
        self.sock.sendto(data, to)

    def read(self) -> list[tuple[bytes, tuple[str, int]]]:
        """Everything that arrived since the last look (also kept in ``inbox``)."""
        new = []
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                break
            new.append((data, addr))
        self.inbox += new
        return new

    def seen(self) -> int:
        """How many datagrams arrived so far (reads what waits)."""
        self.read()
        return len(self.inbox)

    def close(self) -> None:
        self.sock.close()
