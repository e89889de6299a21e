"""A real sensor on loopback UDP: test bots on 127.x.y.z contact it, it announces to them.

Everything here is real sockets: the sensor's listen socket, one socket per bot on its own
loopback address, and the runner's own loop. Waits are bounded by time and count.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from botmon.crawl.sink import ListReporter
from botmon.protocols.contract import Peer
from botmon.sensor.runner import SensorRunner
from tests.sensor.helpers import UdpBot, free_udp_port, hns_reply, plugin, settings

pytestmark = pytest.mark.timeout(60)


def run(
    scenario: Callable[[SensorRunner, ListReporter], Awaitable[None]],
    targets: list[Peer] = (),  # type: ignore[assignment]
    **changes: Any,
) -> tuple[SensorRunner, ListReporter, dict[str, Any]]:
    """Run a sensor on a free port while ``scenario`` plays; stop it; its final status."""
    listen = Peer("127.0.0.1", free_udp_port())
    reporter = ListReporter()
    runner = SensorRunner(plugin("hns"), settings(**changes), [listen], "hns", reporter)
    runner.add_seeds(targets)

    async def main() -> dict[str, Any]:
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(runner.ready.wait(), 10)
        try:
            await asyncio.wait_for(scenario(runner, reporter), 30)
        finally:
            runner.stop()
        return await asyncio.wait_for(task, 10)

    status = asyncio.run(main())
    return runner, reporter, status


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Poll ``check`` (every 20 ms) until it holds or ``timeout_s`` passes."""
    end = time.monotonic() + timeout_s
    while not check() and time.monotonic() < end:
        await asyncio.sleep(0.02)


def listen_of(runner: SensorRunner) -> Peer:
    return runner.core.contexts[0].listen


def test_bots_contacting_the_sensor_are_answered_with_it_and_recorded() -> None:
    bots = [UdpBot(f"127.7.0.{i}") for i in range(1, 4)]

    async def scenario(runner: SensorRunner, reporter: ListReporter) -> None:
        me = listen_of(runner)
        for bot in bots:
            bot.send(b"~", me)
        await until(lambda: all(b.seen() for b in bots))

    runner, reporter, status = run(scenario)
    me = listen_of(runner)
    for bot in bots:
        assert bot.inbox == [(hns_reply(me), me)]  # the sensor names itself, from its port
        bot.close()
    assert sorted((r.ip, r.port, r.data["message"]) for r in reporter.replies) == sorted(  # type: ignore[index]
        (b.peer.ip, b.peer.port, "request") for b in bots
    )
    assert {(e.src_ip, e.dst_ip, e.dst_port) for e in reporter.edges} == {
        (b.peer.ip, *me) for b in bots
    }
    assert (status["contacts"], status["answered"], status["peers_known"]) == (3, 3, 3)
    assert status["scope_blocked"] == 0


def test_announcements_go_out_on_schedule_from_the_listen_socket_and_never_outside_scope() -> None:
    inside = [UdpBot(f"127.7.1.{i}") for i in range(1, 4)]
    outside = UdpBot("127.8.1.1")  # a real socket the sensor must never send to
    named = Peer("127.7.9.9", 6000)

    async def scenario(runner: SensorRunner, reporter: ListReporter) -> None:
        await until(lambda: all(b.seen() >= 1 for b in inside))
        inside[0].send(hns_reply(named), listen_of(runner))  # a bot answers the announcement
        await until(lambda: all(b.seen() >= 3 for b in inside), 8.0)
        outside.send(b"~", listen_of(runner))  # it may contact the sensor: never answered
        await until(lambda: runner.counters["out_of_scope"] >= 1)
        await asyncio.sleep(0.3)
        outside.read()

    started = time.monotonic()
    runner, reporter, status = run(
        scenario,
        targets=[b.peer for b in inside] + [outside.peer, Peer("10.1.2.3", 6000)],
        scope=("127.7.0.0/16", "127.0.0.1/32"),
        announce_interval_s=1.0,
    )
    elapsed = time.monotonic() - started
    me = listen_of(runner)
    for bot in inside:
        assert len(bot.inbox) >= 3 and {x for x in bot.inbox} == {(b"~", me)}
        # on schedule: about one announcement per interval, never a burst
        assert len(bot.inbox) <= elapsed / 1.0 + 2
        bot.close()
    assert outside.inbox == []
    outside.close()
    assert status["announce_out_of_scope"] == 2 and status["scope_blocked"] == 0
    assert status["out_of_scope"] == 1  # its contact was recorded, not answered
    messages = [(r.ip, r.data["message"]) for r in reporter.replies]  # type: ignore[index]
    assert (inside[0].peer.ip, "reply") in messages and ("127.8.1.1", "request") in messages
    assert (inside[0].peer.ip, named.ip, named.port) in {
        (e.src_ip, e.dst_ip, e.dst_port) for e in reporter.edges
    }


