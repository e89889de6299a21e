"""Range tables: the compact, bisectable form of CSV range data (the default AS data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from botmon.enrich.ranges import RangeTable, RangeTableError, read_csv_ranges
from botmon.ipaddr import ip_to_int


def _rows() -> list[tuple[int, int, object]]:
    return [
        (ip_to_int("1.0.0.0"), ip_to_int("1.0.0.255"), [13335, "Cloudflare, Inc."]),
        (ip_to_int("1.0.4.0"), ip_to_int("1.0.7.255"), [38803, "Gtelecom"]),
        (ip_to_int("2001:200::"), ip_to_int("2001:200:ffff::"), [2500, "WIDE"]),
        (ip_to_int("9.0.0.0"), ip_to_int("9.255.255.255"), [13335, "Cloudflare, Inc."]),
    ]


def test_lookups_inside_between_and_outside_ranges() -> None:
    table, dropped = RangeTable.build(_rows())
    assert dropped == 0
    assert len(table) == 4
    assert table.get(ip_to_int("1.0.0.0")) == (13335, "Cloudflare, Inc.")
    assert table.get(ip_to_int("1.0.0.255")) == (13335, "Cloudflare, Inc.")
    assert table.get(ip_to_int("1.0.1.0")) is None
    assert table.get(ip_to_int("1.0.5.9")) == (38803, "Gtelecom")
    assert table.get(ip_to_int("0.255.255.255")) is None
    assert table.get(ip_to_int("200.0.0.1")) is None
    assert table.get(ip_to_int("2001:200:1::1")) == (2500, "WIDE")
    assert table.get(ip_to_int("2001:1ff::1")) is None
    # Same payload is stored once.
    assert len(table.values) == 3


def test_file_round_trip_keeps_every_range(tmp_path: Path) -> None:
    table, _ = RangeTable.build(_rows(), {"package": "x@1"})
    path = tmp_path / "t.ranges"
    table.save(path)
    loaded = RangeTable.load(path)
    assert list(loaded.ranges()) == list(table.ranges())
    assert loaded.meta == {"package": "x@1"}
    assert loaded.get(ip_to_int("2001:200:abcd::1")) == (2500, "WIDE")


def test_overlaps_keep_the_first_range() -> None:
    rows = [
        (ip_to_int("10.0.0.0"), ip_to_int("10.0.0.255"), "AA"),
        (ip_to_int("10.0.0.128"), ip_to_int("10.0.1.255"), "BB"),
    ]
    table, dropped = RangeTable.build(rows)
    assert dropped == 1
    assert table.get(ip_to_int("10.0.0.200")) == "AA"
    assert table.get(ip_to_int("10.0.1.1")) is None


def test_bad_rows_are_rejected() -> None:
    with pytest.raises(RangeTableError, match="mixes"):
        RangeTable.build([(ip_to_int("1.2.3.4"), ip_to_int("2001::1"), "X")])
    with pytest.raises(RangeTableError, match="bad range"):
        RangeTable.build([(5, 4, "X")])


@pytest.mark.parametrize("cut", [0, 3, 8, 20, -1, -17])
def test_truncated_or_damaged_files_give_a_clean_error(tmp_path: Path, cut: int) -> None:
    data = RangeTable.build(_rows())[0].to_bytes()
    with pytest.raises(RangeTableError):
        RangeTable.from_bytes(data[:cut])


def test_missing_file_is_a_clean_error(tmp_path: Path) -> None:
    with pytest.raises(RangeTableError, match="cannot read"):
        RangeTable.load(tmp_path / "missing.ranges")


def test_csv_rows_in_ip_location_db_format(tmp_path: Path) -> None:
    csv = tmp_path / "asn.csv"
    csv.write_text(
        '1.0.0.0,1.0.0.255,13335,"Cloudflare, Inc."\n'
        "2001:200::,2001:200:ffff:ffff:ffff:ffff:ffff:ffff,2500,WIDE Project\n"
    )
    rows = list(read_csv_ranges(csv))
    assert rows[0] == (ip_to_int("1.0.0.0"), ip_to_int("1.0.0.255"), [13335, "Cloudflare, Inc."])
    assert rows[1][2] == [2500, "WIDE Project"]
    bad = tmp_path / "bad.csv"
    bad.write_text("1.0.0.0,not-an-ip,1,x\n")
    with pytest.raises(RangeTableError, match=r"bad\.csv:1"):
        list(read_csv_ranges(bad))
    backwards = tmp_path / "backwards.csv"
    backwards.write_text("1.0.0.9,1.0.0.1,1,x\n")
    with pytest.raises(RangeTableError, match="ends before"):
        list(read_csv_ranges(backwards))
