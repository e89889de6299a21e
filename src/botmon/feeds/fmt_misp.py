"""The feed as one MISP event (JSON, ``{"Event": {...}}``), built with ``pymisp``.

pymisp builds the whole event in memory before it writes a byte (about 3 kB of peak memory
and 0.16 ms per attribute, benchmarks/feed_formats.py), so unlike the streamed formats this
one holds every row: at most :data:`MAX_ATTRIBUTES` of them. A feed with more bots ends the
event at the limit and says so in the event's ``info`` and in a ``text`` attribute that
names the cursor (``botnet,ip`` of the last bot included) to continue from; ask for fewer
rows (``limit=``, a narrower ``asn=``/``cidr=``/``botnet=``) or use a streamed format for
the rest.

The event: ``info`` names the botnets and the period, ``date`` the period's first day,
threat level medium (an infected host, not an attack on the recipient), analysis completed
once the period is over (ongoing before), ``distribution`` from the TLP label, the tags
``tlp:<label>`` (TLP 2.0 names, as MISP's tlp taxonomy has them),
``malware_classification:malware-category="Botnet"`` and one ``botmon:botnet="<name>"`` per
botnet. Per bot an ``ip-src`` attribute (category Network activity) with first_seen /
last_seen, a comment with ports, origin, confidence and bot IDs, its botnet's tag, and
``to_ids`` set for medium and high confidence only (a single sighting should not block).

UUIDs are UUIDv5: the event's from the producer, recipient, period, scope and botnets; an
attribute's from the event and the bot, so importing the same feed twice updates one event
instead of creating a second, and no two events share an attribute UUID (MISP needs them
unique across events).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec
from pymisp import MISPAttribute, MISPEvent

from botmon.feeds.common import iso_utc
from botmon.feeds.fmt_shared import derived_uuid, describe, html_safe_json, one_line, utc
from botmon.feeds.model import FeedContext, FeedField, FeedRow, Tlp

MAX_ATTRIBUTES = 25_000
"""Bots in one event: about 75 MB and 4 s of pymisp work (see the module docstring)."""

DISTRIBUTION: dict[Tlp, int] = {
    "red": 0,
    "amber+strict": 0,
    "amber": 1,
    "green": 2,
    "clear": 3,
}
"""TLP → MISP distribution: red and amber+strict stay in the receiving organisation (0),
amber in its community (1), green in connected communities (2), clear everywhere (3)."""

FIELDS: tuple[FeedField, ...] = (
    FeedField(
        name="Event.uuid",
        type="string",
        meaning="Stable per feed (producer, recipient, "
        "period, scope, botnets): a re-import updates the event",
    ),
    FeedField(name="Event.info", type="string", meaning="The botnets and the period"),
    FeedField(name="Event.date", type="string", meaning="The period's first day"),
    FeedField(name="Event.threat_level_id", type="string", meaning="2 (medium)"),
    FeedField(
        name="Event.analysis",
        type="string",
        meaning="2 (completed) once the period is over, else 1 (ongoing)",
    ),
    FeedField(
        name="Event.distribution",
        type="string",
        meaning="From TLP: red, amber+strict 0; amber 1; green 2; clear 3",
    ),
    FeedField(
        name="Event.Tag",
        type="array",
        meaning='tlp:<label>, malware_classification:malware-category="Botnet", '
        'botmon:botnet="<name>" per botnet',
    ),
    FeedField(name="Attribute.type", type="string", meaning="ip-src, one attribute per bot"),
    FeedField(name="Attribute.value", type="string", meaning="The bot's IP address"),
    FeedField(name="Attribute.first_seen", type="string", meaning="First sighting"),
    FeedField(name="Attribute.last_seen", type="string", meaning="Last sighting"),
    FeedField(
        name="Attribute.to_ids", type="boolean", meaning="true for medium and high confidence"
    ),
    FeedField(
        name="Attribute.comment",
        type="string",
        meaning="Observations, days, vantage points, ports, origins, confidence, bot IDs, "
        "AS and country",
    ),
    FeedField(name="Attribute.Tag", type="array", meaning='botmon:botnet="<name>"'),
)
"""The event's fields, for the schema endpoint."""

