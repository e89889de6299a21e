"""The columnar fast path of validation gives exactly what the record-by-record path gives.

``validate_batch`` checks whole columns at once and falls back to one record at a time when a
column holds anything unusual; given any batch, both ways must store the same values and
name the same first bad record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botmon import validation
from botmon.limits import MIN_TIMESTAMP
from botmon.validation import BatchRejected, ReplyColumns, validate_batch

NOW = 1_750_000_000.0
SKEW = 300.0
LATEST = NOW + SKEW

seconds = st.floats(min_value=MIN_TIMESTAMP, max_value=LATEST, allow_nan=False)
# Whole microseconds plus one half: the ties that round half to even must settle alike.
ties = st.integers(int(MIN_TIMESTAMP) * 10**6, int(LATEST) * 10**6 - 1).map(
    lambda us: (us + 0.5) / 1e6
)
instants = st.datetimes(
    min_value=datetime(2000, 1, 2), max_value=datetime(2025, 6, 1), timezones=st.just(UTC)
).map(lambda d: d.isoformat())
data_values = st.sampled_from(
    [None, {}, {"v": 3}, {"k": ["a", 1, None]}, {"s": "x" * 50}, {"u": "\u00e9\u4e2d"}]
)
replies = st.lists(
    st.fixed_dictionaries(
        {"timestamp": seconds | ties, "ip": st.sampled_from(["127.0.0.1", "1.2.3.4", "::1"])},
        optional={
            "port": st.integers(0, 65535),
            "bot_id": st.none() | st.text(max_size=8).filter(lambda t: "\x00" not in t),
            "data": data_values,
        },
    ).map(lambda r: {"port": 1, **r}),
    max_size=30,
)


def _slow(records: list[dict[str, Any]]) -> ReplyColumns:
    decoded = msgspec.json.decode(msgspec.json.encode(records), type=list[validation._ReplyIn])
    out = ReplyColumns()
    validation._fill_replies(decoded, LATEST, out, 0)
    return out


def _fast(records: list[dict[str, Any]], arrow: bool = True) -> ReplyColumns:
    body = msgspec.json.encode({"botnet": "b", "batch_id": "x", "replies": records})
    return validate_batch(body, now=NOW, future_skew_s=SKEW, arrow=arrow).replies


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replies, st.booleans())
def test_the_fast_path_stores_what_the_record_path_stores(
    records: list[dict[str, Any]], arrow: bool
) -> None:
    """With Arrow (the server) or without (the report client, which must not load it)."""
    fast, slow = _fast(records, arrow), _slow(records)
    for name in ("ts_us", "ip", "port", "bot_id", "data"):
        assert getattr(fast, name) == getattr(slow, name), name


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(replies, st.lists(instants, min_size=1, max_size=3))
def test_rfc3339_timestamps_among_numbers_store_alike(
    records: list[dict[str, Any]], texts: list[str]
) -> None:
    records = records + [{"timestamp": t, "ip": "10.0.0.1", "port": 2} for t in texts]
    assert _fast(records).ts_us == _slow(records).ts_us


def test_an_explicit_null_is_stored_like_absent_data() -> None:
    records = [
        {"timestamp": NOW, "ip": "1.2.3.4", "port": 1, "data": None},
        {"timestamp": NOW, "ip": "1.2.3.4", "port": 1},
        {"timestamp": NOW, "ip": "1.2.3.4", "port": 1, "data": {"a": 1}},
    ]
    assert _fast(records).data == [None, None, '{"a":1}']
    assert _fast(records[:2]).data == [None, None]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("text", "data must be a JSON object or null"),
        ([1], "data must be a JSON object or null"),
        ({"k": "nul\x00"}, "data contains a NUL character"),
        ({"k": "x" * 20_000}, "data is larger than 16384 bytes"),
    ],
)
def test_the_first_bad_data_is_named_among_good_ones(data: Any, message: str) -> None:
    good = {"timestamp": NOW, "ip": "1.2.3.4", "port": 1, "data": {"ok": True}}
    records = [good, {**good, "data": None}, {**good, "data": data}, {**good, "data": "late"}]
    with pytest.raises(BatchRejected) as caught:
        _fast(records)
    assert (caught.value.kind, caught.value.index, caught.value.field) == ("replies", 2, "data")
    assert message in caught.value.message
