"""write_batch: atomic, once per (source, batch id), safe under concurrent duplicate sends."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from botmon.store import open_store
from botmon.store.base import Store, StoreError, WriteResult
from botmon.validation import ValidatedBatch
from botmon.wire import Edge, FailedTry, Reply
from tests.store.helpers import NOW, make_batch, simple_replies

EMPTY = {"replies": 0, "failed_tries": 0, "edges": 0, "batches": 0}


def _full_batch(batch_id: str = "b1") -> ValidatedBatch:
    return make_batch(
        "hns",
        batch_id,
        replies=simple_replies(100),
        failed_tries=[FailedTry(NOW, "127.0.0.9", 9, reason="timeout")] * 3,
        edges=[Edge(NOW, "127.0.0.1", 1, "127.0.0.2", 2)] * 7,
    )


def _run_threads(n: int, target: Callable[[int], Any]) -> tuple[list[Any], list[BaseException]]:
    """Run ``target(i)`` in n threads released together; results and errors, bounded in time."""
    barrier = threading.Barrier(n)
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            got = target(i)
            with lock:
                results.append(got)
        except BaseException as exc:  # collected and asserted by the caller
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results, errors


def test_a_batch_stores_every_record_once(store: Store) -> None:
    store.create_botnet("hns")
    result = store.write_batch(_full_batch(), "crawler-1")
    assert result == WriteResult(False, {"replies": 100, "failed_tries": 3, "edges": 7})
    assert store.count_records() == {"replies": 100, "failed_tries": 3, "edges": 7, "batches": 1}
    assert store.count_records("hns") == store.count_records()


def test_the_same_batch_id_is_stored_once_per_source(store: Store) -> None:
    store.create_botnet("hns")
    store.write_batch(_full_batch("same"), "crawler-1")
    again = store.write_batch(_full_batch("same"), "crawler-1")
    assert again.duplicate is True
    assert again.stored == {"replies": 0, "failed_tries": 0, "edges": 0}
    assert store.count_records()["replies"] == 100
    other = store.write_batch(_full_batch("same"), "crawler-2")  # another source's own id
    assert other.duplicate is False
    assert store.count_records()["replies"] == 200
    assert store.count_records()["batches"] == 2


def test_an_empty_batch_is_recorded_for_idempotency(store: Store) -> None:
    store.create_botnet("hns")
    assert store.write_batch(make_batch("hns", "empty"), "s").duplicate is False
    assert store.write_batch(make_batch("hns", "empty"), "s").duplicate is True
    assert store.count_records() == {**EMPTY, "batches": 1}


def test_an_unknown_botnet_stores_nothing(store: Store) -> None:
    with pytest.raises(StoreError, match="unknown botnet"):
        store.write_batch(make_batch("nope", "b", simple_replies(3)), "s")
    store.create_botnet("hns")
    assert store.count_records() == EMPTY


def test_a_write_failing_midway_stores_nothing(store: Store) -> None:
    """Replies go in first; failed tries with broken JSON then fail the whole transaction."""
    store.create_botnet("hns")
    batch = make_batch(
        "hns",
        "broken",
        replies=simple_replies(50),
        failed_tries=[FailedTry(NOW, "127.0.0.1", 1)],
    )
    batch.failed_tries.data[0] = '{"unterminated": '  # bypasses validation on purpose
    with pytest.raises(StoreError):
        store.write_batch(batch, "s")
    assert store.count_records() == EMPTY
    # The batch id was not consumed: a correct resend is stored, not taken for a duplicate.
    assert (
        store.write_batch(make_batch("hns", "broken", simple_replies(50)), "s").duplicate is False
    )
    assert store.count_records()["replies"] == 50


def test_a_batch_with_impossible_values_is_a_store_error(store: Store) -> None:
    store.create_botnet("hns")
    batch = make_batch("hns", "bad-port", simple_replies(5))
    batch.replies.port[2] = 70_000  # bypasses validation on purpose
    with pytest.raises(StoreError):
        store.write_batch(batch, "s")
    assert store.count_records() == EMPTY


def test_concurrent_duplicate_sends_from_threads_are_stored_once(store: Store) -> None:
    store.create_botnet("hns")
    results, errors = _run_threads(8, lambda i: store.write_batch(_full_batch("dup"), "c"))
    assert not errors
    assert sorted(r.duplicate for r in results) == [False] + [True] * 7
    assert store.count_records() == {"replies": 100, "failed_tries": 3, "edges": 7, "batches": 1}


def test_concurrent_distinct_batches_are_all_stored(store: Store) -> None:
    store.create_botnet("hns")
    results, errors = _run_threads(6, lambda i: store.write_batch(_full_batch(f"b{i}"), "c"))
    assert not errors
    assert not any(r.duplicate for r in results)
    assert store.count_records() == {"replies": 600, "failed_tries": 18, "edges": 42, "batches": 6}


@pytest.mark.postgres
def test_two_servers_sending_the_same_batch_store_it_once(pg_database_url: str) -> None:
    """Separate PostgreSQL stores (pools) race; the unique key in the batch transaction wins.

    (One DuckDB file belongs to one process, so there the threads test above is the case.)
    """
    first = open_store(pg_database_url)
    first.migrate()
    first.create_botnet("hns")
    others = [open_store(pg_database_url) for _ in range(3)]
    stores = [first, *others]
    try:
        results, errors = _run_threads(
            4, lambda i: stores[i].write_batch(_full_batch("race"), "crawler")
        )
        assert not errors
        assert sorted(r.duplicate for r in results) == [False, True, True, True]
        assert first.count_records()["replies"] == 100
    finally:
        for s in stores:
            s.close()


def test_enrichment_columns_and_as_names_are_stored(store: Store) -> None:
    store.create_botnet("hns")
    batch = make_batch("hns", "geo", simple_replies(3))
    batch.replies.country = ["DE", None, "CN"]
    batch.replies.asn = [64_500, None, 4_200_000_000]
    batch.as_names = {64_500: "Lab AS", 4_200_000_000: "Private 32-bit AS"}
    store.write_batch(batch, "s")
    rows = store.query("SELECT country, asn FROM replies ORDER BY ts")
    assert rows == [("DE", 64_500), (None, None), ("CN", 4_200_000_000)]
    assert store.query("SELECT asn, name FROM ases ORDER BY asn") == [
        (64_500, "Lab AS"),
        (4_200_000_000, "Private 32-bit AS"),
    ]
    renamed = make_batch("hns", "geo2", simple_replies(1))
    renamed.as_names = {64_500: "Lab AS (renamed)"}
    store.write_batch(renamed, "s")
    assert store.query("SELECT name FROM ases ORDER BY asn")[0] == ("Lab AS (renamed)",)


def test_a_full_size_batch_of_ten_thousand_of_each_kind(store: Store) -> None:
    store.create_botnet("hns")
    replies = simple_replies(10_000, step=0.001)
    failed = [FailedTry(NOW, r.ip, r.port, r.bot_id, "timeout") for r in replies]
    edges = [Edge(NOW, r.ip, r.port, "::1", 1, r.bot_id) for r in replies]
    result = store.write_batch(make_batch("hns", "big", replies, failed, edges), "s")
    assert result.stored == {"replies": 10_000, "failed_tries": 10_000, "edges": 10_000}
    assert store.count_records()["edges"] == 10_000


def test_reply_data_with_awkward_text_survives(store: Store) -> None:
    """Tabs, newlines, backslashes and quotes must not break PostgreSQL's COPY text format."""
    store.create_botnet("hns")
    nasty = 'tab\there\nnew\\line\r"q" ünï 中文 \\N'
    data = {"s": nasty, "nested": {"list": [1, 2.5, None, True, "x\\y"]}, "\\k": nasty}
    store.write_batch(
        make_batch(
            "hns",
            "nasty",
            replies=[Reply(NOW, "127.0.0.1", 1, bot_id=nasty, data=data)],
            failed_tries=[FailedTry(NOW, "127.0.0.1", 1, bot_id=nasty, reason=nasty, data=data)],
            edges=[Edge(NOW, "127.0.0.1", 1, "127.0.0.2", 2, src_id=nasty, dst_id="\\N")],
        ),
        "s",
    )
    reply = next(iter(store.export("replies", "hns"))).to_pylist()[0]
    assert reply["bot_id"] == nasty
    assert json.loads(reply["data"]) == data
    failed = next(iter(store.export("failed_tries", "hns"))).to_pylist()[0]
    assert (failed["bot_id"], failed["reason"], json.loads(failed["data"])) == (nasty, nasty, data)
    edge = next(iter(store.export("edges", "hns"))).to_pylist()[0]
    assert (edge["src_id"], edge["dst_id"]) == (nasty, "\\N")