THREAT_LEVEL_MEDIUM = 2
ANALYSIS_ONGOING, ANALYSIS_COMPLETED = 1, 2


def _tag_value(text: str) -> str:
    """A value for ``namespace:predicate="value"`` tags: a double quote would end it early."""
    return one_line(text, 64).replace('"', "'")


class MispFormat:
    """``format=misp``: one MISP event (``application/json``)."""

    name = "misp"
    media_type = "application/json"
    extension = "json"
    description = (
        "MISP event JSON: one event for the period, an ip-src attribute per bot with "
        f"first/last seen and a comment; TLP and botnet tags; at most {MAX_ATTRIBUTES} bots."
    )
    fields = FIELDS
    max_rows = MAX_ATTRIBUTES
    """The most rows one answer can hold (the route may set the query's ``limit`` to it)."""

    def write(self, rows: Iterable[FeedRow], context: FeedContext) -> Iterator[bytes]:
        # A generator, so the event is built when the server first asks for bytes.
        yield self.event_json(rows, context).encode()

    def event(self, rows: Iterable[FeedRow], context: FeedContext) -> MISPEvent:
        """The event for ``rows`` (the first :data:`MAX_ATTRIBUTES` of them)."""
        taken: list[FeedRow] = []
        more = False
        for row in rows:
            if len(taken) == MAX_ATTRIBUTES:
                more = True
                break
            taken.append(row)
        botnets = sorted({r.botnet for r in taken})
        event = MISPEvent()
        key = msgspec.json.encode(
            [context.producer, context.recipient, context.since, context.until, context.scope]
        ).decode()
        event.uuid = str(derived_uuid("misp-event", key, *botnets))
        period = f"{iso_utc(context.since)} to {iso_utc(context.until)}"
        names = ", ".join(one_line(b, 64) for b in botnets) or "no botnet"
        event.info = f"botmon: bots of {names} seen {period}"
        if more:
            event.info += f" (first {MAX_ATTRIBUTES} bots only)"
        event.date = utc(context.since).date()
        event.threat_level_id = THREAT_LEVEL_MEDIUM
        over = context.until <= context.generated_at
        event.analysis = ANALYSIS_COMPLETED if over else ANALYSIS_ONGOING
        event.distribution = DISTRIBUTION[context.tlp]
        event.add_tag(f"tlp:{context.tlp}")
        event.add_tag('malware_classification:malware-category="Botnet"')
        for botnet in botnets:
            event.add_tag(f'botmon:botnet="{_tag_value(botnet)}"')
        for row in taken:
            attribute = event.add_attribute(
                "ip-src",
                row.ip,
                category="Network activity",
                to_ids=row.confidence != "low",
                comment=describe(row),
                first_seen=utc(row.first_seen),
                last_seen=utc(max(row.first_seen, row.last_seen)),
                uuid=str(derived_uuid("misp-attribute", event.uuid, row.botnet, row.ip)),
            )
            assert isinstance(attribute, MISPAttribute)  # one value gives one attribute
            attribute.add_tag(f'botmon:botnet="{_tag_value(row.botnet)}"')
        if more:
            botnet, ip = taken[-1].cursor
            event.add_attribute(
                "text",
                f"More bots than one event holds: continue after {botnet},{ip}",
                category="Other",
                to_ids=False,
                uuid=str(derived_uuid("misp-attribute", event.uuid, "more")),
            )
        return event

    def event_json(self, rows: Iterable[FeedRow], context: FeedContext) -> str:
        """The event as MISP's import JSON, ``{"Event": {...}}``."""
        return html_safe_json(f'{{"Event": {self.event(rows, context).to_json()}}}')


FORMAT = MispFormat()
