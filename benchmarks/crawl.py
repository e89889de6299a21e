"""Crawl engine benchmarks (loopback only, bounded in time).

(a) Requests per second and peak in flight of the engine against a fast loopback responder
    running in a separate process (pinned to the other core), beside a minimal raw datagram
    loop on the same uvloop event loop doing the same exchange in the same run; the ratio is
    printed. Target: >= 50,000 requests in flight without drops, >= half the raw rate.
(b) One round over a 50,000-bot emulated Hide'n'Seek botnet with 30 % silent (NAT) bots
    (``botmon simulate hns`` in a subprocess): wall time, CPU seconds and coverage of the
    responsive bots (against the emulator's truth) of botmon and, in the same run against the
    same botnet, of a plain asyncio crawler as a new user writes it; the ratio is printed.
    Target: botmon no slower in wall time with >= 99.9 % coverage. Memory per known peer
    (target: < 1 KiB).
(s) Slow crawl, one peer per reply: time for botmon to enumerate every peer list of an
    emulated 20,000-bot Sality v3 botnet (30 % NATed clients; every entry of every answering
    superpeer's list seen at least once as an edge, checked against the emulator's truth),
    beside the Hide'n'Seek botnet of the same size and list sizes in the same run; both times
    and their ratio are printed. Sality decrypts every packet (RC4) and bots name superpeers
    only. Each crawl runs with its plugin's defaults (requests per round, staleness cut-off),
    rounds back to back, until the last entry is seen.

Usage: ``.venv/bin/python benchmarks/crawl.py [--part a|b|s|both|all] [--seconds S]
[--targets N] [--bots N] [--enum-bots N]`` (``both`` is a and b, ``all`` adds s)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import uvloop

from botmon.crawl.runner import CrawlRunner
from botmon.crawl.sink import CountingReporter
from botmon.protocols.contract import Peer
from botmon.protocols.registry import get_plugin
from botmon.settings.crawl import CrawlSettings
from botmon.sim.udp import ANC_BUFSIZE, destination_of, open_socket, source_option
from botmon.wire import Edge, FailedTry, Reply

RESPONDER_PORT = 46_123


def _targets(n: int) -> list[Peer]:
    """``n`` distinct loopback bot addresses 127.100.B.C ... (never 127.0.x.x)."""
    out = []
    for i in range(n):
        a, rest = 100 + i // (254 * 254), i % (254 * 254)
        out.append(Peer(f"127.{a}.{rest // 254 + 1}.{rest % 254 + 1}", RESPONDER_PORT))
    return out


def _responder(port: int, ready: Any, stop: Any, delay_s: float = 0.0) -> None:
    """Answer every ``~`` with a ``^`` reply from the address it was sent to (one core).

    With ``delay_s`` each answer is held that long, so every request of a burst is in
    flight at once (the in-flight test).
    """
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {1})
    sock = open_socket("0.0.0.0", port, 64 * 1024 * 1024)
    sock.setblocking(True)
    sock.settimeout(0.2)
    ready.set()
    reply = [b"^\x00" + port.to_bytes(2, "big") + socket.inet_aton("127.100.1.1")]
    held: list[tuple[float, bytes, Any]] = []
    while not stop.is_set():
        if held and time.monotonic() - held[0][0] >= delay_s:
            for _, src_ip, addr in held:
                with contextlib.suppress(OSError):
                    sock.sendmsg(reply, source_option(src_ip), 0, addr)
            held.clear()
        try:
            data, anc, _, addr = sock.recvmsg(64, ANC_BUFSIZE)
        except TimeoutError:
            continue
        if data != b"~" or not addr[0].startswith("127."):
            continue
        to = destination_of(anc)
        if to is None:
            continue
        if delay_s > 0:
            held.append((time.monotonic(), to, addr))
            sock.settimeout(0.001)
            continue
        with contextlib.suppress(OSError):
            sock.sendmsg(reply, source_option(to), 0, addr)
    sock.close()


class _Raw(asyncio.DatagramProtocol):
    """The baseline: on each reply, ask the same address again; nothing else."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.replies = 0
        self.sent = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.replies += 1
        self.sent += 1
        self.transport.sendto(b"~", addr)


