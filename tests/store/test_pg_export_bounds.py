"""PostgreSQL exports of ``data`` stay bounded whatever numbers a stored record holds.

jsonb writes ``1e100000`` out as 100,001 digits. Rows holding such numbers may already be in a
database (ingest validation rejects them only from issue 10 on), so the rows are put in place
with SQL, past validation, and every export format is measured.
"""

from __future__ import annotations

import json

import msgspec
import psycopg
import pytest

from botmon.store import open_store
from botmon.store.pg_export_data import MAX_EXPORT_DATA_CHARS, OMITTED_KEY
from botmon.transfer.writers import writer_for
from botmon.validation import MAX_DATA_BYTES, validate_batch
from tests.store.helpers import NOW

pytestmark = pytest.mark.postgres

HUGE = "{" + '"n": [' + ",".join(["1e100000"] * 1800) + "]}"
TINY = '{"n": [' + ",".join(["-1e-16000"] * 1600) + "]}"
SCALED_ZEROS = '{"n": [' + ",".join(["0e-16000"] * 1700) + "]}"
NORMAL = {"version": 3, "peers": [1, 2.5, -7e20, 0.001], "name": "bot"}


def _store_with_data(url: str, texts: list[str]) -> None:
    """One reply per text and one with :data:`NORMAL`, stored normally, then given it in SQL."""
    records = ",".join(
        f'{{"timestamp": {NOW + i}, "ip": "127.0.0.{i + 1}", "port": 7, "data": {{"i": {i}}}}}'
        for i in range(len(texts) + 1)
    )
    body = f'{{"botnet": "hns", "batch_id": "b1", "replies": [{records}]}}'.encode()
    store = open_store(url)
    try:
        store.migrate()
        store.create_botnet("hns")
        store.write_batch(validate_batch(body, now=NOW + 86400), "crawler-1")
    finally:
        store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        for i, text in enumerate([*texts, json.dumps(NORMAL)]):
            assert len(text) <= MAX_DATA_BYTES
            sql = "UPDATE replies SET data = %s::jsonb WHERE data->>'i' = %s"
            conn.execute(sql, [text, str(i)])


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_exports_of_extreme_numbers_are_bounded_and_say_so(pg_database_url: str, fmt: str) -> None:
    _store_with_data(pg_database_url, [HUGE, TINY, SCALED_ZEROS])
    store = open_store(pg_database_url)
    try:
        batches = list(store.export("replies", "hns"))
        writer = writer_for(fmt, "replies")
        size = sum(len(writer.write(b)) for b in batches) + len(writer.finish())
    finally:
        store.close()
    assert size < 4 * MAX_EXPORT_DATA_CHARS, f"{fmt} export of 4 records is {size} bytes"
    data = [d for b in batches for d in b.column("data").to_pylist()]
    assert len(data) == 4
    for text in data[:3]:
        assert set(json.loads(text)) == {OMITTED_KEY}, text[:200]
    assert json.loads(data[0])[OMITTED_KEY].startswith("data holds numbers of magnitude 1e64")
    assert "over the export limit" in json.loads(data[2])[OMITTED_KEY]
    assert msgspec.json.decode(data[3]) == NORMAL, "ordinary data is exported as it is"
