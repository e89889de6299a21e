"""Reads: summaries, exports, the read port on a fresh store, and the debugging query()."""

from __future__ import annotations

import json
from collections.abc import Callable

import pyarrow as pa
import pytest

from botmon.ipaddr import normalise_ip
from botmon.store import open_store
from botmon.store.base import Store, StoreError
from botmon.store.common import EXPORT_SCHEMAS
from botmon.wire import Edge, FailedTry, Reply
from tests.store.helpers import NOW, make_batch, simple_replies

IPS = [
    "127.0.0.1",
    "127.0.0.2",
    "127.1.2.3",
    "10.0.0.1",
    "::1",
    "2001:db8::1",
    "2001:db8::1:0:0:1",
    "fe80::1",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "::ffff:127.0.0.1",  # the same bot as 127.0.0.1
    "::",
    "0.0.0.0",
    "255.255.255.255",
]


def test_reads_of_an_unknown_botnet_are_store_errors(store: Store) -> None:
    with pytest.raises(StoreError, match="unknown botnet"):
        store.count_records("nope")
    with pytest.raises(StoreError, match="unknown botnet"):
        list(store.export("replies", "nope"))
    store.create_botnet("hns")
    with pytest.raises(StoreError, match="unknown record kind"):
        list(store.export("bots", "hns"))  # type: ignore[arg-type]


def test_botnet_summaries_report_first_last_and_recent_counts(store: Store) -> None:
    store.create_botnet("hns", "Hide'n'Seek")
    store.create_botnet("quiet")
    old = [Reply(NOW - 86400, "127.0.0.1", 1, "old")]
    recent = [
        Reply(NOW - 600, "127.0.0.2", 1, "a"),
        Reply(NOW - 300, "127.0.0.2", 2, "a"),
        Reply(NOW - 60, "::1", 3, None),
    ]
    store.write_batch(make_batch("hns", "b", old + recent), "s")
    summaries = {s.name: s for s in store.botnet_summaries(NOW, recent_window_s=3600)}
    hns = summaries["hns"]
    assert hns.description == "Hide'n'Seek"
    assert hns.first_seen == pytest.approx(NOW - 86400)
    assert hns.last_seen == pytest.approx(NOW - 60)
    assert (hns.recent_window_s, hns.recent_ips, hns.recent_ids, hns.recent_replies) == (
        3600,
        2,
        1,
        3,
    )
    quiet = summaries["quiet"]
    assert (quiet.first_seen, quiet.last_seen, quiet.recent_replies) == (None, None, 0)
    assert list(summaries) == ["hns", "quiet"]


def test_export_round_trips_ipv4_and_ipv6_with_utc_timestamps(store: Store) -> None:
    store.create_botnet("hns")
    replies = [
        Reply(NOW + i + 0.123456, ip, 1000 + i, f"id{i}", {"i": i, "ip": ip})
        for i, ip in enumerate(IPS)
    ]
    store.write_batch(make_batch("hns", "b", replies), "crawler-7")
    table = pa.Table.from_batches(list(store.export("replies", "hns")))
    assert table.schema == EXPORT_SCHEMAS["replies"]
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    rows = sorted(table.to_pylist(), key=lambda r: r["port"])
    assert [r["ip"] for r in rows] == [normalise_ip(ip) for ip in IPS]
    assert rows[IPS.index("::ffff:127.0.0.1")]["ip"] == "127.0.0.1"  # the same bot as IPv4
    assert [r["timestamp"].timestamp() for r in rows] == [
        pytest.approx(r.timestamp, abs=1e-6) for r in replies
    ]
    assert [json.loads(r["data"]) for r in rows] == [r.data for r in replies]
    assert {(r["botnet"], r["source"]) for r in rows} == {("hns", "crawler-7")}
    assert [r["bot_id"] for r in rows] == [f"id{i}" for i in range(len(IPS))]


