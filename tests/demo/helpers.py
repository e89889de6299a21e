"""Ports for demo tests: free ones for the server and both emulated botnets.

The emulated botnets listen on fixed ports by default (6000, 7070); demo tests give them free
ports through their settings variables so that they never clash with another demo running on
the machine.
"""

from __future__ import annotations

import os
import socket


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that nothing uses right now (TCP, or UDP with SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_env() -> dict[str, str]:
    """This environment, unbuffered, with free ports for the emulated botnets."""
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "BOTMON_SIM_HNS_PORT": str(free_port(socket.SOCK_DGRAM)),
        "BOTMON_SIM_LINENET_PORT": str(free_port()),
    }
