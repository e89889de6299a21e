"""Crawling a botnet that blacklists fast crawlers: the baseline for coordinated crawling.

Three crawls of the same emulated Hide'n'Seek botnet (``botmon simulate hns`` in a
subprocess, same seed, a fresh copy each time so no blacklisting carries over), each by
botmon's crawl engine in this process:

1. no budget, the crawler's default pacing (what the crawler gets when nobody fights back);
2. a per-source request budget (``--budget N --budget-window W --blacklist-period P``), the
   crawler's default pacing (HNS: 10 requests/s to one bot, up to 32 per round);
3. the same budget, the crawler paced under it: ``per_target_rate = 0.75 (N - 1) / W``.

For each: bots it got replies from / responsive bots of the truth, peers found / every peer
the responsive bots list, how many bots blacklisted it (the truth's ``blacklisted``), the wall
time, the requests sent, the tries that timed out and the median time between two replies of
one bot (the crawler's real per-bot pace, which is what a budget sees). The crawler's settings
are its defaults (HNS plugin) except the rate of run 3. Loopback only; every crawl is bounded
in time.

Usage: ``.venv/bin/python benchmarks/blacklisting.py [--bots 5000] [--budget 3]
[--window 1] [--period 600] [--rounds 1] [--timeouts 4,8,16,32]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from botmon.crawl.runner import CrawlRunner
from botmon.crawl.sink import CountingReporter
from botmon.protocols.contract import Peer
from botmon.protocols.registry import get_plugin
from botmon.settings.crawl import CrawlSettings
from botmon.wire import Edge, FailedTry, Reply

SAFETY = 0.75
"""The paced crawler asks one bot at this share of the most the budget allows."""
CRAWL_LIMIT_S = 600.0


class _Seen(CountingReporter):
    """Counts records and keeps who answered and which edges were found."""

    def __init__(self) -> None:
        super().__init__()
        self.answered: set[str] = set()
        self.failed: set[str] = set()
        self.last: dict[str, float] = {}
        self.gaps: list[float] = []
        """Time between two replies of one bot: the crawler's real per-bot pace."""
        self.edges: set[tuple[str, str]] = set()

    def add(
        self,
        *,
        replies: Sequence[Reply] = (),
        failed_tries: Sequence[FailedTry] = (),
        edges: Sequence[Edge] = (),
    ) -> None:
        """Count, and keep each answering address and each edge."""
        super().add(replies=replies, failed_tries=failed_tries, edges=edges)
        for r in replies:
            key = f"{r.ip}:{r.port}"
            before = self.last.get(key)
            if before is not None:
                self.gaps.append(r.timestamp - before)
            self.last[key] = r.timestamp
            self.answered.add(key)
        self.failed.update(f"{f.ip}:{f.port}" for f in failed_tries)
        self.edges.update((f"{e.src_ip}:{e.src_port}", f"{e.dst_ip}:{e.dst_port}") for e in edges)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 0))
        port: int = sock.getsockname()[1]
        return port