def test_export_of_edges_and_failed_tries(store: Store) -> None:
    store.create_botnet("hns")
    edges = [Edge(NOW, "127.0.0.1", 1, "2001:db8::5", 2, "src", None)]
    failed = [FailedTry(NOW, "::ffff:10.1.2.3", 7, None, "timeout", {"tries": 4})]
    store.write_batch(make_batch("hns", "b", edges=edges, failed_tries=failed), "s")
    (edge,) = pa.Table.from_batches(list(store.export("edges", "hns"))).to_pylist()
    assert (edge["src_ip"], edge["src_port"], edge["src_id"]) == ("127.0.0.1", 1, "src")
    assert (edge["dst_ip"], edge["dst_port"], edge["dst_id"]) == ("2001:db8::5", 2, None)
    (tried,) = pa.Table.from_batches(list(store.export("failed_tries", "hns"))).to_pylist()
    assert (tried["ip"], tried["reason"], json.loads(tried["data"])) == (
        "10.1.2.3",
        "timeout",
        {"tries": 4},
    )


def test_export_filters_by_time_and_streams_in_bounded_batches(store: Store) -> None:
    store.create_botnet("hns")
    store.create_botnet("other")
    for k in range(8):  # 80,000 replies, one per 10 ms
        store.write_batch(
            make_batch("hns", f"b{k}", simple_replies(10_000, NOW + k * 100, 0.01)), "s"
        )
    store.write_batch(make_batch("other", "b", simple_replies(10)), "s")
    batches = list(store.export("replies", "hns"))
    assert sum(b.num_rows for b in batches) == 80_000
    assert max(b.num_rows for b in batches) <= 65_536
    window = list(store.export("replies", "hns", start=NOW + 100, end=NOW + 200))
    stamps = [t.timestamp() for b in window for t in b.column("timestamp").to_pylist()]
    assert len(stamps) == 10_000
    assert min(stamps) >= NOW + 100
    assert max(stamps) < NOW + 200


def test_query_results_are_engine_neutral(store: Store) -> None:
    store.create_botnet("hns")
    store.write_batch(
        make_batch("hns", "b", [Reply(NOW, "2001:db8::7", 5, "x", {"k": [1, 2]})]), "s"
    )
    p = "?" if store.backend == "duckdb" else "%s"
    rows = store.query(f"SELECT ip, ts, port, bot_id, data FROM replies WHERE bot_id = {p}", ["x"])
    assert rows == [("2001:db8::7", NOW, 5, "x", {"k": [1, 2]})]
    (count,) = store.query("SELECT count(DISTINCT ip) FROM replies")
    assert count == (1,)


def test_query_refuses_to_write(store: Store) -> None:
    store.create_botnet("hns")
    store.write_batch(make_batch("hns", "b", simple_replies(3)), "s")
    for sql in ("DELETE FROM replies", "DROP TABLE replies", "SELECT 1; DELETE FROM replies"):
        with pytest.raises(StoreError):
            store.query(sql)
    with pytest.raises(StoreError):
        store.query("INSERT INTO botnets (name, created_at) VALUES ('x', now())")
    assert store.count_records()["replies"] == 3
    assert [b.name for b in store.list_botnets()] == ["hns"]


def test_query_errors_are_store_errors(store: Store) -> None:
    with pytest.raises(StoreError):
        store.query("SELECT * FROM no_such_table")
    with pytest.raises(StoreError):
        store.query("SELEKT 1")
    with pytest.raises(StoreError, match="NUL"):
        store.query("SELECT 1", ["a\x00b"])


def test_reads_work_on_a_freshly_opened_store(store_url: str) -> None:
    """Nothing cached: each read looks names up itself (a CLI export opens, reads, exits)."""
    writer = open_store(store_url)
    writer.migrate()
    writer.create_botnet("hns")
    writer.write_batch(make_batch("hns", "b", simple_replies(5)), "s")
    writer.close()
    reads: list[Callable[[Store], int]] = [
        lambda s: sum(b.num_rows for b in s.export("replies", "hns")),
        lambda s: sum(s.bucket_counts("replies", None, NOW - 60, NOW + 60, 60, "rows").values()),
        lambda s: s.count_records("hns")["replies"],
    ]
    for read in reads:
        fresh = open_store(store_url)
        try:
            assert fresh.schema_version() >= 1
            assert read(fresh) == 5
        finally:
            fresh.close()
