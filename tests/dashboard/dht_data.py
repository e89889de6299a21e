"""Records of a DHT crawl, a Mozi crawl and a device-revealing botnet, shaped exactly as the
crawlers send them (data built with :mod:`botmon.protocols.krpc` and
:mod:`botmon.protocols.mozi_config`), with the truth they were drawn from.

``dht``: :data:`NODES` nodes with random IDs; two crawl rounds (the range's two halves) each
reach a node with probability 1/2, a sensor hears 2 in 5 in the first half, and 80 nodes of
round one answered with their 8 nearest nodes (edges). ``mozi``: bots with signed
configurations naming their CPU (one configuration has no ``[cpu]``), listing random others.
``iot``: bots without IDs (counted by ``ip:port``) whose data carry ``arch``.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from botmon.protocols import dht_sweep, krpc, mozi_config

NODES = 400
HALF = 3600
VERSIONS = (b"LT\x01\x02", b"LT\x02\x01", b"UT\xb5\x0b", b"\x00\x01zz", None)
"""``v`` values the nodes send: two libtorrent versions, a uTorrent one, a malformed one and
none."""
ARCHES = ("mips", "arm7", "x86_64", None)


def dht_data(node_id: bytes, ip: str, v: bytes | None) -> dict[str, Any]:
    """A DHT node reply's data: exactly what the DHT crawlers build (dht_sweep.node_data)."""
    return dict(dht_sweep.node_data(ip, node_id, v))


@dataclass
class DhtSet:
    """Batches as sent to ``POST /api/v1/ingest`` and the truth behind them."""

    t0: float
    batches: list[dict[str, Any]] = field(default_factory=list)
    clients: dict[tuple[str | None, int | None], int] = field(default_factory=dict)
    arches: dict[str, dict[str | None, int]] = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.t0 + 2 * HALF


def make(now: float, seed: int = 12) -> DhtSet:
    """The data set: two hours ending about ten minutes before ``now``."""
    rng = random.Random(seed)
    out = DhtSet(t0=float(int(now) - 2 * HALF - 600))
    nodes = []
    for i in range(NODES):
        ip = f"127.1.{i // 200}.{i % 200 + 1}"
        nodes.append((rng.randbytes(20), ip, 6881 + i % 7, VERSIONS[i % len(VERSIONS)]))
    clients: dict[tuple[str | None, int | None], int] = defaultdict(int)
    replies: dict[str, list[dict[str, Any]]] = {"crawler": [], "sensor": []}
    edges: list[dict[str, Any]] = []
    first_round = []
    for node_id, ip, port, v in nodes:
        data = dht_data(node_id, ip, v)
        seen = False
        for half in (0, 1):
            if rng.random() < 0.5:
                seen = True
                ts = out.t0 + half * HALF + rng.uniform(0, HALF - 1)
                replies["crawler"].append(
                    {"timestamp": ts, "ip": ip, "port": port, "bot_id": node_id.hex(), "data": data}
                )
                if half == 0:
                    first_round.append((node_id, ip, port, ts))
        if rng.random() < 0.4:
            seen = True
            ts = out.t0 + rng.uniform(0, HALF - 1)
            replies["sensor"].append(
                {"timestamp": ts, "ip": ip, "port": port, "bot_id": node_id.hex(), "data": data}
            )
        if seen:
            clients[(data["client"], data["client_version"])] += 1
    for node_id, ip, port, ts in first_round[:80]:
        nearest = sorted(nodes, key=lambda n: krpc.distance(n[0], node_id))[1:9]
        edges.extend(
            {
                "timestamp": ts,
                "src_ip": ip,
                "src_port": port,
                "src_id": node_id.hex(),
                "dst_ip": other[1],
                "dst_port": other[2],
                "dst_id": other[0].hex(),
            }
            for other in nearest
        )
    out.clients = dict(clients)
    for kind, rows in replies.items():
        out.batches.append(
            {
                "botnet": "dht",
                "batch_id": f"dht-{kind}",
                "source_type": kind,
                "replies": rows,
                "edges": edges if kind == "crawler" else [],
            }
        )
    out.batches.append(_mozi(out, rng))
    out.batches.append(_iot(out))
    return out


def _mozi(out: DhtSet, rng: random.Random) -> dict[str, Any]:
    """Mozi bots, each with a signed configuration naming its CPU, seen once or twice."""
    keys = mozi_config.new_signing_keys()
    public = (keys[0].public_key(), keys[1].public_key())
    configs = {}
    for arch in ARCHES:
        tags = [("ss", "bot"), ("hp", "88888888")] + ([("cpu", arch)] if arch else [])
        configs[arch] = mozi_config.decode(mozi_config.encode(tags, 3, keys), public)
    arches: dict[str | None, int] = defaultdict(int)
    replies: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for i in range(60):
        config = configs[ARCHES[i % len(ARCHES)] if i % 5 else "mips"]
        assert config.signatures == "valid"
        node_id = bytes.fromhex("888888") + rng.randbytes(17)
        ip = f"127.2.0.{i + 1}"
        data = dht_data(node_id, ip, b"\x00\x00\x00\x00")
        data["config"] = config.as_data()
        data["arch"] = config.arch
        arches[config.arch] += 1
        for k in range(1 + i % 2):
            replies.append(
                {
                    "timestamp": out.t0 + 60 * i + 1800 * k,
                    "ip": ip,
                    "port": 14000 + i,
                    "bot_id": node_id.hex(),
                    "data": data,
                }
            )
    # Each bot lists three random others (not its nearest: the density has nothing to go by).
    for r in replies[::2]:
        for other in rng.sample(replies, 3):
            edges.append(
                {
                    "timestamp": r["timestamp"],
                    "src_ip": r["ip"],
                    "src_port": r["port"],
                    "src_id": r["bot_id"],
                    "dst_ip": other["ip"],
                    "dst_port": other["port"],
                    "dst_id": other["bot_id"],
                }
            )
    out.arches["mozi"] = dict(arches)
    return {"botnet": "mozi", "batch_id": "mozi-1", "replies": replies, "edges": edges}


def _iot(out: DhtSet) -> dict[str, Any]:
    """Bots without IDs: a bot is its ip:port; one bot reports its CPU only later."""
    replies = []
    for i in range(12):
        arch = "arm7" if i % 3 else "mips"
        for port in (23, 2323) if i < 4 else (23,):
            replies.append(
                {"timestamp": out.t0 + 100 + i, "ip": f"127.3.0.{i + 1}", "port": port, "data": {}}
            )
            replies.append(
                {
                    "timestamp": out.t0 + 200 + i,
                    "ip": f"127.3.0.{i + 1}",
                    "port": port,
                    "data": {"arch": arch},
                }
            )
    # 16 bots: ips 1..4 on two ports each, 5..12 on one; ips 1, 4, 7, 10 are mips.
    out.arches["iot"] = {"mips": 2 + 2 + 1 + 1, "arm7": 2 + 2 + 6}
    return {"botnet": "iot", "batch_id": "iot-1", "replies": replies}
