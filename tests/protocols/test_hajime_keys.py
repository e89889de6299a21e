"""Hajime's daily info-hashes against the published table (PROTOCOLS.md Appendix A)."""

from __future__ import annotations

import datetime as dt

import pytest

from botmon.protocols import hajime_keys as hk

PUBLISHED = [
    ("config", dt.date(2019, 2, 23), "649c7551e3d51c63a89a4f1b99d2a1775abd9e47"),
    ("config", dt.date(2019, 2, 27), "cdc8a84b7f113a76b150e21094d2c736c64b1706"),
    (".i.arm5.1506551478", dt.date(2019, 2, 23), "868415df00c90d8ef82b4c5d49f6d6d5324bbdf5"),
    ("atk.mipseb.1506215619", dt.date(2019, 2, 25), "df31ea174e0b3d5bb05218f751330d4df953b9ef"),
]


@pytest.mark.parametrize(("file", "day", "expected"), PUBLISHED)
def test_published_pairs(file: str, day: dt.date, expected: str) -> None:
    assert hk.info_hash(file, day).hex() == expected


def test_worked_example_date_text() -> None:
    assert hk.date_text(dt.date(2019, 2, 23)) == "23-1-119-6-53"
    # Sunday is weekday 0 and 1 January is day 0 of the year
    assert hk.date_text(dt.date(2023, 1, 1)) == "1-0-123-0-0"


def test_day_keys_name_file_arch_and_day() -> None:
    files = hk.file_names(("mipseb",))
    assert files == ("config", "atk.mipseb.1506215619", ".i.mipseb.1506551478")
    keys = hk.day_keys(files, hk.utc_day(1_551_000_000.0))  # 2019-02-24 09:20 UTC
    assert [(k.file, k.arch, k.day) for k in keys] == [
        ("config", None, "2019-02-24"),
        ("atk.mipseb.1506215619", "mipseb", "2019-02-24"),
        (".i.mipseb.1506551478", "mipseb", "2019-02-24"),
    ]
    assert keys[0].info_hash == hk.info_hash("config", dt.date(2019, 2, 24))
    assert len(hk.file_names()) == 1 + 2 * len(hk.ARCHITECTURES)


def test_serves_own_files_and_module_prefixes() -> None:
    own = hk.files_of("arm7")
    assert hk.serves(own, "config") == "config"
    assert hk.serves(own, "atk.arm7.") == "atk.arm7.1506215619"
    assert hk.serves(own, "atk.arm7.99") == "atk.arm7.1506215619"
    assert hk.serves(own, ".i.arm7.1") == ".i.arm7.1506551478"
    assert hk.serves(own, "atk.mipsel.1506215619") is None
    assert hk.serves(own, "passwd") is None
