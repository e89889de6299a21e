"""Records for the public-view tests, as botmon's crawlers and sensors send them.

Two days of a crawler's and a sensor's batches (the wire's :class:`~botmon.wire.Reply`,
:class:`~botmon.wire.FailedTry` and :class:`~botmon.wire.Edge`, encoded as the report client
encodes them) for two botnets: IPv4 addresses the default geolocation data places in real
countries and ASes (only data: nothing is sent to them), IPv6 addresses, 40-hex bot IDs, a
facet (``arch``) with ordinary values and one a hostile bot set to an address. ``post`` sends
them to ``POST /api/v1/ingest`` of any client (in-process app or live server).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from botmon import enrich
from botmon.wire import Edge, FailedTry, Reply

HOUR = 3600
HOSTILE_FACET = "198.51.100.77"
"""A facet value that is an address (a bot may say anything): never shown publicly."""


@dataclass
class Records:
    """Everything sent, to look for in public answers afterwards."""

    batches: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(token role: crawler or sensor, ingest body)."""
    ips: set[str] = field(default_factory=set)
    bot_ids: set[str] = field(default_factory=set)


def make(now: float, botnets: tuple[str, ...] = ("pubnet", "hidden"), seed: int = 11) -> Records:
    """Two days of records per botnet, up to ``now``."""
    rng = random.Random(seed)
    out = Records()
    v4: list[str] = []
    for cc in ("DE", "US", "BR", "CN"):
        v4 += enrich.sample_public_ips(cc, 6, rng)
    v6 = [f"2001:db8:{k:x}::{k + 1:x}" for k in range(8)]
    out.ips.add(HOSTILE_FACET)
    for b, botnet in enumerate(botnets):
        ids = [f"{rng.getrandbits(160):040x}" for _ in v4 + v6]
        out.bot_ids.update(ids)
        crawler: dict[str, list[Any]] = {"replies": [], "failed_tries": [], "edges": []}
        sensor: dict[str, list[Any]] = {"replies": [], "failed_tries": [], "edges": []}
        for k, ip in enumerate(v4 + v6):
            out.ips.add(ip)
            arch = HOSTILE_FACET if k == 0 else ("arm7", "mips", "x86")[k % 3]
            for h in range(48):
                t = now - 48 * HOUR + h * HOUR + 17 * k + b
                if (h + k) % 7 == 0:
                    crawler["failed_tries"].append(
                        FailedTry(t, ip, 4000 + k, ids[k], "timeout", {"attempts": 3})
                    )
                    continue
                crawler["replies"].append(Reply(t, ip, 4000 + k, ids[k], {"arch": arch}))
                if h % 12 == 0:
                    peer = (k + 1) % len(ids)
                    crawler["edges"].append(
                        Edge(t, ip, 4000 + k, (v4 + v6)[peer], 4000 + peer, ids[k], ids[peer])
                    )
                if k % 2 == 0 and h % 3 == 0:  # bots behind NAT only reach sensors
                    sensor["replies"].append(Reply(t + 30, ip, 5000 + k, ids[k], {"arch": arch}))
        for role, body in (("crawler", crawler), ("sensor", sensor)):
            out.batches.append(
                (
                    role,
                    {
                        "botnet": botnet,
                        "batch_id": f"public-{botnet}-{role}",
                        "source_type": role,
                        **msgspec.to_builtins(body),
                    },
                )
            )
    return out


def post(records: Records, send: Callable[[str, bytes], int]) -> None:
    """Send every batch with ``send(role, body) -> status``; each must be stored (200)."""
    for role, body in records.batches:
        status = send(role, msgspec.json.encode(body))
        assert status == 200, (role, body["botnet"], status)
