"""Each country's main time zone, offline, for every country the default data knows."""

from __future__ import annotations

import zoneinfo

import pytest

from botmon.enrich.sampling import countries
from botmon.enrich.timezones import (
    DEFAULT_ZONE,
    EXTRA_ZONES,
    MAIN_ZONES,
    country_zones,
    timezone_for_country,
    utc_offset_hours,
)


@pytest.mark.parametrize(
    ("country", "zone"),
    [
        ("US", "America/New_York"),
        ("us", "America/New_York"),
        ("RU", "Europe/Moscow"),
        ("BR", "America/Sao_Paulo"),
        ("CN", "Asia/Shanghai"),
        ("IN", "Asia/Kolkata"),
        ("AU", "Australia/Sydney"),
        ("UA", "Europe/Kyiv"),
        ("DE", "Europe/Berlin"),
        ("NG", "Africa/Lagos"),
        ("JP", "Asia/Tokyo"),
        ("AR", "America/Argentina/Buenos_Aires"),
        ("CA", "America/Toronto"),
        ("ID", "Asia/Jakarta"),
        ("XK", "Europe/Belgrade"),
    ],
)
def test_main_zone_of_a_spread_of_countries(country: str, zone: str) -> None:
    assert timezone_for_country(country) == zone


def test_unknown_countries_get_the_default() -> None:
    assert timezone_for_country(None) == DEFAULT_ZONE
    assert timezone_for_country("") == DEFAULT_ZONE
    assert timezone_for_country("ZZ") == DEFAULT_ZONE
    assert timezone_for_country("not a country", default="Etc/GMT") == "Etc/GMT"


def test_every_multi_zone_country_has_a_deliberate_choice() -> None:
    multi = {cc for cc, zones in country_zones().items() if len(zones) > 1}
    assert multi == set(MAIN_ZONES), "a tzdata update changed the multi-zone countries"
    for cc, zone in MAIN_ZONES.items():
        assert zone in country_zones()[cc]


def test_every_zone_loads_offline() -> None:
    zones = {timezone_for_country(cc) for cc in country_zones()} | set(EXTRA_ZONES.values())
    for zone in zones:
        zoneinfo.ZoneInfo(zone)


def test_every_country_of_the_default_data_has_a_zone() -> None:
    data_countries = countries()
    assert len(data_countries) > 200
    without = {cc for cc in data_countries if timezone_for_country(cc, default="") == ""}
    # Bouvet Island and Heard Island have no people and no zone in the tz database.
    assert without <= {"BV", "HM"}


def test_utc_offsets_follow_daylight_saving_and_know_what_they_do_not_know() -> None:
    """The one UTC-offset function the dashboard's local-time profile and the demo history
    generator both use."""
    summer, winter = 1_750_000_000.0, 1_735_000_000.0  # June 2025, December 2024
    assert utc_offset_hours("DE", summer) == 2.0
    assert utc_offset_hours("de", winter) == 1.0
    assert utc_offset_hours("IN", summer) == 5.5
    assert utc_offset_hours("US", winter) == -5.0
    assert utc_offset_hours("ZZ", summer) is None
    assert utc_offset_hours(None, summer) is None
