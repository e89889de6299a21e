"""One pass over a botnet's feed rows: per-network spools and the report's tallies.

The store yields the period's bots ordered by ``(botnet, ip)``, page by page; each row goes
to the spool of its network (AS or country) while the tallies of the summary (bots per AS,
per country, per origin, per confidence level) grow. Spools are JSON lines in a scratch
directory, appended in bursts when the buffered rows pass :data:`FLUSH_BYTES`, so memory
stays bounded and only one file is open at a time however many networks there are::

    scratch/
      0.jsonl   rows of the first network met
      1.jsonl   ...
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import msgspec

from botmon.feeds.model import FeedQuery, FeedRow
from botmon.store.base import Store

Per = Literal["asn", "country"]
PERS: tuple[Per, ...] = ("asn", "country")
FLUSH_BYTES = 8 << 20
"""Buffered spool bytes that trigger a flush (about 30,000 rows)."""
NetworkKey = int | str | None
"""An AS number, a country code, or None for bots botmon could not place."""

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(FeedRow)


@dataclass
class Network:
    """One AS or country of the report and where its rows wait."""

    key: NetworkKey
    spool: Path
    bots: int = 0
    name: str | None = None
    """The AS name (per AS) as the rows give it."""
    countries: Counter[str] = field(default_factory=Counter)


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
    tally = Tally()
    buffers: dict[NetworkKey, bytearray] = {}
    buffered = 0
    last_ip: str | None = None

    def flush() -> None:
        for key, data in buffers.items():
            with tally.networks[key].spool.open("ab") as f:
                f.write(data)
        buffers.clear()

    for page in store.feed_rows(query):
        for row in page:
            key = network_key(row, per)
            net = tally.networks.get(key)
            if net is None:
                net = Network(key, scratch / f"{len(tally.networks)}.jsonl")
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
    flush()
    return tally


def spooled(network: Network) -> Iterator[FeedRow]:
    """The rows of one network back from its spool, in the order they came."""
    if not network.spool.exists():
        return
    with network.spool.open("rb") as f:
        for line in f:
            yield _decoder.decode(line)
