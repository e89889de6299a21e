"""An emulated gossipnet botnet on loopback, built on botmon's emulator runtime.

One UDP socket per port plays every bot (botmon's IP_PKTINFO helpers); bots have IDs, may be
behind NAT, go through botmon's churn model and take part in botmon's peer exchange, so a
gossipnet sensor announced to a few bots is contacted by most of them.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Annotated, ClassVar

from botmon.settings.loader import setting
from botmon.settings.sim import CommonConfig, PopulationTraits
from botmon.sim.runtime import Emulator
from botmon.sim.udp import ANC_BUFSIZE, destination_of, open_socket, source_option
from gossipnet import protocol

PROTOCOL = "gossipnet"
DESCRIPTION = "gossipnet"
CAPABILITIES = ("bot_ids", "nat", "churn", "peer_exchange")
DEMO = {"bots": 200}
READ_BATCH = 256


class GossipnetConfig(CommonConfig, frozen=True, kw_only=True):
    """The emulated gossipnet botnet."""

    section: ClassVar[str] = "sim.gossipnet"

    port: Annotated[int, setting("First port bots listen on.", option="--port", ge=1, le=65535)] = (
        protocol.DEFAULTS.port
    )

    def traits(self) -> PopulationTraits:
        """gossipnet bots have IDs."""
        return PopulationTraits(bot_ids=True)


SETTINGS = GossipnetConfig


class GossipnetBotnet(Emulator):
    """Answers ``GQ`` with eight peers, takes ``GH`` hellos, contacts outside peers."""

    protocol = PROTOCOL

    def __init__(self, cfg: GossipnetConfig) -> None:
        cfg.validate()
        super().__init__(cfg)
        self.sockets: list[socket.socket] = []
        self.by_address = {(bot.ip4, bot.port): bot for bot in self.bots}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        for port in range(self.cfg.port, self.cfg.port + self.cfg.ports):
            sock = open_socket(self.cfg.host, port, 8 * 1024 * 1024)
            self.sockets.append(sock)
            self._loop.add_reader(sock.fileno(), self._readable, sock, port)

    async def _close(self) -> None:
        for sock in self.sockets:
            if self._loop is not None and sock.fileno() >= 0:
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self.sockets.clear()

    def _readable(self, sock: socket.socket, port: int) -> None:
        for _ in range(READ_BATCH):
            try:
                data, anc, _flags, src = sock.recvmsg(2048, ANC_BUFSIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            dst = destination_of(anc)
            bot = self.by_address.get((dst, port)) if dst is not None else None
            if bot is None or not src[0].startswith("127."):
                continue
            answer = self._handle(bot.index, data, src)
            if answer is not None:
                try:
                    sock.sendmsg([answer], source_option(bot.ip4), 0, src)
                except OSError:
                    self.stats.counters["send_errors"] += 1

    def _handle(self, index: int, data: bytes, src: tuple[str, int]) -> bytes | None:
        bot, now, stats = self.bots[index], self.clock(), self.stats.request(src[0])
        text = f"{src[0]}:{src[1]}"
        if data[:2] == b"GR":  # an outside peer answering this bot's contact
            named = protocol.read_reply(data, protocol.Peer(*src), now, _NO_CONTEXT)
            self.exchange.answered(index, text, now)
            for peer in named.peers:
                self.exchange.on_answer(index, text, peer.ip, peer.port, now)
            return None
        if not self.churn.online[index] or bot.nat:
            self.stats.drop("offline" if not bot.nat else "nat", stats)
            return None
        if len(data) == 4 and data[:2] == b"GH":  # a hello: the sender listens on this port
            self.exchange.contacted_by(index, src[0], int.from_bytes(data[2:4], "big"), now)
            return protocol.encode_answer(0, bytes.fromhex(bot.bot_id or "00" * 8), [])
        if len(data) != 12 or data[:2] != b"GQ":
            self.stats.drop("malformed", stats)
            return None
        self.exchange.contacted_by(index, src[0], src[1], now)
        texts = self.population.entry_texts
        entries = {self.exchange.answer_for(index, None, now) for _ in range(protocol.MAX_ENTRIES)}
        peers = []
        for entry in entries - {None}:
            ip, _, port = texts[entry].rpartition(":")  # type: ignore[index]
            if text != f"{ip}:{port}":
                peers.append((ip, int(port)))
        self.stats.answer(stats)
        txid = int.from_bytes(data[2:4], "big")
        return protocol.encode_answer(txid, bytes.fromhex(bot.bot_id or "00" * 8), peers)

    def _send(self, contacts: list[tuple[int, int]]) -> None:
        texts = self.population.entry_texts
        for index, entry in contacts:
            bot = self.bots[index]
            ip, _, port = texts[entry].rpartition(":")
            if not ip.startswith("127."):
                continue
            request = b"GQ\x00\x01" + bytes.fromhex(bot.bot_id or "00" * 8)
            try:
                self.sockets[bot.port - self.cfg.port].sendmsg(
                    [request], source_option(bot.ip4), 0, (ip, int(port))
                )
            except OSError:
                self.stats.counters["send_errors"] += 1


_NO_CONTEXT = protocol.RequestContext()


def build(cfg: GossipnetConfig) -> GossipnetBotnet:
    """The running emulator for loaded settings."""
    return GossipnetBotnet(cfg)