def _crawl_once(
    tmp: Path,
    name: str,
    bots: int,
    budget: list[str],
    pace: float | None,
    rounds: int,
    timeouts: tuple[float, ...] | None = None,
) -> dict[str, Any]:
    """One emulator, one crawl, the emulator's final truth; the figures of that crawl."""
    seeds, truth = tmp / f"{name}-seeds.txt", tmp / f"{name}-truth.jsonl"
    argv = [
        sys.executable, "-m", "botmon", "simulate", "hns", "--bots", str(bots), "--nat", "0.1",
        "--churn", "none", "--seed-rng", "14", "--seeds-file", str(seeds),
        "--truth", str(truth), "--duration", str(int(CRAWL_LIMIT_S) + 60),
        "--port", str(_free_udp_port()), "--exchange-interval", "0", *budget,
    ]  # fmt: skip
    log_path = tmp / f"{name}-sim.log"
    with open(log_path, "wb") as log:
        sim = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not (seeds.exists() and truth.exists()):
            if sim.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"simulator not ready: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        seed_peers = [
            Peer(ip, int(port))
            for ip, _, port in (s.rpartition(":") for s in seeds.read_text().split()[:3])
        ]
        plugin = get_plugin("hns")
        s = CrawlSettings.for_protocol(plugin.defaults)
        s = s.replace("rounds", rounds=rounds, interval_s=0.0)
        if timeouts is not None:
            s = s.replace("retry", timeouts=timeouts)
        if pace is not None:
            s = s.replace("rate", per_target_rate=pace)
        reporter = _Seen()
        runner = CrawlRunner(plugin, s, reporter)
        runner.add_seeds(seed_peers)
        started = time.perf_counter()
        status = asyncio.run(asyncio.wait_for(runner.run(), CRAWL_LIMIT_S))
        elapsed = time.perf_counter() - started
    finally:
        sim.terminate()  # SIGTERM: the emulator writes its final truth and stops
        try:
            sim.wait(60)
        except subprocess.TimeoutExpired:
            sim.kill()
    lines = [json.loads(x) for x in truth.read_text().splitlines() if x.strip()]
    by_address = {f"{b['ip']}:{b['port']}": b for b in lines}
    responsive = {a for a, b in by_address.items() if not b["nat"]}
    listed = {(a, p) for a in responsive for p in by_address[a]["peers"]}
    return {
        "responsive": len(responsive),
        "answered": len(reporter.answered & responsive),
        "invented": len(reporter.answered - set(by_address)),
        "listed": len(listed),
        "found": len(reporter.edges & listed),
        "blacklisted_by": sum(1 for b in lines if b.get("blacklisted")),
        "blacklistings": sum(len(b.get("blacklisted") or ()) for b in lines),
        "seconds": elapsed,
        "sent": status.get("sent", 0),
        "timeouts": status.get("timeouts", 0),
        "median_gap_s": sorted(reporter.gaps)[len(reporter.gaps) // 2] if reporter.gaps else 0.0,
        "unanswered": len(responsive - reporter.answered),
        "unanswered_known": len((responsive - reporter.answered) & reporter.failed),
        "status": status,
    }


def _line(label: str, r: dict[str, Any]) -> str:
    return (
        f"  {label:<34} bots {r['answered']:>6}/{r['responsive']:<6} "
        f"({r['answered'] / max(1, r['responsive']):6.1%})  peers {r['found']:>7}/{r['listed']:<7} "
        f"({r['found'] / max(1, r['listed']):6.1%})  blacklisted by {r['blacklisted_by']:>6} bots "
        f"({r['blacklistings']} blacklistings)  {r['seconds']:6.1f} s  sent {r['sent']:,}  "
        f"timeouts {r['timeouts']:,}  median gap between replies of a bot {r['median_gap_s']:.3f} s"
        + (f"  INVENTED {r['invented']}" if r["invented"] else "")
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bots", type=int, default=5000)
    ap.add_argument("--budget", type=int, default=3, help="requests per window per source")
    ap.add_argument("--window", type=float, default=1.0, help="budget window, seconds")
    ap.add_argument("--period", type=float, default=600.0, help="blacklisting period, seconds")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument(
        "--timeouts",
        default=None,
        help="try deadlines for every crawl, e.g. 2,4 (default: the crawler's, 4,8,16,32: a "
        "blacklisted bot then holds a crawl up to 32 s)",
    )
    a = ap.parse_args()
    timeouts = None if a.timeouts is None else tuple(float(t) for t in a.timeouts.split(","))
    if a.budget < 2:
        raise SystemExit("--budget must be at least 2 for a pace under it to exist")
    budget = ["--budget", str(a.budget), "--budget-window", str(a.window)]
    budget += ["--blacklist-period", str(a.period)]
    pace = SAFETY * (a.budget - 1) / a.window
    tmp = Path(tempfile.mkdtemp(prefix="botmon-bench-blacklisting-"))
    print(
        f"emulated HNS botnet: {a.bots} bots, 10 % NAT, no churn; budget {a.budget} requests "
        f"per {a.window:g} s per source, blacklisted for {a.period:g} s; {a.rounds} round(s)"
    )
    runs = [
        ("no budget, default pacing", [], None),
        ("budget, default pacing", budget, None),
        (f"budget, paced at {pace:.2f}/s per bot", budget, pace),
    ]
    for k, (label, args, rate) in enumerate(runs):
        result = _crawl_once(tmp, f"run{k}", a.bots, args, rate, a.rounds, timeouts)
        print(_line(label, result), flush=True)


if __name__ == "__main__":
    main()
