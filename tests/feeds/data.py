"""A small two-botnet population on lab networks, and what a feed of it must hold.

Replies are real wire records (:class:`botmon.wire.Reply`) through validation and the lab
GeoIP/AS data, as ingest stores them; :func:`expected` computes the feed rows in plain
Python from the same records, independently of the store's SQL.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

from botmon.enrich.labplan import LabNet, lab_net
from botmon.feeds.model import FeedScope
from botmon.wire import Reply, SourceType

DAY = 86_400.0
T0 = 1_750_032_000.0
"""2025-06-16T00:00:00Z: a day boundary, so day counts are predictable."""


@dataclass(frozen=True)
class Sighting:
    botnet: str
    source: str
    source_type: SourceType
    reply: Reply


def sightings() -> list[Sighting]:
    """Bots in several lab networks (several ASes and countries), seen by a crawler and a
    sensor over two days, with repeats, several ports and an IPv6 address."""
    out: list[Sighting] = []
    octets = [1, 2, 3, 4, 5, 8, 9, 13]
    for n, octet in enumerate(octets):
        for host in range(1, 4 + n % 3):
            ip = f"127.{octet}.{host}.{n + 1}"
            for k in range(1 + host % 3):
                ts = T0 + 3600 * (n + 1) + 60 * k + (DAY if (host + k) % 4 == 0 else 0)
                bot = Reply(timestamp=ts, ip=ip, port=20000 + host + k, bot_id=f"b{octet}{host}")
                out.append(Sighting("mozi", "crawler-1", "crawler", bot))
            if host % 2:
                ts = T0 + 7200 + host
                out.append(
                    Sighting("mozi", "sensor-1", "sensor", Reply(timestamp=ts, ip=ip, port=30000))
                )
            if octet in (2, 9):
                ts = T0 + 1800 + host
                out.append(
                    Sighting("hns", "crawler-1", "crawler", Reply(timestamp=ts, ip=ip, port=4000))
                )
    out.append(
        Sighting("hns", "crawler-1", "crawler", Reply(timestamp=T0 + 100, ip="::1", port=4001))
    )
    return out


def in_scope(ip: str, scope: FeedScope) -> bool:
    """Whether the lab data puts ``ip`` inside ``scope`` (everything for an empty scope)."""
    if scope.is_empty():
        return True
    addr = ipaddress.ip_address(ip)
    net = lab_net(int(ip.split(".")[1])) if addr.version == 4 else None
    if net is not None and (net.asn in scope.asns or net.country in scope.countries):
        return True
    return any(addr in ipaddress.ip_network(c) for c in scope.cidrs)


@dataclass
class Expected:
    """What the feed row of one (botnet, ip) must say."""

    times: list[float] = field(default_factory=list)
    ports: set[int] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    sources: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple(
            sorted({"crawler": "p2p-crawler", "sensor": "p2p-sensor"}[k] for k in self.kinds)
        )

    @property
    def days(self) -> int:
        return len({int(t // DAY) for t in self.times})


def expected(
    rows: Iterable[Sighting], since: float, until: float, scope: FeedScope | None = None
) -> dict[tuple[str, str], Expected]:
    """(botnet, ip) -> what its feed row must say, from the records alone."""
    scope = scope or FeedScope()
    out: dict[tuple[str, str], Expected] = {}
    for s in rows:
        r = s.reply
        if not since <= r.timestamp < until or not in_scope(r.ip, scope):
            continue
        e = out.setdefault((s.botnet, r.ip), Expected())
        e.times.append(r.timestamp)
        e.ports.add(r.port)
        if r.bot_id:
            e.ids.add(r.bot_id)
        e.sources.add(s.source)
        e.kinds.add(s.source_type)
    return out


def net(octet: int) -> LabNet:
    """The lab network 127.``octet``.0.0/16."""
    found = lab_net(octet)
    assert found is not None
    return found
