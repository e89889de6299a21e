"""Reading country and AS from every .mmdb record layout botmon promises to understand."""

from __future__ import annotations

from pathlib import Path

import pytest

from botmon.enrich.sources import GeoDataError, MmdbSource, geo_from_record, open_source
from botmon.enrich.types import GeoInfo
from botmon.ipaddr import ip_to_int


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"country": {"iso_code": "DE"}}, GeoInfo("DE")),
        ({"registered_country": {"iso_code": "CH"}}, GeoInfo("CH")),
        ({"country_code": "fr"}, GeoInfo("FR")),
        (
            {"autonomous_system_number": 3320, "autonomous_system_organization": "DTAG"},
            GeoInfo(None, 3320, "DTAG"),
        ),
        (
            {"traits": {"autonomous_system_number": 7, "autonomous_system_organization": "X"}},
            GeoInfo(None, 7, "X"),
        ),
        ({"asn": "AS13335", "as_name": "Cloudflare"}, GeoInfo(None, 13335, "Cloudflare")),
        (
            {"country": {"iso_code": "US"}, "autonomous_system_number": 15169},
            GeoInfo("US", 15169, None),
        ),
    ],
)
def test_every_layout_is_read(record: dict[str, object], expected: GeoInfo) -> None:
    assert geo_from_record(record) == expected


@pytest.mark.parametrize(
    "record",
    [
        None,
        "DE",
        [],
        {},
        {"country": "Germany"},
        {"country": {"iso_code": 49}},
        {"country_code": "D1"},
        {"autonomous_system_number": 0},
        {"autonomous_system_number": -5},
        {"autonomous_system_number": 2**40},
        {"autonomous_system_number": True},
        {"asn": "ASxyz"},
    ],
)
def test_values_of_the_wrong_shape_are_ignored(record: object) -> None:
    assert geo_from_record(record) is None


def test_nested_and_flat_databases(maxmind_country_db: Path, flat_db: Path) -> None:
    nested = MmdbSource(maxmind_country_db)
    flat = MmdbSource(flat_db)
    assert nested.database_type == "GeoLite2-Country"
    assert nested.get(ip_to_int("1.1.1.1")) == GeoInfo("AU")
    assert nested.get(ip_to_int("::ffff:8.8.8.8")) == GeoInfo("US")
    assert nested.get(ip_to_int("2a00:1450::5")) == GeoInfo("IE")
    assert nested.get(ip_to_int("4.4.4.4")) is None
    assert flat.get(ip_to_int("5.5.1.2")) == GeoInfo("DE", 3320, "Deutsche Telekom AG")
    # An IPv4-only database has nothing to say about IPv6, and says so without an error.
    assert flat.get(ip_to_int("2a00:1450::5")) is None
    nested.close()
    flat.close()


def test_missing_and_invalid_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(GeoDataError, match="not found"):
        MmdbSource(tmp_path / "nope.mmdb")
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(GeoDataError, match="not a MaxMind-format database"):
        MmdbSource(junk)
    bad_table = tmp_path / "bad.ranges"
    bad_table.write_bytes(b"garbage")
    with pytest.raises(GeoDataError, match="bad magic"):
        open_source(bad_table)


def test_range_tables_are_shared_but_reread_when_rewritten(tmp_path: Path) -> None:
    from botmon.enrich.ranges import RangeTable
    from botmon.enrich.sources import RangeSource

    path = tmp_path / "asn.ranges"
    one = (ip_to_int("1.0.0.0"), ip_to_int("1.0.0.255"), [1, "One"])
    RangeTable.build([one])[0].save(path)
    first, second = RangeSource(path), RangeSource(path)
    assert first.table is second.table
    assert first.get(ip_to_int("1.0.0.7")) == GeoInfo(None, 1, "One")
    two = (ip_to_int("1.0.0.0"), ip_to_int("1.0.0.255"), [2, "Two, longer name"])
    RangeTable.build([two])[0].save(path)
    assert RangeSource(path).get(ip_to_int("1.0.0.7")) == GeoInfo(None, 2, "Two, longer name")
    with pytest.raises(GeoDataError, match="cannot read"):
        RangeSource(tmp_path / "missing.ranges")
