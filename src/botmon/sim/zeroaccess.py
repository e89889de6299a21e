"""``botmon simulate zeroaccess``: an emulated ZeroAccess v2 botnet on loopback.

One UDP socket per configured port plays every bot on that port (IP_PKTINFO, see
:mod:`botmon.sim.udp`); :mod:`zeroaccess_core` decides what each bot answers. ``--variant``
picks the 2013 ('ftp2') or the 2015 ('1234') wire format. Bots act through the shared peer
exchange: every ``--exchange-interval`` each online bot (NATed ones too) asks a few peers;
asks between emulated bots happen in memory, a getL to a peer outside the botnet (a sensor,
a crawler) is a real datagram from the bot's own address, and the retL that comes back is
read like a bot would (the peers it names join the list). NATed bots never answer. The
truth is the emulators' JSON lines (``contacted``, ``blacklisted`` included). Usage::

    async with ZeroAccessBotnet(ZeroAccessConfig(bots=500, seed_rng=1)) as net:
        seeds = net.seeds(5)
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from botmon.settings.sim_zeroaccess import ZeroAccessConfig
from botmon.sim.runtime import Emulator
from botmon.sim.udp import PortSockets, drain
from botmon.sim.zeroaccess_core import ZaExchange, ZeroAccessCore

PROTOCOL = "zeroaccess"
SETTINGS = ZeroAccessConfig
DESCRIPTION = "ZeroAccess v2 (getL/retL, 16 freshest peers)"
CAPABILITIES = (
    "nat",
    "churn",
    "peer_exchange",
    "anti_monitoring",
    "blacklisting",
    "ignore_unknown",
    "reply_shaping",
)
DEMO = {"bots": 300, "nat": 0.3, "churn": "light"}
"""The demo's ZeroAccess botnet: a few hundred bots of the 2013 network on port 16471."""

RECEIVE_BUFFER_BYTES = 16 * 1024 * 1024
READ_BATCH = 512
"""Datagrams handled per wake-up before yielding to the loop (keeps the tick on time)."""
RECEIVE_BYTES = 8192
"""Above the largest well-formed datagram (4,628 bytes); longer ones fail the CRC anyway."""


class ZeroAccessBotnet(Emulator):
    """The emulated ZeroAccess botnet (settings: :class:`ZeroAccessConfig`)."""

    protocol = "zeroaccess"

    def __init__(self, cfg: ZeroAccessConfig, *, clock: Callable[[], float] = time.time) -> None:
        cfg.validate()
        super().__init__(cfg, clock=clock)
        self.za_cfg = cfg
        # The shared exchange, telling the core whenever a bot hears from a peer (stamps).
        self.exchange = ZaExchange(cfg, self.population, self.churn.online, self.stats, self.seed)
        self.ports = PortSockets(RECEIVE_BUFFER_BYTES)
        self.sockets = self.ports.sockets
        self.core: ZeroAccessCore | None = None

    async def _open(self) -> None:
        cfg = self.za_cfg
        exchange = self.exchange
        assert isinstance(exchange, ZaExchange)
        core = self.core = ZeroAccessCore(
            cfg,
            self.population,
            self.churn.online,
            self.defences,
            self.stats,
            self.rng,
            exchange,
            self.clock(),
        )
        exchange.on_heard = core.heard
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
            bot, answer = core.handle(address[0], address[1], dst, port, data, now)
            if answer is None or bot is None:
                continue
            try:
                sock.sendmsg([answer], self.ports.option(bot.ip4), 0, address)
            except OSError:
                counters["send_errors"] += 1

    def _send(self, contacts: list[tuple[int, int]]) -> None:
        core = self.core
        if core is None:
            return
        cfg, counters, texts = self.za_cfg, self.stats.counters, self.population.entry_texts
        for index, entry in contacts:
            bot = self.bots[index]
            ip, _, port = texts[entry].rpartition(":")
            if not ip.startswith("127."):  # the exchange refuses these already; never send
                counters["exchange/refused_not_loopback"] += 1
                continue
            try:
                self.sockets[bot.port - cfg.port].sendmsg(
                    [core.request(index)], self.ports.option(bot.ip4), 0, (ip, int(port))
                )
            except OSError:
                counters["send_errors"] += 1


def build(cfg: ZeroAccessConfig) -> ZeroAccessBotnet:
    """The emulator for loaded settings (the ``botmon.emulators`` entry point's factory)."""
    return ZeroAccessBotnet(cfg)
