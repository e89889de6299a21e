"""What picking configurations out of replies costs ingest (botmon.store.configs).

Run: ``.venv/bin/python benchmarks/config_ingest.py [--batches N]``; PostgreSQL runs too when
BOTMON_TEST_PG_DSN is set. Direct ``validate_batch`` + ``store.write_batch`` of 10,000-reply
batches, three kinds in the same run:

- ``plain``: replies whose data has no configuration (the baseline: any other botnet);
- ``dht``: BitTorrent DHT node replies without one (the ``crawl btdht`` case);
- ``mozi``: every reply a Mozi bot carrying one of two configurations (the worst case: each
  batch updates 10,000 listed bots), beside ``mozi-off``: the same batches with the
  configuration step switched off (what ingest cost before configurations were kept).

Also the time ``seen_configs`` alone takes per batch (the only cost a batch without a
configuration pays: one substring search). Targets: ``seen_configs`` under 1 % of a batch
without configurations; ``mozi`` within a small factor of ``mozi-off``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import tempfile
import time
from typing import Any

import msgspec
import psycopg
from psycopg import sql

from botmon.store import open_store, prepared
from botmon.store.configs import SeenConfig, seen_configs
from botmon.validation import validate_batch

N = 10_000
T0 = 1_750_000_000.0
CONFIGS = [
    {"version": v, "digest": f"{v:02x}" * 32, "tags": {"ss": "bot", "cpu": "arm7"}}
    | {"signatures": "valid", "stop": False}
    for v in (1, 2)
]


def _node(i: int) -> str:
    return hashlib.sha1(i.to_bytes(4, "big")).hexdigest()


def _data(kind: str, i: int) -> dict[str, Any]:
    if kind == "plain":
        return {"version": 3, "n": i}
    data: dict[str, Any] = {"node_id": _node(i), "client": "UT", "client_version": 300}
    data |= {"v": "55540300", "bep42": None}
    if kind == "mozi":
        data |= {"config": CONFIGS[i % 2], "arch": "arm7"}
    return data


def _body(kind: str, b: int) -> bytes:
    """Batch ``b`` of ``kind``; node IDs are hashes, as real ones look."""
    data = "mozi" if kind == "mozi-off" else kind
    replies = [
        {
            "timestamp": T0 + b + i / N,
            "ip": f"127.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
            "port": 6881,
            "bot_id": _node(i),
            "data": _data(data, i),
        }
        for i in range(N)
    ]
    return msgspec.json.encode({"botnet": "b", "batch_id": f"{kind}-{b}", "replies": replies})


def _nothing(replies: object) -> tuple[SeenConfig, ...]:
    return ()


KINDS = ("plain", "dht", "mozi-off", "mozi")


def run(target: str, batches: int) -> None:
    """Kinds take turns batch by batch (the machine's load hits each alike); each line is
    the median batch."""
    store = open_store(target)
    store.migrate()
    store.create_botnet("b")
    bodies = {kind: [_body(kind, b) for b in range(batches)] for kind in KINDS}
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    scans: dict[str, list[float]] = {kind: [] for kind in KINDS}
    try:
        for b in range(batches):
            for kind in KINDS:
                body = bodies[kind][b]
                replies = validate_batch(body, now=T0 + 10**8).replies
                began = time.perf_counter()
                seen_configs(replies)
                scans[kind].append(time.perf_counter() - began)
                prepared.__dict__["seen_configs"] = _nothing if kind == "mozi-off" else seen_configs
                began = time.perf_counter()
                store.write_batch(validate_batch(body, now=T0 + 10**8), "bench")
                times[kind].append(time.perf_counter() - began)
                prepared.__dict__["seen_configs"] = seen_configs
        for kind in KINDS:
            batch_s = statistics.median(times[kind])
            scan_ms = 1000 * statistics.median(scans[kind])
            print(
                f"{store.backend:10} {kind:8} {N / batch_s:>9,.0f} replies/s"
                f" ({batch_s * 1000:6.1f} ms per {N:,}-reply batch, validate + write);"
                f" seen_configs alone {scan_ms:6.2f} ms"
            )
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(os.path.join(tmp, "bench.duckdb"), args.batches)
    dsn = os.environ.get("BOTMON_TEST_PG_DSN")
    if dsn:
        from store_ingest import fresh_pg_database  # benchmarks/ is the script's path

        name, url = fresh_pg_database(dsn)
        try:
            run(url, args.batches)
        finally:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
