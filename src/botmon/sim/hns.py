"""An emulated Hide'n'Seek botnet on loopback: the asyncio layer around :mod:`hns_core`.

One UDP socket per configured port plays every bot on that port (IP_PKTINFO, see
:mod:`botmon.sim.udp`). The reader drains the socket in bounded batches on each wake-up and
answers from the address each request was sent to. Usage::

    async with HnsBotnet(HnsConfig(bots=1000, seed_rng=1)) as net:
        seeds = net.seeds(5)
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

from botmon.settings.sim import HnsConfig
from botmon.sim.hns_core import HnsCore
from botmon.sim.runtime import Emulator
from botmon.sim.udp import ANC_BUFSIZE, destination_of, open_socket, source_option

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
        self.sockets: list[socket.socket] = []
        self.core: HnsCore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._options: dict[bytes, list[tuple[int, int, bytes]]] = {}

    async def _open(self) -> None:
        cfg = self.hns_cfg
        self._loop = asyncio.get_running_loop()
        self.core = HnsCore(cfg, self.bots, self.churn.online, self.antiabuse, self.stats, self.rng)
        try:
            for port in range(cfg.port, cfg.port + cfg.ports):
                sock = open_socket(cfg.host, port, RECEIVE_BUFFER_BYTES)
                self.sockets.append(sock)
                self._loop.add_reader(sock.fileno(), self._on_readable, sock, port)
        except BaseException:
            await self._close()
            raise

    async def _close(self) -> None:
        for sock in self.sockets:
            if self._loop is not None and sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self.sockets.clear()

    def _on_readable(self, sock: socket.socket, port: int) -> None:
        core = self.core
        assert core is not None
        counters = self.stats.counters
        options = self._options
        now = self.clock()
        for _ in range(READ_BATCH):
            try:
                data, ancdata, _flags, address = sock.recvmsg(RECEIVE_BYTES, ANC_BUFSIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                counters["receive_errors"] += 1
                return
            dst = destination_of(ancdata)
            if dst is None:
                counters["requests"] += 1
                counters["dropped/no_destination"] += 1
                continue
            bot, out = core.handle(address[0], dst, port, data, now)
            if not out or bot is None:
                continue
            option = options.get(bot.ip4)
            if option is None:
                option = options[bot.ip4] = source_option(bot.ip4)
            for payload in out:
                try:
                    sock.sendmsg([payload], option, 0, address)
                except (BlockingIOError, InterruptedError):
                    counters["send_errors"] += 1
                    break
                except OSError:
                    counters["send_errors"] += 1
                    break
