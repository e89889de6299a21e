"""Ingest throughput and memory: HTTP API into DuckDB and PostgreSQL, beside direct store writes.

Run: ``.venv/bin/python benchmarks/ingest.py [--replies N] [--http-replies N]
[--senders 1,2,4]``. PostgreSQL runs when BOTMON_TEST_PG_DSN is set (``make bench`` sets it).

For each backend, in the same run:
- direct: the same batch bodies through ``validate_batch`` + ``store.write_batch`` in this
  one process (the baseline the HTTP path is compared with), and ``write_batch`` alone;
- HTTP: a real ``botmon serve`` subprocess with its default ingest workers (or
  ``--ingest-workers N``), senders in separate processes, for each sender count; CPU is the
  server's and its workers'. Rates are timed after a 200,000-reply warm-up (workers started,
  address caches filled, as the direct path's cache is warmed); the warm-up's own rate is
  printed beside them;
- memory (DuckDB): the RSS of the server and its workers, sampled while ``--replies``
  replies go through it.
Targets: HTTP->DuckDB >= 250k replies/s and >= 1/3 of direct; HTTP->PostgreSQL >= 100k/s.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec

from botmon.auth import hash_token, new_token, token_prefix
from botmon.store import open_store
from botmon.validation import validate_batch

BATCH = 10_000
TEMPLATES = 8
WARM_UP_REPLIES = 200_000
"""Sent to a fresh server before a rate is timed (worker start-up, caches), reported apart."""
"""Distinct record payloads; batches differ by id (and payload), records repeat across them."""


def record_payloads(count: int = TEMPLATES) -> list[bytes]:
    """JSON arrays of 10,000 replies each, loopback addresses, timestamps in the last hour."""
    now = time.time() - 3600
    payloads = []
    for t in range(count):
        replies = [
            {
                "timestamp": now + (t * BATCH + i) * 0.0001,
                "ip": f"127.{t}.{(i >> 8) & 255}.{i & 255}",
                "port": 1024 + i % 60000,
                "bot_id": f"{t:02x}{i:06x}",
                **({"data": {"v": 3}} if i % 10 == 0 else {}),
            }
            for i in range(BATCH)
        ]
        payloads.append(msgspec.json.encode(replies))
    return payloads


def body(botnet: str, payload: bytes, batch_id: str) -> bytes:
    head = msgspec.json.encode({"botnet": botnet, "batch_id": batch_id})
    return head[:-1] + b',"replies":' + payload + b"}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def family(pid: int) -> list[int]:
    """``pid`` and every process below it (the server's ingest workers)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [pid], [pid]
    while todo:
        parent = todo.pop()
        kids = [child for child, ppid in parents.items() if ppid == parent]
        found.extend(kids)
        todo.extend(kids)
    return found


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process and its workers have used (load-independent)."""
    total = 0.0
    for member in family(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_kb(pid: int) -> int:
    """Resident memory of a process and its workers."""
    total = 0
    for member in family(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


class Server:
    """A ``botmon serve`` subprocess with a crawler token and the botnet ``bench``."""

    def __init__(
        self,
        db: str,
        workdir: Path,
        workers: int | None = None,
        extra_args: tuple[str, ...] = (),
        startup_s: float = 30,
    ) -> None:
        self.db = db
        self.crawler = new_token()
        store = open_store(db)
        try:
            store.migrate()
            store.create_botnet("bench")
            store.create_monitor(
                "bench-crawler", "crawler", [], hash_token(self.crawler), token_prefix(self.crawler)
            )
        finally:
            store.close()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).with_name("botmon")
        argv = [str(exe), "serve", "--db", db, "--port", str(self.port), "--max-body-mb", "64"]
        if workers is not None:
            argv += ["--ingest-workers", str(workers)]
        argv += extra_args
        self.log = open(workdir / f"server-{self.port}.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + startup_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("botmon serve did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()


def _sender(url: str, token: str, batches: int, offset: int, out: Any) -> None:
    payloads = record_payloads(2)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    sent = 0
    with httpx.Client(base_url=url, headers=headers, timeout=120, trust_env=False) as client:
        out.put(("ready", 0))
        for n in range(batches):
            b = body("bench", payloads[n % 2], f"s{offset}-{n}-{uuid.uuid4().hex[:8]}")
            r = client.post("/api/v1/ingest", content=b)
            if r.status_code != 200:
                out.put(("error", f"{r.status_code} {r.text[:200]}"))
                return
            sent += r.json()["stored"]["replies"]
    out.put(("done", sent))


def http_rate(
    server: Server, replies: int, senders: int, sample: list[int] | None = None
) -> tuple[float, float]:
    """(replies/s, server CPU-seconds per million replies) with ``senders`` client processes."""
    batches = max(1, replies // BATCH)
    per = [batches // senders + (1 if i < batches % senders else 0) for i in range(senders)]
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_sender, args=(server.url, server.crawler, per[i], i, queue))
        for i in range(senders)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        kind, _value = queue.get(timeout=120)
        assert kind == "ready", _value
    stop = threading.Event()

    def sampler() -> None:
        while not stop.is_set() and sample is not None:
            sample.append(rss_kb(server.proc.pid))
            stop.wait(0.2)

    thread = threading.Thread(target=sampler, daemon=True)
    cpu0 = cpu_s(server.proc.pid)
    start = time.perf_counter()
    thread.start()
    total = 0
    for _ in procs:
        kind, value = queue.get(timeout=3600)
        if kind == "error":
            raise RuntimeError(f"ingest failed: {value}")
        total += value
    elapsed = time.perf_counter() - start
    cpu = cpu_s(server.proc.pid) - cpu0
    stop.set()
    thread.join()
    for p in procs:
        p.join(30)
    return total / elapsed, cpu / total * 1e6


def _enricher() -> Any:
    """The server's enrichment step, so the direct path does the same work minus HTTP."""
    from botmon.server.run import load_enricher

    enricher = load_enricher(print)
    return enricher.enrich_batch if enricher is not None else (lambda batch: None)


def direct_rates(db: str, replies: int) -> tuple[float, float, float]:
    """(validate+enrich+write, write only) replies/s straight through the store, same bodies.

    The third value is this process's CPU-seconds per million replies for validate+enrich+write.
    """
    payloads = record_payloads()
    store = open_store(db)
    try:
        store.migrate()
        store.create_botnet("bench")
        batches = max(1, replies // BATCH)
        bodies = [body("bench", payloads[n % TEMPLATES], f"d-{n}") for n in range(batches)]
        enrich = _enricher()
        for b in bodies[: min(len(bodies), TEMPLATES)]:
            enrich(validate_batch(b))  # warm the address cache, as a running server's is
        start, cpu0 = time.perf_counter(), time.process_time()
        for b in bodies:
            v = validate_batch(b)
            enrich(v)
            store.write_batch(v, "direct")
        with_validation = batches * BATCH / (time.perf_counter() - start)
        cpu_per_m = (time.process_time() - cpu0) / (batches * BATCH) * 1e6
        validated = [
            validate_batch(body("bench", payloads[n % TEMPLATES], f"w-{n}")) for n in range(batches)
        ]
        start = time.perf_counter()
        for v in validated:
            store.write_batch(v, "direct")
        write_only = batches * BATCH / (time.perf_counter() - start)
    finally:
        store.close()
    return with_validation, write_only, cpu_per_m


def pg_database(dsn: str) -> tuple[str, Any]:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    name = f"botmon_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = conninfo_to_dict(dsn)
    url = (
        f"postgresql://{parts.get('user', 'postgres')}@{parts.get('host', '127.0.0.1')}:"
        f"{parts.get('port', 5432)}/{name}"
    )

    def drop() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    return url, drop


def run_backend(
    label: str, make_db: Any, args: argparse.Namespace, workdir: Path, target: float
) -> None:
    db, cleanup = make_db("direct")
    try:
        direct, write_only, direct_cpu = direct_rates(db, args.http_replies)
    finally:
        cleanup()
    print(
        f"{label}: direct validate+enrich+write {direct:,.0f} replies/s "
        f"({direct_cpu:.2f} CPU-s per million); write only {write_only:,.0f}/s"
    )
    best = 0.0
    for senders in args.senders:
        db, cleanup = make_db(f"http{senders}")
        server = Server(db, workdir, args.ingest_workers)
        try:
            # Steady state, as the direct path's warmed address cache: the first batches pay
            # for starting the ingest workers and filling their caches (reported apart).
            first, _ = http_rate(server, WARM_UP_REPLIES, senders)
            rate, cpu = http_rate(server, args.http_replies, senders)
        finally:
            server.stop()
            cleanup()
        best = max(best, rate)
        print(
            f"{label}: HTTP, {senders} sender process(es): {rate:,.0f} replies/s "
            f"= {rate / direct:.2f} of direct, {rate / write_only:.2f} of write "
            f"only; server and its workers {cpu:.2f} CPU-s per million replies "
            f"(first {WARM_UP_REPLIES:,} after start: {first:,.0f}/s)"
        )
    verdict = "meets" if best >= target else "MISSES"
    print(f"{label}: best HTTP {best:,.0f} replies/s {verdict} the target {target:,.0f}/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=5_000_000, help="memory run size")
    parser.add_argument("--http-replies", type=int, default=1_000_000, help="per rate run")
    parser.add_argument("--senders", default="1,2,4", help="sender process counts to try")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument(
        "--ingest-workers", type=int, default=None, help="the server's (default: its own)"
    )
    args = parser.parse_args(argv)
    args.senders = [int(s) for s in args.senders.split(",") if s]
    load = os.getloadavg()[0]
    print(
        f"botmon ingest benchmark: {os.cpu_count()} cores, load {load:.1f}, "
        f"batches of {BATCH} replies"
    )
    if load > 1.5:
        print("note: the machine is busy; rates are low, CPU-seconds per million compare fairly")
    with tempfile.TemporaryDirectory(prefix="botmon-bench-") as tmp:
        workdir = Path(tmp)

        def duck(tag: str) -> tuple[str, Any]:
            path = workdir / f"{tag}-{uuid.uuid4().hex[:6]}.duckdb"
            return str(path), lambda: [
                p.unlink(missing_ok=True) for p in workdir.glob(f"{path.name}*")
            ]

        run_backend("DuckDB", duck, args, workdir, 250_000)
        dsn = os.environ.get("BOTMON_TEST_PG_DSN")
        if dsn:
            run_backend("PostgreSQL", lambda tag: pg_database(dsn), args, workdir, 100_000)
        else:
            print("PostgreSQL: skipped (BOTMON_TEST_PG_DSN is not set; make bench sets it)")
        if not args.skip_memory:
            db, cleanup = duck("memory")
            server = Server(db, workdir, args.ingest_workers)
            samples: list[int] = []
            try:
                start_kb = rss_kb(server.proc.pid)
                rate, _cpu = http_rate(server, args.replies, max(args.senders), samples)
                end_kb = rss_kb(server.proc.pid)
            finally:
                server.stop()
                cleanup()
            peak = max([*samples, start_kb, end_kb])
            print(
                f"memory: {args.replies:,} replies at {rate:,.0f}/s; server and workers RSS "
                f"start {start_kb / 1024:.0f} MB, peak {peak / 1024:.0f} MB, "
                f"end {end_kb / 1024:.0f} MB"
            )
            if samples:
                steps = [samples[min(len(samples) - 1, len(samples) * q // 4)] for q in range(5)]
                path = " -> ".join(f"{kb / 1024:.0f}" for kb in steps)
                print(f"memory: RSS over the run, at each quarter: {path} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
