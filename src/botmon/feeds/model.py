"""What a feed is made of: a network scope, a query, and one row per bot and botnet.

The store answers a :class:`FeedQuery` with :class:`FeedRow` pages (its method
``feed_rows(query) -> Iterator[list[FeedRow]]``, filtering by the scope in the database, rows
ordered by ``(botnet, ip)`` so that :attr:`FeedRow.cursor` of a page's last row continues
the next request). Every output format (:mod:`botmon.feeds.formats`) and every report reads
these rows only, so a network owner gets the same bots whatever format they ask for.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Literal, Protocol

import msgspec

Origin = Literal["p2p-crawler", "p2p-sensor"]
"""n6's vocabulary: an active crawl of a P2P botnet, or passive listening (a sensor)."""

Confidence = Literal["low", "medium", "high"]
"""How sure botmon is that the host is infected; the rule is :func:`confidence_of`."""

Tlp = Literal["clear", "green", "amber", "amber+strict", "red"]
"""The Traffic Light Protocol (2.0) label a feed is shared under."""


class FeedScope(msgspec.Struct, frozen=True, kw_only=True):
    """The networks a token or a request covers: any of the ASes, CIDRs or countries.

    An empty scope covers everything (admins and viewers); a network-owner token always has
    at least one entry, and a request may only narrow it."""

    asns: tuple[int, ...] = ()
    cidrs: tuple[str, ...] = ()
    """Networks in CIDR notation (``198.51.100.0/24``, ``2001:db8::/32``), normalised."""
    countries: tuple[str, ...] = ()
    """ISO 3166-1 alpha-2 codes, upper case."""

    def is_empty(self) -> bool:
        return not (self.asns or self.cidrs or self.countries)


class FeedQuery(msgspec.Struct, frozen=True, kw_only=True):
    """Bots observed in ``[since, until)`` (epoch seconds) inside ``scope``."""

    since: float
    until: float
    scope: FeedScope = FeedScope()
    botnets: tuple[str, ...] = ()
    """Only these botnets; empty: every botnet."""
    after: tuple[str, str] | None = None
    """Continue after this ``(botnet, ip)`` (a decoded cursor)."""
    limit: int | None = None
    """At most this many rows in all; None: every row."""
    page_size: int = 10_000
    """Rows per page the store yields (bounded memory however large the answer)."""


class FeedRow(msgspec.Struct, frozen=True, kw_only=True):
    """One bot of one botnet in the period: an IP address and what botmon knows of it."""

    botnet: str
    ip: str
    first_seen: float
    last_seen: float
    observations: int
    """Stored replies (crawler replies and sensor contacts) of this address in the period."""
    ports: tuple[int, ...]
    """Distinct ports, ascending, at most 16."""
    bot_ids: tuple[str, ...] = ()
    """Bot IDs the address answered with, where the protocol has them (at most 16)."""
    asn: int | None = None
    as_name: str | None = None
    country: str | None = None
    origins: tuple[Origin, ...] = ()
    """``p2p-crawler`` when a crawler got replies from it, ``p2p-sensor`` when a sensor was
    contacted by it; both when both."""
    vantage_points: int = 1
    """Distinct monitors (sources) that saw it."""
    days: int = 1
    """Distinct UTC days it was seen on."""
    confidence: Confidence = "low"

    @property
    def cursor(self) -> tuple[str, str]:
        return (self.botnet, self.ip)


def confidence_of(origins: Iterable[str], vantage_points: int, days: int) -> Confidence:
    """The documented confidence rule (docs/feeds.md).

    high: seen by both a crawler and a sensor, or by at least two vantage points on at least
    two days; medium: by several vantage points or on several days; low: one monitor, one day
    (still a bot that answered the botnet's protocol, but a single sighting).
    """
    kinds = set(origins)
    if len(kinds) >= 2 or (vantage_points >= 2 and days >= 2):
        return "high"
    if vantage_points >= 2 or days >= 2:
        return "medium"
    return "low"


class FeedContext(msgspec.Struct, frozen=True, kw_only=True):
    """What a format needs besides the rows: when, for whom, under which label."""

    generated_at: float
    since: float
    until: float
    producer: str = "botmon"
    """The organisation or instance named as the source of the data."""
    recipient: str | None = None
    """The token holder the feed is made for (None: an admin's own export)."""
    tlp: Tlp = "amber"
    scope: FeedScope = FeedScope()


class FeedFormat(Protocol):
    """One output format: a name for ``format=``, a media type, and a streaming writer."""

    name: str
    media_type: str
    extension: str
    description: str

    def write(self, rows: Iterable[FeedRow], context: FeedContext) -> Iterator[bytes]:
        """The encoded answer in chunks, reading ``rows`` lazily (memory bounded by a page,
        except where the format's own library needs the whole document)."""
        ...


class FeedField(msgspec.Struct, frozen=True, kw_only=True):
    """One field of a format, as the schema endpoint (``GET /api/v1/feeds/schema``) lists
    it. A format module gives its list as the ``fields`` attribute of its format object."""

    name: str
    type: str
    """``string``, ``integer``, ``number``, ``array`` or ``object`` (JSON's names)."""
    meaning: str
    presence: Literal["always", "sometimes", "never"] = "always"
    """``always``: botmon fills it for every row; ``sometimes``: when known (the AS of an
    address the GeoIP data does not know, for example); ``never``: a column of the layout
    botmon has nothing for, left empty so parsers of the layout read the file unchanged."""
