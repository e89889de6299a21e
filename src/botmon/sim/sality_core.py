"""What an emulated Sality v3 bot answers, and how URL packs spread: bytes in, bytes out.

The model (PROTOCOLS.md §5.3):

- **Superpeers** (publicly reachable, server IDs 16,000,000-20,000,000) answer; **clients**
  (behind NAT, IDs below 16,000,000) never do, but they exchange with superpeers, so a sensor
  they learn of hears from them. Lists hold superpeers only, and a peer-exchange reply names
  **one** superpeer of the bot's list (or an outside peer that announced a superpeer ID):
  a client is never named.
- **Commands**: a server test is answered with the tester's ID (a bot cannot check that the
  tester is reachable); a peer exchange with one peer; a hello with ``OK``, or with the bot's
  URL pack pushed back when the hello carries an older version. Packs pushed by outside peers
  are ignored (a real bot checks the RSA signature, which nobody outside can forge).
- **URL packs**: every bot holds a version; in each exchange (the 40-minute cycle, scaled to
  ``exchange_interval_s``) two bots that talk end up with the newer one. A new version
  appears at ``push_pack_bots`` superpeers ``push_pack_at_s`` after the start.
- **Peer exchange between bots, news and contacts to outside peers** are the shared model of
  :mod:`botmon.sim.exchange`; a bot contacts an outside peer with a hello.
- **Defences** (:mod:`botmon.sim.defences`) decide who is answered and, when they shape
  replies, which peers a reply may name (``closest``: by |server ID - requester's ID|).
"""

from __future__ import annotations

import array
import random
import socket

from botmon.protocols import sality_wire as wire
from botmon.settings.sim_sality import SalityConfig
from botmon.sim.defences import Defences
from botmon.sim.exchange import PeerExchange
from botmon.sim.population import Bot, Population
from botmon.sim.stats import Stats

MAX_OUTSIDE_IDS = 4096
"""Outside peers (sensors, crawlers) whose announced server ID is remembered."""
DECODED_CACHE = 4096
"""Distinct requests kept decoded: a crawler sends every bot the same bytes."""
REPLY_CACHE = 1 << 18
"""Peer-exchange replies kept encoded, by (bot, entry, pack version): a bot names each of its
peers many times. ~100 bytes each; the cache starts over when full."""


class SalityExchange(PeerExchange):
    """The shared exchange model, plus URL-pack versions that two talking bots agree on."""

    def __init__(
        self,
        cfg: SalityConfig,
        population: Population,
        online: bytearray,
        stats: Stats,
        seed: int,
        packs: array.array[int],
        first_holders: list[int],
    ) -> None:
        super().__init__(cfg, population, online, stats, seed)
        self.packs = packs
        self.push_at = cfg.push_pack_at_s
        self.new_version = cfg.url_pack + 1
        self.first_holders = first_holders
        self.started = 0.0
        self.pushed = False

    def start(self, now: float, online: bytearray) -> None:
        """Begin the first interval at ``now`` (the new pack's clock starts too)."""
        super().start(now, online)
        self.started = now

    def tick(self, now: float) -> list[tuple[int, int]]:
        """Release the new URL pack when due, then run the exchanges due."""
        if not self.pushed and self.push_at is not None and now >= self.started + self.push_at:
            self.pushed = True
            for i in self.first_holders:
                self.packs[i] = self.new_version
                self.touched.add(i)
            self.counters["sality/pack_released"] += 1
        return super().tick(now)

    def _ask(self, asker: int, bot: int, now: float, verify: bool) -> None:
        super()._ask(asker, bot, now, verify)
        if not self.online[bot] or self.nat[bot]:
            return
        packs = self.packs
        if packs[asker] != packs[bot]:
            newer = max(packs[asker], packs[bot])
            older = asker if packs[asker] < newer else bot
            packs[older] = newer
            self.touched.add(older)
            self.counters["sality/pack_pushes"] += 1


