"""A small, fully known data set for the read API and dashboard tests, and the plain-Python
reference counts the API must reproduce.

Two botnets over 24 hours: ``alpha`` has bot IDs (and bots that change address at noon),
``beta`` has none and shares some addresses with ``alpha``. Addresses are public IPs drawn
from the default geolocation data (only data: nothing is ever sent to them), so the server's
enrichment fills real countries and ASes; the reference looks them up with the same data.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from botmon import enrich
from botmon.store.base import Store
from botmon.validation import validate_batch

HOUR = 3600
ORIGIN = 4 * 86400
"""Monday 1970-01-05 00:00 UTC, where the API's buckets are aligned (documented)."""
COUNTRIES = ("CN", "DE", "US", "BR", "IN")


def write(store: Store, botnet: str, batch_id: str, replies: list[dict[str, Any]]) -> None:
    """Store replies straight into ``store``, validated and enriched as the server does."""
    body = msgspec.json.encode({"botnet": botnet, "batch_id": batch_id, "replies": replies})
    batch = validate_batch(body, now=time.time() + 3600)
    enrich.Enricher.default().enrich_batch(batch)
    store.write_batch(batch, "direct")


def bucket_of(t: float, size: int) -> float:
    return math.floor((t - ORIGIN) / size) * size + ORIGIN


@dataclass
class DataSet:
    """Raw records per botnet, as sent to ``POST /api/v1/ingest``."""

    t0: float
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    failed: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    edges: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    @property
    def end(self) -> float:
        return self.t0 + 24 * HOUR

    def batches(self) -> list[dict[str, Any]]:
        out = []
        for botnet in sorted(set(self.replies) | set(self.failed) | set(self.edges)):
            out.append(
                {
                    "botnet": botnet,
                    "batch_id": f"test-{botnet}",
                    "replies": self.replies[botnet],
                    "failed_tries": self.failed[botnet],
                    "edges": self.edges[botnet],
                }
            )
        return out


def make(now: float, seed: int = 5) -> DataSet:
    """The data set: 24 hours ending about an hour before ``now``."""
    rng = random.Random(seed)
    t0 = math.floor(now / HOUR) * HOUR - 25 * HOUR
    data = DataSet(t0)
    ips: list[str] = []
    for cc in COUNTRIES:
        ips += enrich.sample_public_ips(cc, 12, rng)
    rng.shuffle(ips)
    # alpha: 20 bots with IDs; bots 0..7 move to a new address at noon (ID churn).
    for k in range(20):
        port = 20000 + k
        for h in range(24):
            if (h + k) % 5 == 0:
                data.failed["alpha"].append(
                    {
                        "timestamp": t0 + h * HOUR + 11 * k,
                        "ip": ips[k],
                        "port": port,
                        "bot_id": f"{k:08x}",
                        "reason": "timeout",
                    }
                )
                continue
            ip = ips[k + 40] if k < 8 and h >= 12 else ips[k]
            ts = t0 + h * HOUR + 7 * k + 1
            data.replies["alpha"].append(
                {"timestamp": ts, "ip": ip, "port": port, "bot_id": f"{k:08x}", "data": {"v": "1"}}
            )
            if h % 4 == 0:
                for peer in ((k + 1) % 20, (3 * k) % 20, 0):
                    if peer != k:
                        data.edges["alpha"].append(
                            {
                                "timestamp": ts,
                                "src_ip": ip,
                                "src_port": port,
                                "src_id": f"{k:08x}",
                                "dst_ip": ips[peer],
                                "dst_port": 20000 + peer,
                                "dst_id": f"{peer:08x}",
                            }
                        )
    # beta: 30 addresses (the first 10 also alpha's), no IDs, strong daily cycle.
    for j in range(30):
        ip = ips[j] if j < 10 else ips[j + 20]
        for h in range(24):
            if h < 6 and j % 2:
                continue
            for rep in range(1 + j % 3):
                data.replies["beta"].append(
                    {"timestamp": t0 + h * HOUR + 60 * rep + j, "ip": ip, "port": 30000 + rep}
                )
    return data


# -- the reference: plain Python over the records ----------------------------------------------


