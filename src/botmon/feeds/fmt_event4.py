"""Shadowserver's Sinkhole Events layout (``event4_sinkhole``) as CSV and as JSON.

IntelMQ's, n6's and AbuseIO's Shadowserver parsers read this report today, so a network
owner's existing pipeline reads botmon's feed unchanged. Every column of the layout is
present, in its order; what botmon does not know (region, city, hostname, sector, device,
the destination) is an empty string. A row is one bot of one botnet in the period:
``timestamp`` is its last sighting, ``src_port`` the lowest port it was seen on (all ports
are in the other formats), ``tag`` its origins and confidence, ``event_id`` a stable hash
of the sighting (:func:`botmon.feeds.common.event_id`). CSV cells a spreadsheet would run
as a formula get a leading ``'`` (:mod:`botmon.csvsafe`), as in every botmon CSV.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from botmon.csvsafe import safe_cell
from botmon.feeds.common import chunked, event_id, iso_utc, json_array, transport
from botmon.feeds.model import FeedContext, FeedField, FeedRow

COLUMNS: tuple[str, ...] = (
    "timestamp",
    "src_ip",
    "src_port",
    "protocol",
    "src_asn",
    "src_geo",
    "src_region",
    "src_city",
    "src_hostname",
    "src_naics",
    "src_sector",
    "device_vendor",
    "device_type",
    "device_model",
    "dst_ip",
    "dst_port",
    "dst_asn",
    "dst_geo",
    "dst_region",
    "dst_city",
    "dst_hostname",
    "dst_naics",
    "dst_sector",
    "infection",
    "family",
    "tag",
    "public_source",
    "application",
    "version",
    "event_id",
)
"""The ``event4_sinkhole`` columns, in the report's order."""

INFECTION = "p2p-botnet"

_KNOWN: dict[str, tuple[str, str, str]] = {
    # column -> (type, meaning, presence)
    "timestamp": (
        "string",
        "Last sighting in the period, ISO 8601 UTC (2024-05-01T12:00:00Z)",
        "always",
    ),
    "src_ip": ("string", "The infected host's address", "always"),
    "src_port": ("integer", "The lowest port the bot was seen on (one row per bot)", "always"),
    "protocol": ("string", "udp or tcp: the botnet protocol's transport", "sometimes"),
    "src_asn": ("integer", "AS number of the address (GeoIP/AS data at ingest)", "sometimes"),
    "src_geo": ("string", "ISO 3166-1 alpha-2 country of the address", "sometimes"),
    "infection": ("string", f"Always {INFECTION!r}: a member of a peer-to-peer botnet", "always"),
    "family": ("string", "The botnet (botmon's name for it, e.g. mozi, hns)", "always"),
    "tag": (
        "string",
        "Origins (p2p-crawler, p2p-sensor) and confidence (confidence-low|medium|high), "
        "separated by ';'",
        "always",
    ),
    "public_source": ("string", "Always 'botmon' (the producer)", "always"),
    "event_id": ("string", "Stable hash of (producer, botnet, address, first sighting)", "always"),
}

FIELDS: tuple[FeedField, ...] = tuple(
    FeedField(name=c, type=_KNOWN[c][0], meaning=_KNOWN[c][1], presence=_KNOWN[c][2])  # type: ignore[arg-type]
    if c in _KNOWN
    else FeedField(
        name=c,
        type="string",
        meaning="A column of the sinkhole layout botmon has no data for (empty)",
        presence="never",
    )
    for c in COLUMNS
)


def record(row: FeedRow, context: FeedContext) -> dict[str, Any]:
    """One row as the layout's columns (ints where the report has numbers, else text)."""
    tags = [*row.origins, f"confidence-{row.confidence}"]
    out: dict[str, Any] = dict.fromkeys(COLUMNS, "")
    out.update(
        timestamp=iso_utc(row.last_seen),
        src_ip=row.ip,
        src_port=row.ports[0] if row.ports else "",
        protocol=transport(row.botnet),
        src_asn=row.asn if row.asn is not None else "",
        src_geo=row.country or "",
        infection=INFECTION,
        family=row.botnet,
        tag=";".join(tags),
        public_source=context.producer,
        event_id=event_id(row, context.producer),
    )
    return out


class _Csv:
    name = "csv"
    media_type = "text/csv; charset=utf-8"
    extension = "csv"
    description = "Shadowserver event4_sinkhole columns as CSV (header row first)"
    fields = FIELDS

    def write(self, rows: Iterable[FeedRow], context: FeedContext) -> Iterator[bytes]:
        def encode(chunk: list[FeedRow]) -> bytes:
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\r\n")
            for row in chunk:
                values = record(row, context)
                writer.writerow([safe_cell(values[c]) for c in COLUMNS])
            return buf.getvalue().encode()

        yield (",".join(COLUMNS) + "\r\n").encode()
        yield from chunked(rows, encode)


class _Json:
    name = "json"
    media_type = "application/json"
    extension = "json"
    description = "Shadowserver event4_sinkhole columns as a JSON array of objects"
    fields = FIELDS

    def write(self, rows: Iterable[FeedRow], context: FeedContext) -> Iterator[bytes]:
        encoder = msgspec.json.Encoder()

        def encode(chunk: list[FeedRow]) -> bytes:
            return b",".join(encoder.encode(record(row, context)) for row in chunk)

        yield from json_array(chunked(rows, encode))


CSV_FORMAT = _Csv()
JSON_FORMAT = _Json()
