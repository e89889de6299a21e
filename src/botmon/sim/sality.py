"""An emulated Sality v3 botnet on loopback: the asyncio layer around :mod:`sality_core`.

One UDP socket per configured port plays every bot on that port (IP_PKTINFO, see
:mod:`botmon.sim.udp`), answering from the address each request was sent to, as the
Hide'n'Seek emulator does. The population is the shared one, made Sality's: NATed bots are
clients (server IDs below 16,000,000), the others superpeers (16,000,000-20,000,000), every
list holds superpeers only, and each bot's ``bot_id`` is its server ID as decimal text.
Usage::

    async with SalityBotnet(SalityConfig(bots=1000, nat=0.3, seed_rng=1)) as net:
        seeds = net.seeds(5)
"""

from __future__ import annotations

import array
import random
import socket
import time
from collections.abc import Callable
from typing import Any

from botmon.protocols import sality_wire as wire
from botmon.settings.sim_sality import SalityConfig
from botmon.sim.population import Bot
from botmon.sim.runtime import Emulator
from botmon.sim.sality_core import SalityCore, SalityExchange
from botmon.sim.udp import PortSockets, drain

PROTOCOL = "sality"
SETTINGS = SalityConfig
DESCRIPTION = "Sality v3"
CAPABILITIES = (
    "bot_ids",
    "nat",
    "churn",
    "anti_monitoring",
    "peer_exchange",
    "blacklisting",
    "ignore_unknown",
    "reply_shaping",
)
DEMO = {"bots": 400, "nat": 0.5, "churn": "light", "push_pack_at_s": 120.0}
"""The demo's Sality botnet, kept light (each bot is asked many times per round): half
clients behind NAT, a new URL pack after two minutes."""

RECEIVE_BUFFER_BYTES = 64 * 1024 * 1024
"""Asked with SO_RCVBUFFORCE (root) or SO_RCVBUF; crawl bursts must not drop."""
READ_BATCH = 512
"""Datagrams handled per wake-up before yielding to the loop (keeps the tick on time)."""
RECEIVE_BYTES = wire.MAX_PACKET + 1
"""One byte over the largest packet, so an oversized one is seen as such."""


def _server_ids(bots: list[Bot], rng: random.Random) -> array.array[int]:
    """Distinct IDs: superpeers in 16,000,000-20,000,000, NATed clients in 2-15,999,999."""
    supers = [b.index for b in bots if not b.nat]
    clients = [b.index for b in bots if b.nat]
    ids = array.array("I", bytes(4 * len(bots)))
    superpeer_ids = rng.sample(range(wire.SUPERPEER_MIN, wire.SUPERPEER_MAX + 1), len(supers))
    for i, value in zip(supers, superpeer_ids, strict=True):
        ids[i] = value
    for i, value in zip(
        clients, rng.sample(range(2, wire.SUPERPEER_MIN), len(clients)), strict=True
    ):
        ids[i] = value
    return ids


def _superpeer_lists(bots: list[Bot], entry_bytes: list[bytes], rng: random.Random) -> None:
    """Replace every client in a list by a superpeer it lacks (lists keep their size)."""
    supers = [b.index for b in bots if not b.nat]
    for bot in bots:
        keep = [e for e in bot.peer_index if e >= len(bots) or not bots[e].nat]
        want = min(len(bot.peer_index), len(supers) - (0 if bot.nat else 1))
        have = set(keep)
        for _ in range(50 * max(1, want)):
            if len(keep) >= want:
                break
            pick = supers[rng.randrange(len(supers))]
            if pick != bot.index and pick not in have:
                have.add(pick)
                keep.append(pick)
        bot.peer_index = array.array("I", keep)
        bot.peers = b"".join(entry_bytes[e] for e in keep)


class SalityBotnet(Emulator):
    """The emulated Sality v3 botnet; see :class:`botmon.settings.sim_sality.SalityConfig`."""

    protocol = "sality"

    def __init__(self, cfg: SalityConfig, *, clock: Callable[[], float] = time.time) -> None:
        cfg.validate()
        super().__init__(cfg, clock=clock)
        self.sality_cfg = cfg
        rng = random.Random(self.seed ^ 0x5A11)
        bots = self.population.bots
        self.server_ids = _server_ids(bots, rng)
        for bot in bots:
            bot.bot_id = str(self.server_ids[bot.index])
        _superpeer_lists(bots, self.population.entry_bytes, rng)
        self.packs = array.array("I", [cfg.url_pack] * len(bots))
        first = self.population.seed_order[: cfg.push_pack_bots]
        # The exchange copies the lists when built: build it again on the Sality lists.
        self.exchange = SalityExchange(
            cfg, self.population, self.churn.online, self.stats, self.seed, self.packs, first
        )
        self.ports = PortSockets(RECEIVE_BUFFER_BYTES)
        self.sockets = self.ports.sockets
        self.core: SalityCore | None = None

    def _truth_extras(self, bot: Bot) -> dict[str, Any]:
        """Outside peers contacted, the URL-pack version the bot holds, its blacklistings."""
        extras: dict[str, Any] = {
            "contacted": dict(self.exchange.contacted[bot.index] or {}),
            "url_pack": self.packs[bot.index],
        }
        return self._defence_extras(bot, extras)

    def pack_versions(self) -> dict[int, int]:
        """How many bots hold each URL-pack version now."""
        out: dict[int, int] = {}
        for version in self.packs:
            out[version] = out.get(version, 0) + 1
        return out

    async def _open(self) -> None:
        cfg = self.sality_cfg
        self.core = SalityCore(
            cfg,
            self.population,
            self.server_ids,
            self.packs,
            self.churn.online,
            self.defences,
            self.stats,
            self.rng,
            self.exchange,
        )
        self.ports.open(cfg.host, cfg.port, cfg.ports, self._on_readable)

    async def _close(self) -> None:
        self.ports.close()

    def _on_readable(self, sock: socket.socket, port: int) -> None:
        core = self.core
        assert core is not None
        counters = self.stats.counters
        now = self.clock()
        for data, dst, address in drain(sock, READ_BATCH, RECEIVE_BYTES, counters):
            if dst is None:
                counters["requests"] += 1
                counters["dropped/no_destination"] += 1
                continue
            bot, out = core.handle(address[0], dst, port, data, now, address[1])
            if not out or bot is None:
                continue
            option = self.ports.option(bot.ip4)
            for payload in out:
                try:
                    sock.sendmsg([payload], option, 0, address)
                except OSError:
                    counters["send_errors"] += 1
                    break

    def _send(self, contacts: list[tuple[int, int]]) -> None:
        """Each contact is a hello from the bot (its server ID and pack version)."""
        cfg, counters, texts = self.sality_cfg, self.stats.counters, self.population.entry_texts
        core = self.core
        if core is None:
            return
        for index, entry in contacts:
            bot = self.bots[index]
            ip, _, port = texts[entry].rpartition(":")
            if not ip.startswith("127."):  # the exchange refuses these already; never send
                counters["exchange/refused_not_loopback"] += 1
                continue
            try:
                self.sockets[bot.port - cfg.port].sendmsg(
                    [core.hello(bot)], self.ports.option(bot.ip4), 0, (ip, int(port))
                )
            except OSError:
                counters["send_errors"] += 1


def build(cfg: SalityConfig) -> SalityBotnet:
    """The emulator for loaded settings (the ``botmon.emulators`` entry point's factory)."""
    return SalityBotnet(cfg)
