"""``data`` holds only what every store can hold: validation refuses the rest by name.

Each case sits among good records so both the columnar fast path and the record-by-record
path see it; the rejection names the record and the field, and nothing reaches a store.
"""

from __future__ import annotations

import json
import time

import pytest

from botmon.validation import MAX_DATA_DEPTH, BatchRejected, validate_batch


def nested(depth: int) -> str:
    return '{"a": ' * (depth - 1) + "{}" + "}" * (depth - 1)


def batch(data: str, at: int = 7) -> bytes:
    now = time.time() - 60
    records = [json.dumps({"timestamp": now, "ip": f"127.0.0.{i}", "port": 1}) for i in range(20)]
    records[at] = records[at][:-1] + f', "data": {data}}}'
    return f'{{"botnet": "hns", "batch_id": "b", "replies": [{", ".join(records)}]}}'.encode()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ('{"x": 1e999999}', "number out of range"),
        ('{"x": [1, -1E+400]}', "number out of range"),
        ('{"x": 1e-999999}', "too small for a double"),
        ('{"x": 18446744073709551616}', "64-bit range"),
        ('{"x": -9223372036854775809}', "64-bit range"),
        (nested(MAX_DATA_DEPTH + 1), f"nested deeper than {MAX_DATA_DEPTH}"),
        (nested(1_100), f"nested deeper than {MAX_DATA_DEPTH}"),
        ('{"x\\u0000": 1}', "NUL"),
        ('{"x": ["\\u0000"]}', "NUL"),
    ],
)
def test_data_a_store_cannot_hold_is_refused_naming_the_record(data: str, message: str) -> None:
    with pytest.raises(BatchRejected) as caught:
        validate_batch(batch(data))
    assert (caught.value.kind, caught.value.index, caught.value.field) == ("replies", 7, "data")
    assert message in caught.value.message


@pytest.mark.parametrize(
    "data",
    [
        '{"x": 1e308, "y": -2.5e-300, "z": 0e-999}',
        '{"x": 18446744073709551615, "y": -9223372036854775808}',
        nested(MAX_DATA_DEPTH),
        '{"text": "a backslash-u: \\\\u0000", "pair": "\\ud83d\\ude00", "id": "e1234"}',
    ],
)
def test_data_every_store_holds_passes(data: str) -> None:
    assert len(validate_batch(batch(data)).replies) == 20
