"""Sensor benchmark (loopback only, bounded in time): contacts handled per second.

A flooder process (pinned to core 1) sends Hide'n'Seek ``~`` contacts as fast as it can
from many loopback source addresses (127.20.x.y, one IP_PKTINFO socket, so each contact
comes from another "bot"). On the same uvloop event loop, one after the other in the same
run, two receivers face the same flood for the same time:

- a raw datagram echo loop (a ``DatagramProtocol`` that answers every datagram): the most
  any Python receiver on this loop can do;
- a real sensor (``SensorRunner`` with the hns plugin, every gate on: size, per-source
  bucket in its LRU table, scope, answer bucket; records to a counting reporter): each
  contact becomes a Reply and an Edge and gets a ``^`` answer.

Both count what they handled in the measuring window (after a warm-up) and the CPU time the
receiving process spent on it; the ratio sensor / raw is printed by rate (target >= 0.5) and
by CPU per contact (steadier on a loaded machine, where the rate follows the other load).
What the flooder offered is printed too: when it is below the raw loop's capacity, the raw
figure is the flooder's rate, not the loop's.

Usage: ``.venv/bin/python benchmarks/sensor.py [--seconds S] [--sources N]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing as mp
import os
import socket
import time
from typing import Any

import uvloop

from botmon.crawl.sink import CountingReporter
from botmon.protocols.contract import Peer
from botmon.protocols.registry import get_plugin
from botmon.sensor.runner import SensorRunner
from botmon.settings.sensor import SensorSettings
from botmon.sim.udp import open_socket, source_option

WARMUP_S = 0.5


def _sources(n: int) -> list[bytes]:
    """``n`` distinct loopback source addresses 127.20.B.C ... (packed)."""
    out = []
    for i in range(n):
        a, rest = 20 + i // (254 * 254), i % (254 * 254)
        out.append(socket.inet_aton(f"127.{a}.{rest // 254 + 1}.{rest % 254 + 1}"))
    return out


def _flooder(port: int, seconds: float, n_sources: int, sent: Any, ready: Any) -> None:
    """Send ``~`` to 127.0.0.1:``port`` from ``n_sources`` addresses for ``seconds``."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {1})
    sock = open_socket("0.0.0.0", 0, 1024 * 1024)  # answers pile up and are dropped: fine
    sock.setblocking(True)
    options = [source_option(ip) for ip in _sources(n_sources)]
    dest = ("127.0.0.1", port)
    payload = [b"~"]
    sendmsg = sock.sendmsg
    ready.set()
    n = tries = 0
    end = time.monotonic() + seconds
    for opt in itertools.cycle(options):
        tries += 1
        if tries % 4096 == 0 and time.monotonic() >= end:
            break
        try:
            sendmsg(payload, opt, 0, dest)
        except OSError:
            continue  # a full send buffer: the flood goes on
        n += 1
    sent.value = n
    sock.close()


class _Echo(asyncio.DatagramProtocol):
    """The baseline: answer every datagram to its source; count it."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.handled = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.handled += 1
        self.transport.sendto(b"^\x00\x17\x70\x7f\x00\x00\x01", addr)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _measure(count: Any, port: int, seconds: float, sources: int) -> dict[str, float]:
    """Flood ``port`` for ``seconds``; the receiver's rate in the window after the warm-up."""
    ctx = mp.get_context("fork")
    sent, ready = ctx.Value("q", 0), ctx.Event()
    proc = ctx.Process(target=_flooder, args=(port, seconds, sources, sent, ready), daemon=True)
    proc.start()
    await asyncio.to_thread(ready.wait, 10)
    await asyncio.sleep(WARMUP_S)
    c0, t0, cpu0 = count(), time.monotonic(), time.process_time()
    await asyncio.sleep(max(0.5, seconds - 2 * WARMUP_S))
    c1, t1, cpu1 = count(), time.monotonic(), time.process_time()
    await asyncio.to_thread(proc.join, seconds + 10)
    if proc.is_alive():
        proc.kill()
    handled = max(1, c1 - c0)
    return {
        "handled_per_s": (c1 - c0) / (t1 - t0),
        "offered_per_s": sent.value / seconds,
        "cpu_us_per_contact": (cpu1 - cpu0) / handled * 1e6,
    }


async def _raw(seconds: float, sources: int) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    port = _free_port()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    sock.bind(("127.0.0.1", port))
    transport, echo = await loop.create_datagram_endpoint(_Echo, sock=sock)
    try:
        return await _measure(lambda: echo.handled, port, seconds, sources)
    finally:
        transport.close()


async def _sensor(seconds: float, sources: int) -> dict[str, Any]:
    port = _free_port()
    settings = SensorSettings(
        per_source_rate=1e9,  # every gate runs, none drops: the flood is the measured load
        per_source_burst=1e9,
        answer_rate=1e9,
        max_sources=max(sources, 1),
        recv_buffer_bytes=8 * 1024 * 1024,
    ).validate()
    reporter = CountingReporter()
    runner = SensorRunner(get_plugin("hns"), settings, [Peer("127.0.0.1", port)], "b", reporter)
    task = asyncio.create_task(runner.run())
    await runner.ready.wait()
    try:
        out: dict[str, Any] = await _measure(
            lambda: runner.counters["handled"], port, seconds, sources
        )
    finally:
        runner.stop()
        status = await task
    out["answered"] = status["answered"]
    out["records"] = reporter.stats["records_stored"]
    out["scope_blocked"] = status["scope_blocked"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--sources", type=int, default=50_000)
    args = ap.parse_args()
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {0})

    async def both() -> tuple[dict[str, float], dict[str, Any]]:
        raw = await _raw(args.seconds, args.sources)
        sensor = await _sensor(args.seconds, args.sources)
        return raw, sensor

    print(f"sensor: hns contacts from {args.sources:,} loopback sources, {args.seconds:g} s each")
    print(f"    load average before: {os.getloadavg()[0]:.2f} (2 cores; other work skews rates)")
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        raw, sensor = r.run(both())
    ratio = sensor["handled_per_s"] / raw["handled_per_s"] if raw["handled_per_s"] else 0.0
    cpu_ratio = raw["cpu_us_per_contact"] / sensor["cpu_us_per_contact"]
    for name, r, what in (
        ("raw uvloop echo", raw, "datagrams"),
        ("botmon sensor", sensor, "contacts"),
    ):
        print(
            f"    {name:<16} : {r['handled_per_s']:>10,.0f} {what}/s handled, "
            f"{r['cpu_us_per_contact']:.1f} CPU-us each "
            f"(flooder offered {r['offered_per_s']:,.0f}/s)"
        )
    print(
        f"    ratio            : {ratio:.2f} by rate (target >= 0.5); "
        f"{cpu_ratio:.2f} by CPU per contact"
    )
    print("    " + json.dumps({"raw": raw, "sensor": sensor}))


if __name__ == "__main__":
    main()
