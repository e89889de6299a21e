"""A botnet's day as the crawlers and sensors report it, and the report's expected content
computed from it independently (the lab GeoIP data places every address)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import msgspec

from botmon import enrich
from botmon.store.base import Store
from botmon.validation import validate_batch
from botmon.wire import Batch, Reply, SourceType

DAY = date(2025, 6, 10)
"""A Tuesday; the week ending Sunday 2025-06-15 holds it."""
DAY_START = datetime(2025, 6, 10, tzinfo=UTC).timestamp()
OCTETS = (1, 2, 3, 9, 17, 40)
"""127.A.0.0/16 networks in different lab countries and ASes."""


@dataclass
class Truth:
    """Every bot of the report period by AS and by country."""

    by_asn: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    by_country: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    sensor_only: set[str] = field(default_factory=set)
    both: set[str] = field(default_factory=set)

    @property
    def ips(self) -> set[str]:
        return {ip for ips in self.by_asn.values() for ip in ips}


def _write(
    store: Store, source: str, kind: SourceType, batch_id: str, replies: list[Reply]
) -> None:
    body = msgspec.json.encode(Batch("hns", batch_id, replies, [], [], kind))
    batch = validate_batch(body, now=DAY_START + 400 * 86400)
    enrich.Enricher.default().enrich_batch(batch)
    store.write_batch(batch, source)


def populate(store: Store, day_start: float = DAY_START) -> Truth:
    """Crawler replies and sensor contacts on the day, and others just outside it."""
    store.create_botnet("hns")
    store.create_botnet("other")
    lookup = enrich.Enricher.default()
    truth = Truth()
    crawled: list[Reply] = []
    sensed: list[Reply] = []
    for n, octet in enumerate(OCTETS):
        for host in range(3 + n):
            ip = f"127.{octet}.0.{10 + host}"
            t = day_start + 3600 * ((host * 5 + n) % 24) + 17
            info = lookup.lookup(ip)
            assert info.asn is not None and info.country is not None
            truth.by_asn[info.asn].add(ip)
            truth.by_country[info.country].add(ip)
            if host % 3 == 2:  # behind NAT: only a sensor hears from it
                sensed.append(Reply(timestamp=t, ip=ip, port=4000 + host, bot_id=None))
                truth.sensor_only.add(ip)
                continue
            crawled.append(
                Reply(timestamp=t, ip=ip, port=3000 + host, bot_id=f"{octet:02x}{host:06x}")
            )
            if host == 0:
                sensed.append(Reply(timestamp=t + 60, ip=ip, port=3000 + host, bot_id=None))
                truth.both.add(ip)
    # outside the day: the evening before and the first second after it
    crawled.append(Reply(timestamp=day_start - 1, ip="127.1.9.1", port=1, bot_id="aa"))
    crawled.append(Reply(timestamp=day_start + 86400, ip="127.2.9.1", port=1, bot_id="bb"))
    _write(store, "crawler-a", "crawler", "c1", crawled)
    _write(store, "sensor-b", "sensor", "s1", sensed)
    other = [Reply(timestamp=day_start + 5, ip="127.3.9.9", port=7, bot_id=None)]
    body = msgspec.json.encode(Batch("other", "o1", other, [], [], "crawler"))
    batch = validate_batch(body, now=day_start + 400 * 86400)
    enrich.Enricher.default().enrich_batch(batch)
    store.write_batch(batch, "crawler-a")
    store.refresh_summaries(full=True)
    return truth


def csv_ips(data: bytes) -> list[dict[str, str]]:
    """The rows of an event4_sinkhole CSV file."""
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
