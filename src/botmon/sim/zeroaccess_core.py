"""What an emulated ZeroAccess v2 bot answers: bytes in, bytes out, no sockets, no clock.

The model (PROTOCOLS.md §6, botmon's reading where the sources are silent):

- Each bot keeps a list of peers with the time it last heard from each. Its first list was
  heard from at seeded times before the start (up to ``newest_age_s``, skewed towards
  fresh); afterwards a peer is stamped ``now`` whenever it contacts the bot (a getL from an
  outside peer, an exchange ask in memory) or answers the bot's getL.
- A getL's sender is put into the asked bot's list with a fresh timestamp (through the
  shared :class:`~botmon.sim.exchange.PeerExchange`, which also makes it news there), so
  a sensor that keeps asking bots sits at the top of their lists and spreads.
- A retL names 16 peers (fewer only if the list is shorter): the freshest first, with
  their timestamps, never the asker itself. The ordering, caps and restrictions go through
  the botnet's :class:`~botmon.sim.defences.Defences` (``peer_order`` defaults to
  ``recent`` here), whose ``heard`` times are kept equal to the stamps; its ``check`` decides
  who is answered (budgets, blacklists, strangers), as for every emulator.
- Timestamp words: 2015, the record's 18-bit hours since :data:`~zeroaccess_wire.HOURS_EPOCH`
  beside the 14-bit port offset; 2013, Unix seconds (the real word is opaque; any
  increasing clock keeps the order visible).
- Emulated bots remember the port a peer contacted them from, even in the 2013 variant
  whose records carry none: on loopback a sensor cannot share the network's port with the
  emulator's socket. What goes on the wire is exactly what the variant carries.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from botmon.protocols import zeroaccess_wire as wire
from botmon.settings.sim_zeroaccess import ZeroAccessConfig
from botmon.sim.defences import Defences
from botmon.sim.exchange import PeerExchange
from botmon.sim.population import Bot, Population
from botmon.sim.stats import Stats

STAMP_SALT = 0x2A57A3
"""Keeps the initial stamps' draws apart from the churn model's, which share the seed."""
MAX_STAMPS_FACTOR = 4
"""A bot's stamp table is rebuilt from its list when it holds this many times the list."""


def _mix(a: int, b: int, seed: int) -> int:
    """A well-mixed 32-bit value of ``a``, ``b`` and ``seed`` (a few integer operations)."""
    x = (a * 0x9E3779B1 + b * 0x85EBCA77 + seed) & 0xFFFFFFFF
    x = ((x ^ (x >> 16)) * 0x7FEB352D) & 0xFFFFFFFF
    x = ((x ^ (x >> 15)) * 0x846CA68B) & 0xFFFFFFFF
    return x ^ (x >> 16)


class ZaExchange(PeerExchange):
    """The shared peer exchange, telling the core whenever a bot hears from a peer."""

    on_heard: Callable[[int, int, float], None] | None = None

    def _heard_from(self, bot: int, entry: int, now: float) -> None:
        super()._heard_from(bot, entry, now)
        if self.on_heard is not None:
            self.on_heard(bot, entry, now)


