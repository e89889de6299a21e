"""DHT sweep benchmark (loopback only, bounded in time).

A loopback DHT of 30 real libtorrent nodes (:mod:`botmon.sim.libtorrent_dht`, in this process)
and 5,000 emulated plain DHT nodes (``botmon simulate mozi --benign``, a subprocess that
bootstraps into the libtorrent nodes) is swept twice from one seed, in the same run:

- **botmon**: ``botmon crawl btdht`` as shipped: per node a probe, then the walk of its
  routing table (one ``find_node`` per bucket, libtorrent's wide buckets slice by slice,
  ending where the table ends);
- **naive**: the same engine and politeness, but each node gets the probe only, a
  ``find_node`` for a random target (only what the seeds' answers lead to, no key-space
  cover).

Printed per strategy: the share of the DHT's nodes found (against the emulator's list of
reachable nodes plus the libtorrent nodes), the wall time of the round, and the time until
it had found as many nodes as the naive sweep finds in all; the ratio is printed. Memory: the
engine's peer and node tables plus the node-ID table, per known node (deep size), and the RSS
growth. Targets: >= 99 % found, faster than naive, < 1 KiB per node.

(b) Memory at scale: the engine running btdht fed in memory until 200,000 nodes are known,
    Python heap per known node (the loopback DHT is too small to see it).

Usage: ``.venv/bin/python benchmarks/dht.py [--benign N] [--libtorrent N] [--settle S]
[--scale N]``
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import hashlib
import math
import socket
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvloop

from botmon.crawl.core import CrawlCore
from botmon.crawl.runner import CrawlRunner
from botmon.crawl.sink import CountingReporter
from botmon.protocols import krpc
from botmon.protocols.contract import Peer, Plugin
from botmon.protocols.registry import get_plugin
from botmon.settings.crawl import CrawlSettings
from botmon.sim.libtorrent_dht import LibtorrentDht
from botmon.wire import Edge, FailedTry, Reply


class _FirstSeen(CountingReporter):
    """Counts records and remembers when each address first answered."""

    def __init__(self) -> None:
        super().__init__()
        self.start = time.monotonic()
        self.first: dict[tuple[str, int], float] = {}

    def add(
        self,
        *,
        replies: Sequence[Reply] = (),
        failed_tries: Sequence[FailedTry] = (),
        edges: Sequence[Edge] = (),
    ) -> None:
        """Count, and note the time of each address's first reply."""
        super().add(replies=replies, failed_tries=failed_tries, edges=edges)
        t = time.monotonic() - self.start
        for r in replies:
            self.first.setdefault((r.ip, r.port), t)

    def time_to(self, count: int, among: set[tuple[str, int]]) -> float | None:
        """Seconds until ``count`` addresses of ``among`` had answered (None: never)."""
        times = sorted(t for a, t in self.first.items() if a in among)
        return times[count - 1] if 0 < count <= len(times) else None


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 0))
        port: int = sock.getsockname()[1]
        return port


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _deep_bytes(runner: CrawlRunner) -> int:
    """Deep size of the peer table (keys, states and their attributes)."""
    seen: set[int] = set()
    total = 0

    def add(obj: object) -> None:
        nonlocal total
        if id(obj) not in seen and not isinstance(obj, (bool, type(None))):
            seen.add(id(obj))
            total += sys.getsizeof(obj)

    peers = runner.core.peers
    add(peers)
    for key, st in peers.items():
        for obj in (key, key.ip, key.port, st):
            add(obj)
        for name in st.__slots__:
            add(getattr(st, name))
    return total


def _sweep(plugin: Plugin, seeds: list[Peer]) -> tuple[dict[str, Any], _FirstSeen, float, int]:
    settings = CrawlSettings.for_protocol(plugin.defaults).replace("rounds", rounds=1)
    reporter = _FirstSeen()
    runner = CrawlRunner(plugin, settings, reporter)
    runner.add_seeds(seeds)
    gc.collect()
    rss0 = _rss()
    start = time.perf_counter()
    reporter.start = time.monotonic()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        status = r.run(asyncio.wait_for(runner.run(), 600))
    elapsed = time.perf_counter() - start
    gc.collect()
    status["rss_growth"] = _rss() - rss0
    return status, reporter, elapsed, _deep_bytes(runner)


def _address(i: int) -> Peer:
    return Peer(f"127.{1 + i // 64516}.{i // 254 % 254 + 1}.{i % 254 + 1}", 6881)


