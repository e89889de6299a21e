"""An emulated linenet botnet on loopback: TCP, one listening socket per port for every bot.

Each accepted connection's local address says which bot was called. A bot that is offline,
behind NAT, rate-limiting or blacklisting the caller resets the connection without a byte
(the crawler sees "no reply"); a benign host answers ``HELLO``; a bot answers its peers, or
takes a ``HELLO <port>`` announcement (a sensor's). Bots contact peers outside the botnet
(sensors) with a TCP connection from their own address, NATed bots too, and add the peers
the answer names; outgoing connections are capped like incoming ones.
Connections are capped and every read has a timeout, so a slow or hostile caller cannot
hold the emulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from botmon.settings.sim import LinenetConfig
from botmon.sim.linenet_core import (
    BENIGN_ANSWER,
    MAX_REQUEST_BYTES,
    REQUEST_LINE,
    bot_answer,
    hello_answer,
    hello_port,
    id_distance,
    is_request,
    named_peers,
    request_id,
)
from botmon.sim.population import Bot, new_address
from botmon.sim.runtime import Emulator

PROTOCOL = "linenet"
SETTINGS = LinenetConfig
DESCRIPTION = "linenet test net"
CAPABILITIES = (
    "bot_ids",
    "nat",
    "churn",
    "address_changes",
    "anti_monitoring",
    "peer_exchange",
    "blacklisting",
    "ignore_unknown",
    "reply_shaping",
)
DEMO = {"bots": 300, "nat": 0.1, "ip_change": 0.2}

MAX_CONNECTIONS = 2_000
"""Open connections at once; the rest are reset (the open-file limit is 20,000)."""
MAX_OUTGOING = 256
"""Bots' connections to outside peers open at once; more contacts wait for the next round."""
OUTSIDE_ANSWER_BYTES = 64 * 129
"""The most a linenet answer can be (64 lines of 128 bytes and a newline)."""
CLOSE_TIMEOUT_S = 2.0
_LINGER_RESET = struct.pack("ii", 1, 0)
_MOVE_SALT = 0x1DC4A96E


