"""Group commit: concurrent DuckDB writers share transactions, each batch keeps its own fate.

Most tests hold the store's write lock while their writer threads queue up, then let go, so
the waiting batches form one group for certain instead of by the luck of thread timing.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from botmon.store import common
from botmon.store.base import StoreError, WriteResult
from botmon.store.duckdb_store import DuckDBStore
from botmon.store.group_commit import GroupCommit
from botmon.store.prepared import PreparedBatch
from botmon.wire import Edge, FailedTry, Reply
from tests.store.helpers import NOW, make_batch
from tests.store.test_summaries import actual_seen, expected_seen, located

NOTHING = {"replies": 0, "failed_tries": 0, "edges": 0}


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[DuckDBStore]:
    """A migrated DuckDB store on a real file, with botnets ``hns`` and ``mozi``."""
    store = DuckDBStore(str(tmp_path / "group.duckdb"))
    try:
        store.migrate()
        store.create_botnet("hns")
        store.create_botnet("mozi")
        yield store
    finally:
        store.close()


def prepared(
    botnet: str, batch_id: str, n: int = 20, start: float = NOW, **more: Any
) -> PreparedBatch:
    """A batch of ``n`` replies whose bot ids start with the batch id (to trace rows back)."""
    replies = [
        Reply(start + i, f"127.1.{i // 250}.{i % 250 + 1}", 1000 + i, f"{batch_id}-{i}")
        for i in range(n)
    ]
    return common.prepare("duckdb", make_batch(botnet, batch_id, replies, **more))


def stored(counts: dict[str, int]) -> WriteResult:
    return WriteResult(duplicate=False, stored=counts)


def duplicate() -> WriteResult:
    return WriteResult(duplicate=True, stored=NOTHING)


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def run_all(
    calls: Sequence[Callable[[], Any]],
    started: Callable[[], None],
    after_each: Callable[[int], None] | None = None,
) -> list[Any]:
    """Run each call in its own thread; its result or exception, in the order of ``calls``.

    ``started`` runs once every thread has been started (it releases what they wait for);
    ``after_each(i)``, when given, after the i-th thread started (to wait for it to queue).
    """
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        try:
            out[i] = calls[i]()
        except BaseException as exc:  # collected and asserted by the test
            out[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for i, t in enumerate(threads):
        t.start()
        if after_each is not None:
            after_each(i)
    started()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return out


def known_sources(store: DuckDBStore, names: Sequence[str]) -> None:
    """Create sources up front: a new source is created under the write lock, before queueing."""
    for name in set(names):
        store.record_heartbeat(name, NOW, {})


def hold_until(lock: threading.Lock, check: Callable[[], bool]) -> Callable[[], None]:
    """Take ``lock`` now; the returned call lets go of it once ``check`` holds.

    Writers queue behind the held lock as they would behind a long transaction.
    """
    lock.acquire()

    def release() -> None:
        try:
            wait_until(check, "writers to queue")
        finally:
            lock.release()

    return release


def write_as_one_group(
    store: DuckDBStore,
    writes: Sequence[tuple[PreparedBatch, str]],
    queued: int | None = None,
    *,
    in_order: bool = False,
) -> list[Any]:
    """Send every batch from its own thread while the lock is held, then let them go.

    ``queued`` is how many of them reach the queue (a batch that fails its checks does not);
    ``in_order`` queues them one after the other, in the order given.
    """
    known_sources(store, [s for _, s in writes])
    want = len(writes) if queued is None else queued
    release = hold_until(store._write_lock, lambda: store.group_commit.pending() == want)
    calls = [partial(store.write_prepared, b, s) for b, s in writes]
    queue_one = None
    if in_order:

        def queue_one(i: int) -> None:
            wait_until(lambda: store.group_commit.pending() == i + 1, "the writer to queue")

    return run_all(calls, release, queue_one)


# -- the generic mechanism -----------------------------------------------------------------


def test_waiting_items_form_groups_within_the_bounds() -> None:
    lock = threading.Lock()
    seen: list[list[int]] = []

    def write(items: Sequence[int]) -> list[int]:
        seen.append(list(items))
        return [i * 10 for i in items]

    commit: GroupCommit[int, int] = GroupCommit(lock, write, max_items=3, max_weight=100)
    with lock:
        results: list[Any] = []
        threads = []

        def send(i: int) -> None:
            results.append(commit.submit(i, 40))

        for i in range(7):  # queued one at a time, so the arrival order is known
            t = threading.Thread(target=send, args=(i,))
            t.start()
            threads.append(t)
            wait_until(lambda: commit.pending() == len(threads), "the item to queue")
    for t in threads:
        t.join(timeout=10)
    assert sorted(results) == [i * 10 for i in range(7)]
    assert seen == [[0, 1], [2, 3], [4, 5], [6]]  # weight 40 each: at most two fit 100
    assert (commit.groups, commit.items, commit.largest) == (4, 7, 2)


def test_a_lone_caller_is_a_group_of_one() -> None:
    commit: GroupCommit[str, str] = GroupCommit(threading.Lock(), lambda xs: [x * 2 for x in xs])
    assert commit.submit("a") == "aa"
    assert (commit.groups, commit.items, commit.largest) == (1, 1, 1)


def test_each_caller_gets_its_own_result_or_error_and_a_crash_reaches_all() -> None:
    lock = threading.Lock()

    def write(items: Sequence[int]) -> list[int | BaseException]:
        if 99 in items:
            raise RuntimeError("writer crashed")
        return [ValueError(f"bad {i}") if i % 2 else i for i in items]

    commit: GroupCommit[int, int] = GroupCommit(lock, write)
    out = run_all(
        [partial(commit.submit, i) for i in range(4)],
        hold_until(lock, lambda: commit.pending() == 4),
    )
    assert out[0] == 0 and out[2] == 2
    assert [str(e) for e in (out[1], out[3])] == ["bad 1", "bad 3"]
    out = run_all(
        [partial(commit.submit, i) for i in (98, 99)],
        hold_until(lock, lambda: commit.pending() == 2),
    )
    assert all(isinstance(e, RuntimeError) for e in out)


# -- the DuckDB store ----------------------------------------------------------------------


def test_many_concurrent_writers_store_every_batch_once_in_fewer_transactions(
    duck: DuckDBStore,
) -> None:
    threads, per_thread = 8, 10
    plan = {
        (t, k): prepared(
            "hns" if t % 2 else "mozi",
            f"t{t}k{k}",
            n=30 + t + k,
            start=NOW + 100 * k + t,
            failed_tries=[FailedTry(NOW, "127.0.0.9", 9, reason="timeout")] * (k % 3),
            edges=[Edge(NOW, "127.0.0.1", 1, "127.0.0.2", 2)] * t,
        )
        for t in range(threads)
        for k in range(per_thread)
    }

    def writer(t: int) -> list[WriteResult]:
        return [duck.write_prepared(plan[t, k], f"crawler-{t % 3}") for k in range(per_thread)]

    # The first batch of every thread queues behind the held lock: at least one real group.
    known_sources(duck, [f"crawler-{t % 3}" for t in range(threads)])
    release = hold_until(duck._write_lock, lambda: duck.group_commit.pending() == threads)
    results = run_all([partial(writer, t) for t in range(threads)], release)

    for t in range(threads):
        assert results[t] == [stored(plan[t, k].counts) for k in range(per_thread)]
    total = {kind: sum(p.counts[kind] for p in plan.values()) for kind in NOTHING}
    assert duck.count_records() == {**total, "batches": threads * per_thread}
    assert duck.group_commit.items == threads * per_thread
    assert duck.group_commit.groups < threads * per_thread  # grouping happened
    assert duck.group_commit.largest >= threads
    # Every row carries its own batch's botnet and source, every batch its own row and seq.
    rows = duck.query(
        "SELECT split_part(r.bot_id, '-', 1), b.name, s.name, count(*) FROM replies r"
        " JOIN botnets b ON b.id = r.botnet_id JOIN sources s ON s.id = r.source_id"
        " GROUP BY ALL"
    )
    assert sorted(rows) == sorted(
        (f"t{t}k{k}", "hns" if t % 2 else "mozi", f"crawler-{t % 3}", 30 + t + k) for t, k in plan
    )
    batches = duck.query(
        "SELECT b.batch_id, n.name, replies, failed_tries, edges, epoch_us(first_ts),"
        " epoch_us(last_ts), seq FROM batches b JOIN botnets n ON n.id = b.botnet_id"
    )
    assert len({r[-1] for r in batches}) == threads * per_thread  # distinct seq values
    assert sorted(r[:-1] for r in batches) == sorted(
        (
            f"t{t}k{k}",
            p.botnet,
            p.counts["replies"],
            p.counts["failed_tries"],
            p.counts["edges"],
            p.first_us,
            p.last_us,
        )
        for (t, k), p in plan.items()
    )


def test_a_batch_id_twice_in_one_group_or_across_groups_is_stored_once(
    duck: DuckDBStore,
) -> None:
    old = prepared("hns", "old")
    assert duck.write_prepared(old, "a") == stored(old.counts)
    groups = duck.group_commit.groups
    dup, other = prepared("hns", "dup"), prepared("mozi", "other", n=5)
    out = write_as_one_group(duck, [(dup, "a"), (dup, "a"), (other, "a"), (dup, "b"), (old, "a")])
    assert duck.group_commit.groups == groups + 1
    assert sorted(r.duplicate for r in out[:2]) == [False, True]  # one of the two stores it
    assert out[2:] == [stored(other.counts), stored(dup.counts), duplicate()]
    assert duck.count_records() == {**NOTHING, "replies": 20 + 20 + 5 + 20, "batches": 4}
    again = write_as_one_group(duck, [(dup, "a"), (other, "a"), (prepared("hns", "new"), "a")])
    assert again == [duplicate(), duplicate(), stored({**NOTHING, "replies": 20})]
    assert duck.count_records()["batches"] == 5


def test_an_unknown_botnet_fails_only_its_own_caller(duck: DuckDBStore) -> None:
    good = [prepared("hns", f"g{i}") for i in range(4)]
    stray = prepared("nosuch", "stray")
    out = write_as_one_group(duck, [(b, "a") for b in [*good[:2], stray, *good[2:]]], queued=4)
    assert isinstance(out[2], StoreError) and "unknown botnet" in str(out[2])
    assert [out[i] for i in (0, 1, 3, 4)] == [stored(b.counts) for b in good]
    assert duck.count_records() == {**NOTHING, "replies": 80, "batches": 4}


def test_a_batch_duckdb_rejects_fails_alone_and_its_group_is_retried(duck: DuckDBStore) -> None:
    good = [prepared("hns", f"g{i}", n=10) for i in range(5)]
    bad = prepared("hns", "bad", n=10)
    table = bad.rows["replies"]
    broken = table.set_column(
        table.schema.get_field_index("data"), "data", pa.array(["{not json"] * 10, pa.string())
    )
    bad = dataclasses.replace(bad, rows={**bad.rows, "replies": broken})
    out = write_as_one_group(duck, [(b, "a") for b in [*good[:3], bad, *good[3:]]])
    assert isinstance(out[3], StoreError) and "DuckDB write failed" in str(out[3])
    assert [out[i] for i in (0, 1, 2, 4, 5)] == [stored(b.counts) for b in good]
    assert duck.count_records() == {**NOTHING, "replies": 50, "batches": 5}
    assert sorted(r[0] for r in duck.query("SELECT batch_id FROM batches")) == [
        f"g{i}" for i in range(5)
    ]
    assert duck.group_commit.largest == 6
    # The failed batch id is free: sent again fixed, it is stored.
    assert duck.write_prepared(prepared("hns", "bad", n=10), "a") == stored(good[0].counts)


def test_as_names_of_a_group_are_written_once_the_newest_winning(duck: DuckDBStore) -> None:
    first = dataclasses.replace(prepared("hns", "x1"), as_names={64500: "Old", 64501: "Keep"})
    second = dataclasses.replace(prepared("hns", "x2"), as_names={64500: "New"})
    write_as_one_group(duck, [(first, "a"), (second, "a")], in_order=True)
    assert duck.group_commit.largest == 2
    assert sorted(duck.query("SELECT asn, name FROM ases")) == [(64500, "New"), (64501, "Keep")]


def test_seen_summaries_after_grouped_writes_equal_one_by_one(tmp_path: Path) -> None:
    rng = random.Random(11)
    pool = [f"127.9.{i // 200}.{i % 200 + 1}" for i in range(150)] + ["::1", "2001:db8::7"]
    plan: list[tuple[PreparedBatch, str]] = []
    written: list[tuple[str, Reply, str | None]] = []
    for k in range(12):
        botnet = "hns" if k % 3 else "mozi"
        start = NOW + rng.randrange(-86400, 86400)
        replies = [
            Reply(start + rng.random() * 600, rng.choice(pool), 1000 + i, f"id{rng.randrange(40)}")
            for i in range(rng.randrange(1, 60))
        ]
        countries = [rng.choice(["DE", "BR", None]) for _ in replies]
        batch = located(make_batch(botnet, f"s{k}", replies), countries)
        plan.append((common.prepare("duckdb", batch), f"src{k % 2}"))
        written.extend((botnet, r, c) for r, c in zip(replies, countries, strict=True))
    plan.append(plan[4])  # a duplicate in the group changes nothing

    stores = [DuckDBStore(str(tmp_path / f"{name}.duckdb")) for name in ("grouped", "serial")]
    try:
        for store in stores:
            store.migrate()
            store.create_botnet("hns")
            store.create_botnet("mozi")
            assert store.refresh_summaries() == -1  # later refreshes merge by batch seq
        grouped, serial = stores
        write_as_one_group(grouped, plan[:6])
        write_as_one_group(grouped, plan[6:])
        assert grouped.group_commit.groups == 2
        for b, s in plan:
            serial.write_prepared(b, s)
        for store in stores:
            assert store.refresh_summaries() >= 1
        assert actual_seen(grouped) == actual_seen(serial) == expected_seen(written)
    finally:
        for store in stores:
            store.close()