class Reference:
    """What the read API must answer, computed from the raw records alone."""

    def __init__(self, data: DataSet) -> None:
        self.data = data
        self.enricher = enrich.Enricher.default()

    def geo(self, ip: str) -> tuple[str, int | None]:
        info = self.enricher.lookup(ip)
        return (info.country or "??", info.asn)

    def in_range(self, botnet: str, start: float, end: float) -> list[dict[str, Any]]:
        return [r for r in self.data.replies[botnet] if start <= r["timestamp"] < end]

    def population(
        self, botnet: str, start: float, end: float, size: int
    ) -> dict[float, tuple[int, ...]]:
        out: dict[float, tuple[int, ...]] = {}
        groups: dict[float, list[dict[str, Any]]] = defaultdict(list)
        for r in self.in_range(botnet, start, end):
            groups[bucket_of(r["timestamp"], size)].append(r)
        failed: dict[float, int] = defaultdict(int)
        for f in self.data.failed[botnet]:
            if start <= f["timestamp"] < end:
                failed[bucket_of(f["timestamp"], size)] += 1
        b = bucket_of(start, size)
        while b < end:
            rows = groups.get(b, [])
            out[b] = (
                len({r["ip"] for r in rows}),
                len({r["bot_id"] for r in rows if r.get("bot_id")}),
                len({(r["ip"], r["port"]) for r in rows}),
                len(rows),
                failed.get(b, 0),
            )
            b += size
        return out

    def countries(self, botnet: str | None, start: float, end: float) -> dict[str, int]:
        names = [botnet] if botnet else list(self.data.replies)
        per: dict[str, set[str]] = defaultdict(set)
        for name in names:
            for r in self.in_range(name, start, end):
                per[self.geo(r["ip"])[0]].add(r["ip"])
        return {c: len(v) for c, v in per.items()}

    def ases(self, botnet: str, start: float, end: float) -> dict[int | None, int]:
        per: dict[int | None, set[str]] = defaultdict(set)
        for r in self.in_range(botnet, start, end):
            per[self.geo(r["ip"])[1]].add(r["ip"])
        return {a: len(v) for a, v in per.items()}

    def ips(self, botnet: str, start: float, end: float) -> set[str]:
        return {r["ip"] for r in self.in_range(botnet, start, end)}

    def returning(
        self, botnet: str, start: float, end: float, size: int, key: str
    ) -> dict[float, tuple[int, int]]:
        first: dict[str, float] = {}
        for r in self.data.replies[botnet]:
            k = r.get(key)
            if k is not None and r["timestamp"] < end:
                first[k] = min(first.get(k, math.inf), r["timestamp"])
        seen: dict[float, set[str]] = defaultdict(set)
        for r in self.in_range(botnet, start, end):
            if r.get(key) is not None:
                seen[bucket_of(r["timestamp"], size)].add(r[key])
        return {
            b: (len(ks), sum(1 for k in ks if bucket_of(first[k], size) == b))
            for b, ks in seen.items()
        }

    def in_degree(self, botnet: str, start: float, end: float) -> dict[tuple[str, int], int]:
        srcs: dict[tuple[str, int], set[tuple[str, int]]] = defaultdict(set)
        for e in self.data.edges[botnet]:
            if start <= e["timestamp"] < end:
                srcs[(e["dst_ip"], e["dst_port"])].add((e["src_ip"], e["src_port"]))
        return {k: len(v) for k, v in srcs.items()}

    def hours(self, botnet: str, start: float, end: float) -> tuple[list[float], list[float]]:
        """(utc, local): distinct IPs per hour of day, summed over hourly buckets; the
        range is whole days, so each hour of the day occurs the same number of times."""
        per_bucket: dict[tuple[float, str], set[str]] = defaultdict(set)
        for r in self.in_range(botnet, start, end):
            per_bucket[(bucket_of(r["timestamp"], HOUR), self.geo(r["ip"])[0])].add(r["ip"])
        days = round((end - start) / 86400)
        utc, local = [0.0] * 24, [0.0] * 24
        mid = (start + end) / 2
        for (b, cc), members in per_bucket.items():
            utc[int(b // HOUR) % 24] += len(members)
            zone = enrich.timezone_for_country(cc, "") if cc != "??" else ""
            if zone:
                off = datetime.fromtimestamp(mid, UTC).astimezone(ZoneInfo(zone)).utcoffset()
                assert off is not None
                local[int((b + off.total_seconds()) // HOUR) % 24] += len(members)
        return [u / days for u in utc], [v / days for v in local]
