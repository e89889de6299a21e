"""What an emulated Hide'n'Seek bot answers: bytes in, bytes out, no sockets, no clock.

Wire format (PROTOCOLS.md §4, botmon's 8-byte reading): a request is the single byte ``~``;
a reply is ``^``, one byte not interpreted (0 here), the peer's port (2 bytes) and IPv4
address (4 bytes), big-endian. One random peer from the bot's list per request.

Hostile roles (by bot): ``garbage`` answers bytes that are not a reply (random bytes not
starting with ``^``, or a ``^`` reply cut short); ``oversized`` pads a valid reply to
``oversized_bytes``; ``flood`` answers each request with ``flood_count`` valid replies
(capped per bot by ``flood_total_max``); ``out_of_scope`` answers normally from a list that
also holds TEST-NET addresses.

When bots act (:mod:`botmon.sim.exchange`), an asked bot adds the asker to its list and names
its oldest valid news first; otherwise one random peer of its list, as before. When the botnet
fights back (:mod:`botmon.sim.defences`), its defences decide who is answered and which peers
a reply may name.
"""

from __future__ import annotations

import random

from botmon.settings.sim import HnsConfig
from botmon.sim.defences import Defences
from botmon.sim.exchange import PeerExchange
from botmon.sim.population import ENTRY_BYTES, Bot
from botmon.sim.stats import Stats

REQUEST = b"~"
REPLY_HEAD = b"^\x00"
REPLY_BYTES = 8
_NOT_MARKER = [b for b in range(256) if b != REPLY_HEAD[0]]


class HnsCore:
    """Decides each bot's answer from its state, the time and a seeded generator."""

    def __init__(
        self,
        cfg: HnsConfig,
        bots: list[Bot],
        online: bytearray,
        antiabuse: Defences,
        stats: Stats,
        rng: random.Random,
        exchange: PeerExchange | None = None,
    ) -> None:
        self.cfg = cfg
        self.bots = bots
        self.online = online
        self.antiabuse = antiabuse
        self.stats = stats
        self.rng = rng
        self.exchange = exchange if exchange is not None and exchange.active else None
        self.by_address = {(bot.ip4, bot.port): bot for bot in bots}
        self._pad = rng.randbytes(cfg.oversized_bytes)
        self._flood_sent = [0] * len(bots) if cfg.flood > 0 else []

    def random_reply(self, bot: Bot) -> bytes | None:
        """One valid reply with a random peer of ``bot``, or None for an empty list."""
        count = len(bot.peers) // ENTRY_BYTES
        if count == 0:
            return None
        pos = self.rng.randrange(count) * ENTRY_BYTES
        return REPLY_HEAD + bot.peers[pos : pos + ENTRY_BYTES]

    def handle(
        self,
        src_ip: str,
        dst_ip4: bytes,
        dst_port: int,
        data: bytes,
        now: float,
        src_port: int = 0,
    ) -> tuple[Bot | None, list[bytes]]:
        """The bot called and the datagrams it sends back to the source (maybe none)."""
        stats = self.stats.request(src_ip)
        if not src_ip.startswith("127."):
            self.stats.drop("not_loopback", stats)
            return None, []
        bot = self.by_address.get((dst_ip4, dst_port))
        if bot is None:
            self.stats.drop("unknown_destination", stats)
            return None, []
        if data != REQUEST:
            self.stats.drop("malformed", stats)
            return bot, []
        if not self.online[bot.index]:
            self.stats.drop("offline", stats)
            return bot, []
        if bot.nat:
            self.stats.drop("nat", stats)
            return bot, []
        verdict = self.antiabuse.check(bot.index, src_ip, now)
        if verdict is not None:
            self.stats.drop(verdict, stats)
            return bot, []
        defences = self.antiabuse
        defences.heard(bot.index, src_ip, now)
        exchange = self.exchange
        if defences.shapes_replies:
            # The bot's defences pick what it may name (every peer it ever listed, ordered,
            # capped, restricted); a reply names one of them.
            chosen = defences.choose(bot.index, bot.peer_index, requester=src_ip)
            entries = defences.population.entry_bytes
            reply = REPLY_HEAD + entries[self.rng.choice(chosen)] if chosen else None
        elif exchange is None:
            reply = self.random_reply(bot)
        else:
            asker = exchange.contacted_by(bot.index, src_ip, src_port, now)
            entry = exchange.answer_for(bot.index, asker, now)
            reply = None if entry is None else REPLY_HEAD + exchange.population.entry_bytes[entry]
        out = self._answer(bot, reply)
        if not out:
            self.stats.drop("empty_peer_list", stats)
            return bot, []
        self.stats.answer(stats, len(out))
        return bot, out

    def _answer(self, bot: Bot, reply: bytes | None) -> list[bytes]:
        mode = bot.mode
        if reply is None:
            return []
        if mode == "normal" or mode == "out_of_scope":
            if mode == "out_of_scope":
                self.stats.counters["hostile/out_of_scope"] += 1
            return [reply]
        self.stats.counters[f"hostile/{mode}"] += 1
        if mode == "garbage":
            return [self._garbage()]
        if mode == "oversized":
            return [reply + self._pad[: self.cfg.oversized_bytes - REPLY_BYTES]]
        # flood: the asked-for reply plus unsolicited ones, bounded per request and per bot.
        room = self.cfg.flood_total_max - self._flood_sent[bot.index]
        extra = max(0, min(self.cfg.flood_count - 1, room))
        self._flood_sent[bot.index] += extra
        self.stats.counters["hostile/flood_datagrams"] += extra
        return [reply] + [self.random_reply(bot) or reply for _ in range(extra)]

    def _garbage(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.5:
            # A reply cut short: right marker, too few bytes.
            return REPLY_HEAD[:1] + rng.randbytes(rng.randint(0, REPLY_BYTES - 2))
        first = rng.choice(_NOT_MARKER)
        return bytes([first]) + rng.randbytes(rng.randint(0, 63))
