"""A real linenet sensor on loopback TCP: bots connect, the sensor answers and announces.

Real listen server, real client connections from 127.x.y.z addresses, a real bot server
that answers the sensor's ``HELLO``; every wait bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from botmon.crawl.sink import ListReporter
from botmon.protocols.contract import Peer
from botmon.sensor.runner import SensorRunner
from tests.fixtures.server import free_port
from tests.sensor.helpers import plugin, settings

pytestmark = pytest.mark.timeout(60)


def run(
    scenario: Callable[[SensorRunner], Awaitable[None]],
    targets: list[Peer] | None = None,
    **changes: Any,
) -> tuple[SensorRunner, ListReporter, dict[str, Any]]:
    listen = Peer("127.0.0.1", free_port())
    reporter = ListReporter()
    runner = SensorRunner(plugin("linenet"), settings(**changes), [listen], "ln", reporter)
    runner.add_seeds(targets or [])

    async def main() -> dict[str, Any]:
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(runner.ready.wait(), 10)
        try:
            await asyncio.wait_for(scenario(runner), 30)
        finally:
            runner.stop()
        return await asyncio.wait_for(task, 10)

    return runner, reporter, asyncio.run(main())


async def ask(me: Peer, data: bytes, source: str = "127.6.0.1", close: bool = True) -> bytes:
    """Connect from ``source``, send ``data``, read the answer until the sensor closes."""
    reader, writer = await asyncio.open_connection(me.ip, me.port, local_addr=(source, 0))
    writer.write(data)
    if close:
        writer.write_eof()
    try:
        answer = await asyncio.wait_for(reader.read(10_000), 5)
    except ConnectionResetError:
        answer = b""  # a connection over the cap is reset at once
    writer.close()
    return answer


def test_peers_and_hello_are_answered_with_the_sensor_and_recorded() -> None:
    answers: dict[str, bytes] = {}

    async def scenario(runner: SensorRunner) -> None:
        me = runner.core.contexts[0].listen
        answers["peers"] = await ask(me, b"PEERS\n", "127.6.0.1")
        answers["hello"] = await ask(me, b"HELLO 7071\n", "127.6.0.2")
        answers["garbage"] = await ask(me, b"\x00\xffnonsense\n", "127.6.0.3")
        answers["long"] = await ask(me, b"A" * 500, "127.6.0.4")

    runner, reporter, status = run(scenario)
    ctx = runner.core.contexts[0]
    me = ctx.listen
    assert answers["peers"] == f"BOT {ctx.sensor_id}\nPEER {me.ip} {me.port}\nEND\n".encode()
    assert answers["hello"] == f"BOT {ctx.sensor_id}\nEND\n".encode()
    assert answers["garbage"] == answers["long"] == b""
    got = sorted((r.ip, r.data["message"]) for r in reporter.replies)  # type: ignore[index]
    assert got == [("127.6.0.1", "peers"), ("127.6.0.2", "hello")]
    hello = next(r for r in reporter.replies if r.ip == "127.6.0.2")
    assert hello.port == 7071  # the port the bot listens on, not the connection's
    assert {(e.src_ip, e.dst_port) for e in reporter.edges} == {
        ("127.6.0.1", me.port),
        ("127.6.0.2", me.port),
    }
    assert (status["handled"], status["answered"], status["malformed"]) == (2, 2, 2)


def test_slow_and_excess_connections_are_cut_off() -> None:
    async def scenario(runner: SensorRunner) -> None:
        me = runner.core.contexts[0].listen
        idle = [
            await asyncio.open_connection(me.ip, me.port, local_addr=(f"127.6.1.{i}", 0))
            for i in range(1, 4)
        ]
        await asyncio.sleep(0.2)
        refused = await ask(me, b"PEERS\n", "127.6.2.1")  # over the connection cap
        assert refused == b""
        end = time.monotonic() + 5
        while runner.counters["tcp_timeouts"] < 2 and time.monotonic() < end:
            await asyncio.sleep(0.05)
        for _, writer in idle:
            writer.close()
        assert await ask(me, b"PEERS\n", "127.6.2.2")  # room again once they are gone

    _, _, status = run(scenario, tcp_max_connections=2, tcp_timeout_s=0.5)
    assert status["tcp_refused"] >= 1
    assert status["tcp_timeouts"] >= 2
    assert status["answered"] == 1
    assert status["tcp_open"] == 0


def test_announcements_say_hello_to_bots_and_record_their_answers() -> None:
    heard: list[bytes] = []

    async def bot(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heard.append(await reader.readline())
        writer.write(b"BOT 00000000000000aa\nEND\n")
        await writer.drain()
        writer.close()

    async def scenario(runner: SensorRunner) -> None:
        end = time.monotonic() + 8
        while len(heard) < 2 and time.monotonic() < end:
            await asyncio.sleep(0.05)

    async def serve() -> tuple[SensorRunner, ListReporter, dict[str, Any]]:
        server = await asyncio.start_server(bot, "127.6.3.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            return await asyncio.to_thread(
                run,
                scenario,
                [Peer("127.6.3.1", port), Peer("192.0.2.1", port)],
                announce_interval_s=1.0,
            )
        finally:
            server.close()

    runner, reporter, status = asyncio.run(serve())
    me = runner.core.contexts[0].listen
    assert len(heard) >= 2 and set(heard) == {f"HELLO {me.port}\n".encode()}
    assert status["announce_out_of_scope"] == 1 and status["scope_blocked"] == 0
    assert status["announce_answers"] >= 2
    assert {r.bot_id for r in reporter.replies} == {"00000000000000aa"}
