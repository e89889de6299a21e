"""The feed as a STIX 2.1 bundle, built with the ``stix2`` library and streamed.

What a bundle holds (docs/feeds-formats.md has the full mapping):

- the TLP marking definition of the feed (the library's own TLP 1.0 objects: ``clear`` is
  white, ``amber+strict`` is shared as amber; see :data:`botmon.feeds.fmt_shared.TLP1`);
- an Identity for the producer, named by every other object's ``created_by_ref``;
- per botnet a Malware object (the family: ``is_family``, ``malware_types: [bot]``);
- per bot an Indicator (a pattern on its ``ipv4-addr``/``ipv6-addr`` value, ``valid_from``
  its first sighting, the confidence as a STIX number), an ``indicates`` Relationship to the
  family, the address SCO and an Observed-Data (first and last sighting, the number of
  observations).

Identifiers are UUIDv5 of the botnet and the address (the address SCOs use STIX's own
deterministic IDs), so fetching a feed again names the same objects: a consumer sees a newer
``modified`` of a known object, never a new one. The bundle is written as
``{"type":"bundle","id":...,"objects":[`` then the objects one by one, then ``]}``, so memory
holds one bot's objects (and one Malware per botnet), however many bots the feed has.
The library checks every object as it is made (it parses each indicator's pattern), which
costs about 2.3 ms per bot (benchmarks/feed_formats.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
from stix2 import v21

from botmon.feeds.fmt_shared import (
    TLP1,
    chunked_text,
    derived_uuid,
    describe,
    html_safe_json,
    ip_version,
    utc,
)
from botmon.feeds.model import Confidence, FeedContext, FeedField, FeedRow

CONFIDENCE: dict[Confidence, int] = {"low": 15, "medium": 50, "high": 85}
"""botmon's levels as the middle of STIX 2.1's "Low/Med/High" scale (its appendix on
confidence scales: low 1-29, medium 30-69, high 70-100), so a consumer that maps the number
back gets the same word."""

TLP_MARKINGS: dict[str, v21.MarkingDefinition] = {
    "white": v21.TLP_WHITE,
    "green": v21.TLP_GREEN,
    "amber": v21.TLP_AMBER,
    "red": v21.TLP_RED,
}

FIELDS: tuple[FeedField, ...] = (
    FeedField(
        name="marking-definition",
        type="object",
        meaning="The TLP marking (TLP 1.0: "
        "clear is white, amber+strict is amber), named by every other object",
    ),
    FeedField(name="identity", type="object", meaning="The producer (created_by_ref)"),
    FeedField(
        name="malware",
        type="object",
        meaning="Per botnet: name, is_family true, malware_types [bot]",
    ),
    FeedField(
        name="indicator",
        type="object",
        meaning="Per bot: pattern on ipv4-addr/ipv6-addr "
        "value, valid_from = first seen, confidence 15/50/85 (low/medium/high), labels "
        "(origins, port:N), description (observations, ports, origins, bot IDs, AS, "
        "country)",
    ),
    FeedField(
        name="relationship",
        type="object",
        meaning="Per bot: indicates, from its indicator to its botnet's malware",
    ),
    FeedField(name="ipv4-addr / ipv6-addr", type="object", meaning="Per bot: the address"),
    FeedField(
        name="observed-data",
        type="object",
        meaning="Per bot: first_observed, "
        "last_observed, number_observed = observations, object_refs = the address",
    ),
)
"""The bundle's objects, for the schema endpoint. IDs are UUIDv5 of botnet and address."""

MAX_NUMBER_OBSERVED = 999_999_999
"""STIX's upper bound for ``number_observed``."""


def _sid(kind: str, *parts: str) -> str:
    return f"{kind}--{derived_uuid(kind, *parts)}"


def _pattern(ip: str, version: int) -> str:
    # Feed addresses are normalised, but a pattern's string literal is quoted text: escape it
    # the way STIX patterning requires rather than trust every caller.
    literal = ip.replace("\\", "\\\\").replace("'", "\\'")
    return f"[ipv{version}-addr:value = '{literal}']"


