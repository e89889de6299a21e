"""Time and peak memory of every research analysis over 10 million replies and a
1-million-edge peer graph, beside a plain DuckDB ``GROUP BY`` over the same replies.

The data are written straight into a DuckDB store through ``Store.write_batch`` by a
vectorised synthetic writer (the trace generator models more, but writing ten million
replies record by record takes minutes): a week of a botnet with bot IDs, each bot online in
log-normal sessions (median 4 h) during which the crawler hears it every 5 minutes, each
on one to four addresses it moves between (dynamic addresses), failed tries of offline bots
(30 % of the replies), contacts to botmon's sensor (5 %), and a peer graph whose listed peers
follow a Zipf law (popular peers) plus five sensor-like peers listed by a tenth of the bots.

Each analysis of ``framework.ANALYSIS_NAMES`` whose module exists runs once over the whole
week in a forked child process (the store closed in the parent and reopened there), and so
does the baseline ``SELECT ip, port, bot_id, count(*) ... GROUP BY`` over the same replies.
Memory is the child's peak resident set growth (``ru_maxrss`` at the end minus the resident
set at the start: Python, Arrow, igraph and DuckDB's own buffers alike). Printed: wall and
CPU seconds (every thread of the child; on a busy machine CPU is the steadier figure), each
with its ratio to the baseline's, and the peak MB.

``--replies N --edges M`` make a smaller run (defaults: the issue's 10,000,000 and
1,000,000); ``--db FILE`` keeps the generated store (re-used when it exists).
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from botmon.analysis import framework
from botmon.ipaddr import V4_MAPPED_PREFIX
from botmon.store import open_store
from botmon.store.base import Store
from botmon.validation import EdgeColumns, FailedTryColumns, ReplyColumns, ValidatedBatch

BOTNET = "bench"
DAY = 86400
END = 1_780_012_800.0  # a Monday 00:00 UTC
START = END - 7 * DAY
ROUND_S = 300
ROWS_PER_BATCH = 500_000
COUNTRIES = np.array(["CN", "IN", "BR", "RU", "US", "VN", "EG", "TW"], dtype=object)
COUNTRY_WEIGHTS = np.array([35, 20, 12, 10, 8, 6, 5, 4], dtype=float)
SENSORS = 5


def _ips(rng: np.random.Generator, n: int) -> np.ndarray:
    """Public-looking IPv4 addresses (as stored: IPv4-mapped integers); data only."""
    first = rng.integers(1, 224, n)
    first = np.where(first == 127, 128, first)
    return (first << 24) | rng.integers(0, 1 << 24, n)


class Population:
    """The bots: ID, country, AS, and up to four addresses each with a reassignment period."""

    def __init__(self, rng: np.random.Generator, bots: int) -> None:
        self.n = bots
        self.ids = np.array([f"{v:016x}" for v in rng.integers(0, 1 << 62, bots)], dtype=object)
        self.country = rng.choice(COUNTRIES, bots, p=COUNTRY_WEIGHTS / COUNTRY_WEIGHTS.sum())
        self.asn = 4000 + rng.integers(0, 400, bots)
        self.addresses = rng.integers(1, 5, bots)
        self.ip = _ips(rng, bots * 4).reshape(bots, 4)
        self.port = rng.integers(1024, 65535, (bots, 4))
        self.period = rng.uniform(12 * 3600, 96 * 3600, bots)

    def at(self, bot: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ip, port) of each ``bot`` at time ``t``."""
        k = (np.floor((t - START) / self.period[bot]).astype(np.int64)) % self.addresses[bot]
        return self.ip[bot, k], self.port[bot, k]