async def _raw_loop(targets: list[Peer], seconds: float) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, 33, 64 * 1024 * 1024)
    sock.bind(("127.0.0.1", 0))
    transport, proto = await loop.create_datagram_endpoint(_Raw, sock=sock)
    start = time.perf_counter()
    cpu0 = time.process_time()
    for i in range(0, len(targets), 4096):
        for p in targets[i : i + 4096]:
            transport.sendto(b"~", (p.ip, p.port))
            proto.sent += 1
        await asyncio.sleep(0)
    await asyncio.sleep(seconds)
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    transport.close()
    return {
        "replies_per_s": proto.replies / elapsed,
        "cpu_us_per_reply": cpu / max(1, proto.replies) * 1e6,
        "sent": proto.sent,
        "replies": proto.replies,
    }


async def _engine(targets: list[Peer], seconds: float, per_bot: int = 1000) -> dict[str, Any]:
    plugin = get_plugin("hns")
    s = CrawlSettings.for_protocol(plugin.defaults)
    n = len(targets)
    s = s.replace("queues", discovery_capacity=n, tracking_capacity=n, max_known_peers=n + 10)
    s = s.replace("rounds", rounds=1, requests_per_round=per_bot, stale_replies=1000)
    s = s.replace("rate", per_target_rate=0.0)
    reporter = CountingReporter()
    runner = CrawlRunner(plugin, s, reporter)
    runner.add_seeds(targets)
    start = time.perf_counter()
    cpu0 = time.process_time()
    task = asyncio.ensure_future(runner.run())
    done, _ = await asyncio.wait({task}, timeout=seconds)
    status = runner.status()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    runner.stop()
    await task
    return {
        "elapsed_s": elapsed,
        "finished": bool(done),
        "cpu_us_per_reply": cpu / max(1, status["bot_replies"]) * 1e6,
        "replies_per_s": status["bot_replies"] / elapsed,
        "requests_per_s": status["sent"] / elapsed,
        "sent": status["sent"],
        "replies": status["bot_replies"],
        "peak_in_flight": status["peak_in_flight"],
        "timeouts": status["timeouts"],
        "retries": status["retries"],
        "recv_buffer_bytes": status["recv_buffer_bytes"],
        "records": reporter.counts,
    }


def _with_responder(delay_s: float, work: Any) -> Any:
    ctx = mp.get_context("spawn")
    ready, stop = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_responder, args=(RESPONDER_PORT, ready, stop, delay_s), daemon=True)
    proc.start()
    try:
        if not ready.wait(20):
            raise SystemExit("responder did not start")
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, {0})
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
            return r.run(work())
    finally:
        stop.set()
        proc.join(5)
        if proc.is_alive():
            proc.kill()


