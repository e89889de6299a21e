"""One pass over a botnet's feed rows: per-network spools and the report's tallies.

The store yields the period's bots ordered by ``(botnet, ip)``, page by page; each row is
buffered under its network (AS or country) while the tallies of the summary (bots per AS,
per country, per origin, per confidence level) grow. When the buffers pass
:data:`FLUSH_BYTES` they are appended to one spool file, each network's rows as one
contiguous segment whose place the network remembers, so memory stays bounded and the spool
is one file however many networks there are (a file per network cost one open per network
per flush: 1.3 ms each on a busy disk, most of a 3,000-AS report)::

    spool.jsonl   [AS 64512, rows 1..900][AS 64517, rows 1..40] ... [AS 64512, rows 901..]
                  a network's rows are its segments in order; rows are JSON lines
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import msgspec

from botmon.feeds.model import FeedQuery, FeedRow
from botmon.reports.options import Per
from botmon.store.base import Store

FLUSH_BYTES = 32 << 20
"""Buffered rows (JSON bytes) that trigger a flush (about 100,000 rows)."""
NetworkKey = int | str | None
"""An AS number, a country code, or None for bots botmon could not place."""

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(FeedRow)


@dataclass
class Network:
    """One AS or country of the report and where its rows wait."""

    key: NetworkKey
    bots: int = 0
    name: str | None = None
    """The AS name (per AS) as the rows give it."""
    countries: Counter[str] = field(default_factory=Counter)
    segments: list[tuple[int, int]] = field(default_factory=list)
    """(offset, length) of its rows in the spool, in order."""


@dataclass
class Tally:
    """What the pass counted: the summary's numbers, from the very rows the files hold."""

    bots: int = 0
    ips: int = 0
    per_asn: Counter[int | None] = field(default_factory=Counter)
    as_names: dict[int, str] = field(default_factory=dict)
    per_country: Counter[str | None] = field(default_factory=Counter)
    origins: Counter[str] = field(default_factory=Counter)
    """``crawler only``, ``sensor only``, ``both``."""
    confidence: Counter[str] = field(default_factory=Counter)
    networks: dict[NetworkKey, Network] = field(default_factory=dict)
    spool: Path | None = None


def network_key(row: FeedRow, per: Per) -> NetworkKey:
    return row.asn if per == "asn" else row.country


def _origin(row: FeedRow) -> str:
    kinds = set(row.origins)
    if len(kinds) >= 2:
        return "both"
    return "sensor only" if "p2p-sensor" in kinds else "crawler only"


def split_rows(
    store: Store, query: FeedQuery, per: Per, scratch: Path, flush_bytes: int = FLUSH_BYTES
) -> Tally:
    """Read every row of ``query`` once, spool it under its network, count it."""
    spool = scratch / "spool.jsonl"
    tally = Tally(spool=spool)
    buffers: dict[NetworkKey, bytearray] = {}
    buffered = 0
    last_ip: str | None = None
    out = spool.open("wb")

    def flush() -> None:
        for key, data in buffers.items():
            tally.networks[key].segments.append((out.tell(), len(data)))
            out.write(data)
        buffers.clear()

    for page in store.feed_rows(query):
        for row in page:
            key = network_key(row, per)
            net = tally.networks.get(key)
            if net is None:
                net = Network(key)
                tally.networks[key] = net
            net.bots += 1
            if row.as_name and net.name is None and per == "asn":
                net.name = row.as_name
            if row.country:
                net.countries[row.country] += 1
            line = _encoder.encode(row) + b"\n"
            buffers.setdefault(key, bytearray()).extend(line)
            buffered += len(line)
            tally.bots += 1
            if row.ip != last_ip:  # rows come by (botnet, ip): one botnet, so distinct ips
                tally.ips += 1
                last_ip = row.ip
            tally.per_asn[row.asn] += 1
            if row.asn is not None and row.as_name:
                tally.as_names.setdefault(row.asn, row.as_name)
            tally.per_country[row.country] += 1
            tally.origins[_origin(row)] += 1
            tally.confidence[row.confidence] += 1
        if buffered >= flush_bytes:
            flush()
            buffered = 0
    with out:
        flush()
    return tally


def spooled(spool: BinaryIO, network: Network) -> Iterator[FeedRow]:
    """The rows of one network back from the open spool, in the order they came."""
    for offset, length in network.segments:
        spool.seek(offset)
        for line in spool.read(length).splitlines():
            yield _decoder.decode(line)