class ZeroAccessCore:
    """Decides each bot's answer from its list, its stamps, the time and a seeded generator."""

    def __init__(
        self,
        cfg: ZeroAccessConfig,
        population: Population,
        online: bytearray,
        defences: Defences,
        stats: Stats,
        rng: random.Random,
        exchange: PeerExchange,
        start: float,
    ) -> None:
        self.cfg = cfg
        self.variant = cfg.variant
        self.key = wire.KEYS[cfg.variant]
        self.population = population
        self.bots = population.bots
        self.online = online
        self.defences = defences
        self.stats = stats
        self.rng = rng
        self.exchange = exchange
        self.start = start
        self.seed = (population.seed ^ STAMP_SALT) & 0xFFFFFFFF
        self.by_address = {(bot.ip4, bot.port): bot for bot in self.bots}
        self.stamps: list[dict[int, float] | None] = [None] * len(self.bots)
        self.counters = [0] * len(self.bots)

    # -- stamps ---------------------------------------------------------------------------

    def initial(self, bot: int, entry: int) -> float:
        """When ``bot`` heard from ``entry`` before the start: a seeded time up to
        ``newest_age_s`` back, skewed towards fresh. An integer hash rather than a generator:
        it runs for every entry of every reply (a blake2 draw cost ten times as much)."""
        u = _mix(entry, bot, self.seed) / 4294967296.0
        return self.start - self.cfg.newest_age_s * u * u * u

    def stamp(self, bot: int, entry: int) -> float:
        """When ``bot`` last heard from peer ``entry`` (:meth:`initial` for a peer that has
        not been in touch since the start)."""
        table = self.stamps[bot]
        if table is not None:
            found = table.get(entry)
            if found is not None:
                return found
        return self.initial(bot, entry)

    def heard(self, bot: int, entry: int, now: float) -> None:
        """``bot`` heard from ``entry`` now: fresh stamp, and the defences' ``heard`` too."""
        table = self.stamps[bot]
        if table is None:
            table = self.stamps[bot] = {}
        table[entry] = now
        if len(table) > MAX_STAMPS_FACTOR * max(16, len(self.exchange.lists[bot])):
            keep = set(self.exchange.lists[bot])
            self.stamps[bot] = {e: t for e, t in table.items() if e in keep}
        ip = self.population.entry_texts[entry].rpartition(":")[0]
        self.defences.heard(bot, ip, now)

    # -- what goes on the wire ----------------------------------------------------------------

    def session(self, bot: int) -> int:
        """The bot's random 32-bit ID (2013 getL nonce, 2015 session ID), fixed per run."""
        return _mix(0xFFFFFFF, bot, self.seed ^ 0x5E55)

    def request(self, bot: int) -> bytes:
        """The getL ``bot`` sends to a peer (2015: with its counter of requests sent)."""
        count = self.counters[bot]
        self.counters[bot] = count + 1
        if self.variant == "2013":
            return wire.getl_2013(self.session(bot), key=self.key)
        return wire.getl_2015(self.session(bot), count, key=self.key)

    def retl(self, bot: Bot, asker: int | None, asker_ip: str, opt2: int, now: float) -> bytes:
        """``bot``'s retL to ``asker``: up to 16 peers, freshest first, with their stamps."""
        i = bot.index
        texts = self.population.entry_texts
        prefix = asker_ip + ":"
        entries = [
            e for e in self.exchange.lists[i] if e != asker and not texts[e].startswith(prefix)
        ]
        table = self.stamps[i] or {}
        initial = self.initial
        stamps = {e: table[e] if e in table else initial(i, e) for e in entries}
        if self.cfg.peer_order == "recent":
            entries.sort(key=stamps.__getitem__, reverse=True)
        else:
            self.rng.shuffle(entries)
        chosen = self.defences.choose(i, entries, requester=asker_ip)[: wire.PEERS]
        records: list[tuple[str, int]] = []
        base = wire.port_base(bot.port)
        for e in chosen:
            ip, _, port = texts[e].rpartition(":")
            stamp_s = stamps[e]
            if self.variant == "2013":
                word = int(stamp_s) & 0xFFFFFFFF
            else:
                hours = int((stamp_s - wire.HOURS_EPOCH) // 3600)
                word = wire.peer_word(int(port) - base, hours)
            records.append((ip, word))
        if self.variant == "2013":
            return wire.retl_2013(records, key=self.key)
        return wire.retl_2015(self.session(i), opt2, records, key=self.key)

    # -- what a bot receives ----------------------------------------------------------------

    def handle(
        self, src_ip: str, src_port: int, dst_ip4: bytes, dst_port: int, data: bytes, now: float
    ) -> tuple[Bot | None, bytes | None]:
        """The bot addressed and its answer to the source (None: silence)."""
        stats = self.stats.request(src_ip)
        if not src_ip.startswith("127."):
            self.stats.drop("not_loopback", stats)
            return None, None
        bot = self.by_address.get((dst_ip4, dst_port))
        if bot is None:
            self.stats.drop("unknown_destination", stats)
            return None, None
        try:
            msg = wire.decode(data, self.variant, self.key)
        except wire.WireError:
            self.stats.drop("malformed", stats)
            return bot, None
        if msg.command == "retL":
            if self.on_retl(bot, src_ip, src_port, msg, now):
                self.stats.counters["answers_in"] += 1
            else:
                self.stats.drop("unsolicited", stats)
            return bot, None
        if msg.command != "getL" or msg.opt2 & wire.FILE_LIST_FLAG:
            self.stats.drop("unsupported", stats)
            return bot, None
        i = bot.index
        if not self.online[i]:
            self.stats.drop("offline", stats)
            return bot, None
        if bot.nat:
            self.stats.drop("nat", stats)
            return bot, None
        verdict = self.defences.check(i, src_ip, now)
        if verdict is not None:
            self.stats.drop(verdict, stats)
            return bot, None
        asker = self.exchange.contacted_by(i, src_ip, src_port, now)
        if asker is not None:
            self.heard(i, asker, now)  # the sender goes into the list, freshest
        else:
            self.defences.heard(i, src_ip, now)
        answer = self.retl(bot, asker, src_ip, msg.opt2, now)
        self.stats.answer(stats)
        return bot, answer

    def on_retl(self, bot: Bot, src_ip: str, src_port: int, msg: wire.Message, now: float) -> bool:
        """An outside peer answered ``bot``'s getL: it is heard from, and ``bot`` adds the
        peers it names. False if ``bot`` did not ask it lately."""
        exchange = self.exchange
        src = f"{src_ip}:{src_port}"
        if not exchange.answered(bot.index, src, now):
            return False
        me = exchange.entry_of(src_ip, src_port)
        if me is not None:
            self.heard(bot.index, me, now)
        base = wire.port_base(bot.port)
        for ip, word in msg.peers:
            if ip == "0.0.0.0":
                continue
            if self.variant == "2015":
                port = base + wire.split_word(word)[0]
            else:
                port = src_port if ip == src_ip else self.cfg.port
            exchange.on_answer(bot.index, src, ip, port, now)
        return True
