"""The engine's TCP exchanges with one bot: a one-piece answer, or a framed conversation.

Both are the I/O half only; what the bytes mean stays in the (sans-I/O) plugin. Neither ever
raises: every way a connection can go wrong comes back as an error key or a NO_REPLY result,
so one hostile bot costs a connection slot for a bounded time and nothing else. The runner
checks the scope before calling either (the last guard before a socket).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from botmon.crawl.counters import Counters
from botmon.protocols.contract import Conversation, CrawlResult, Peer, no_reply

T = TypeVar("T")
R = TypeVar("R")

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _connect(peer: Peer, timeout: float, limit: int) -> Streams | str:
    """The connection's streams, or why there is none (the failed try's reason)."""
    try:
        return await asyncio.wait_for(
            asyncio.open_connection(peer.ip, peer.port, limit=limit), timeout
        )
    except TimeoutError:
        return "connect_timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "connect_error"


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 1.0)


async def exchange(
    peer: Peer, request: bytes, connect_timeout: float, read_timeout: float, cap: int
) -> tuple[bytes | None, str | None]:
    """One-piece answer: connect, send, read until the bot closes (at most ``cap + 1`` bytes)."""
    streams = await _connect(peer, connect_timeout, cap + 1)
    if isinstance(streams, str):
        return None, streams
    reader, writer = streams
    buf = bytearray()
    error: str | None = None
    try:
        writer.write(request)
        loop = asyncio.get_running_loop()
        end = loop.time() + read_timeout
        while len(buf) <= cap:
            left = end - loop.time()
            if left <= 0:
                raise TimeoutError
            chunk = await asyncio.wait_for(reader.read(cap + 1 - len(buf)), left)
            if not chunk:
                break
            buf += chunk
    except TimeoutError:
        error = None if buf else "read_timeout"  # a complete answer may just lack the close
    except (ConnectionError, OSError, RuntimeError):
        # uvloop raises RuntimeError("... handler is closed") when the peer resets at once.
        error = None if buf else "reset"
    finally:
        await _close(writer)
    if error is not None:
        return None, error
    return bytes(buf), None


class _Ended(Exception):
    """The conversation stopped early for ``reason`` (a timeout, a close, a cap, bad bytes)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _PluginFailed(Exception):
    """A Conversation method raised: counted as a plugin error, the exchange is NO_REPLY."""


STREAM_ERRORS = frozenset({"step_timeout", "closed", "reset"})
"""Early ends that say nothing about the bytes (counted as stream errors, like a read timeout
of a one-piece answer); the other reasons are NO_REPLY results (counted as malformed)."""


class Converser:
    """Runs :class:`~botmon.protocols.contract.Conversation` objects on real connections.

    One per runner: it holds the limits (``DEFAULTS.step_timeout`` per step,
    ``max_messages`` messages from the bot, ``cap`` bytes per message) and counts plugin
    errors. :meth:`run` returns what :meth:`CrawlCore.on_stream` takes: a result, or an error.
    """

    def __init__(
        self,
        *,
        connect_timeout: float,
        step_timeout: float,
        max_messages: int,
        cap: int,
        counters: Counters,
        clock: Callable[[], float],
    ) -> None:
        self.connect_timeout = connect_timeout
        self.step_timeout = step_timeout
        self.max_messages = max_messages
        self.cap = cap
        self.counters = counters
        self.clock = clock

    async def run(self, peer: Peer, conv: Conversation) -> tuple[CrawlResult | None, str | None]:
        """Talk to ``peer`` until ``conv`` returns its result or the conversation ends early."""
        streams = await _connect(peer, self.connect_timeout, self.cap + 1)
        if isinstance(streams, str):
            return None, streams
        reader, writer = streams
        try:
            return await self._talk(conv, reader, writer), None
        except _PluginFailed:
            self.counters["plugin_errors"] += 1
            return no_reply("plugin_error"), None
        except _Ended as end:
            return self._early(conv, end.reason)
        finally:
            await _close(writer)

    def _early(self, conv: Conversation, reason: str) -> tuple[CrawlResult | None, str | None]:
        try:
            res = conv.partial(reason, self.clock())
        except Exception:  # plugins promise not to raise; if one does, the crawl goes on
            self.counters["plugin_errors"] += 1
            return no_reply("plugin_error"), None
        if res is not None:
            return res, None
        return (None, reason) if reason in STREAM_ERRORS else (no_reply(reason), None)

    async def _talk(
        self, conv: Conversation, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> CrawlResult:
        buf = bytearray()
        out: bytes | CrawlResult = _call(conv.opening)
        loop = asyncio.get_running_loop()
        for _ in range(self.max_messages):
            if type(out) is not bytes:
                raise _PluginFailed  # opening() or receive() gave something unsendable
            end = loop.time() + self.step_timeout
            if out:
                try:
                    writer.write(out)
                except (ConnectionError, OSError, RuntimeError):
                    raise _Ended("reset") from None
                await _within(writer.drain(), end - loop.time())
            message = await self._next_message(conv, reader, buf, end)
            out = _call(conv.receive, message, self.clock())
            if isinstance(out, CrawlResult):
                return out
        raise _Ended("too_many_messages")

    async def _next_message(
        self, conv: Conversation, reader: asyncio.StreamReader, buf: bytearray, end: float
    ) -> bytes:
        """Read until ``conv.frame`` sees a whole message at the start of ``buf``; cut it off."""
        cap = self.cap
        loop = asyncio.get_running_loop()
        while True:
            n = _call(conv.frame, bytes(buf)) if buf else 0
            if n < 0:
                raise _Ended("malformed")
            if n > cap or (n == 0 and len(buf) > cap):
                raise _Ended("oversized")
            if 0 < n <= len(buf):
                message = bytes(buf[:n])
                del buf[:n]
                return message
            chunk = await _within(reader.read(cap + 1 - len(buf)), end - loop.time())
            if not chunk:
                raise _Ended("closed")
            buf += chunk


async def _within(aw: Awaitable[T], left: float) -> T:
    """``aw`` within what is left of this step; a step out of time or a broken connection
    ends the conversation."""
    try:
        return await asyncio.wait_for(aw, max(0.0, left))
    except TimeoutError:
        raise _Ended("step_timeout") from None
    except (ConnectionError, OSError, RuntimeError):
        # uvloop raises RuntimeError("... handler is closed") when the peer resets at once.
        raise _Ended("reset") from None


def _call(fn: Callable[..., R], *args: object) -> R:
    try:
        return fn(*args)
    except Exception as exc:  # plugins promise not to raise; if one does, the crawl goes on
        raise _PluginFailed from exc
