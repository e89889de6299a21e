"""The values enrichment hands out: what an IP is (:class:`GeoInfo`) and where data came from."""

from __future__ import annotations

import msgspec


class GeoInfo(msgspec.Struct, frozen=True, gc=False):
    """Country and autonomous system of one address; a field is None when no database knows.

    ``country`` is ISO 3166-1 alpha-2 in upper case, ``asn`` the AS number, ``as_name`` the
    AS's organisation name as the database spells it.
    """

    country: str | None = None
    asn: int | None = None
    as_name: str | None = None


UNKNOWN = GeoInfo()
"""The answer for an address no database knows (private, reserved, unrouted)."""


class DataSource(msgspec.Struct, frozen=True, omit_defaults=True):
    """One database enrichment reads, for the dashboard's about box and ``DATA.md``.

    ``attribution`` is the credit line the licence asks for; ``url`` where it should link.
    """

    name: str
    kind: str
    """``country``, ``asn``, ``country+asn`` or ``lab``."""
    path: str
    licence: str
    package: str | None = None
    version: str | None = None
    data_date: str | None = None
    """ISO date (UTC) of the data, from the database's build time or the package version."""
    attribution: str | None = None
    url: str | None = None
