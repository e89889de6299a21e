"""The COPY text encoder on its own: escaping, NULLs, timestamps, addresses (no database)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botmon.ipaddr import ip_to_int
from botmon.store import pg_copy
from botmon.validation import ReplyColumns


def _unescape(field: str) -> str | None:
    if field == "\\N":
        return None
    out, i = [], 0
    table = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
    while i < len(field):
        if field[i] == "\\":
            out.append(table[field[i + 1]])
            i += 2
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


@given(st.lists(st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_characters="\x00")))))
def test_text_fields_survive_escaping(values: list[str | None]) -> None:
    encoded = pg_copy.texts(values)
    assert all("\t" not in f and "\n" not in f and "\r" not in f for f in encoded)
    assert [_unescape(f) for f in encoded] == values


def test_timestamps_are_utc_with_microseconds() -> None:
    assert pg_copy.timestamps([0, 5]) == [
        "1970-01-01 00:00:00.000000+00",
        "1970-01-01 00:00:00.000005+00",
    ]
    us = [946_684_800_000_000, 1_750_000_000_123_456, 1_750_000_000_999_999]
    assert pg_copy.timestamps(us) == [
        "2000-01-01 00:00:00.000000+00",
        "2025-06-15 15:06:40.123456+00",
        "2025-06-15 15:06:40.999999+00",
    ]
    parsed = [dt.datetime.fromisoformat(t.replace("+00", "+00:00")) for t in pg_copy.timestamps(us)]
    assert [round(p.timestamp() * 1e6) for p in parsed] == us


def test_ipv4_mapped_addresses_become_plain_ipv4() -> None:
    values = [ip_to_int(t) for t in ("1.2.3.4", "::ffff:5.6.7.8", "::1", "2001:db8::1")]
    assert pg_copy.ips(values) == ["1.2.3.4", "5.6.7.8", "::1", "2001:db8::1"]


def test_a_reply_row_has_every_column_in_copy_order() -> None:
    cols = ReplyColumns(
        ts_us=[1_750_000_000_000_000],
        ip=[ip_to_int("127.0.0.1")],
        port=[80],
        bot_id=["a\tb"],
        data=['{"k":"v"}'],
    )
    payload = pg_copy.with_ids(pg_copy.replies(cols), 3, 7, "sensor").decode()
    assert payload == (
        '3\t7\tsensor\t2025-06-15 15:06:40.000000+00\t127.0.0.1\t80\ta\\tb\t{"k":"v"}\t\\N\t\\N\n'
    )
    assert pg_copy.replies(ReplyColumns()) == b""
    assert pg_copy.with_ids(b"", 3, 7, "crawler") == b""
    with pytest.raises(ValueError, match="source type"):
        pg_copy.with_ids(b"x\n", 3, 7, "robot")  # type: ignore[arg-type]


_TEXT = st.one_of(
    st.none(),
    # Validated text is valid Unicode: msgspec refuses lone surrogates (category Cs).
    st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))),
)


@given(st.lists(st.tuples(_TEXT, _TEXT), min_size=1, max_size=20))
def test_ids_go_in_front_of_every_row_whatever_the_text(rows: list[tuple[str | None, ...]]) -> None:
    """with_ids splits rows at raw newlines: escaping must leave none inside a field."""
    cols = ReplyColumns(
        ts_us=[1_750_000_000_000_000] * len(rows),
        ip=[ip_to_int("127.0.0.1")] * len(rows),
        port=[80] * len(rows),
        bot_id=[bot_id for bot_id, _ in rows],
        data=[data for _, data in rows],
    )
    lines = pg_copy.with_ids(pg_copy.replies(cols), 12, 345, "crawler").decode().split("\n")
    assert lines[-1] == ""  # the payload ends with a newline
    assert len(lines[:-1]) == len(rows)
    for line, (bot_id, data) in zip(lines[:-1], rows, strict=True):
        fields = line.split("\t")
        assert fields[:3] == ["12", "345", "crawler"]
        assert len(fields) == 10
        assert (_unescape(fields[6]), _unescape(fields[7])) == (bot_id, data)
