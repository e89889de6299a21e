"""The engine's TCP path with real loopback servers: linenet bots, a benign service, hostiles."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

from botmon.crawl.runner import CrawlRunner
from botmon.crawl.sink import ListReporter
from botmon.protocols.contract import Peer
from botmon.settings.crawl import CrawlSettings
from tests.crawl.helpers import registry

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
PORT = 17070


def _bot(bot_id: str, peers: list[Peer]) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        if line == b"PEERS\n":
            out = [f"BOT {bot_id}"] + [f"PEER {p.ip} {p.port}" for p in peers] + ["END"]
            writer.write(("\n".join(out) + "\n").encode())
            await writer.drain()
        writer.close()

    return handle


async def _hello(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    writer.write(b"HELLO\n")
    writer.close()


async def _huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    writer.write(b"BOT 0123456789abcdef\n" + b"PEER 127.41.0.1 7070\n" * 20_000)
    await writer.drain()
    writer.close()


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(1.0)
    writer.close()


async def _truncated(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readline()
    writer.write(b"BOT 0123456789abcdef\nPEER 127.41.0.1 70")
    writer.close()


def _settings() -> CrawlSettings:
    s = CrawlSettings.for_protocol(registry().get("linenet").defaults)
    s = s.replace("transport", tcp_connect_timeout_s=0.5, tcp_read_timeout_s=0.5)
    s = s.replace("retry", timeouts=(1.5,))
    return s.replace("rounds", rounds=2, interval_s=0.2)


def test_linenet_over_tcp_with_benign_and_hostile_peers() -> None:
    a, b, c = (Peer(f"127.40.0.{i}", PORT) for i in (1, 2, 3))
    hello = Peer("127.40.0.10", PORT)
    huge = Peer("127.40.0.11", PORT)
    silent = Peer("127.40.0.12", PORT)
    cut = Peer("127.40.0.13", PORT)
    closed = Peer("127.40.0.14", PORT)  # nothing listens: connection refused
    far = Peer("192.0.2.5", PORT)  # TEST-NET, out of scope: never contacted
    handlers: dict[Peer, Handler] = {
        a: _bot("00000000000000aa", [b, hello, far]),
        b: _bot("00000000000000bb", [c, huge, silent]),
        c: _bot("00000000000000cc", [a, cut, closed]),
        hello: _hello,
        huge: _huge,
        silent: _silent,
        cut: _truncated,
    }

    async def main() -> tuple[dict[str, Any], ListReporter]:
        servers = [await asyncio.start_server(h, p.ip, p.port) for p, h in handlers.items()]
        reporter = ListReporter()
        runner = CrawlRunner(registry().get("linenet"), _settings(), reporter)
        runner.add_seeds([a])
        try:
            status = await runner.run()
        finally:
            for s in servers:
                s.close()
        return status, reporter

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        status, reporter = r.run(asyncio.wait_for(main(), 30))
    assert status["rounds"] == 2
    assert status["known"] == 8
    assert status["tracked"] == 3
    assert {r.bot_id for r in reporter.replies} == {
        "00000000000000aa",
        "00000000000000bb",
        "00000000000000cc",
    }
    assert len(reporter.replies) == 6  # three bots, two rounds
    assert status["benign_replies"] == 2  # the HELLO service, once per round
    assert status["malformed/oversized"] == 2
    assert status["malformed/truncated"] == 2
    assert status["out_of_scope"] == 1
    assert status["scope_blocked"] == 0
    reasons = {(f.ip, f.reason) for f in reporter.failed_tries}
    assert (closed.ip, "refused") in reasons
    assert (silent.ip, "read_timeout") in reasons
    assert (huge.ip, "no_reply:oversized") in reasons
    assert (cut.ip, "no_reply:truncated") in reasons
    assert far.ip not in {f.ip for f in reporter.failed_tries}
    assert {(e.src_id, e.dst_ip) for e in reporter.edges} >= {("00000000000000aa", far.ip)}
