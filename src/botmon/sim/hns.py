"""An emulated Hide'n'Seek botnet on loopback: the asyncio layer around :mod:`hns_core`.

One UDP socket per configured port plays every bot on that port (IP_PKTINFO, see
:mod:`botmon.sim.udp`). The reader drains the socket in bounded batches on each wake-up and
answers from the address each request was sent to. Bots contact peers outside the botnet
(sensors, crawlers) with a ``~`` from their own address through the same socket, and take
the ``^`` answers of the peers they asked (NATed bots too: the answer comes back through
their NAT). Usage::

    async with HnsBotnet(HnsConfig(bots=1000, seed_rng=1)) as net:
        seeds = net.seeds(5)
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from botmon.settings.sim import HnsConfig
from botmon.sim.hns_core import REPLY_BYTES, REPLY_HEAD, REQUEST, HnsCore
from botmon.sim.runtime import Emulator
from botmon.sim.udp import PortSockets, drain

PROTOCOL = "hns"
SETTINGS = HnsConfig
DESCRIPTION = "Hide'n'Seek"
CAPABILITIES = (
    "nat",
    "churn",
    "hostile_modes",
    "anti_monitoring",
    "peer_exchange",
    "blacklisting",
    "ignore_unknown",
    "reply_shaping",
)
DEMO = {"nat": 0.2, "churn": "light"}
"""The demo's Hide'n'Seek botnet: ``botmon demo --bots`` sizes it."""

RECEIVE_BUFFER_BYTES = 64 * 1024 * 1024
"""Asked with SO_RCVBUFFORCE (root) or SO_RCVBUF; bursts of 20k+ requests must not drop."""
READ_BATCH = 512
"""Datagrams handled per wake-up before yielding to the loop (keeps the tick on time)."""
RECEIVE_BYTES = 2048
"""Anything longer than a request is malformed anyway; the rest is cut off by the kernel."""


class HnsBotnet(Emulator):
    """The emulated Hide'n'Seek botnet; see :class:`botmon.settings.HnsConfig`."""

    protocol = "hns"

    def __init__(self, cfg: HnsConfig, *, clock: Callable[[], float] = time.time) -> None:
        cfg.validate()
        super().__init__(cfg, clock=clock)
        self.hns_cfg = cfg
        self.ports = PortSockets(RECEIVE_BUFFER_BYTES)
        self.sockets = self.ports.sockets
        self.core: HnsCore | None = None

    async def _open(self) -> None:
        cfg = self.hns_cfg
        self.core = HnsCore(
            cfg, self.bots, self.churn.online, self.antiabuse, self.stats, self.rng, self.exchange
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
            if data[:1] == REPLY_HEAD[:1] and self._answer_in(dst, port, address, data, now):
                continue
            bot, out = core.handle(address[0], dst, port, data, now, address[1])
            if not out or bot is None:
                continue
            option = self.ports.option(bot.ip4)
            for payload in out:
                try:
                    sock.sendmsg([payload], option, 0, address)
                except (BlockingIOError, InterruptedError):
                    counters["send_errors"] += 1
                    break
                except OSError:
                    counters["send_errors"] += 1
                    break

    def _answer_in(
        self, dst: bytes, port: int, src: tuple[str, int], data: bytes, now: float
    ) -> bool:
        """A ``^`` answer to a bot that asked ``src``: the bot adds the peer it names."""
        core = self.core
        assert core is not None
        bot = core.by_address.get((dst, port))
        if bot is None or len(data) < REPLY_BYTES:
            return False
        ip = socket.inet_ntoa(data[4:8])
        named = int.from_bytes(data[2:4], "big")
        taken = self.exchange.on_answer(bot.index, f"{src[0]}:{src[1]}", ip, named, now)
        if taken:
            self.defences.heard(bot.index, src[0], now)  # a peer it asked answered: no stranger
        return taken

    def _send(self, contacts: list[tuple[int, int]]) -> None:
        cfg, counters, texts = self.hns_cfg, self.stats.counters, self.population.entry_texts
        for index, entry in contacts:
            bot = self.bots[index]
            ip, _, port = texts[entry].rpartition(":")
            if not ip.startswith("127."):  # the exchange refuses these already; never send
                counters["exchange/refused_not_loopback"] += 1
                continue
            option = self.ports.option(bot.ip4)
            try:
                self.sockets[bot.port - cfg.port].sendmsg([REQUEST], option, 0, (ip, int(port)))
            except OSError:
                counters["send_errors"] += 1


def build(cfg: HnsConfig) -> HnsBotnet:
    """The emulator for loaded settings (the ``botmon.emulators`` entry point's factory)."""
    return HnsBotnet(cfg)
