"""A country's main IANA time zone, for the dashboard's "bots' local time" views.

Botnet activity follows the owners' day, so the views shift each country's counts into one
representative zone: the zone of the country's largest population. Single-zone countries
take their only zone from the tz database's ``zone.tab`` (read from the pinned PyPI ``tzdata``
package, so it works offline and the same everywhere; the system's copy is the fallback).
For every country with several zones the choice is written down below and a test checks it
covers them all, so a new multi-zone country in a tzdata update is a visible decision.
"""

from __future__ import annotations

import functools
import importlib.resources
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "UTC"

MAIN_ZONES: dict[str, str] = {
    "AQ": "Antarctica/McMurdo",
    "AR": "America/Argentina/Buenos_Aires",
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "CD": "Africa/Kinshasa",
    "CL": "America/Santiago",
    "CN": "Asia/Shanghai",
    "CY": "Asia/Nicosia",
    "DE": "Europe/Berlin",
    "EC": "America/Guayaquil",
    "ES": "Europe/Madrid",
    "FM": "Pacific/Chuuk",
    "GL": "America/Nuuk",
    "ID": "Asia/Jakarta",
    "KI": "Pacific/Tarawa",
    "KZ": "Asia/Almaty",
    "MH": "Pacific/Majuro",
    "MN": "Asia/Ulaanbaatar",
    "MX": "America/Mexico_City",
    "MY": "Asia/Kuala_Lumpur",
    "NZ": "Pacific/Auckland",
    "PF": "Pacific/Tahiti",
    "PG": "Pacific/Port_Moresby",
    "PS": "Asia/Hebron",
    "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv",
    "UM": "Pacific/Wake",
    "US": "America/New_York",
    "UZ": "Asia/Tashkent",
}
"""The most populous zone of each country that ``zone.tab`` gives several zones."""

EXTRA_ZONES: dict[str, str] = {
    "XK": "Europe/Belgrade",
}
"""Codes found in IP data but not in ISO 3166 / ``zone.tab`` (Kosovo uses Belgrade's clock)."""


def _zone_tab_text() -> str:
    try:
        return (importlib.resources.files("tzdata.zoneinfo") / "zone.tab").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return Path("/usr/share/zoneinfo/zone.tab").read_text("utf-8")


@functools.cache
def country_zones() -> dict[str, list[str]]:
    """Country -> its zones in ``zone.tab`` order."""
    zones: dict[str, list[str]] = {}
    for line in _zone_tab_text().splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) >= 3:
            zones.setdefault(parts[0].upper(), []).append(parts[2])
    return zones


@functools.cache
def main_zones() -> dict[str, str]:
    """Country -> main zone, for every country the tz database knows (plus ``EXTRA_ZONES``)."""
    out = {cc: MAIN_ZONES.get(cc, zones[0]) for cc, zones in country_zones().items()}
    out.update(EXTRA_ZONES)
    return out


def timezone_for_country(country: str | None, default: str = DEFAULT_ZONE) -> str:
    """The IANA zone most of ``country``'s people live in; ``default`` when unknown or None."""
    if not country:
        return default
    return main_zones().get(country.upper(), default)


def utc_offset_hours(country: str | None, at: float) -> float | None:
    """The UTC offset in hours of ``country``'s main zone at the instant ``at`` (epoch
    seconds), daylight saving included; None when the country or its zone is unknown."""
    zone = timezone_for_country(country, "")
    if not zone:
        return None
    try:
        offset = datetime.fromtimestamp(at, UTC).astimezone(ZoneInfo(zone)).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return offset.total_seconds() / 3600 if offset is not None else None