def test_hostile_input_is_counted_and_bounded_and_the_sensor_goes_on() -> None:
    flooder = UdpBot("127.7.2.1")
    crowd = [UdpBot(f"127.7.3.{i}") for i in range(1, 201)]
    honest = UdpBot("127.7.4.1")
    garblers = [UdpBot(f"127.7.5.{i}") for i in range(1, 62)]
    # Random bytes that do not start like a request or an answer, and a few near misses.
    garbage = [b"\x00" + os.urandom(n - 1) for n in range(2, 60)] + [b"", b"~~", b"^"]

    async def scenario(runner: SensorRunner, reporter: ListReporter) -> None:
        me = listen_of(runner)
        for bot, data in zip(garblers, garbage, strict=True):
            bot.send(data, me)
        for _ in range(20):
            flooder.send(b"~" + b"\x00" * 3000, me)  # oversized
        for _ in range(2000):
            try:
                flooder.send(b"~", me)
            except BlockingIOError:
                await asyncio.sleep(0.001)
        for bot in crowd:
            bot.send(b"~", me)
        await until(lambda: runner.counters["contacts"] >= len(garbage) + 2020 + 200, 15)
        honest.send(b"~", me)
        await until(lambda: bool(honest.read()))

    runner, _, status = run(
        scenario, per_source_rate=1.0, per_source_burst=10.0, max_sources=50, contacts_sample=16
    )
    try:
        assert honest.inbox, "the sensor stopped answering after the hostile input"
        assert status["oversized"] == 20
        assert status["malformed"] == len(garbage)
        assert not any(bot.seen() for bot in garblers)  # garbage is never answered
        flood_answers = len(flooder.read())
        # the flood's source got its burst and what its rate refilled during the run, no more
        assert flood_answers <= 10 + status["uptime_s"] * 1.0 + 1
        assert status["rate_limited"] >= 2000 - flood_answers
        assert status["sources_tracked"] <= 50 and status["sources_evicted"] >= 150
        assert len(runner.core.contexts[0].contacts) <= 16
        assert status["scope_blocked"] == 0 and status["plugin_errors"] == 0
    finally:
        for bot in (flooder, honest, *crowd, *garblers):
            bot.close()


def test_a_listen_address_in_use_is_a_clear_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        runner = SensorRunner(
            plugin("hns"), settings(), [Peer("127.0.0.1", port)], "hns", ListReporter()
        )
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            asyncio.run(runner.run())


def test_heartbeat_reports_a_sensor_with_its_measured_contact_rate() -> None:
    now = [1_700_000_000.0]
    runner = SensorRunner(
        plugin("hns"),
        settings(),
        [Peer("127.0.0.1", 6000)],
        "hns",
        ListReporter(),
        clock=lambda: now[0],
    )
    first = runner.heartbeat()
    assert first.kind == "sensor" and first.state == "running" and first.sensor is not None
    for i in range(40):
        runner.core.on_message(b"~", Peer(f"127.1.0.{i + 1}", 5000), 0, now[0])
    now[0] += 10.0
    beat = runner.heartbeat()
    assert beat.sensor is not None
    assert (beat.sensor.contacts, beat.sensor.answered, beat.sensor.peers_known) == (40, 40, 40)
    assert beat.sensor.contacts_per_s == 4.0
    runner.hold("spool_full")  # what the report client's back-pressure calls
    beat = runner.heartbeat()
    assert (beat.state, beat.paused_reason) == ("paused", "spool_full") and runner.core.paused
    runner.hold(None)
    assert runner.heartbeat().state == "running" and not runner.core.paused