def memory_at_scale(count: int) -> None:
    """Python heap per known node of the engine running btdht, fed in memory (no sockets):
    every answer lists 8 new nodes until ``count`` are known, walks in every state."""
    plugin = get_plugin("btdht")
    settings = CrawlSettings.for_protocol(plugin.defaults).replace("rounds", rounds=1)
    settings = settings.replace("queues", max_known_peers=count + 10_000)
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    core = CrawlCore(plugin, settings, 0.0)
    core.add_peers([_address(0)], 0.0)
    core.tick(0.0)
    made, now, start = 1, 0.0, time.perf_counter()
    while len(core.peers) < count and time.perf_counter() - start < 300:
        sends = core.take_sends(now, 4096)
        for peer, data, _ in sends:
            tid = krpc.decode(data).tid  # type: ignore[arg-type]
            listed = [
                (hashlib.sha1(str(made + i).encode()).digest(), *_address(made + i))
                for i in range(8)
            ]
            made += 8
            nodes, _ = krpc.encode_nodes(listed)
            own = hashlib.sha1(f"{peer.ip}:{peer.port}".encode()).digest()
            answer = krpc.response(tid, {b"id": own, b"nodes": nodes}, version=b"BM\x00\x01")
            core.on_datagram(answer, (peer.ip, peer.port), now)
        core.drain_records()
        now += 0.05
        core.tick(now)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    known = len(core.peers)
    print(
        f"(b) memory at scale: {known:,} known nodes in the engine, "
        f"{used / known:.0f} bytes per known node (Python heap, tracemalloc; target < 1024)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benign", type=int, default=5000, help="emulated plain DHT nodes")
    ap.add_argument("--libtorrent", type=int, default=30, help="real libtorrent nodes")
    ap.add_argument("--settle", type=float, default=20.0, help="seconds for the DHT to form")
    ap.add_argument("--scale", type=int, default=200_000, help="known nodes for part (b)")
    args = ap.parse_args()
    sweep_loopback(args)
    memory_at_scale(args.scale)


def sweep_loopback(args: argparse.Namespace) -> None:
    """Part (a): both strategies on the loopback DHT."""
    tmp = Path(tempfile.mkdtemp(prefix="botmon-bench-dht-"))
    bootstrap, peerlist = tmp / "bootstrap.txt", tmp / "peerlist.txt"
    with LibtorrentDht(args.libtorrent, port=_free_udp_port(), seed=5) as dht:
        dht.wait_joined(timeout=15)
        bootstrap.write_text("".join(f"{n.ip}:{n.port}\n" for n in dht.nodes))
        argv = [
            sys.executable, "-m", "botmon", "simulate", "mozi", "--bots", "1",
            "--benign", str(args.benign), "--seed-rng", "7", "--port", str(_free_udp_port()),
            "--bootstrap", str(bootstrap), "--peerlist", str(peerlist),
            "--truth", str(tmp / "truth.jsonl"), "--exchange-interval", "10",
            "--duration", "900",
        ]  # fmt: skip
        log = open(tmp / "sim.log", "wb")  # noqa: SIM115
        sim = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while not peerlist.exists():
                if sim.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"emulator not up: {(tmp / 'sim.log').read_text()[-2000:]}")
                time.sleep(0.2)
            time.sleep(args.settle)  # the emulated nodes join the libtorrent ones and each other
            emulated = {
                (ip, int(port))
                for ip, _, port in (x.rpartition(":") for x in peerlist.read_text().split())
            }
            truth = emulated | {(n.ip, n.port) for n in dht.nodes}
            seeds = [dht.nodes[0].peer]
            plugin = get_plugin("btdht")
            probe_only = dataclasses.replace(plugin.defaults, requests_per_round=1)
            naive_plugin = dataclasses.replace(plugin, defaults=probe_only)
            naive, naive_rep, naive_s, _ = _sweep(naive_plugin, seeds)
            swept, rep, swept_s, table_bytes = _sweep(plugin, seeds)
        finally:
            sim.terminate()
            try:
                sim.wait(30)
            except subprocess.TimeoutExpired:
                sim.kill()
            log.close()
    found = set(rep.first) & truth
    naive_found = set(naive_rep.first) & truth
    to_naive = rep.time_to(len(naive_found), truth)
    print(
        f"(a) DHT of {len(truth)} nodes ({args.libtorrent} libtorrent + {len(emulated)} emulated), "
        f"one round from one seed, {plugin.defaults.per_target_rate:g} queries/s per node"
    )
    for name, status, reporter, seconds, got in (
        ("botmon", swept, rep, swept_s, found),
        ("naive ", naive, naive_rep, naive_s, naive_found),
    ):
        print(
            f"    {name}: found {len(got) / len(truth):7.2%} ({len(got)}) in {seconds:5.1f} s "
            f"(invented {len(set(reporter.first) - truth)}), sent {status['sent']:,}, "
            f"timeouts {status['timeouts']:,}, edges {reporter.counts['edges']:,}"
        )
    ratio = "n/a" if to_naive is None else f"{to_naive:.1f} s = {to_naive / naive_s:.2f}x naive"
    print(
        f"    botmon reached naive's {len(naive_found)} nodes after {ratio} "
        f"(naive needed {naive_s:.1f} s)"
    )
    for share in (0.99, 0.999, 1.0):
        need = math.ceil(share * len(truth))
        times = [r.time_to(need, truth) for r in (rep, naive_rep)]
        shown = ["never" if t is None else f"{t:.1f} s" for t in times]
        print(f"    time to {share:.1%} of the nodes: botmon {shown[0]}, naive {shown[1]}")
    print("    targets: >= 99 % found, faster than naive, < 1 KiB per node")
    known = swept["known"]
    print(
        f"    memory: tables {table_bytes / max(1, known):.0f} bytes per known node "
        f"({known} known), RSS grew "
        f"{swept['rss_growth'] / max(1, known):.0f} bytes per node (target < 1024)"
    )


if __name__ == "__main__":
    main()