class LinenetBotnet(Emulator):
    """The emulated linenet botnet; see :class:`botmon.settings.LinenetConfig`."""

    protocol = "linenet"

    def __init__(self, cfg: LinenetConfig, *, clock: Callable[[], float] = time.time) -> None:
        cfg.validate()
        super().__init__(cfg, clock=clock)
        self.linenet_cfg = cfg
        self.servers: list[asyncio.Server] = []
        self.by_address: dict[tuple[str, int], Bot] = {b.address: b for b in self.bots}
        self.benign: set[tuple[str, int]] = set(self.population.benign)
        self._handlers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._outgoing: set[asyncio.Task[None]] = set()
        self.address_history: dict[int, list[list[float | str | None]]] = {}
        """For bots with ``ip_change``: ``[[since, "ip:port"], ...]`` (since = session start)."""
        self._used_ips = {b.ip for b in self.bots} | {ip for ip, _ in self.population.benign}
        self._moves = [0] * len(self.bots)
        self._entry_ids = [b.bot_id for b in self.bots]
        """Bot ID of each entry that is a bot (entries 0 .. bots-1), for ``closest``."""

    async def _open(self) -> None:
        cfg = self.linenet_cfg
        self.address_history = {
            b.index: [[self.churn.start, f"{b.ip}:{b.port}"]] for b in self.bots if b.ip_change
        }
        try:
            for port in range(cfg.port, cfg.port + cfg.ports):
                server = await asyncio.start_server(
                    self._handle,
                    cfg.host,
                    port,
                    limit=MAX_REQUEST_BYTES,
                    backlog=4096,
                    reuse_address=True,
                )
                self.servers.append(server)
        except BaseException:
            await self._close()
            raise

    async def _close(self) -> None:
        for task in list(self._outgoing):
            task.cancel()
        if self._outgoing:
            await asyncio.gather(*self._outgoing, return_exceptions=True)
        for server in self.servers:
            server.close()
        for writer in list(self._writers):
            _reset(writer)
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        for server in self.servers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), CLOSE_TIMEOUT_S)
        self.servers.clear()

    def _on_flips(self, flipped: list[int]) -> None:
        moved = False
        for i in flipped:
            bot = self.bots[i]
            if bot.ip_change and self.churn.online[i]:
                moved = self._move(bot) or moved
        if moved:
            self._truth_stale()

    def _move(self, bot: Bot) -> bool:
        """Give ``bot`` a fresh 127.A.x.y (same A); deterministic from the seed."""
        self._moves[bot.index] += 1
        ip = new_address(
            self.seed ^ _MOVE_SALT, bot.index, self._moves[bot.index], bot.ip, self._used_ips
        )
        if ip is None:
            return False
        del self.by_address[bot.address]
        old = f"{bot.ip}:{bot.port}"
        bot.ip, bot.ip4 = ip, socket.inet_aton(ip)
        self.by_address[bot.address] = bot
        text = f"{ip}:{bot.port}"
        self.population.entry_texts[bot.index] = text
        self.exchange.moved(bot.index, old, text)
        self.defences.addresses_changed()
        since = self.churn.sessions[bot.index][-1][0]
        self.address_history.setdefault(bot.index, []).append([since, text])
        self.stats.counters["ip_changes"] += 1
        return True

    def _truth_extras(self, bot: Bot) -> dict[str, Any]:
        extras = super()._truth_extras(bot)
        if bot.ip_change:
            extras["ip_change"] = True
            extras["addresses"] = self.address_history.get(bot.index, [])
        return extras

    def _refusal(self, src: str, local: tuple[str, int]) -> str | None:
        """Why a connection gets no answer, or None to serve it."""
        if len(self._writers) > MAX_CONNECTIONS:
            return "busy"
        if not src.startswith("127."):
            return "not_loopback"
        bot = self.by_address.get(local)
        if bot is None:
            return None if local in self.benign else "unknown_destination"
        if not self.churn.online[bot.index]:
            return "offline"
        if bot.nat:
            return "nat"
        return self.antiabuse.check(bot.index, src, self.clock())

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self._writers.add(writer)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, TimeoutError, OSError):
            self.stats.counters["send_errors"] += 1
            _reset(writer)
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._handlers.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        sockname = writer.get_extra_info("sockname")
        src = str(peer[0]) if peer else ""
        local = (str(sockname[0]), int(sockname[1])) if sockname else ("", 0)
        stats = self.stats.request(src)
        refusal = self._refusal(src, local)
        if refusal is not None:
            self.stats.drop(refusal, stats)
            _reset(writer)
            return
        try:
            line = await asyncio.wait_for(reader.readline(), self.linenet_cfg.read_timeout_s)
        except (TimeoutError, ValueError, asyncio.IncompleteReadError):
            self.stats.drop("malformed", stats)
            _reset(writer)
            return
        bot = self.by_address.get(local)
        announced = hello_port(line) if bot is not None else None
        if announced is None and not is_request(line):
            self.stats.drop("malformed", stats)
            _reset(writer)
            return
        if bot is None:
            writer.write(BENIGN_ANSWER)
            self.stats.counters["benign"] += 1
        elif announced is not None:
            now = self.clock()
            self.defences.heard(bot.index, src, now)
            self.exchange.contacted_by(bot.index, src, announced, now)
            writer.write(hello_answer(bot))
            self.stats.answer(stats)
        else:
            self.defences.heard(bot.index, src, self.clock())
            writer.write(self._peers_answer(bot, src, request_id(line)))
            self.stats.answer(stats)
        await asyncio.wait_for(writer.drain(), CLOSE_TIMEOUT_S)
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT_S)

    def _peers_answer(self, bot: Bot, src: str, requester_id: int | None) -> bytes:
        """The answer to ``PEERS``: the bot's list, or what its defences let it name."""
        peers, texts = self.exchange.lists[bot.index], self.population.entry_texts
        per_reply = self.linenet_cfg.peers_per_reply
        defences = self.defences
        if not defences.shapes_replies:
            return bot_answer(bot, peers, texts, per_reply, self.rng)
        distance = None if requester_id is None else id_distance(self._entry_ids, requester_id)
        chosen = defences.choose(bot.index, peers, distance, requester=src)[:per_reply]
        return bot_answer(bot, chosen, texts, per_reply, self.rng)

    def _send(self, contacts: list[tuple[int, int]]) -> None:
        texts = self.population.entry_texts
        for index, entry in contacts:
            ip, _, port = texts[entry].rpartition(":")
            if not ip.startswith("127."):  # the exchange refuses these already; never connect
                self.stats.counters["exchange/refused_not_loopback"] += 1
                continue
            if len(self._outgoing) >= MAX_OUTGOING:
                self.stats.counters["exchange/outgoing_busy"] += 1
                continue
            task = asyncio.create_task(self._ask_outside(self.bots[index], ip, int(port)))
            self._outgoing.add(task)
            task.add_done_callback(self._outgoing.discard)

    async def _ask_outside(self, bot: Bot, ip: str, port: int) -> None:
        """``PEERS`` to an outside peer from ``bot``'s address; add the peers it names."""
        timeout = self.linenet_cfg.read_timeout_s
        writer = None
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(ip, port, local_addr=(bot.ip, 0)), timeout
            )
            writer.write(REQUEST_LINE + b"\n")
            answer = await asyncio.wait_for(_read_to_end(reader, OUTSIDE_ANSWER_BYTES), timeout)
        except (OSError, TimeoutError):
            self.stats.counters["exchange/outside_failed"] += 1
            return
        finally:
            if writer is not None:
                writer.close()
        now = self.clock()
        if answer:
            self.defences.heard(bot.index, ip, now)  # the peer it asked answered: no stranger
        named = named_peers(answer)
        if answer.startswith(b"BOT ") and not named:  # a bot (a sensor) that names nobody
            self.exchange.answered(bot.index, f"{ip}:{port}", now)
        for named_ip, named_port in named:
            self.exchange.on_answer(bot.index, f"{ip}:{port}", named_ip, named_port, now)


async def _read_to_end(reader: asyncio.StreamReader, limit: int) -> bytes:
    """Everything up to the peer's close, at most ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await reader.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset: the caller reads no byte, as from a host that is not there."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    writer.transport.abort()


def build(cfg: LinenetConfig) -> LinenetBotnet:
    """The emulator for loaded settings (the ``botmon.emulators`` entry point's factory)."""
    return LinenetBotnet(cfg)
