"""Benchmark: the threat-intel feed formats (STIX, MISP, X-ARF) per bot, beside plain JSON.

Run ``.venv/bin/python benchmarks/feed_formats.py [ROWS]`` (default 5,000 rows). The same
feed rows (public-looking addresses, two botnets, ports and bot IDs as a crawler reports
them) are written by each format; the baseline in the same run is msgspec encoding the rows
as JSON lines, the cheapest document a feed could be. Times are this thread's CPU time.
Peak memory (tracemalloc, a separate run because tracing slows the work) is measured at
ROWS and at ROWS/4: the streamed formats (STIX, X-ARF) should stay flat, MISP grows with the
rows because pymisp holds the whole event.
"""

from __future__ import annotations

import random
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator

import msgspec

from botmon.feeds.fmt_misp import FORMAT as MISP
from botmon.feeds.fmt_stix import FORMAT as STIX
from botmon.feeds.fmt_xarf import FORMAT as XARF
from botmon.feeds.model import FeedContext, FeedRow, confidence_of

Writer = Callable[[Iterable[FeedRow], FeedContext], Iterator[bytes]]


def rows(n: int, seed: int = 1) -> list[FeedRow]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        vps, days = rng.choice((1, 1, 2, 3)), rng.choice((1, 1, 2))
        origins = ("p2p-crawler", "p2p-sensor") if i % 7 == 0 else ("p2p-crawler",)
        first = 1_750_000_000 + rng.random() * 80_000
        out.append(
            FeedRow(
                botnet="hns" if i < n // 2 else "mozi",
                ip=f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{i >> 8 & 255}.{i & 255}",
                first_seen=first,
                last_seen=first + rng.random() * 5_000,
                observations=rng.randint(1, 40),
                ports=tuple(sorted(rng.sample(range(1024, 65535), rng.randint(1, 3)))),
                bot_ids=(f"{rng.getrandbits(64):016x}",),
                asn=64_500 + i % 5,
                as_name=f"Lab AS {i % 5}",
                country="DE",
                origins=origins,  # type: ignore[arg-type]
                vantage_points=vps,
                days=days,
                confidence=confidence_of(origins, vps, days),
            )
        )
    return out


def json_lines(feed: Iterable[FeedRow], context: FeedContext) -> Iterator[bytes]:
    enc = msgspec.json.Encoder()
    for row in feed:
        yield enc.encode(row) + b"\n"


def run(write: Writer, feed: list[FeedRow], context: FeedContext) -> tuple[float, int]:
    started = time.thread_time()
    size = sum(len(chunk) for chunk in write(iter(feed), context))
    return time.thread_time() - started, size


def peak_mb(write: Writer, feed: list[FeedRow], context: FeedContext) -> float:
    tracemalloc.start()
    for _ in write(iter(feed), context):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    feed = rows(n)
    context = FeedContext(generated_at=1_750_100_000, since=1_750_000_000, until=1_750_086_400)
    writers: dict[str, Writer] = {
        "json lines (baseline)": json_lines,
        "stix": STIX.write,
        "misp": MISP.write,
        "xarf": XARF.write,
    }
    base = min(run(json_lines, feed, context)[0] for _ in range(3))  # warm, best of three
    print(f"{n} feed rows; CPU time per format, bytes and peak memory (ROWS/4 -> ROWS)")
    for name, write in writers.items():
        spent, size = run(write, feed, context)
        if write is json_lines:
            spent = base
        small = peak_mb(write, feed[: n // 4], context)
        full = peak_mb(write, feed, context)
        print(
            f"{name:22s} {spent:7.2f} s  {spent / n * 1e6:8.1f} µs/bot  {n / spent:9.0f} bots/s  "
            f"{size / n:6.0f} B/bot  x{spent / base:7.1f} baseline  "
            f"peak {small:6.1f} -> {full:6.1f} MB"
        )


if __name__ == "__main__":
    main()
