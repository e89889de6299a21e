"""Streaming a large feed: time to the first chunk, the whole answer, and the memory it
takes, beside a plain ``GROUP BY ip`` over the same rows in the same run (DuckDB).

Run: ``.venv/bin/python benchmarks/feed_stream.py [--replies 2000000] [--bots 400000]
[--memory-mb 128]``.

Data: ``--replies`` replies of one botnet over one day from ``--bots`` distinct addresses
(each with an AS of 50 and a country of 10), written by SQL inside DuckDB (what is measured
is the read side). The feed is the unlimited CSV feed of the whole day (every bot, no scope)
through the real format writer, read the way the route reads it (chunk by chunk), and
one AS's feed (a network owner's daily feed). Peak RSS growth is measured in a child process
per case, so one case's memory does not hide another's. Most of it is DuckDB's working memory
for the aggregation and sort, which it spills beyond its limit (``--memory-mb``, the server's
``duckdb_memory_mb``): botmon itself holds one page of rows.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from botmon.feeds.formats import feed_format
from botmon.feeds.model import FeedContext, FeedQuery, FeedScope
from botmon.store import open_store

DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
ASNS = 50


def build(path: str, replies: int, bots: int) -> None:
    store = open_store(path)
    store.migrate()
    store.create_botnet("bench-mozi")
    store.close()
    import duckdb

    con = duckdb.connect(path)
    con.execute("INSERT INTO sources (name) VALUES ('bench-crawler')")
    con.execute(
        f"""
        INSERT INTO replies (botnet_id, source_id, source_type, ts, ip, port, bot_id, country, asn)
        SELECT 1, (SELECT id FROM sources WHERE name = 'bench-crawler'), 'crawler',
            make_timestamp(CAST(({T0} + i * {DAY} / {replies}) * 1e6 AS BIGINT)),
            CAST(281470681743360 + 2130706432 + (i % {bots}) AS UHUGEINT),
            1000 + (i % 7), NULL,
            ['DE','PL','US','CN','BR','IN','RU','FR','GB','JP'][1 + (i % {bots}) % 10],
            64512 + (i % {bots}) % {ASNS}
        FROM range({replies}) t(i)
        """
    )
    con.close()


def case(path: str, scope: FeedScope, memory_mb: int | None, out: mp.Queue) -> None:  # type: ignore[type-arg]
    from botmon.store.duckdb_store import open_duckdb

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    store = open_duckdb(path, memory_mb)
    fmt = feed_format("csv")
    query = FeedQuery(since=T0, until=T0 + DAY, scope=scope)
    context = FeedContext(generated_at=time.time(), since=T0, until=T0 + DAY, scope=scope)
    started = time.perf_counter()
    first = None
    size = rows = 0
    rows_seen = (row for page in store.feed_rows(query) for row in page)
    for chunk in fmt.write(rows_seen, context):
        if first is None and len(chunk) > 500:
            first = time.perf_counter() - started
        size += len(chunk)
        rows += chunk.count(b"\n")
    total = time.perf_counter() - started
    store.close()
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    out.put((first or total, total, rows - 1, size, grown))


def baseline(path: str) -> tuple[float, int]:
    import duckdb

    con = duckdb.connect(path, read_only=True)
    started = time.perf_counter()
    n = con.execute(
        "SELECT count(*) FROM (SELECT ip, min(ts), max(ts), count(*), max(asn) FROM replies "
        "GROUP BY ip)"
    ).fetchone()[0]  # type: ignore[index]
    seconds = time.perf_counter() - started
    con.close()
    return seconds, int(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replies", type=int, default=2_000_000)
    parser.add_argument("--bots", type=int, default=400_000)
    parser.add_argument("--memory-mb", type=int, default=None, help="DuckDB's memory limit")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.duckdb")
        started = time.perf_counter()
        build(path, args.replies, args.bots)
        print(
            f"generated {args.replies:,} replies of {args.bots:,} bots in "
            f"{time.perf_counter() - started:.1f} s"
        )
        base, groups = baseline(path)
        print(f"baseline GROUP BY ip (count only): {base:.2f} s, {groups:,} groups")
        ctx = mp.get_context("spawn")
        for label, scope in (
            ("every bot (no scope)", FeedScope()),
            ("one AS (a network owner's daily feed)", FeedScope(asns=(64512,))),
        ):
            queue: mp.Queue = ctx.Queue()  # type: ignore[type-arg]
            proc = ctx.Process(target=case, args=(path, scope, args.memory_mb, queue))
            proc.start()
            first, total, rows, size, grown = queue.get(timeout=3600)
            proc.join()
            print(
                f"{label}: {rows:,} rows, {size / 1e6:.1f} MB CSV; first chunk {first:.2f} s, "
                f"whole {total:.2f} s ({total / base:.1f}x the GROUP BY); peak RSS growth "
                f"{grown:.0f} MB"
            )


if __name__ == "__main__":
    main()
