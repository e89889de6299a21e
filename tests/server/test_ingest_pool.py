"""Ingest workers: they prepare exactly what the server would, survive a killed worker, and
never outlive their server."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import pytest

from botmon.enrich.enricher import default_enricher
from botmon.server.ingest_pool import IngestPool, WorkerSetup, prepare_body
from botmon.store.prepared import PreparedBatch
from botmon.validation import BatchRejected
from tests.fixtures.server import LiveServer, start_live_server
from tests.server.helpers import batch, client, failed_try, post_batch, reply

DEADLINE_S = 15.0


def _body(**over: object) -> bytes:
    replies = [reply(i) for i in range(300)]
    replies[7]["ip"] = "2001:db8::7"  # an IPv6 address among IPv4-mapped ones
    replies[9]["data"] = None
    replies[11].pop("bot_id")
    doc = batch(replies=replies, failed_tries=40, edges=25, batch_id="pool-1")
    doc.update(over)
    return msgspec.json.encode(doc)


@pytest.fixture
def threads() -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(2)
    yield pool
    pool.shutdown()


def _pool(backend: str, threads: ThreadPoolExecutor, **kwargs: object) -> IngestPool:
    setup = WorkerSetup(backend=backend, future_skew_s=300.0, enricher_factory=default_enricher)
    return IngestPool(1, setup, threads, **kwargs)  # type: ignore[arg-type]


def _same(a: PreparedBatch, b: PreparedBatch) -> None:
    assert (a.backend, a.botnet, a.batch_id, a.counts) == (
        b.backend,
        b.botnet,
        b.batch_id,
        b.counts,
    )
    assert (a.first_us, a.last_us, a.as_names) == (b.first_us, b.last_us, b.as_names)
    assert a.rows.keys() == b.rows.keys()
    for kind, rows in a.rows.items():
        other = b.rows[kind]
        if hasattr(rows, "equals"):
            assert rows.equals(other), kind
        else:
            assert rows == other, kind


@pytest.mark.parametrize("backend", ["duckdb", "postgresql"])
def test_a_worker_prepares_exactly_what_the_server_would(
    backend: str, threads: ThreadPoolExecutor
) -> None:
    body = _body()
    enricher = default_enricher()
    try:
        expected = prepare_body(body, backend, 300.0, enricher)
    finally:
        enricher.close()
    pool = _pool(backend, threads)
    try:
        got = asyncio.run(pool.prepare(body))
        assert pool.worker_pids() and os.getpid() not in pool.worker_pids()
    finally:
        pool.close()
    _same(got, expected)
    assert got.counts == {"replies": 300, "failed_tries": 40, "edges": 25}
    if backend == "duckdb":
        # Lab addresses (127.1.x.y) are enriched in the worker as in the server.
        countries = set(got.rows["replies"].column("country").to_pylist())
        assert countries - {None}, "the worker did not enrich"


def test_a_worker_names_the_same_bad_record_as_the_server(threads: ThreadPoolExecutor) -> None:
    bad = batch(replies=5, failed_tries=[failed_try(0), failed_try(1, port=70_000)])
    body = msgspec.json.encode(bad)
    with pytest.raises(BatchRejected) as here:
        prepare_body(body, "duckdb", 300.0, None)
    pool = _pool("duckdb", threads)
    try:
        with pytest.raises(BatchRejected) as there:
            asyncio.run(pool.prepare(body))
    finally:
        pool.close()
    assert there.value.to_dict() == here.value.to_dict()
    assert (there.value.kind, there.value.index, there.value.field) == ("failed_tries", 1, "port")


def test_a_rejection_keeps_every_field_through_pickling() -> None:
    exc = BatchRejected("edges[3].src_ip: bad", reason="invalid_record", kind="edges", index=3)
    back = pickle.loads(pickle.dumps(exc))
    assert isinstance(back, BatchRejected)
    assert back.to_dict() == exc.to_dict()


def test_a_killed_worker_is_replaced_and_no_batch_is_lost(threads: ThreadPoolExecutor) -> None:
    restarts: list[int] = []
    pool = _pool("duckdb", threads, on_restart=lambda: restarts.append(1))
    try:
        first = asyncio.run(pool.prepare(_body()))
        (victim,) = pool.worker_pids()
        os.kill(victim, signal.SIGKILL)
        _wait_gone(victim)
        # The pool notices the dead worker on this call; the batch is prepared in the
        # server instead, and new workers start.
        second = asyncio.run(pool.prepare(_body(batch_id="pool-2")))
        third = asyncio.run(pool.prepare(_body(batch_id="pool-3")))
        assert restarts == [1]
        assert pool.worker_pids() and victim not in pool.worker_pids()
    finally:
        pool.close()
    assert [b.batch_id for b in (first, second, third)] == ["pool-1", "pool-2", "pool-3"]
    assert second.counts == first.counts == third.counts


def test_closing_the_pool_ends_its_workers(threads: ThreadPoolExecutor) -> None:
    pool = _pool("duckdb", threads)
    pool.start()
    deadline = time.monotonic() + DEADLINE_S
    while not pool.worker_pids() and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = pool.worker_pids()
    assert pids
    pool.close()
    for pid in pids:
        _wait_gone(pid)
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(pool.prepare(_body()))


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_gone(pid: int) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while _alive(pid):
        assert time.monotonic() < deadline, f"process {pid} is still running"
        time.sleep(0.05)


def _ingest_once(server: LiveServer, batch_id: str) -> None:
    server.create_botnet("hns")
    token = server.token("crawler")
    response = post_batch(server, token, batch(replies=50, batch_id=batch_id))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("workers", [0, 2])
def test_the_server_runs_the_workers_it_is_told(tmp_path: Path, workers: int) -> None:
    server = start_live_server(
        str(tmp_path / "w.duckdb"), tmp_path, ["--ingest-workers", str(workers)]
    )
    try:
        _ingest_once(server, "w-1")
        assert server.process is not None
        pids = [p for p in _children(server.process.pid) if b"spawn_main" in _cmdline(p)]
        assert len(pids) == workers
        with client(server, server.admin_token) as c:
            metrics = c.get("/metrics").text
        assert f"botmon_ingest_workers {float(workers)}" in metrics
        # The one batch went through the DuckDB store's group commit: one transaction.
        assert "botmon_store_write_transactions_total 1.0" in metrics
        assert "botmon_store_grouped_batches_total 1.0" in metrics
        assert "botmon_store_largest_write_group 1.0" in metrics
        assert server.counts("hns")["replies"] == 50
    finally:
        server.stop()


def test_workers_do_not_outlive_a_killed_server(tmp_path: Path) -> None:
    server = start_live_server(str(tmp_path / "k.duckdb"), tmp_path, ["--ingest-workers", "1"])
    try:
        _ingest_once(server, "k-1")
        assert server.process is not None
        children = _children(server.process.pid)
        workers = [p for p in children if b"spawn_main" in _cmdline(p)]
        assert len(workers) == 1
        server.process.kill()
        server.process.wait(DEADLINE_S)
        for pid in children:
            _wait_gone(pid)
    finally:
        server.stop()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_an_enricher_workers_cannot_rebuild_keeps_preparing_in_the_server() -> None:
    """Workers would store batches unenriched where the server enriches them: never split."""
    from botmon.server.state import ServerState
    from botmon.settings import ServerSettings
    from botmon.store import open_store

    store = open_store(":memory:")
    enricher = default_enricher()
    try:
        settings = ServerSettings(ingest_workers=2)
        without_factory = ServerState(store=store, settings=settings, enricher=enricher)
        with_factory = ServerState(
            store=store, settings=settings, enricher=enricher, enricher_factory=default_enricher
        )
        assert without_factory.ingest_pool.workers == 0
        assert with_factory.ingest_pool.workers == 2
        without_factory.shutdown()
        with_factory.shutdown()
    finally:
        enricher.close()
        store.close()
