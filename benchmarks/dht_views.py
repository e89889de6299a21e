"""Latency of the DHT and device views (client versions, affected devices, size estimate,
devices compared, what the protocol reveals) over a few million replies, DuckDB and
PostgreSQL.

Run: ``.venv/bin/python benchmarks/dht_views.py [--replies 3M] [--backends duckdb,postgresql]
[--repeat 5]``. PostgreSQL runs when BOTMON_TEST_PG_DSN is set.

Data: a DHT crawl (botnet ``bench-dht``: 300,000 nodes with 40-hex node IDs, client versions
and BEP 42 flags in ``data``, two thirds of the replies) and Mozi bots (``bench-mozi``: 50,000
bots with ``data.arch`` and a configuration digest, the other third) over 7 days, plus one
edge (a node listing another) per five replies; written by SQL inside the database, as
``benchmarks/dashboard.py`` does. Each view is asked over the last 7 days (the page's default)
through :mod:`botmon.analysis`: cold (cache cleared: every view reads the replies of its range,
as the summaries keep no ``data``) and warm (the same request again: the cached answer, checked
against the stored batches). The facets are those of the installed plugins, and eight keys
(``arch`` and seven more) counted in one pass beside the same eight read one key at a time:
what counting every key in one pass saves.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from botmon.analysis import devices, facets, size
from botmon.analysis.cache import clear_cache
from botmon.analysis.scope import botnet_ids
from botmon.store import open_store
from botmon.store.base import Store

DAYS = 7
NODES = 300_000
BOTS = 50_000
CLIENTS = ("LT", "UT", "lt", "ML")
ARCHES = ("mips", "arm7", "arm", "x86_64", "mipsel", "sh4")


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KM")) * scale)


def _prepare(url: str) -> tuple[int, int, int]:
    """Migrate the store at ``url`` and make its botnets and source: their ids."""
    store = open_store(url)
    try:
        store.migrate()
        for name in ("bench-dht", "bench-mozi"):
            if store.get_botnet(name) is None:
                store.create_botnet(name, "benchmark data")
        ids = botnet_ids(store)
        store.record_heartbeat("bench-crawler", time.time(), {"state": "crawling"})
        source = store.query("SELECT id FROM sources WHERE name = 'bench-crawler'")[0][0]
        return ids["bench-dht"], ids["bench-mozi"], int(source)
    finally:
        store.close()


def _batches_sql(duck: bool) -> str:
    """The batches row ingest would have written for a generated botnet (its span: the
    check behind cached answers)."""
    ts = "make_timestamp(?)" if duck else "to_timestamp(%s)"
    p = "?" if duck else "%s"
    seq = "nextval('batches_seq')" if duck else "0"
    return (
        "INSERT INTO batches (source_id, batch_id, botnet_id, received_at, replies,"
        f" failed_tries, edges, seq, first_ts, last_ts, source_type) VALUES ({p}, {p}, {p},"
        f" now(), 1, 0, 1, {seq}, {ts}, {ts}, 'crawler')"
    )


def fill_duckdb(path: str, n: int, end: float) -> None:
    import duckdb

    dht, mozi, source = _prepare(path)
    start_us = int((end - DAYS * 86400) * 1e6)
    step = DAYS * 86400 * 1e6 / n
    con = duckdb.connect(path)
    rows = f"""SELECT i, i % 3 = 2 AS bot,
        (hash(i) % CASE WHEN i % 3 = 2 THEN {BOTS} ELSE {NODES} END)::BIGINT AS k,
        {start_us} + (i * {step})::BIGINT AS ts_us FROM range({n}) t(i)"""
    node = "(md5(k::VARCHAR) || substr(md5('x' || k::VARCHAR), 1, 8))"
    ip = "(281470681743360 + 16777216 + (k * 7919) % 3000000000)::UHUGEINT"
    clients = "[" + ",".join(f"'{c}'" for c in CLIENTS) + "]"
    arches = "[" + ",".join(f"'{a}'" for a in ARCHES) + "]"
    data = f"""CASE WHEN bot THEN json_object('node_id', {node}, 'client', NULL,
            'client_version', NULL, 'bep42', false, 'arch',
            list_extract({arches}, (k % {len(ARCHES)})::INTEGER + 1),
            'config', json_object('version', 3, 'digest', md5('c' || (k % 4)::VARCHAR)))
        ELSE json_object('node_id', {node}, 'client',
            CASE WHEN k % 5 = 0 THEN NULL ELSE list_extract({clients}, (k % 4)::INTEGER + 1) END,
            'client_version', CASE WHEN k % 5 = 0 THEN NULL ELSE 256 + k % 7 END,
            'v', 'deadbeef', 'bep42', k % 2 = 0) END"""
    con.execute("BEGIN")
    con.execute(
        f"""INSERT INTO replies SELECT CASE WHEN bot THEN {mozi} ELSE {dht} END, {source},
              make_timestamp(ts_us), {ip}, 6881, {node}, ({data})::JSON, NULL, NULL, 'crawler'
            FROM ({rows})"""
    )
    dst_k = f"(hash(k) % {NODES})"
    dst = f"(md5({dst_k}::VARCHAR) || substr(md5('x' || {dst_k}::VARCHAR), 1, 8))"
    con.execute(
        f"""INSERT INTO edges SELECT {dht}, {source}, make_timestamp(ts_us), {ip}, 6881, {node},
              {ip}, 6881, {dst}, 'crawler' FROM ({rows}) WHERE i % 5 = 0 AND NOT bot"""
    )
    for b in (dht, mozi):
        con.execute(_batches_sql(True), [source, f"generated-{b}", b, start_us, int(end * 1e6)])
    con.execute("COMMIT")
    con.execute("CHECKPOINT")
    con.close()


def fill_postgres(url: str, n: int, end: float) -> None:
    import psycopg

    dht, mozi, source = _prepare(url)
    start = end - DAYS * 86400
    step = DAYS * 86400 / n
    rows = f"""SELECT i, i % 3 = 2 AS bot,
        (abs(hashint8(i)) % CASE WHEN i % 3 = 2 THEN {BOTS} ELSE {NODES} END)::bigint AS k,
        to_timestamp({start} + i * {step}) AS ts FROM generate_series(0, {n - 1}) AS i"""
    node = "(md5(k::text) || substr(md5('x' || k::text), 1, 8))"
    ip = "('0.0.0.0'::inet + (16777216 + (k * 7919) % 3000000000))"
    clients = "ARRAY[" + ",".join(f"'{c}'" for c in CLIENTS) + "]"
    arches = "ARRAY[" + ",".join(f"'{a}'" for a in ARCHES) + "]"
    data = f"""CASE WHEN bot THEN jsonb_build_object('node_id', {node}, 'client', NULL,
            'client_version', NULL, 'bep42', false, 'arch', ({arches})[(k % {len(ARCHES)}) + 1],
            'config', jsonb_build_object('version', 3, 'digest', md5('c' || (k % 4)::text)))
        ELSE jsonb_build_object('node_id', {node}, 'client',
            CASE WHEN k % 5 = 0 THEN NULL ELSE ({clients})[(k % 4) + 1] END,
            'client_version', CASE WHEN k % 5 = 0 THEN NULL ELSE 256 + k % 7 END,
            'v', 'deadbeef', 'bep42', k % 2 = 0) END"""
    dst_k = f"(abs(hashint8(k)) % {NODES})"
    dst = f"(md5({dst_k}::text) || substr(md5('x' || {dst_k}::text), 1, 8))"
    with psycopg.connect(url, autocommit=True) as con:
        con.execute(
            f"""INSERT INTO replies SELECT CASE WHEN bot THEN {mozi} ELSE {dht} END, {source},
                  ts, {ip}, 6881, {node}, {data}, NULL, NULL, 'crawler' FROM ({rows}) s"""
        )
        con.execute(
            f"""INSERT INTO edges SELECT {dht}, {source}, ts, {ip}, 6881, {node}, {ip}, 6881,
                  {dst}, 'crawler' FROM ({rows}) s WHERE i % 5 = 0 AND NOT bot"""
        )
        for b in (dht, mozi):
            con.execute(_batches_sql(False), [source, f"generated-{b}", b, start, end])
        con.execute("VACUUM ANALYZE")


EIGHT = [
    facets.KnownFacet("arch", "CPU", "", ("bench",)),
    *(facets.KnownFacet(f"key{i}", f"key {i}", "", ("bench",)) for i in range(1, 8)),
]
"""Eight facet keys, as many as the installed families declare together."""


def _one_key_at_a_time(store: Store, start: float, end: float) -> list[Any]:
    (found,) = [i for n, i in botnet_ids(store).items() if n == "bench-mozi"]
    return [store.data_values([found], start, end, f.key) for f in EIGHT if f.key != "arch"] + [
        store.facet_values([found], start, end, ["arch"])
    ]


VIEWS: dict[str, Callable[[Store, float, float], Any]] = {
    "clients (dht)": lambda s, a, b: devices.clients(s, "bench-dht", a, b),
    "devices (mozi)": lambda s, a, b: devices.devices(s, "bench-mozi", a, b),
    "size estimate (dht)": lambda s, a, b: size.size_estimate(s, "bench-dht", a, b),
    "compare devices": lambda s, a, b: devices.compare_devices(
        s, ["bench-dht", "bench-mozi"], a, b
    ),
    "facets (mozi)": lambda s, a, b: facets.facets(s, "bench-mozi", a, b),
    "facets (dht)": lambda s, a, b: facets.facets(s, "bench-dht", a, b),
    "8 facet keys, 1 pass": lambda s, a, b: facets.facets(s, "bench-mozi", a, b, known=EIGHT),
    "8 keys, 8 reads": _one_key_at_a_time,
}


def measure(store: Store, end: float, repeat: int) -> None:
    store.refresh_summaries(full=True)
    start = end - DAYS * 86400
    for name, view in VIEWS.items():
        cold, warm = [], []
        for _ in range(repeat):
            clear_cache(store)
            t = time.perf_counter()
            table = view(store, start, end)
            cold.append(time.perf_counter() - t)
            t = time.perf_counter()
            view(store, start, end)
            warm.append(time.perf_counter() - t)
        print(
            f"  {name:22s} cold p50 {statistics.median(cold) * 1000:7.0f} ms"
            f"  max {max(cold) * 1000:7.0f} ms   warm p50 {statistics.median(warm) * 1000:5.1f} ms"
            f"   ({len(table.rows) if hasattr(table, 'rows') else len(table)} rows)"
        )
        if name.startswith("size"):
            for row in table.dicts():
                print(f"      {row['method']}: {row['estimate']} ({row['low']}..{row['high']})")


def run(
    backend: str, url: str, fill: Callable[[str, int, float], None], n: int, repeat: int
) -> None:
    """Generate ``n`` replies into ``url`` and measure every view over them."""
    end = float(int(time.time()) // 3600 * 3600 - 3600)
    t = time.perf_counter()
    fill(url, n, end)
    print(f"{backend}: {n:,} replies generated in {time.perf_counter() - t:.0f} s")
    store = open_store(url)
    try:
        measure(store, end, repeat)
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", default="3M")
    parser.add_argument("--backends", default="duckdb,postgresql")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = parse_size(args.replies)
    for backend in args.backends.split(","):
        if backend == "duckdb":
            with tempfile.TemporaryDirectory() as tmp:
                run(backend, os.path.join(tmp, "bench.duckdb"), fill_duckdb, n, args.repeat)
        elif backend == "postgresql":
            dsn = os.environ.get("BOTMON_TEST_PG_DSN")
            if not dsn:
                print("postgresql: skipped (BOTMON_TEST_PG_DSN is not set)")
                continue
            import psycopg

            name = f"bench_dht_{os.getpid()}"
            with psycopg.connect(dsn, autocommit=True) as con:
                con.execute(f"CREATE DATABASE {name}")
            try:
                run(backend, dsn.rsplit("/", 1)[0] + "/" + name, fill_postgres, n, args.repeat)
            finally:
                with psycopg.connect(dsn, autocommit=True) as con:
                    con.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
