"""Direct store ingest rate (no HTTP): Store.write_batch with batches of 10,000 replies.

Baselines measured in the same run: DuckDB, a bare Arrow insert of the same columns into a
5-column table (the engine's ceiling here); PostgreSQL, psycopg's per-row ``COPY.write_row``.
Targets (issue "Foundation", item 3): DuckDB >= 600k replies/s, PostgreSQL >= 100k replies/s.
PostgreSQL runs only when BOTMON_TEST_PG_DSN is set (``make bench`` starts a cluster).

The concurrent part has N threads call ``write_prepared`` on one DuckDB store at once, as the
server's store threads do, and reports process CPU and wall time per batch: with several
writers the DuckDB store commits the waiting batches in one transaction (group commit), so the
cost per batch should fall as writers are added. ``BOTMON_BENCH_THREADS`` picks the counts,
``BOTMON_BENCH_REPEATS`` how many runs each (the median is shown).
"""

from __future__ import annotations

import os
import random
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import msgspec
import psycopg
import pyarrow as pa
from psycopg import sql

from botmon.store import common, open_store
from botmon.validation import ValidatedBatch, validate_batch
from botmon.wire import Batch, Reply

BATCHES = int(os.environ.get("BOTMON_BENCH_BATCHES", "30"))
REPEATS = int(os.environ.get("BOTMON_BENCH_REPEATS", "3"))
THREADS = [int(n) for n in os.environ.get("BOTMON_BENCH_THREADS", "1,2,4").split(",") if n]
NOW = 1_750_000_000.0


def make_batches(n: int) -> list[ValidatedBatch]:
    rng = random.Random(1)
    out = []
    for k in range(n):
        replies = [
            Reply(
                NOW + k + i / 10_000,
                f"127.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                rng.randrange(1024, 65535),
                f"{rng.getrandbits(64):016x}",
                {"v": 3} if i % 10 == 0 else None,
            )
            for i in range(10_000)
        ]
        body = msgspec.json.encode(Batch("hns", f"b{k}-{uuid.uuid4().hex}", replies))
        out.append(validate_batch(body, now=NOW + 1e6))
    return out


def store_rate(target: str, batches: list[ValidatedBatch]) -> float:
    store = open_store(target)
    try:
        store.migrate()
        if store.get_botnet("hns") is None:
            store.create_botnet("hns")
        started = time.perf_counter()
        for b in batches:
            assert not store.write_batch(b, "bench").duplicate
        return len(batches) * 10_000 / (time.perf_counter() - started)
    finally:
        store.close()


def concurrent_cost(path: str, batches: list[ValidatedBatch], threads: int) -> tuple[float, ...]:
    """CPU and wall milliseconds per batch, and transactions, with ``threads`` writers at once.

    Batches are prepared beforehand, as the server's ingest workers do, so only the write path
    is timed, up to and including ``close`` (which checkpoints the WAL into the file: commits
    that write more at once should not win by leaving the checkpoint out of the timing).
    Each thread writes every ``threads``-th batch.
    """
    prepared = [common.prepare("duckdb", b) for b in batches]
    store = open_store(path)
    store.migrate()
    store.create_botnet("hns")
    store.record_heartbeat("bench", NOW, {})  # the source exists before the clock starts
    barrier = threading.Barrier(threads + 1)

    def writer(k: int) -> None:
        barrier.wait()
        for p in prepared[k::threads]:
            assert not store.write_prepared(p, "bench").duplicate

    workers = [threading.Thread(target=writer, args=(k,)) for k in range(threads)]
    for w in workers:
        w.start()
    cpu, wall = time.process_time(), time.perf_counter()
    barrier.wait()
    for w in workers:
        w.join()
    groups = getattr(getattr(store, "group_commit", None), "groups", len(prepared))
    store.close()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu * 1000 / len(prepared), wall * 1000 / len(prepared), groups


def duckdb_baseline(path: str, batches: list[ValidatedBatch]) -> float:
    con = duckdb.connect(path)
    con.execute(
        "CREATE TABLE r (ts TIMESTAMP, ip UBIGINT, port USMALLINT, bot_id VARCHAR, data VARCHAR)"
    )
    started = time.perf_counter()
    for b in batches:
        c = b.replies
        table = pa.table(
            {
                "ts": pa.array(c.ts_us, pa.timestamp("us")),
                "ip": pa.array(c.ip, pa.uint64()),
                "port": pa.array(c.port, pa.uint16()),
                "bot_id": pa.array(c.bot_id, pa.string()),
                "data": pa.array(c.data, pa.string()),
            }
        )
        con.begin()
        con.register("x", table)
        con.execute("INSERT INTO r SELECT * FROM x")
        con.unregister("x")
        con.commit()
    rate = len(batches) * 10_000 / (time.perf_counter() - started)
    con.close()
    return rate


def pg_baseline(dsn: str, batches: list[ValidatedBatch]) -> float:
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TEMP TABLE r (ts bigint, ip numeric, port int, bot_id text, data text)"
        )
        started = time.perf_counter()
        for b in batches:
            c = b.replies
            with conn.cursor().copy("COPY r FROM STDIN") as copy:
                for row in zip(c.ts_us, c.ip, c.port, c.bot_id, c.data, strict=True):
                    copy.write_row(row)
            conn.commit()
        return len(batches) * 10_000 / (time.perf_counter() - started)


def fresh_pg_database(dsn: str) -> tuple[str, str]:
    """A new database beside the one ``dsn`` (a postgresql:// URL) names."""
    name = f"botmon_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, urlsplit(dsn)._replace(path=f"/{name}").geturl()


def main() -> None:
    batches = make_batches(BATCHES)
    with tempfile.TemporaryDirectory() as tmp:
        base = duckdb_baseline(str(Path(tmp) / "base.duckdb"), batches)
        rate = store_rate(str(Path(tmp) / "store.duckdb"), batches)
        print(
            f"duckdb      write_batch {rate:>11,.0f} replies/s   bare Arrow insert {base:>11,.0f}/s"
        )
        for n in THREADS:
            runs = sorted(
                concurrent_cost(str(Path(tmp) / f"t{n}-{r}.duckdb"), batches, n)
                for r in range(REPEATS)
            )
            cpu, wall, groups = runs[len(runs) // 2]  # the run of median CPU
            print(
                f"duckdb      {n} writer thread(s): {cpu:6.1f} ms CPU, {wall:6.1f} ms wall"
                f" per batch; {groups:.0f} transactions for {len(batches)} batches"
                f" (median of {REPEATS})"
            )
    dsn = os.environ.get("BOTMON_TEST_PG_DSN")
    if not dsn:
        print("postgresql  skipped (BOTMON_TEST_PG_DSN not set)")
        return
    name, url = fresh_pg_database(dsn)
    try:
        rate = store_rate(url, batches)
        base = pg_baseline(url, batches)
        print(
            f"postgresql  write_batch {rate:>11,.0f} replies/s   per-row COPY      {base:>11,.0f}/s"
        )
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
