"""CERT Polska's n6 event model: a JSON array of ``category=bots`` events.

n6's ``origin`` names how a source learned of a host; botmon's crawlers are n6's
``p2p-crawler`` ("active crawl of a peer-to-peer botnet") and its sensors n6's
``p2p-drone`` ("passive listening"). An event has one origin: ``p2p-crawler`` when a
crawler got replies from the bot (the stronger evidence), else ``p2p-drone``; both kinds
are in ``botmon_origins``. ``restriction`` follows the feed's TLP label
(:data:`botmon.feeds.common.N6_RESTRICTION`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from botmon.feeds.common import N6_RESTRICTION, chunked, event_id, iso_utc, json_array, transport
from botmon.feeds.model import FeedContext, FeedField, FeedRow

N6_ORIGIN = {"p2p-crawler": "p2p-crawler", "p2p-sensor": "p2p-drone"}

FIELDS: tuple[FeedField, ...] = (
    FeedField(name="id", type="string", meaning="Stable hash of the sighting (event_id)"),
    FeedField(name="source", type="string", meaning="'<producer>.p2p-botnets'"),
    FeedField(name="category", type="string", meaning="Always 'bots'"),
    FeedField(
        name="origin",
        type="string",
        meaning="p2p-crawler (a crawler got replies) or p2p-drone (only sensors were contacted)",
    ),
    FeedField(name="confidence", type="string", meaning="low, medium or high (docs/feeds.md)"),
    FeedField(
        name="restriction",
        type="string",
        meaning="public, need-to-know or internal, from the TLP label",
    ),
    FeedField(name="tlp", type="string", meaning="The TLP 2.0 label the feed is shared under"),
    FeedField(
        name="address",
        type="array",
        meaning="[{ip, cc, asn}]: the bot's address with country and AS when known",
    ),
    FeedField(name="sport", type="integer", meaning="The lowest port the bot was seen on"),
    FeedField(
        name="proto",
        type="string",
        meaning="udp or tcp (the protocol's transport)",
        presence="sometimes",
    ),
    FeedField(
        name="count", type="integer", meaning="Observations (replies and contacts) in the period"
    ),
    FeedField(name="time", type="string", meaning="First sighting in the period, ISO 8601 UTC"),
    FeedField(name="until", type="string", meaning="Last sighting in the period, ISO 8601 UTC"),
    FeedField(name="name", type="string", meaning="The botnet (malware family)"),
    FeedField(name="botmon_ports", type="array", meaning="Every port seen (at most 16)"),
    FeedField(
        name="botmon_bot_ids",
        type="array",
        meaning="Bot IDs the address answered with (at most 16)",
        presence="sometimes",
    ),
    FeedField(name="botmon_origins", type="array", meaning="p2p-crawler and/or p2p-sensor"),
    FeedField(
        name="botmon_vantage_points", type="integer", meaning="Distinct monitors that saw it"
    ),
    FeedField(name="botmon_days", type="integer", meaning="Distinct UTC days it was seen on"),
)


def event(row: FeedRow, context: FeedContext) -> dict[str, Any]:
    """One n6 event for one bot."""
    address: dict[str, Any] = {"ip": row.ip}
    if row.country:
        address["cc"] = row.country
    if row.asn is not None:
        address["asn"] = row.asn
    out: dict[str, Any] = {
        "id": event_id(row, context.producer),
        "source": f"{context.producer}.p2p-botnets",
        "category": "bots",
        "origin": "p2p-crawler" if "p2p-crawler" in row.origins else "p2p-drone",
        "confidence": row.confidence,
        "restriction": N6_RESTRICTION[context.tlp],
        "tlp": context.tlp,
        "address": [address],
        "count": row.observations,
        "time": iso_utc(row.first_seen),
        "until": iso_utc(row.last_seen),
        "name": row.botnet,
        "botmon_ports": list(row.ports),
        "botmon_origins": list(row.origins),
        "botmon_vantage_points": row.vantage_points,
        "botmon_days": row.days,
    }
    if row.ports:
        out["sport"] = row.ports[0]
    proto = transport(row.botnet)
    if proto:
        out["proto"] = proto
    if row.bot_ids:
        out["botmon_bot_ids"] = list(row.bot_ids)
    return out


class _N6:
    name = "n6"
    media_type = "application/json"
    extension = "n6.json"
    description = "n6 events (category bots, origin p2p-crawler/p2p-drone) as a JSON array"
    fields = FIELDS

    def write(self, rows: Iterable[FeedRow], context: FeedContext) -> Iterator[bytes]:
        encoder = msgspec.json.Encoder()

        def encode(chunk: list[FeedRow]) -> bytes:
            return b",".join(encoder.encode(event(row, context)) for row in chunk)

        yield from json_array(chunked(rows, encode))


FORMAT = _N6()