class SalityCore:
    """Decides each bot's answer from its state, the time and a seeded generator."""

    def __init__(
        self,
        cfg: SalityConfig,
        population: Population,
        server_ids: array.array[int],
        packs: array.array[int],
        online: bytearray,
        defences: Defences,
        stats: Stats,
        rng: random.Random,
        exchange: PeerExchange | None = None,
    ) -> None:
        self.cfg = cfg
        self.population = population
        self.bots = population.bots
        self.n = len(self.bots)
        self.server_ids = server_ids
        self.packs = packs
        self.online = online
        self.defences = defences
        self.stats = stats
        self.rng = rng
        self.exchange = exchange if exchange is not None and exchange.active else None
        self.by_address = {(bot.ip4, bot.port): bot for bot in self.bots}
        self.outside_ids: dict[int, int] = {}
        """Outside entry -> the server ID it announced (a sensor's superpeer ID)."""
        self._fields: dict[int, bytes] = {}
        self._pack_cache: dict[int, bytes] = {}
        self._decoded: dict[bytes, tuple[wire.Packet, wire.Hello | None] | None] = {}
        self._replies: dict[tuple[int, int, int], bytes] = {}

    # -- what a reply may name ------------------------------------------------------------

    def server_id_of(self, entry: int) -> int | None:
        """The server ID of a list entry: a bot's own, or what an outside peer announced."""
        if entry < self.n:
            return self.server_ids[entry]
        return self.outside_ids.get(entry)

    def nameable(self, entry: int) -> bool:
        """Only superpeers are handed out: bots not behind NAT, outside superpeer IDs."""
        if entry < self.n:
            return not self.bots[entry].nat
        sid = self.outside_ids.get(entry)
        return sid is not None and wire.SUPERPEER_MIN <= sid <= wire.SUPERPEER_MAX

    def list_of(self, bot: Bot) -> array.array[int]:
        """The bot's list of the moment (the exchange's when bots act)."""
        if self.exchange is not None:
            return self.exchange.lists[bot.index]
        return bot.peer_index

    def _fields_of(self, entry: int) -> bytes | None:
        fields = self._fields.get(entry)
        if fields is None:
            sid = self.server_id_of(entry)
            if sid is None:
                return None
            ip, _, port = self.population.entry_texts[entry].rpartition(":")
            fields = wire.pack_peer(socket.inet_aton(ip), int(port), sid)
            if entry < self.n:  # bots never change address here; outside peers may re-announce
                self._fields[entry] = fields
        return fields

    def _random_nameable(self, peers: array.array[int], asker: int | None) -> int | None:
        if not peers:
            return None
        randrange = self.rng.randrange
        for _ in range(8):
            entry = peers[randrange(len(peers))]
            if entry != asker and self.nameable(entry):
                return entry
        usable = [e for e in peers if e != asker and self.nameable(e)]
        return self.rng.choice(usable) if usable else None

    def choose(
        self, bot: Bot, asker: int | None, sender: int, now: float, requester: str | None = None
    ) -> int | None:
        """The one peer a peer-exchange reply of ``bot`` names (None: an empty reply);
        ``requester`` (the asker's IP) keeps a random restriction the same per asker."""
        defences, exchange = self.defences, self.exchange
        peers = self.list_of(bot)
        if defences.shapes_replies:
            candidates = [e for e in peers if e != asker and self.nameable(e)]

            def distance(entry: int) -> int:
                return abs((self.server_id_of(entry) or 0) - sender)

            chosen = defences.choose(bot.index, candidates, distance, requester)
            return self.rng.choice(chosen) if chosen else None
        if exchange is not None and asker is not None:
            # News goes to outside peers the bot lists (they announced a superpeer ID); a
            # client-ID stranger (a crawler) gets a random superpeer and uses up no news, as
            # bots' own exchanges run in memory and would otherwise lose it to a fast asker.
            entry = exchange.answer_for(bot.index, asker, now)
            if entry is not None and self.nameable(entry):
                return entry
        return self._random_nameable(peers, asker)

    # -- answering ------------------------------------------------------------------------

    def padding(self, bot: Bot) -> int:
        """Each bot pads its packets by its own amount (3..32 bytes)."""
        return wire.MIN_PADDING + bot.index % (wire.MAX_PADDING - wire.MIN_PADDING + 1)

    def pack_payload(self, version: int) -> bytes:
        """``OK`` + mark + the URL pack of ``version`` (the same bytes for every bot)."""
        payload = self._pack_cache.get(version)
        if payload is None:
            pack = wire.UrlPack(
                version=version,
                urls=(f"http://{version}.sality.invalid/logo.gif",),
                signature=random.Random(version).randbytes(wire.SIGNATURE_BYTES),
            )
            payload = self._pack_cache[version] = wire.hello_push(pack)
        return payload

    def hello(self, bot: Bot) -> bytes:
        """The hello ``bot`` sends an outside peer it contacts (its ID and pack version)."""
        return wire.encode(
            self.packs[bot.index],
            wire.HELLO,
            wire.hello_request(self.server_ids[bot.index]),
            self.padding(bot),
        )

    def _learn(self, bot: Bot, src_ip: str, src_port: int, sender: int, now: float) -> int | None:
        """An outside peer that announced ``sender``: listed (superpeers) and remembered."""
        exchange = self.exchange
        if exchange is None or not wire.SUPERPEER_MIN <= sender <= wire.SUPERPEER_MAX:
            return None  # a client cannot be contacted back: no bot lists it
        entry = exchange.entry_of(src_ip, src_port)
        if entry is None or entry < self.n:
            return entry
        if entry in self.outside_ids or len(self.outside_ids) < MAX_OUTSIDE_IDS:
            self.outside_ids[entry] = sender
        exchange.contacted_by(bot.index, src_ip, src_port, now)
        return entry

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
        decoded = self._decode(data)
        if decoded is None:
            self.stats.drop("malformed", stats)
            return bot, []
        packet, hello = decoded
        if not self.online[bot.index]:
            self.stats.drop("offline", stats)
            return bot, []
        if hello is not None and hello.ok:
            # An answer to a hello the bot sent (NATed bots get these through their NAT).
            if self.exchange is not None and self.exchange.answered(
                bot.index, f"{src_ip}:{src_port}", now
            ):
                self.stats.counters["exchange/outside_answers"] += 1
            else:
                self.stats.drop("unsolicited", stats)
            return bot, []
        if bot.nat:
            self.stats.drop("nat", stats)
            return bot, []
        verdict = self.defences.check(bot.index, src_ip, now)
        if verdict is not None:
            self.stats.drop(verdict, stats)
            return bot, []
        self.defences.heard(bot.index, src_ip, now)
        try:
            out = self._answer(bot, packet, hello, src_ip, src_port, now)
        except wire.SalityError:
            self.stats.drop("malformed", stats)
            return bot, []
        if out is None:
            self.stats.drop("empty_peer_list", stats)
            return bot, []
        self.stats.answer(stats)
        return bot, [out]

    def _decode(self, data: bytes) -> tuple[wire.Packet, wire.Hello | None] | None:
        cache = self._decoded
        if data in cache:
            return cache[data]
        try:
            packet = wire.decode(data)
            hello = wire.read_hello(packet.body) if packet.command == wire.HELLO else None
            decoded: tuple[wire.Packet, wire.Hello | None] | None = (packet, hello)
        except wire.SalityError:
            decoded = None
        if len(cache) >= DECODED_CACHE:
            cache.clear()
        cache[data] = decoded
        return decoded

    def _answer(
        self,
        bot: Bot,
        packet: wire.Packet,
        hello: wire.Hello | None,
        src_ip: str,
        src_port: int,
        now: float,
    ) -> bytes | None:
        version = self.packs[bot.index]
        pad = self.padding(bot)
        if hello is not None:
            assert hello.server_id is not None
            self._learn(bot, src_ip, src_port, hello.server_id, now)
            if packet.url_pack < version:
                self.stats.counters["sality/pack_pushes_out"] += 1
                return wire.encode(version, wire.HELLO, self.pack_payload(version), pad)
            return wire.encode(version, wire.HELLO, wire.hello_ok(), pad)
        if packet.command == wire.SERVER_TEST:
            sender, _port = wire.read_server_test_request(packet.body)
            if not wire.UNDECIDED < sender <= wire.SUPERPEER_MAX:
                sender = 2 + self.rng.randrange(wire.SUPERPEER_MIN - 2)  # a fresh client ID
            return wire.encode(version, wire.SERVER_TEST, wire.server_test_reply(sender), pad)
        sender = wire.read_peer_request(packet.body)
        asker = self._learn(bot, src_ip, src_port, sender, now)
        entry = self.choose(bot, asker, sender, now, src_ip)
        if entry is None:
            return None
        key = (bot.index, entry, version)
        out = self._replies.get(key) if entry < self.n else None
        if out is None:
            fields = self._fields_of(entry)
            if fields is None:
                return None
            out = wire.encode(version, wire.PEER_EXCHANGE, fields, pad)
            if entry < self.n:  # outside peers may announce another ID later
                if len(self._replies) >= REPLY_CACHE:
                    self._replies.clear()
                self._replies[key] = out
        return out
