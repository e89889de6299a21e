"""Direct store ingest rate (no HTTP): Store.write_batch with batches of 10,000 replies.

Baselines measured in the same run: DuckDB, a bare Arrow insert of the same columns into a
5-column table (the engine's ceiling here); PostgreSQL, psycopg's per-row ``COPY.write_row``.
Targets (issue "Foundation", item 3): DuckDB >= 600k replies/s, PostgreSQL >= 100k replies/s.
PostgreSQL runs only when BOTMON_TEST_PG_DSN is set (``make bench`` starts a cluster).
"""

from __future__ import annotations

import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import msgspec
import psycopg
import pyarrow as pa
from psycopg import sql

from botmon.records import Batch, Reply
from botmon.store import open_store
from botmon.validation import ValidatedBatch, validate_batch

BATCHES = int(os.environ.get("BOTMON_BENCH_BATCHES", "30"))
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