class StixFormat:
    """``format=stix``: a STIX 2.1 bundle (``application/stix+json;version=2.1``)."""

    name = "stix"
    media_type = "application/stix+json;version=2.1"
    extension = "json"
    description = (
        "STIX 2.1 bundle: per bot an Indicator, an indicates Relationship to the botnet's "
        "Malware, the address and an Observed-Data; TLP marking; stable IDs."
    )
    fields = FIELDS

    def write(self, rows: Iterable[FeedRow], context: FeedContext) -> Iterator[bytes]:
        return chunked_text(self._pieces(rows, context))

    def _pieces(self, rows: Iterable[FeedRow], context: FeedContext) -> Iterator[str]:
        bundle_id = f"bundle--{derived_uuid('bundle', msgspec.json.encode(context).decode())}"
        yield f'{{"type": "bundle", "id": "{bundle_id}", "objects": ['
        for i, obj in enumerate(self.objects(rows, context)):
            yield ("" if i == 0 else ", ") + html_safe_json(obj.serialize())
        yield "]}"

    def objects(self, rows: Iterable[FeedRow], context: FeedContext) -> Iterator[Any]:
        """Every object of the bundle in order, made lazily from ``rows``."""
        marking = TLP_MARKINGS[TLP1[context.tlp]]
        marks = [marking.id]
        since = utc(context.since)
        identity = v21.Identity(
            id=_sid("identity", context.producer),
            name=context.producer,
            identity_class="organization",
            description="Producer of botmon's feeds of bots seen in peer-to-peer botnets.",
            created=since,
            modified=since,
            object_marking_refs=marks,
        )
        yield marking
        yield identity
        families: set[str] = set()
        for row in rows:
            malware_id = _sid("malware", row.botnet)
            if row.botnet not in families:
                # Rows come ordered by botnet, so each family is written before its first bot;
                # the set holds one name per botnet, not per bot.
                families.add(row.botnet)
                yield v21.Malware(
                    id=malware_id,
                    name=row.botnet,
                    is_family=True,
                    malware_types=["bot"],
                    description=f"The peer-to-peer botnet {row.botnet} as botmon monitors it.",
                    created_by_ref=identity.id,
                    created=since,
                    modified=since,
                    object_marking_refs=marks,
                )
            yield from self._bot(row, identity.id, malware_id, marks)

    def _bot(
        self, row: FeedRow, identity_id: str, malware_id: str, marks: list[str]
    ) -> Iterator[Any]:
        first, last = utc(row.first_seen), utc(max(row.first_seen, row.last_seen))
        common: dict[str, Any] = {
            "created_by_ref": identity_id,
            "created": first,
            "modified": last,
            "object_marking_refs": marks,
        }
        version = ip_version(row.ip)
        indicator = v21.Indicator(
            id=_sid("indicator", row.botnet, row.ip),
            name=f"{row.botnet} bot {row.ip}",
            description=describe(row),
            indicator_types=["compromised"],
            pattern=_pattern(row.ip, version),
            pattern_type="stix",
            valid_from=first,
            confidence=CONFIDENCE[row.confidence],
            labels=[*row.origins, *(f"port:{p}" for p in row.ports)] or None,
            **common,
        )
        yield indicator
        yield v21.Relationship(
            id=_sid("relationship", row.botnet, row.ip),
            relationship_type="indicates",
            source_ref=indicator.id,
            target_ref=malware_id,
            **common,
        )
        address = (v21.IPv6Address if version == 6 else v21.IPv4Address)(value=row.ip)
        yield address
        yield v21.ObservedData(
            id=_sid("observed-data", row.botnet, row.ip),
            first_observed=first,
            last_observed=last,
            number_observed=min(max(row.observations, 1), MAX_NUMBER_OBSERVED),
            object_refs=[address.id],
            **common,
        )


FORMAT = StixFormat()
