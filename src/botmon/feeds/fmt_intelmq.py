"""IntelMQ's harmonised events as JSON lines, one ``infected-system`` event per bot.

The keys are IntelMQ's harmonisation (``classification.*``, ``malware.name``,
``source.*``, ``time.*``, ``feed.*``); what IntelMQ has no key for is under ``extra.``
as IntelMQ prescribes. ``tlp`` is IntelMQ's four-value label (``amber+strict`` is
``AMBER``; the exact TLP 2.0 label is ``extra.tlp``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from botmon.feeds.common import chunked, event_id, iso_offset, transport
from botmon.feeds.model import FeedContext, FeedField, FeedRow, Tlp

INTELMQ_TLP: dict[Tlp, str] = {
    "clear": "WHITE",
    "green": "GREEN",
    "amber": "AMBER",
    "amber+strict": "AMBER",
    "red": "RED",
}


def _f(name: str, type_: str, meaning: str, presence: str = "always") -> FeedField:
    return FeedField(name=name, type=type_, meaning=meaning, presence=presence)  # type: ignore[arg-type]


FIELDS: tuple[FeedField, ...] = (
    _f("feed.name", "string", "'<producer> p2p botnets'"),
    _f("feed.provider", "string", "The producer (botmon)"),
    _f("classification.taxonomy", "string", "Always 'malicious-code'"),
    _f("classification.type", "string", "Always 'infected-system'"),
    _f("classification.identifier", "string", "The botnet"),
    _f("malware.name", "string", "The botnet (malware family)"),
    _f("source.ip", "string", "The infected host's address"),
    _f("source.port", "integer", "The lowest port the bot was seen on", "sometimes"),
    _f("source.asn", "integer", "AS number of the address", "sometimes"),
    _f("source.as_name", "string", "Name of that AS", "sometimes"),
    _f("source.geolocation.cc", "string", "ISO 3166-1 alpha-2 country", "sometimes"),
    _f("protocol.transport", "string", "udp or tcp", "sometimes"),
    _f("time.source", "string", "Last sighting in the period (ISO 8601, +00:00)"),
    _f("time.observation", "string", "When botmon produced the feed"),
    _f("tlp", "string", "WHITE, GREEN, AMBER or RED"),
    _f("extra.tlp", "string", "The TLP 2.0 label"),
    _f("extra.event_id", "string", "Stable hash of the sighting"),
    _f("extra.first_seen", "string", "First sighting in the period"),
    _f("extra.observations", "integer", "Replies and contacts in the period"),
    _f("extra.ports", "array", "Every port seen (at most 16)"),
    _f("extra.bot_ids", "array", "Bot IDs seen (at most 16)", "sometimes"),
    _f("extra.origins", "array", "p2p-crawler and/or p2p-sensor"),
    _f("extra.confidence", "string", "low, medium or high (docs/feeds.md)"),
    _f("extra.vantage_points", "integer", "Distinct monitors that saw it"),
    _f("extra.days", "integer", "Distinct UTC days it was seen on"),
)


def event(row: FeedRow, context: FeedContext) -> dict[str, Any]:
    """One harmonised IntelMQ event for one bot (keys without a value are left out)."""
    out: dict[str, Any] = {
        "feed.name": f"{context.producer} p2p botnets",
        "feed.provider": context.producer,
        "classification.taxonomy": "malicious-code",
        "classification.type": "infected-system",
        "classification.identifier": row.botnet,
        "malware.name": row.botnet,
        "source.ip": row.ip,
        "time.source": iso_offset(row.last_seen),
        "time.observation": iso_offset(context.generated_at),
        "tlp": INTELMQ_TLP[context.tlp],
        "extra.tlp": context.tlp,
        "extra.event_id": event_id(row, context.producer),
        "extra.first_seen": iso_offset(row.first_seen),
        "extra.observations": row.observations,
        "extra.ports": list(row.ports),
        "extra.origins": list(row.origins),
        "extra.confidence": row.confidence,
        "extra.vantage_points": row.vantage_points,
        "extra.days": row.days,
    }
    if row.ports:
        out["source.port"] = row.ports[0]
    if row.asn is not None:
        out["source.asn"] = row.asn
    if row.as_name:
        out["source.as_name"] = row.as_name
    if row.country:
        out["source.geolocation.cc"] = row.country
    proto = transport(row.botnet)
    if proto:
        out["protocol.transport"] = proto
    if row.bot_ids:
        out["extra.bot_ids"] = list(row.bot_ids)
    return out


class _IntelMQ:
    name = "intelmq"
    media_type = "application/x-ndjson"
    extension = "intelmq.jsonl"
    description = "IntelMQ harmonised events (infected-system), one JSON object per line"
    fields = FIELDS

    def write(self, rows: Iterable[FeedRow], context: FeedContext) -> Iterator[bytes]:
        encoder = msgspec.json.Encoder()

        def encode(chunk: list[FeedRow]) -> bytes:
            return b"".join(encoder.encode(event(row, context)) + b"\n" for row in chunk)

        yield from chunked(rows, encode)


FORMAT = _IntelMQ()