def part_a(n_targets: int, seconds: float) -> None:
    targets = _targets(n_targets)
    print(f"(a) {n_targets} loopback targets, uvloop, responder process pinned to core 1")
    print(f"    load average before: {os.getloadavg()[0]:.2f} (2 cores; other work skews rates)")

    async def burst() -> dict[str, Any]:
        return await _engine(targets, 60.0, per_bot=1)

    b = _with_responder(2.0, burst)
    print(
        f"    burst: {n_targets} requests at once, answers held 2 s: peak in flight "
        f"{b['peak_in_flight']:,}, answered {b['replies']:,}, timeouts {b['timeouts']}, "
        f"round done in {b['elapsed_s']:.1f} s (target >= 50,000 in flight, no drops)"
    )

    async def both() -> tuple[dict[str, Any], dict[str, Any]]:
        raw = await _raw_loop(targets, seconds)
        await asyncio.sleep(1.0)  # let stragglers drain
        eng = await _engine(targets, seconds)
        return raw, eng

    raw, eng = _with_responder(0.0, both)
    ratio = eng["replies_per_s"] / raw["replies_per_s"] if raw["replies_per_s"] else 0.0
    cpu_ratio = raw["cpu_us_per_reply"] / eng["cpu_us_per_reply"] if eng["replies"] else 0.0
    print(f"    closed loop, {seconds:.0f} s each (every answer triggers the next request):")
    print(
        f"    raw datagram loop : {raw['replies_per_s']:>9,.0f} replies/s, "
        f"{raw['cpu_us_per_reply']:.1f} CPU us/reply"
    )
    print(
        f"    crawl engine      : {eng['replies_per_s']:>9,.0f} replies/s, "
        f"{eng['cpu_us_per_reply']:.1f} CPU us/reply (plugin, records, queues, timers), "
        f"peak in flight {eng['peak_in_flight']:,}, timeouts {eng['timeouts']}"
    )
    print(
        f"    engine / raw      : {ratio:.2f} by wall-clock rate, {cpu_ratio:.2f} by CPU per "
        "reply (target >= 0.50)"
    )
    print(f"    receive buffer    : {eng['recv_buffer_bytes']:,} bytes")
    print("    " + json.dumps({"burst": b, "raw": raw, "engine": eng}))


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class _PlainCrawler(asyncio.DatagramProtocol):
    """The baseline (b) compares against: the HNS crawler a new user writes in an afternoon.

    Plain asyncio, one socket with default buffers, one task per bot: it sends the bot
    ``per_bot`` ``~``, ``gap_s`` apart, at most ``bots_at_once`` bots at a time (so neither
    the botnet nor the socket is flooded). Every ``^`` reply names a peer; each new peer gets
    its own task. The crawl stops once no new peer arrived for ``quiet_s``. No retries, no
    deadlines, no records: only what it takes to find the bots.
    """

    def __init__(self, per_bot: int, gap_s: float, bots_at_once: int) -> None:
        self.per_bot = per_bot
        self.gap_s = gap_s
        self.limit = asyncio.Semaphore(bots_at_once)
        self.transport: Any = None
        self.known: set[tuple[str, int]] = set()
        self.answered: set[tuple[str, int]] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.last_new = time.monotonic()
        self.sent = 0
        self.replies = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def learn(self, peer: tuple[str, int]) -> None:
        if peer not in self.known and peer[0].startswith("127."):  # loopback only
            self.known.add(peer)
            self.last_new = time.monotonic()
            task = asyncio.ensure_future(self.ask(peer))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def ask(self, peer: tuple[str, int]) -> None:
        async with self.limit:
            for _ in range(self.per_bot):
                self.transport.sendto(b"~", peer)
                self.sent += 1
                await asyncio.sleep(self.gap_s)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) < 8 or data[0] != 0x5E:
            return
        self.replies += 1
        self.answered.add((addr[0], addr[1]))
        self.learn((socket.inet_ntoa(data[4:8]), int.from_bytes(data[2:4], "big")))


async def _plain_crawl(
    seeds: list[Peer],
    per_bot: int = 20,
    gap_s: float = 0.05,
    bots_at_once: int = 2000,
    quiet_s: float = 2.0,
) -> _PlainCrawler:
    loop = asyncio.get_running_loop()
    transport, crawler = await loop.create_datagram_endpoint(
        lambda: _PlainCrawler(per_bot, gap_s, bots_at_once), local_addr=("127.0.0.1", 0)
    )
    for p in seeds:
        crawler.learn((p.ip, p.port))
    end = time.monotonic() + 300  # a bound, in case the botnet never stops growing
    while time.monotonic() - crawler.last_new < quiet_s and time.monotonic() < end:
        await asyncio.sleep(0.1)
    for task in crawler.tasks:
        task.cancel()
    await asyncio.gather(*crawler.tasks, return_exceptions=True)
    transport.close()
    return crawler


