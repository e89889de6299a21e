"""The analyses' read port: whole record sets as Arrow, the same columns and values on both
backends, IPv6 addresses at the top of the range included (DuckDB's Arrow export of its
128-bit column cannot hold them, so the store folds two halves back into text)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from botmon.store.base import Store
from botmon.store.reads import CONTACTS_SCHEMA, EDGE_PAIRS_SCHEMA, SIGHTINGS_SCHEMA
from botmon.wire import Edge, FailedTry, Reply
from tests.store.helpers import NOW, make_batch

TOP_V6 = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    keys = [(name, "ascending") for name in table.column_names]
    return list(table.sort_by(keys).to_pylist())


def _fill(store: Store) -> int:
    store.create_botnet("port")
    replies = [
        Reply(timestamp=NOW + 10, ip="192.0.2.1", port=1000, bot_id="aa"),
        Reply(timestamp=NOW + 20, ip="192.0.2.1", port=1000, bot_id="aa"),
        Reply(timestamp=NOW + 400, ip="192.0.2.1", port=1000, bot_id="aa"),
        Reply(timestamp=NOW + 30, ip=TOP_V6, port=2000),
        Reply(timestamp=NOW + 5000, ip="192.0.2.9", port=9),  # outside the range below
    ]
    failed = [FailedTry(timestamp=NOW + 700, ip="192.0.2.1", port=1000, bot_id="aa")]
    edges = [
        Edge(NOW + 10, "192.0.2.1", 1000, TOP_V6, 2000, src_id="aa"),
        Edge(NOW + 20, "192.0.2.1", 1000, TOP_V6, 2000, src_id="aa"),
        Edge(NOW + 20, "192.0.2.1", 1000, "::1", 3, src_id="aa", dst_id="bb"),
    ]
    store.write_batch(make_batch("port", "c1", replies, failed, edges), "crawler-1")
    sensed = [
        Reply(timestamp=NOW + 50, ip="198.51.100.7", port=7, data={"deviation": "zero id"}),
        Reply(timestamp=NOW + 60, ip="198.51.100.7", port=7),
    ]
    store.write_batch(make_batch("port", "s1", sensed, source_type="sensor"), "sensor-1")
    botnet = store.get_botnet("port")
    assert botnet is not None
    return botnet.id


def test_sightings_edges_and_contacts_as_stored(store: Store) -> None:
    botnet_id = _fill(store)
    start, end = NOW, NOW + 3600

    sightings = store.sightings(botnet_id, "replies", start, end, 300)
    assert sightings.schema == SIGHTINGS_SCHEMA
    rows = _rows(sightings)
    by_key = {(r["ip"], r["bucket"]): r for r in rows}
    first_bucket = min(r["bucket"] for r in rows if r["ip"] == "192.0.2.1")
    aa = by_key["192.0.2.1", first_bucket]
    assert (aa["n"], aa["bot_id"], aa["port"]) == (2, "aa", 1000)
    assert (aa["first_us"], aa["last_us"]) == (int((NOW + 10) * 1e6), int((NOW + 20) * 1e6))
    assert ("192.0.2.1", first_bucket + 1) in by_key  # NOW + 400 is the next 5-minute bucket
    assert any(r["ip"] == TOP_V6 for r in rows)
    assert not any(r["ip"] == "192.0.2.9" for r in rows)  # outside [start, end)
    assert {r["ip"] for r in rows} == {"192.0.2.1", TOP_V6, "198.51.100.7"}

    crawled = _rows(store.sightings(botnet_id, "replies", start, end, 300, source="crawler"))
    assert "198.51.100.7" not in {r["ip"] for r in crawled}

    failed = _rows(store.sightings(botnet_id, "failed_tries", start, end, 300))
    assert [(r["ip"], r["n"], r["country"], r["asn"]) for r in failed] == [
        ("192.0.2.1", 1, None, None)
    ]

    edges = store.edge_pairs(botnet_id, start, end)
    assert edges.schema == EDGE_PAIRS_SCHEMA
    pairs = {(r["dst_ip"], r["dst_port"]): r["n"] for r in _rows(edges)}
    assert pairs == {(TOP_V6, 2000): 2, ("::1", 3): 1}

    contacts = store.contacts(botnet_id, start, end)
    assert contacts.schema == CONTACTS_SCHEMA
    seen = _rows(contacts)
    assert [(r["ip"], r["source"], r["deviation"]) for r in seen] == [
        ("198.51.100.7", "sensor-1", "zero id"),
        ("198.51.100.7", "sensor-1", None),
    ]
    assert store.contacts(botnet_id, start, end, source="crawler").num_rows == 4


def test_an_empty_range_gives_empty_tables_of_the_same_schema(store: Store) -> None:
    botnet_id = _fill(store)
    empty = store.sightings(botnet_id, "replies", NOW - 7200, NOW - 3600, 300)
    assert empty.num_rows == 0 and empty.schema == SIGHTINGS_SCHEMA
    assert store.edge_pairs(botnet_id, NOW - 7200, NOW - 3600).schema == EDGE_PAIRS_SCHEMA
