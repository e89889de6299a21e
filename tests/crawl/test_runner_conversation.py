"""TCP conversations (contract v2) on real loopback sockets: honest multi-step bots and hostiles.

The toy protocol (:mod:`tests.crawl.chatproto`) needs four steps per bot: HELLO, a challenge,
the answer to it, then one message per peer and END. Hostile bots test each bound of a
conversation: the per-step timeout (slow-loris), the message count and the per-message size
(bots that never stop sending), a bot closing mid-way (partial result), garbage frames, a
plugin that raises, and the scope guard.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvloop

from botmon.crawl.runner import CrawlRunner
from botmon.crawl.sink import ListReporter
from botmon.protocols.contract import Peer, Plugin
from botmon.settings.crawl import CrawlSettings
from tests.crawl.chatproto import chat_plugin, frame

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
PORT = 17171


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    n = int.from_bytes(await reader.readexactly(2), "big")
    return await reader.readexactly(n)


async def _challenge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """The bot's side up to a correct RESP; False when the crawler got it wrong."""
    if await _read_frame(reader) != b"HELLO":
        return False
    writer.write(frame(b"CHAL abc123"))
    await writer.drain()
    return await _read_frame(reader) == b"RESP 321cba"


def _bot(bot_id: str, peers: list[Peer], delay: float = 0.0) -> Handler:
    """An honest bot; ``delay`` before each message (each step stays within its timeout)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(delay)
        if await _challenge(reader, writer):
            for p in peers:
                await asyncio.sleep(delay)
                writer.write(frame(f"PEER {p.ip} {p.port}".encode()))
            await asyncio.sleep(delay)
            writer.write(frame(f"END {bot_id}".encode()))
            await writer.drain()
        writer.close()

    return handle


def _after_challenge(act: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if await _challenge(reader, writer):
                await act(writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the crawler hung up on us: what the caps are for
        finally:
            writer.close()

    return handle


def _closer(peer: Peer) -> Handler:
    async def act(writer: asyncio.StreamWriter) -> None:
        writer.write(frame(f"PEER {peer.ip} {peer.port}".encode()))
        await writer.drain()

    return _after_challenge(act)


def _endless(peer: Peer, sent: list[int]) -> Handler:
    """Sends valid PEER messages and never END (bounded here at 5,000 or 5 s)."""

    async def act(writer: asyncio.StreamWriter) -> None:
        end = time.monotonic() + 5
        for _ in range(5_000):
            if time.monotonic() > end:
                break
            writer.write(frame(f"PEER {peer.ip} {peer.port}".encode()))
            await writer.drain()
            sent[0] += 1
            await asyncio.sleep(0.001)

    return _after_challenge(act)


async def _flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Announces a 4,000-byte message (valid length, over the 512-byte cap) and keeps sending."""
    try:
        await _read_frame(reader)
        writer.write((4000).to_bytes(2, "big"))
        for _ in range(200):
            writer.write(b"x" * 1000)
            await writer.drain()
            await asyncio.sleep(0.005)
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await _read_frame(reader)
    writer.write(b"\x00\x00GARBAGE" * 4)  # a zero length field can never become a message
    await writer.drain()
    await asyncio.sleep(1.0)
    writer.close()


async def _slowloris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers the HELLO one byte every 0.4 s: each read succeeds, the step never ends."""
    try:
        await _read_frame(reader)
        for b in frame(b"CHAL " + b"z" * 40):
            writer.write(bytes([b]))
            await writer.drain()
            await asyncio.sleep(0.4)
    except ConnectionError:
        pass
    finally:
        writer.close()


async def _echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Some other service that just echoes: not a bot."""
    writer.write(frame(await _read_frame(reader)))
    await writer.drain()
    writer.close()


def _buggy() -> Handler:
    async def act(writer: asyncio.StreamWriter) -> None:
        writer.write(frame(b"PEER 127.43.0.1 notaport"))  # the toy plugin's int() raises
        await writer.drain()
        await asyncio.sleep(0.5)

    return _after_challenge(act)


def _settings(plugin: Plugin) -> CrawlSettings:
    return CrawlSettings.for_protocol(plugin.defaults).replace("rounds", rounds=1)


def test_multi_step_conversations_with_honest_and_hostile_bots() -> None:
    a, b, c = (Peer(f"127.42.0.{i}", PORT) for i in (1, 2, 3))
    closer, endless, flood, garbage, slow, echo, buggy = (
        Peer(f"127.42.0.{i}", PORT) for i in range(10, 17)
    )
    far = Peer("192.0.2.7", PORT)  # TEST-NET, out of scope: never contacted
    sent = [0]
    handlers: dict[Peer, Handler] = {
        a: _bot("bot-a", [b, c, far]),
        b: _bot("bot-b", [closer, endless, flood, slow], delay=0.3),  # slow, but each step in time
        c: _bot("bot-c", [a, garbage, echo, buggy]),
        closer: _closer(a),
        endless: _endless(b, sent),
        flood: _flood,
        garbage: _garbage,
        slow: _slowloris,
        echo: _echo,
        buggy: _buggy(),
    }
    plugin = chat_plugin()

    async def main() -> tuple[dict[str, Any], ListReporter, float]:
        servers = [await asyncio.start_server(h, p.ip, p.port) for p, h in handlers.items()]
        reporter = ListReporter()
        runner = CrawlRunner(plugin, _settings(plugin), reporter)
        runner.add_seeds([a])
        start = time.monotonic()
        try:
            status = await runner.run()
        finally:
            for s in servers:
                s.close()
        return status, reporter, time.monotonic() - start

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        status, reporter, took = r.run(asyncio.wait_for(main(), 30))

    by_ip = {x.ip: x for x in reporter.replies}
    assert {by_ip[p.ip].bot_id for p in (a, b, c)} == {"bot-a", "bot-b", "bot-c"}
    assert all(by_ip[p.ip].data is None for p in (a, b, c)), "honest bots end with END"
    # Ended early, but what was learnt counts (the plugin's partial result):
    assert by_ip[closer.ip].data == {"partial": "closed"}
    assert by_ip[endless.ip].data == {"partial": "too_many_messages"}
    assert sent[0] < 5_000, "the crawler kept reading an endless bot"
    reasons = {f.ip: f.reason for f in reporter.failed_tries}
    assert reasons == {
        flood.ip: "no_reply:oversized",
        garbage.ip: "no_reply:malformed",
        slow.ip: "step_timeout",
        buggy.ip: "no_reply:plugin_error",
    }
    assert status["benign_replies"] == 1  # the echo service
    assert status["malformed/oversized"] == 1
    assert status["malformed/malformed"] == 1
    assert status["plugin_errors"] == 1
    assert status["stream_errors"] == 1  # the slow-loris
    assert status["out_of_scope"] == 1
    assert status["scope_blocked"] == 0
    assert far.ip not in {f.ip for f in reporter.failed_tries}
    assert status["known"] == 10
    assert status["responsive"] == 5  # a, b, c, and the two partial results
    edges = {(e.src_ip, e.dst_ip) for e in reporter.edges}
    assert (a.ip, far.ip) in edges and (closer.ip, a.ip) in edges
    # The slow-loris is cut after one step timeout (1.5 s), not after its 18 s of bytes.
    assert took < 12.0