class _SeenReporter(CountingReporter):
    """Counts records and remembers which addresses answered (coverage against the truth)."""

    def __init__(self) -> None:
        super().__init__()
        self.answered: set[tuple[str, int]] = set()

    def add(
        self,
        *,
        replies: Sequence[Reply] = (),
        failed_tries: Sequence[FailedTry] = (),
        edges: Sequence[Edge] = (),
    ) -> None:
        """Count, and keep each answering address."""
        super().add(replies=replies, failed_tries=failed_tries, edges=edges)
        self.answered.update((r.ip, r.port) for r in replies)


def _measure(run: Callable[[], Any]) -> tuple[Any, float, float]:
    """``run()``'s result, its wall time and the CPU seconds this process spent on it."""
    gc.collect()
    start = time.perf_counter()
    cpu0 = time.process_time()
    out = run()
    return out, time.perf_counter() - start, time.process_time() - cpu0


def part_b(bots: int, nat: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="botmon-bench-crawl-"))
    seeds, truth = tmp / "seeds.txt", tmp / "truth.jsonl"
    argv = [
        sys.executable, "-m", "botmon", "simulate", "hns", "--bots", str(bots), "--nat", str(nat),
        "--seed-rng", "7", "--seeds-file", str(seeds), "--truth", str(truth),
        "--duration", "600", "--port", str(_free_udp_port()),
        "--exchange-interval", "0",  # passive bots, as the measurement had
    ]  # fmt: skip
    log = open(tmp / "sim.log", "wb")  # noqa: SIM115
    sim = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_pin_core1)
    try:
        deadline = time.monotonic() + 120
        while not seeds.exists() and time.monotonic() < deadline:
            if sim.poll() is not None:
                raise SystemExit(f"simulator stopped: {(tmp / 'sim.log').read_text()[-2000:]}")
            time.sleep(0.2)
        time.sleep(0.5)
        seed_peers = [
            Peer(line.split(":")[0], int(line.split(":")[1]))
            for line in seeds.read_text().split()
            if ":" in line
        ]
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, {0})
        plugin = get_plugin("hns")
        s = CrawlSettings.for_protocol(plugin.defaults)
        s = s.replace("rounds", rounds=1)
        gc.collect()
        rss0 = _rss()
        reporter = _SeenReporter()
        runner = CrawlRunner(plugin, s, reporter)
        runner.add_seeds(seed_peers)

        def crawl() -> dict[str, Any]:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
                return r.run(asyncio.wait_for(runner.run(), 300))

        status, elapsed, cpu = _measure(crawl)
        gc.collect()
        rss1 = _rss()
        known = status["known"]
        table_bytes = _table_bytes(runner)
        plain, plain_s, plain_cpu = _measure(lambda: asyncio.run(_plain_crawl(seed_peers)))
    finally:
        sim.terminate()
        try:
            sim.wait(30)
        except subprocess.TimeoutExpired:
            sim.kill()
        log.close()
    lines = [json.loads(x) for x in truth.read_text().splitlines() if x.strip()]
    reachable = {(x["ip"], x["port"]) for x in lines if not x.get("nat")}
    nat_bots = len(lines) - len(reachable)
    cover = len(reporter.answered & reachable) / max(1, len(reachable))
    plain_cover = len(plain.answered & reachable) / max(1, len(reachable))
    grew = rss1 - rss0
    print(f"(b) emulated HNS botnet: {len(lines)} bots, {nat_bots} NAT (silent), one round")
    print(
        f"    botmon       : {elapsed:5.1f} s, CPU {cpu:5.1f} s, answered {cover:.2%} of the "
        f"responsive bots (invented {len(reporter.answered - reachable)}), known {known}, "
        f"sent {status['sent']:,}, bot replies {status['bot_replies']:,}, "
        f"timeouts {status['timeouts']:,}, {cpu / max(1, status['sent']) * 1e6:.1f} CPU us/request"
    )
    print(
        f"    plain asyncio: {plain_s:5.1f} s, CPU {plain_cpu:5.1f} s, answered "
        f"{plain_cover:.2%} of the responsive bots, known {len(plain.known)}, "
        f"sent {plain.sent:,}, replies {plain.replies:,}"
    )
    print(
        f"    botmon / plain: {elapsed / plain_s:.2f} by wall time, {cpu / plain_cpu:.2f} by CPU "
        "(target: wall <= 1.00 with >= 99.9 % of the responsive bots)"
    )
    print(
        f"    memory: RSS grew {grew / 2**20:.1f} MiB = {grew / max(1, known):.0f} bytes per "
        f"known peer; peer table alone {table_bytes / max(1, known):.0f} bytes per peer "
        "(target < 1024)"
    )