def test_two_duckdb_stores_on_one_file_in_one_process_store_a_batch_once(tmp_path: Path) -> None:
    """DuckDB shares one database between connections of a process, but not our write lock."""
    path = str(tmp_path / "shared.duckdb")
    stores = [open_store(path) for _ in range(4)]
    try:
        stores[0].migrate()
        stores[0].create_botnet("hns")
        results, errors = _run_threads(
            4, lambda i: stores[i].write_batch(_full_batch("race"), "crawler")
        )
        assert not errors
        assert sorted(r.duplicate for r in results) == [False, True, True, True]
        assert stores[0].count_records()["replies"] == 100
    finally:
        for s in stores:
            s.close()


def test_bad_enrichment_values_never_crash_the_store(store: Store) -> None:
    store.create_botnet("hns")
    batch = make_batch("hns", "as-nul", simple_replies(1))
    batch.as_names = {64_501: "Evil\x00AS"}
    store.write_batch(batch, "s")
    assert store.query("SELECT name FROM ases") == [("EvilAS",)]
    too_big = make_batch("hns", "as-big", simple_replies(1))
    too_big.as_names = {2**40: "No such AS"}
    with pytest.raises(StoreError):
        store.write_batch(too_big, "s")
    assert store.count_records()["replies"] == 1


def test_a_batch_id_with_nul_is_refused_by_both_backends(store: Store) -> None:
    store.create_botnet("hns")
    batch = make_batch("hns", "ok", simple_replies(2))
    batch.batch_id = "bad\x00id"
    with pytest.raises(StoreError, match="NUL"):
        store.write_batch(batch, "s")
    assert store.count_records() == EMPTY


def test_as_names_follow_the_latest_batch_and_are_not_rewritten_needlessly(store: Store) -> None:
    store.create_botnet("hns")

    def send(batch_id: str, names: dict[int, str]) -> None:
        batch = make_batch("hns", batch_id, replies=simple_replies(3))
        batch.as_names = dict(names)
        store.write_batch(batch, "t")

    send("a", {64500: "First Name", 64501: "Other"})
    send("b", {64500: "First Name"})  # known: nothing to write
    assert dict(store.query("SELECT asn, name FROM ases ORDER BY asn")) == {
        64500: "First Name",
        64501: "Other",
    }
    send("c", {64500: "Renamed"})  # a newer enrichment database renamed it
    send("c", {64501: "Ignored"})  # a duplicate batch writes nothing, names included
    assert dict(store.query("SELECT asn, name FROM ases ORDER BY asn")) == {
        64500: "Renamed",
        64501: "Other",
    }
