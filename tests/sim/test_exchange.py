"""Emulated bots act: peer exchange spreads a sensor's news, and NATed bots contact it.

The sensor here is a plain UDP socket of the test (no botmon code): it announces itself with
one ``~`` to 20 bots, answers every ``~`` with a ``^`` naming itself and records who
contacted it. The emulator runs as ``botmon simulate hns`` (a child process), the sensor is
announced after the bots have acted for an interval, and the real crawler crawls the same
botnet at the same time; everything is checked against the ground truth.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from pathlib import Path

import uvloop

from botmon.crawl.runner import CrawlRunner
from botmon.crawl.sink import ListReporter
from botmon.protocols.contract import Peer
from botmon.protocols.registry import get_plugin
from botmon.settings.crawl import CrawlSettings
from botmon.settings.sim import HnsConfig, LinenetConfig
from botmon.sim.exchange import MAX_LEARNED, MAX_OUTSIDE, PeerExchange
from botmon.sim.linenet import LinenetBotnet
from botmon.sim.population import build_population
from botmon.sim.process import SimulatorProcess
from botmon.sim.stats import Stats
from botmon.sim.truth import read_truth
from tests.sim.helpers import free_port, udp_client

INTERVAL_S = 2.0


class UdpSensor:
    """A minimal Hide'n'Seek sensor: answers ``~`` with itself, records first contacts."""

    def __init__(self) -> None:
        self.sock = udp_client("127.0.0.1")
        self.address: tuple[str, int] = self.sock.getsockname()
        ip, port = self.address
        self.reply = b"^\x00" + port.to_bytes(2, "big") + socket.inet_aton(ip)
        self.first: dict[str, float] = {}
        self.datagrams = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def announce(self, bots: list[tuple[str, int]]) -> None:
        for bot in bots:
            self.sock.sendto(b"~", bot)

    def start(self) -> None:
        self.sock.settimeout(0.1)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()

    def _serve(self) -> None:
        deadline = time.monotonic() + 120  # bounded whatever happens
        while not self._stop.is_set() and time.monotonic() < deadline and self.datagrams < 10**6:
            try:
                data, src = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            self.datagrams += 1
            if data == b"~":
                self.first.setdefault(f"{src[0]}:{src[1]}", time.time())
                self.sock.sendto(self.reply, src)


def _crawl(seeds: list[tuple[str, int]]) -> ListReporter:
    plugin = get_plugin("hns")
    settings = CrawlSettings.for_protocol(plugin.defaults)
    settings = settings.replace("rounds", rounds=3, interval_s=0.0)
    reporter = ListReporter()

    async def main() -> None:
        runner = CrawlRunner(plugin, settings, reporter)
        runner.add_seeds(Peer(ip, port) for ip, port in seeds)
        await asyncio.wait_for(runner.run(), 60)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        r.run(main())
    return reporter


def test_a_sensor_announced_to_20_bots_hears_from_95_percent_within_three_intervals(
    tmp_path: Path,
) -> None:
    port = free_port()
    truth_path = tmp_path / "truth.jsonl"
    sensor = UdpSensor()
    sensor_text = f"{sensor.address[0]}:{sensor.address[1]}"
    # The same seed gives the same botnet: pick the 20 bots before it starts, announce at once.
    botnet = build_population(HnsConfig(bots=1000, nat=0.4, port=port), 11)
    targets = random.Random(5).sample([b.address for b in botnet.bots if not b.nat], 20)
    sensor.start()
    with SimulatorProcess(
        "hns",
        "--bots", "1000",
        "--nat", "0.4",
        "--churn", "none",
        "--seed-rng", "11",
        "--port", str(port),
        "--truth", str(truth_path),
        "--truth-interval", "0.2",
        "--exchange-interval", str(INTERVAL_S),
        workdir=tmp_path,
    ) as sim:  # fmt: skip
        # The botnet runs for an interval first (bots have acted: a steady state), then the
        # sensor is announced while the real crawler crawls the same botnet.
        time.sleep(INTERVAL_S)
        crawled: list[ListReporter] = []
        crawler = threading.Thread(target=lambda: crawled.append(_crawl(sim.seeds)))
        crawler.start()
        announced_at = time.time()
        sensor.announce(targets)
        time.sleep(max(0.0, announced_at + 3 * INTERVAL_S + 0.5 - time.time()))
        within = {a for a, t in sensor.first.items() if t <= announced_at + 3 * INTERVAL_S}
        crawler.join(90)
        assert crawled, "the crawl did not finish"
        reporter = crawled[0]
        assert sim.stop() == 0, sim.output()
    sensor.stop()
    truth = read_truth(truth_path)

    bots = {f"{b['ip']}:{b['port']}": b for b in truth}
    natted = {a for a, b in bots.items() if b["nat"]}
    assert len(bots) == 1000 and len(natted) == 400
    seen = set(sensor.first)
    assert seen <= set(bots), "the sensor heard from an address that is no bot"
    share, nat_share = len(within) / len(bots), len(within & natted) / len(natted)
    started = truth[0]["sessions"][0][0]
    print(
        f"sensor: {share:.3f} of all bots, {nat_share:.3f} of NATed within 3 intervals "
        f"(announced {announced_at - started:.2f} s after the start)"
    )
    assert share >= 0.95 and nat_share >= 0.95

    # The truth says who contacted the sensor; datagrams on loopback are not lost here.
    said = {a for a, b in bots.items() if sensor_text in b["contacted"]}
    assert seen <= said and len(said - seen) <= 0.01 * len(said)
    for address in seen:
        assert bots[address]["contacted"][sensor_text] <= sensor.first[address] + 1.0

    answered = {f"{r.ip}:{r.port}" for r in reporter.replies}
    assert answered <= set(bots) - natted, "the crawler cannot hear a NATed bot"
    print(f"crawler: {len(answered)} of {len(bots) - len(natted)} answering bots")
    # A crawler is listed by the bots it asks but never spread as news (it does not answer
    # their verification), so acting bots hardly slow it down (600 of 600 measured).
    assert len(answered) >= 0.95 * (len(bots) - len(natted))


def _exchange(bots: int = 300, nat: float = 0.0, **kw: object) -> PeerExchange:
    cfg = HnsConfig(bots=bots, nat=nat, exchange_interval_s=10.0, **kw)  # type: ignore[arg-type]
    population = build_population(cfg, 3)
    exchange = PeerExchange(cfg, population, bytearray([1] * bots), Stats(), seed=3)
    exchange.start(0.0, bytearray([1] * bots))
    return exchange


def test_one_interval_runs_every_online_bot_once_spread_over_the_ticks() -> None:
    ex = _exchange(bots=500)
    ex.online[7] = 0
    done = []
    for step in range(1, 101):  # 100 ticks of 0.1 s = one interval
        ex.tick(step * 0.1)
        done.append(ex.counters["exchange/rounds"])
    assert done[-1] == 499  # every online bot once, the offline one not
    assert max(b - a for a, b in zip([0, *done], done, strict=False)) < 30  # no burst


def test_an_outside_peer_is_news_handed_out_a_bounded_number_of_times() -> None:
    ex = _exchange(bots=200, news_share=3)
    bot = next(b for b in ex.population.bots if not b.nat)
    sensor = ex.contacted_by(bot.index, "127.0.0.1", 9999, now=1.0)
    assert sensor is not None and sensor in ex.lists[bot.index]
    # Listed at once, news only once it answered the bot's verification contact.
    assert not ex.news[bot.index]
    assert (bot.index, sensor) in ex.tick(1.05)
    assert ex.on_answer(bot.index, "127.0.0.1:9999", "127.0.0.1", 9999, 1.1)
    askers = [i for i in range(200) if i != bot.index][:6]
    named = [ex.answer_for(bot.index, a, now=2.0) for a in askers]
    assert named[:3] == [sensor] * 3 and sensor not in named[3:]
    # Never to the peer itself (nor to another port of its address) ...
    ex = _exchange(bots=200)
    sensor = ex.contacted_by(bot.index, "127.0.0.1", 9999, now=1.0)
    other_port = ex.entry_of("127.0.0.1", 9998)
    assert {ex.answer_for(bot.index, a, now=2.0) for a in (sensor, other_port) * 20}.isdisjoint(
        {sensor, other_port}
    )
    # ... and news older than two intervals (10 s each) is not handed out first any more.
    late = [ex.answer_for(bot.index, a, now=1.0 + 2 * 10.0 + 0.1) for a in askers]
    assert late.count(sensor) < 3


def test_bots_learning_the_news_contact_the_sensor_and_never_leave_loopback() -> None:
    ex = _exchange(bots=300, nat=0.3)
    free = [b.index for b in ex.population.bots if not b.nat][:20]
    sensor = None
    for i in free:
        sensor = ex.contacted_by(i, "127.0.0.1", 9999, now=0.0)
    contacts: list[tuple[int, int]] = []
    for step in range(1, 301):  # three intervals, the sensor answering every contact
        out = ex.tick(step * 0.1)
        for bot, entry in out:
            if entry == sensor:
                ex.on_answer(bot, "127.0.0.1:9999", "127.0.0.1", 9999, step * 0.1)
        contacts += out
    reached = {bot for bot, entry in contacts if entry == sensor}
    natted = {b.index for b in ex.population.bots if b.nat}
    assert len(reached) >= 0.9 * 300 and len(reached & natted) >= 0.9 * len(natted)
    assert ex.totals["127.0.0.1:9999"] == len(reached)
    # A peer off loopback (a TEST-NET address someone named) is refused, never returned.
    offside = ex.entry_of("192.0.2.7", 4000)
    assert offside is not None
    ex.lists[free[0]] = type(ex.lists[free[0]])("I", [offside])
    before = ex.counters["exchange/refused_not_loopback"]
    out: list[tuple[int, int]] = []
    ex._contact(free[0], offside, 40.0, out)
    assert out == [] and ex.counters["exchange/refused_not_loopback"] == before + 1


def test_lists_stay_capped_and_the_truth_list_records_what_was_learned() -> None:
    ex = _exchange(bots=400, list_cap=40)
    for step in range(1, 501):  # five intervals
        ex.tick(step * 0.1)
    assert max(len(p) for p in ex.lists) <= 40
    assert ex.counters["exchange/asks"] <= 2 * 8 * ex.counters["exchange/rounds"]  # no chains
    assert max(ex.learned) <= MAX_LEARNED
    for bot, peers in zip(ex.population.bots, ex.lists, strict=True):
        assert bot.index not in peers
        if ex.learned[bot.index] < MAX_LEARNED:  # the truth holds every peer it listed
            assert set(peers) <= set(bot.peer_index)


def test_interval_zero_means_bots_never_act() -> None:
    ex = PeerExchange(
        HnsConfig(bots=50, exchange_interval_s=0.0),
        build_population(HnsConfig(bots=50), 1),
        bytearray([1] * 50),
        Stats(),
        seed=1,
    )
    assert not ex.active and ex.tick(100.0) == [] and not ex.counters


def test_linenet_bots_take_a_hello_and_connect_to_the_sensor_from_their_own_address() -> None:
    """A TCP sensor announced with ``HELLO <port>`` to 10 bots is connected to by many bots,
    NATed ones too, each from its own address; the truth says so."""
    contacts: dict[str, int] = {}

    async def sensor(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        ip = writer.get_extra_info("peername")[0]
        line = await asyncio.wait_for(reader.readline(), 5)
        if line == b"PEERS\n":
            contacts[ip] = contacts.get(ip, 0) + 1
            writer.write(f"BOT {'5e' * 8}\nEND\n".encode())
        writer.close()

    async def main() -> tuple[list[dict[str, object]], dict[str, int], str]:
        server = await asyncio.start_server(sensor, "127.0.0.1", 0)
        sensor_port = server.sockets[0].getsockname()[1]
        cfg = LinenetConfig(
            bots=300, nat=0.3, port=free_port(), seed_rng=6, exchange_interval_s=1.0
        )
        async with server, LinenetBotnet(cfg) as net:
            free = [b for b in net.bots if not b.nat][:10]
            for bot in free:
                reader, writer = await asyncio.open_connection(*bot.address)
                writer.write(f"HELLO {sensor_port}\n".encode())
                answer = await asyncio.wait_for(reader.read(), 5)
                assert answer == f"BOT {bot.bot_id}\nEND\n".encode()
                writer.close()
            await asyncio.sleep(4.0)
            truth = net.truth()
        return truth, contacts, f"127.0.0.1:{sensor_port}"

    truth, seen, sensor_text = asyncio.run(asyncio.wait_for(main(), 60))
    ips = {b["ip"]: b for b in truth}
    assert set(seen) <= set(ips)  # every connection came from a bot's own address
    natted = {ip for ip, b in ips.items() if b["nat"]}
    print(f"linenet sensor: {len(seen)} of {len(ips)} bots, {len(set(seen) & natted)} NATed")
    assert len(seen) >= 0.9 * len(ips) and len(set(seen) & natted) >= 0.9 * len(natted)
    said = {b["ip"] for b in truth if sensor_text in b["contacted"]}  # type: ignore[operator]
    assert set(seen) <= said


def test_spoofed_askers_cannot_grow_the_emulator_without_bound() -> None:
    ex = _exchange(bots=100)
    before = len(ex.population.entry_texts)
    for port in range(1, 10_001):  # a flood of askers from distinct loopback ports
        ex.contacted_by(port % 100, "127.0.0.9", port, now=1.0)
    assert len(ex.population.entry_texts) - before == MAX_OUTSIDE
    assert ex.counters["exchange/outside_full"] == 10_000 - MAX_OUTSIDE
    assert max(len(p) for p in ex.lists) <= 64
    # An answer counts only from a peer the bot asked, lately; it adds the named peer once.
    named = ("127.0.0.9", 1)
    assert not ex.on_answer(7, "127.0.0.8:53", *named, now=1.0)
    ex._pending[(7, "127.0.0.8:53")] = 11.0
    assert ex.on_answer(7, "127.0.0.8:53", *named, now=2.0)
    assert ex.on_answer(7, "127.0.0.8:53", *named, now=3.0)
    assert list(ex.lists[7]).count(ex.entry_of(*named)) == 1
    assert not ex.on_answer(7, "127.0.0.8:53", *named, now=12.0)
    own = ex.population.bots[5]
    assert ex.contacted_by(5, own.ip, own.port, now=1.0) is None  # its own address, spoofed
    assert 5 not in ex.lists[5]
