"""Small-ingest latency while heavy dashboard reads run, with and without read threads.

Run: ``.venv/bin/python benchmarks/ingest_under_reads.py [--replies 2M] [--readers 6]
[--ingests 40]``. One DuckDB file of ``--replies`` replies (written by SQL, as in
``benchmarks/dashboard.py``) is served twice by a real ``botmon serve`` on loopback: first
with ``read_threads=0`` (reads share the store threads, as before botmon had read threads),
then with the default read threads. Each time ``--readers`` threads ask heavy dashboard views
over ranges no cache has seen, while one crawler posts ``--ingests`` batches of 100 replies
one after another; p50/p95/max of those ingests are printed per mode, and the baseline
without readers. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import msgspec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tests.fixtures.server import start_live_server  # noqa: E402

from dashboard import BOTNETS, fill_duckdb, parse_size  # noqa: E402

VIEWS = ("/api/v1/stats/compare/overlap", "/api/v1/stats/compare/hours")


def _batch(seq: int) -> bytes:
    now = time.time()
    replies = [
        {
            "timestamp": now - i,
            "ip": f"127.9.{seq % 250}.{i}",
            "port": 4000 + i,
            "bot_id": f"{i:08x}",
        }
        for i in range(100)
    ]
    body = {"botnet": BOTNETS[0], "batch_id": uuid.uuid4().hex, "replies": replies}
    return msgspec.json.encode(body)


def _read_forever(url: str, token: str, end: float, stop: threading.Event, n: list[int]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=300, trust_env=False) as c:
        k = 0
        while not stop.is_set() and k < 10_000:
            k += 1
            # A range no cache has seen: every request computes from the rows.
            start = end - 20 * 86400 - (k * 7919 + threading.get_ident()) % 86400
            c.get(VIEWS[k % len(VIEWS)], params={"start": int(start), "end": int(end)})
            n[0] += 1


def measure(
    source: str, workdir: Path, read_threads: int, readers: int, ingests: int
) -> list[float]:
    """Ingest latencies (ms) of ``ingests`` sequential batches while ``readers`` read, on a
    fresh copy of ``source``."""
    run = workdir / f"run-{uuid.uuid4().hex[:8]}"
    run.mkdir()
    db = str(run / "reads.duckdb")
    shutil.copy(source, db)
    os.environ["BOTMON_SERVER_READ_THREADS"] = str(read_threads)
    server = start_live_server(db, run, ["--ingest-workers", "0", "--summary-refresh", "0"])
    try:
        token = server.token("crawler")
        stop = threading.Event()
        done = [0]
        threads = [
            threading.Thread(
                target=_read_forever, args=(server.url, server.admin_token, time.time(), stop, done)
            )
            for _ in range(readers)
        ]
        for t in threads:
            t.start()
        time.sleep(2.0 if readers else 0)
        took: list[float] = []
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=300, trust_env=False) as c:
            for seq in range(ingests):
                body = _batch(seq)
                started = time.perf_counter()
                answer = c.post("/api/v1/ingest", content=body)
                took.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, answer.text
                time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join(300)
        if readers:
            print(f"    ({done[0]} dashboard requests answered meanwhile)")
        return took
    finally:
        server.stop()
        os.environ.pop("BOTMON_SERVER_READ_THREADS", None)


def _line(label: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return (
        f"{label:<44} p50 {statistics.median(ms):8.1f} ms  p95 {p95:8.1f} ms  max {ms[-1]:8.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", default="2M")
    parser.add_argument("--readers", type=int, default=6)
    parser.add_argument("--ingests", type=int, default=40)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="botmon-bench-") as tmp:
        work = Path(tmp)
        db = str(work / "reads.duckdb")
        started = time.perf_counter()
        fill_duckdb(db, parse_size(args.replies), time.time())
        print(f"{args.replies} replies generated in {time.perf_counter() - started:.1f} s")
        rows = [
            ("no readers (baseline)", measure(db, work, 2, 0, args.ingests)),
            (
                f"{args.readers} readers, reads share store threads",
                measure(db, work, 0, args.readers, args.ingests),
            ),
            (
                f"{args.readers} readers, reads in read threads",
                measure(db, work, 2, args.readers, args.ingests),
            ),
        ]
        for label, ms in rows:
            print(_line(label, ms))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