class _EnumReporter(CountingReporter):
    """Stops the crawl once every entry of every answering bot's list came as an edge."""

    def __init__(self, lists: dict[tuple[str, int], set[tuple[str, int]]]) -> None:
        super().__init__()
        self.missing = {bot: set(peers) for bot, peers in lists.items() if peers}
        self.entries = sum(len(p) for p in self.missing.values())
        self.runner: CrawlRunner | None = None
        self.started = time.perf_counter()
        self.done_after: float | None = None

    def add(
        self,
        *,
        replies: Sequence[Reply] = (),
        failed_tries: Sequence[FailedTry] = (),
        edges: Sequence[Edge] = (),
    ) -> None:
        """Count, and strike each edge off its bot's missing entries."""
        super().add(replies=replies, failed_tries=failed_tries, edges=edges)
        missing = self.missing
        for e in edges:
            left = missing.get((e.src_ip, e.src_port))
            if left is not None:
                left.discard((e.dst_ip, e.dst_port))
                if not left:
                    del missing[(e.src_ip, e.src_port)]
        if not missing and self.done_after is None:
            self.done_after = time.perf_counter() - self.started
            if self.runner is not None:
                self.runner.stop()

    @property
    def seen_share(self) -> float:
        """Share of all list entries seen so far."""
        left = sum(len(p) for p in self.missing.values())
        return 1.0 - left / max(1, self.entries)


def _enumerate(protocol: str, bots: int, nat: float, limit_s: float) -> dict[str, Any]:
    """Run ``botmon simulate PROTOCOL`` and crawl it until every list is enumerated."""
    tmp = Path(tempfile.mkdtemp(prefix=f"botmon-bench-enum-{protocol}-"))
    seeds, truth = tmp / "seeds.txt", tmp / "truth.jsonl"
    argv = [
        sys.executable, "-m", "botmon", "simulate", protocol, "--bots", str(bots),
        "--nat", str(nat), "--seed-rng", "7", "--seeds-file", str(seeds), "--truth", str(truth),
        "--duration", str(int(limit_s) + 120), "--port", str(_free_udp_port()),
        "--exchange-interval", "0",  # static lists: the enumeration has a fixed target
    ]  # fmt: skip
    log = open(tmp / "sim.log", "wb")  # noqa: SIM115
    sim = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_pin_core1)
    try:
        deadline = time.monotonic() + 120
        while not (seeds.exists() and truth.exists()) and time.monotonic() < deadline:
            if sim.poll() is not None:
                raise SystemExit(f"simulator stopped: {(tmp / 'sim.log').read_text()[-2000:]}")
            time.sleep(0.2)
        time.sleep(0.5)
        lines = [json.loads(x) for x in truth.read_text().splitlines() if x.strip()]
        lists: dict[tuple[str, int], set[tuple[str, int]]] = {}
        for x in lines:
            if not x["nat"]:
                lists[(x["ip"], x["port"])] = {
                    (p.rpartition(":")[0], int(p.rpartition(":")[2])) for p in x["peers"]
                }
        seed_peers = [
            Peer(line.rpartition(":")[0], int(line.rpartition(":")[2]))
            for line in seeds.read_text().split()
            if ":" in line
        ]
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, {0})
        plugin = get_plugin(protocol)
        s = CrawlSettings.for_protocol(plugin.defaults)
        # botmon as configured for the protocol (requests per round, staleness cut-off),
        # rounds back to back until every list is whole.
        s = s.replace("rounds", rounds=1000, interval_s=0.0)
        reporter = _EnumReporter(lists)
        runner = CrawlRunner(plugin, s, reporter)
        reporter.runner = runner
        runner.add_seeds(seed_peers)

        def crawl() -> dict[str, Any]:
            reporter.started = time.perf_counter()

            async def bounded() -> dict[str, Any]:
                task = asyncio.ensure_future(runner.run())
                done, _ = await asyncio.wait({task}, timeout=limit_s)
                if not done:
                    runner.stop()
                return await task

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
                return r.run(bounded())

        status, elapsed, cpu = _measure(crawl)
    finally:
        sim.terminate()
        try:
            sim.wait(30)
        except subprocess.TimeoutExpired:
            sim.kill()
        log.close()
    return {
        "protocol": protocol,
        "bots": len(lines),
        "answering": len(lists),
        "entries": reporter.entries,
        "seen_share": reporter.seen_share,
        "enumerated_s": reporter.done_after,
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "sent": status["sent"],
        "bot_replies": status["bot_replies"],
        "timeouts": status["timeouts"],
        "rounds": status["round"],
    }


