"""The databases enrichment reads, behind one small interface: ``get(ip) -> GeoInfo | None``.

Users bring GeoLite2/GeoIP2 or DB-IP ``.mmdb`` files, whose records nest the country
(``{"country": {"iso_code": "DE"}}``) and put AS fields at the top (GeoLite2-ASN, DB-IP
ASN Lite) or under ``traits`` (GeoIP2 ISP/Enterprise); the default data's records are flat
(``country_code``). :func:`geo_from_record` reads every one of these layouts, so a source never
needs to be told which one it has. The default AS data is a range table
(:class:`~botmon.enrich.ranges.RangeTable`).
"""

from __future__ import annotations

import functools
import socket
from pathlib import Path
from typing import Any, Protocol

import maxminddb

from botmon.digits import is_ascii_number
from botmon.enrich.ranges import RangeTable, RangeTableError
from botmon.enrich.types import GeoInfo
from botmon.ipaddr import is_v4

_MAX_ASN = 0xFFFF_FFFF
_MAX_NAME = 256
_inet_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6


class GeoDataError(ValueError):
    """A database file that cannot be used (missing, not a database, truncated)."""


class GeoSource(Protocol):
    """Anything that can say what it knows about one address."""

    name: str
    path: str

    def get(self, ip: int) -> GeoInfo | None:
        """What this source knows about ``ip`` (a botmon 128-bit integer); None if nothing."""

    def close(self) -> None:
        """Release the file."""


def _country(value: Any) -> str | None:
    if type(value) is str and len(value) == 2 and value.isascii() and value.isalpha():
        return value if value.isupper() else value.upper()
    return None


def _asn(value: Any) -> int | None:
    if isinstance(value, str):
        text = value.strip()
        text = text[2:] if text[:2].upper() == "AS" else text
        value = int(text) if is_ascii_number(text) and len(text) <= 10 else None
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= _MAX_ASN:
        return value
    return None


def _name(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:_MAX_NAME]
    return None


def _nested(record: dict[str, Any], outer: str, inner: str) -> Any:
    part = record.get(outer)
    return part.get(inner) if isinstance(part, dict) else None


def geo_from_record(record: Any) -> GeoInfo | None:
    """Country and AS from one ``.mmdb`` record in any of the layouts botmon knows.

    Country: flat ``country_code`` (ip-location-db), else ``country.iso_code`` (MaxMind,
    DB-IP), else ``registered_country.iso_code`` (MaxMind's only answer for some anycast and
    satellite ranges). AS:
    ``autonomous_system_number`` / ``_organization`` at the top or under ``traits``, or ``asn``
    / ``as_name``. Values of the wrong shape are ignored rather than trusted.
    """
    if not isinstance(record, dict):
        return None
    get = record.get
    # Flat layouts (the default data) first: the common case costs two dict lookups.
    country = get("country_code")
    if country is None:
        country = _nested(record, "country", "iso_code") or get("country")
    country = _country(country) or _country(_nested(record, "registered_country", "iso_code"))
    asn_value = get("autonomous_system_number")
    if asn_value is None and "traits" in record:
        asn = _asn(_nested(record, "traits", "autonomous_system_number"))
        name_value: Any = _nested(record, "traits", "autonomous_system_organization")
    elif asn_value is None:
        asn = _asn(get("asn"))
        name_value = get("as_name") or get("as_organization")
    else:
        asn = _asn(asn_value)
        name_value = get("autonomous_system_organization")
    if country is None and asn is None:
        return None
    return GeoInfo(country, asn, _name(name_value) if asn is not None else None)


class MmdbSource:
    """A MaxMind-format database (``.mmdb``) read with ``maxminddb`` (memory-mapped, C reader)."""

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self.path = str(path)
        try:
            self._reader = maxminddb.open_database(self.path)
        except FileNotFoundError:
            raise GeoDataError(f"GeoIP database not found: {self.path}") from None
        except (OSError, ValueError, RuntimeError) as exc:
            # maxminddb raises InvalidDatabaseError (a RuntimeError) for a non-database file.
            raise GeoDataError(f"not a MaxMind-format database: {self.path}: {exc}") from None
        meta = self._reader.metadata()
        self.name = name or str(meta.database_type)
        self.database_type = str(meta.database_type)
        self.build_epoch = int(meta.build_epoch)
        self._v6 = int(meta.ip_version) == 6

    def get(self, ip: int) -> GeoInfo | None:
        """Look ``ip`` up; IPv4 addresses are asked as IPv4 (not ``::ffff:``) on purpose.

        Databases differ in whether they alias the IPv4-mapped range (MaxMind's do, the
        default data does not), while every IPv6 database answers an IPv4 query.
        """
        if is_v4(ip):
            text = _inet_ntop(_AF_INET, (ip & 0xFFFF_FFFF).to_bytes(4, "big"))
        elif self._v6:
            text = _inet_ntop(_AF_INET6, ip.to_bytes(16, "big"))
        else:
            return None
        try:
            record = self._reader.get(text)
        except (ValueError, RuntimeError):
            # A corrupt node in a user's file: treat that address as unknown, keep going.
            return None
        return geo_from_record(record) if record is not None else None

    def close(self) -> None:
        """Unmap the file."""
        self._reader.close()


@functools.lru_cache(maxsize=8)
def _load_table(path: str, mtime_ns: int, size: int) -> RangeTable:
    """Tables are read-only: every enricher in a process shares one copy of each file
    (a server restarted by tests, several enrichers in one process), keyed so that a rewritten
    file is read again."""
    del mtime_ns, size  # part of the cache key only
    return RangeTable.load(Path(path))


class RangeSource:
    """A :class:`RangeTable` of AS ranges (values ``[asn, name]``) or countries (``"DE"``)."""

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self.path = str(path)
        try:
            stat = Path(path).stat()
            self._table = _load_table(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)
        except OSError as exc:
            raise GeoDataError(f"cannot read range table {path}: {exc.strerror}") from None
        except RangeTableError as exc:
            raise GeoDataError(str(exc)) from None
        self.name = name or Path(path).stem
        self.meta = self._table.meta
        # One GeoInfo per distinct value, made on first use: lookups then allocate nothing.
        # A dict, not a list: holding only untracked values, the garbage collector skips it.
        self._infos: dict[int, GeoInfo | None] = {}

    @property
    def table(self) -> RangeTable:
        """The loaded table (for sampling)."""
        return self._table

    def get(self, ip: int) -> GeoInfo | None:
        """Look ``ip`` up by bisection."""
        i = self._table.index(ip)
        if i is None:
            return None
        try:
            return self._infos[i]
        except KeyError:
            info = self._infos[i] = self._convert(self._table.values[i])
            return info

    @staticmethod
    def _convert(value: Any) -> GeoInfo | None:
        if isinstance(value, str):
            return GeoInfo(country=_country(value))
        if isinstance(value, tuple | list) and value:
            asn = _asn(value[0])
            if asn is None:
                return None
            return GeoInfo(asn=asn, as_name=_name(value[1]) if len(value) > 1 else None)
        return None

    def close(self) -> None:
        """Nothing to release: the table lives in memory."""


def open_source(path: str | Path, name: str | None = None) -> GeoSource:
    """Open a ``.mmdb`` file, or a botmon range table (``.ranges``), as a source."""
    if str(path).endswith(".ranges"):
        return RangeSource(path, name)
    return MmdbSource(path, name)