def _sessions(rng: np.random.Generator, pop: Population, replies: int) -> np.ndarray:
    """Reply times: per session, one reply per crawl round while the bot is online, until
    ``replies`` rows exist. Returns (bot, ts) as two columns."""
    lengths = np.exp(rng.normal(np.log(4 * 3600), 1.0, replies // 15 + 100))
    rounds = np.maximum(1, (lengths // ROUND_S).astype(np.int64))
    # 10 % more rounds than asked: those running past the week's end are cut off below.
    count = int(np.searchsorted(np.cumsum(rounds), replies * 1.1)) + 1
    rounds = rounds[:count]
    bots = rng.integers(0, pop.n, count)
    starts = rng.uniform(START, END - ROUND_S, count)
    per = np.repeat(np.arange(count), rounds)
    offset = np.arange(len(per)) - np.repeat(np.cumsum(rounds) - rounds, rounds)
    ts = starts[per] + offset * ROUND_S + rng.uniform(0, 30, len(per))
    keep = ts < END
    return np.stack([bots[per][keep], ts[keep]])[:, :replies]


def _mapped(ips: np.ndarray) -> list[int]:
    return [V4_MAPPED_PREFIX | int(v) for v in ips.tolist()]


def _write(store: Store, name: str, kind: str, source: str, **cols: Any) -> None:
    replies, failed, edges = ReplyColumns(), FailedTryColumns(), EdgeColumns()
    target = {"replies": replies, "failed_tries": failed, "edges": edges}[kind]
    for key, values in cols.items():
        setattr(target, key, values)
    batch = ValidatedBatch(
        botnet=BOTNET,
        batch_id=name,
        replies=replies,
        failed_tries=failed,
        edges=edges,
        source_type="sensor" if source.endswith("sensor") else "crawler",
    )
    store.write_batch(batch, source)


def _sightings(
    store: Store, pop: Population, kind: str, source: str, bot: np.ndarray, ts: np.ndarray
) -> None:
    for lo in range(0, len(ts), ROWS_PER_BATCH):
        b, t = bot[lo : lo + ROWS_PER_BATCH], ts[lo : lo + ROWS_PER_BATCH]
        ip, port = pop.at(b, t)
        cols: dict[str, Any] = {
            "ts_us": (t * 1e6).astype(np.int64).tolist(),
            "ip": _mapped(ip),
            "port": port.tolist(),
            "bot_id": pop.ids[b].tolist(),
            "data": [None] * len(t),
        }
        if kind == "replies":
            cols["country"] = pop.country[b].tolist()
            cols["asn"] = pop.asn[b].tolist()
        else:
            cols["reason"] = ["timeout"] * len(t)
        _write(store, f"{source}-{kind}-{lo}", kind, source, **cols)


def _distinct(keys: np.ndarray, limit: int) -> np.ndarray:
    """Positions of the first ``limit`` distinct ``keys``, in their (random) order."""
    _, first = np.unique(keys, return_index=True)
    return np.sort(first)[:limit]


def _edges(store: Store, rng: np.random.Generator, pop: Population, edges: int) -> None:
    """About ``edges`` distinct listings: sources uniform over the bots, listed peers
    popular by a power law (weight rank^-0.7), and a tenth of the bots listing each of the
    sensor-like peers."""
    sensors = SENSORS * min(pop.n // 10, max(1, edges // 50))
    plain = max(0, edges - sensors)
    weights = np.arange(1, pop.n + 1, dtype=float) ** -0.7
    src = rng.integers(0, pop.n, plain * 3 // 2 + 10)
    dst = rng.permutation(pop.n)[rng.choice(pop.n, len(src), p=weights / weights.sum())]
    keep = _distinct(src * pop.n + dst, plain)
    src, dst = src[keep], dst[keep]
    listing = rng.integers(0, pop.n, sensors * 2)
    sensor_of = rng.integers(0, SENSORS, sensors * 2)
    keep = _distinct(listing * SENSORS + sensor_of, sensors)
    src = np.concatenate([src, listing[keep]])
    sensor_of = np.concatenate([np.zeros(len(dst), np.int64), sensor_of[keep]])
    dst = np.concatenate([dst, np.full(len(keep), -1)])
    ts = rng.uniform(START, END, len(src))
    sensor_ip = _ips(np.random.default_rng(99), SENSORS)
    for lo in range(0, len(src), ROWS_PER_BATCH):
        part = slice(lo, lo + ROWS_PER_BATCH)
        s, d, t, k = src[part], dst[part], ts[part], sensor_of[part]
        s_ip, s_port = pop.at(s, t)
        d_ip, d_port = pop.at(np.maximum(d, 0), t)
        is_sensor = d < 0
        d_ip = np.where(is_sensor, sensor_ip[k], d_ip)
        d_port = np.where(is_sensor, 40000 + k, d_port)
        d_id = pop.ids[np.maximum(d, 0)]
        d_id[is_sensor] = None
        _write(
            store,
            f"edges-{lo}",
            "edges",
            "bench-crawler",
            ts_us=(t * 1e6).astype(np.int64).tolist(),
            src_ip=_mapped(s_ip),
            src_port=s_port.tolist(),
            src_id=pop.ids[s].tolist(),
            dst_ip=_mapped(d_ip),
            dst_port=d_port.tolist(),
            dst_id=d_id.tolist(),
        )


def generate(path: str, replies: int, edges: int, seed: int = 1) -> float:
    """Write the benchmark's store at ``path``; seconds it took."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    pop = Population(rng, max(100, replies // 200))
    store = open_store(path)
    try:
        store.migrate()
        store.create_botnet(BOTNET)
        bot, ts = _sessions(rng, pop, replies)
        _sightings(store, pop, "replies", "bench-crawler", bot.astype(np.int64), ts)
        n = len(ts)
        tries = rng.integers(0, n, int(n * 0.3))
        late = np.minimum(ts[tries] + ROUND_S * rng.integers(1, 50, len(tries)), END - 1)
        _sightings(store, pop, "failed_tries", "bench-crawler", bot[tries].astype(np.int64), late)
        heard = rng.integers(0, n, int(n * 0.05))
        _sightings(store, pop, "replies", "bench-sensor", bot[heard].astype(np.int64), ts[heard])
        _edges(store, rng, pop, edges)
        store.refresh_summaries()  # so no analysis pays for bringing summaries up to date
    finally:
        store.close()
    return time.perf_counter() - started


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _measured(work: Callable[[], str], conn: Connection) -> None:
    """In the child: run ``work``, send (wall seconds, CPU seconds of every thread, peak MB
    over the start, its note)."""
    try:
        before = _rss_mb()
        started, cpu = time.perf_counter(), time.process_time()
        note = work()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
        conn.send((seconds, cpu, max(0.0, peak), note))
    except BaseException as exc:  # reported by the parent, which goes on with the others
        conn.send((None, None, None, f"failed: {type(exc).__name__}: {exc}"[:300]))
    finally:
        conn.close()


Measured = tuple[float | None, float | None, float | None, str]


def _child(work: Callable[[], str], timeout_s: float) -> Measured:
    ctx = multiprocessing.get_context("fork")
    mine, theirs = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_measured, args=(work, theirs))
    proc.start()
    theirs.close()
    try:
        if not mine.poll(timeout_s):
            proc.kill()
            proc.join()
            return None, None, None, f"stopped after {timeout_s:.0f} s"
        result: Measured = mine.recv()
        return result
    except EOFError:
        return None, None, None, f"child died (exit {proc.exitcode})"
    finally:
        proc.join(timeout=10)


def baseline(path: str) -> Callable[[], str]:
    def work() -> str:
        import duckdb

        con = duckdb.connect(path, read_only=True)
        try:
            ((groups, rows),) = con.execute(
                "SELECT count(*), sum(n) FROM (SELECT ip, port, bot_id, count(*) AS n"
                " FROM replies WHERE ts >= make_timestamp(?::BIGINT)"
                " AND ts < make_timestamp(?::BIGINT) GROUP BY ip, port, bot_id)",
                [int(START * 1e6), int(END * 1e6)],
            ).fetchall()
        finally:
            con.close()
        return f"{groups:,} groups over {rows:,} replies"

    return work


def analysis(path: str, name: str) -> Callable[[], str]:
    def work() -> str:
        runner = framework.get(name)  # imported by the parent before the fork
        store = open_store(path)
        try:
            request = runner.request(BOTNET, START, END)
            result = runner.compute(store, request)
        finally:
            store.close()
        body = framework.to_json(result)
        keys = ("nodes", "edges", "sessions", "ips", "estimate", "regions", "suspects")
        shown = {k: body[k] for k in keys if k in body}
        shown = {k: len(v) if isinstance(v, list) else v for k, v in shown.items()}
        return ", ".join(
            f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in shown.items()
        )

    return work


def available(name: str) -> bool:
    return importlib.util.find_spec(f"botmon.analysis.{name}") is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=10_000_000)
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--db", help="store file to create, or re-use when it exists")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per analysis")
    args = parser.parse_args(argv)
    if args.replies < 1000 or args.edges < 100:
        parser.error("--replies must be at least 1000 and --edges at least 100")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or str(Path(tmp) / "analyses.duckdb")
        if not Path(path).exists():
            took = generate(path, args.replies, args.edges)
            print(f"generated {args.replies:,} replies and {args.edges:,} edges in {took:.1f} s")
        base_s, base_cpu, base_mb, note = _child(baseline(path), args.timeout)
        if base_s is None or base_cpu is None or base_mb is None:
            print(f"baseline GROUP BY {note}")
            return 1
        print(f"{'':<20} {'wall':>10} {'ratio':>8} {'CPU':>10} {'ratio':>8} {'peak':>8}")
        print(
            f"{'baseline GROUP BY':<20} {base_s:8.2f} s {1.0:7.1f}x {base_cpu:8.2f} s"
            f" {1.0:7.1f}x {base_mb:5.0f} MB  {note}"
        )
        failed = 0
        for name in framework.ANALYSIS_NAMES:
            if not available(name):
                print(f"{name:<20} skipped: botmon.analysis.{name} does not exist yet")
                continue
            framework.get(name)  # import it (pandas, igraph, ...) outside the timing
            seconds, cpu, mb, note = _child(analysis(path, name), args.timeout)
            if seconds is None or cpu is None or mb is None:
                failed += 1
                print(f"{name:<20} {note}")
                continue
            print(
                f"{name:<20} {seconds:8.2f} s {seconds / max(base_s, 1e-9):7.1f}x {cpu:8.2f} s"
                f" {cpu / max(base_cpu, 1e-9):7.1f}x {mb:5.0f} MB  {note}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