def part_s(bots: int, nat: float, limit_s: float = 600.0) -> dict[str, Any]:
    """Sality beside Hide'n'Seek: time to enumerate every answering bot's peer list."""
    print(
        f"(s) enumerate every peer list, one peer per reply: {bots} bots, {nat:.0%} NAT, "
        f"plugin defaults, rounds back to back, bound {limit_s:.0f} s each"
    )
    out = {}
    for protocol in ("hns", "sality"):
        r = out[protocol] = _enumerate(protocol, bots, nat, limit_s)
        took = r["enumerated_s"]
        print(
            f"    {protocol:<7}: "
            + (f"{took:6.1f} s" if took is not None else f"not done in {r['elapsed_s']:.0f} s")
            + f" to see {r['seen_share']:.2%} of {r['entries']:,} entries of "
            f"{r['answering']:,} answering bots' lists; sent {r['sent']:,}, bot replies "
            f"{r['bot_replies']:,} ({r['bot_replies'] / max(1, r['entries']):.1f} per entry), "
            f"timeouts {r['timeouts']:,}, rounds {r['rounds']}, CPU {r['cpu_s']:.1f} s"
        )
    h, sal = out["hns"]["enumerated_s"], out["sality"]["enumerated_s"]
    if h and sal:
        print(f"    sality / hns: {sal / h:.2f} by time to enumerate every list")
    print("    " + json.dumps(out))
    return out


def _table_bytes(runner: CrawlRunner) -> int:
    """Deep size of the peer table (dict, keys, states and their attributes)."""
    seen: set[int] = set()
    total = sys.getsizeof(runner.core.peers)
    for key, st in runner.core.peers.items():
        for obj in (key, key.ip, key.port, st):
            if id(obj) not in seen:
                seen.add(id(obj))
                total += sys.getsizeof(obj)
        for name in st.__slots__:
            v = getattr(st, name)
            if id(v) not in seen and not isinstance(v, (bool, type(None))):
                seen.add(id(v))
                total += sys.getsizeof(v)
    return total


def _free_udp_port() -> int:
    """A UDP port free right now, so two runs of this benchmark on one machine do not clash
    over the HNS default port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("0.0.0.0", 0))
        port: int = sock.getsockname()[1]
        return port


def _pin_core1() -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {1})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=["a", "b", "s", "both", "all"], default="both")
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--targets", type=int, default=60_000)
    ap.add_argument("--bots", type=int, default=50_000)
    ap.add_argument("--nat", type=float, default=0.3)
    ap.add_argument("--enum-bots", type=int, default=20_000, help="bots of part s")
    ap.add_argument("--enum-limit", type=float, default=600.0, help="seconds per crawl, part s")
    args = ap.parse_args()
    if args.part in ("a", "both", "all"):
        part_a(args.targets, args.seconds)
    if args.part in ("b", "both", "all"):
        part_b(args.bots, args.nat)
    if args.part in ("s", "all"):
        part_s(args.enum_bots, args.nat, args.enum_limit)


if __name__ == "__main__":
    main()
