"""Real libtorrent DHT nodes on loopback: start, join and close times, memory, per node count.

Each count runs in a fresh process (so its memory is its own): ``LibtorrentDht(n).start()``,
then ``wait_joined`` (every table at least 8 nodes, or all others when fewer), one full
``routing_tables()`` read, the process's resident memory, then ``close()``. Tests rely on 20
nodes joining within seconds; the DHT benchmark and the demo use 20-100.

Usage: ``.venv/bin/python benchmarks/libtorrent_nodes.py [--counts 20,100,300]``
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import socket
import time
from typing import Any

from botmon.sim.libtorrent_dht import LibtorrentDht


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _measure(count: int, out: Any) -> None:
    base = _rss_mb()
    dht = LibtorrentDht(count, port=_free_port(), seed=count)
    began = time.monotonic()
    dht.start()
    started = time.monotonic()
    joined = dht.wait_joined(timeout=60)
    joined_at = time.monotonic()
    sizes = [len(t) for t in dht.routing_tables().values()] or [0]
    read_at = time.monotonic()
    rss = _rss_mb() - base
    threads = len(os.listdir("/proc/self/task"))
    dht.close()
    out.put(
        {
            "nodes": count,
            "start_s": round(started - began, 2),
            "joined": joined,
            "join_s": round(joined_at - started, 2),
            "tables_read_s": round(read_at - joined_at, 2),
            "table_min": min(sizes),
            "table_max": max(sizes),
            "rss_mb": round(rss, 1),
            "rss_per_node_mb": round(rss / count, 2),
            "threads": threads,
            "close_s": round(time.monotonic() - read_at, 2),
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="20,100,300", help="Node counts, comma-separated.")
    args = parser.parse_args()
    ctx = mp.get_context("spawn")
    ok = True
    for count in (int(c) for c in args.counts.split(",")):
        queue = ctx.Queue()
        child = ctx.Process(target=_measure, args=(count, queue))
        child.start()
        child.join(timeout=180)
        if child.is_alive():
            child.kill()
            child.join()
        if child.exitcode != 0 or queue.empty():
            print(json.dumps({"nodes": count, "error": f"exit {child.exitcode}"}))
            ok = False
            continue
        result = queue.get()
        ok = ok and result["joined"]
        print(json.dumps(result))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
