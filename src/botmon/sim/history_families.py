"""What each family's protocol reveals in the demo history: the replies' ``data`` per family.

The dashboard's "what the protocol reveals" panel and the devices view count bots by keys of
the replies' ``data``; the crawlers and sensors of Sality, ZeroAccess and Hajime record those
keys, so the generated history must carry exactly the same ones, with the shapes the
published measurements describe. :mod:`botmon.sim.history` decides who is online when; a
:class:`Family` here decides, per bot and per reply, what the monitor would have read:

- **Sality v3**: publicly reachable superpeers (server IDs 16M-20M) answer the crawler's peer
  exchange and are the only peers ever named; NATed clients (IDs below 16M) are heard only by
  botmon's sensor when their 40-minute hello cycle reaches it. URL packs are released every
  few days and spread through the bots within hours, so ``url_pack`` per bot steps up.
- **ZeroAccess v2**: the 2013 networks on UDP 16470 and 16471 (their timestamp word is not a
  clock: ``list_age`` ``opaque``) and the later variant's 32-bit and 64-bit port ranges,
  whose 16 peer records carry hours, newest first, so the newest is mostly under an hour old.
- **Hajime**: bots found under the day's info-hashes of their architecture's files (or of
  ``config``), confirmed over uTP when the ``config`` request is answered; a bot that just
  went offline is still announced for a while and then stays ``unconfirmed``.

Values are short texts (the facets are categorical); JSON texts are built once per distinct
value set where the value set is small, since millions of replies are written in seconds.
"""

from __future__ import annotations

import bisect
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

HOUR = 3600
DAY = 24 * HOUR

SUPERPEER_IDS = (16_000_000, 20_000_000)
"""Sality server IDs of superpeers (PROTOCOLS.md section 5.2); clients are below."""
SALITY_FIRST_PACK = 386
"""URL-pack version the history starts from (the published packets carry 215 and 390)."""
SALITY_PACK_EVERY_DAYS = (2.0, 5.0)
"""Days between two URL-pack releases."""
SALITY_SPREAD_H = {"superpeer": (2.0, 0.8), "client": (5.0, 1.5)}
"""(median hours, logistic scale in hours) until a released pack reaches a bot: the 40-minute
hello cycle spreads it from superpeers to the clients that ask them."""
SALITY_SENSOR_SHARE = 0.5
"""Bots that have botmon's sensor in their peer list (it is handed out as a superpeer)."""
SALITY_HELLO_PER_ROUND = 0.75
"""Chance that such a bot, online, says hello to the sensor in a 30-minute round (one
cycle every 40 minutes)."""

ZA_NETWORKS_2013 = {"16471": 0.4, "16470": 0.3}
"""The 2013 networks (UDP port -> share of bots); the rest run the later variant."""
ZA_64BIT_2015 = 0.45
"""Share of the later variant's bots on the 64-bit port range (0x8000-0xBFFF)."""
ZA_PEERS = 16
"""Peer records per retL."""
LIST_AGE_BUCKETS = ((HOUR, "<1 h"), (6 * HOUR, "1-6 h"), (DAY, "6-24 h"), (7 * DAY, "1-7 d"))
"""Upper bounds of the ``list_age`` buckets; older is ``>7 d``."""

HAJIME_ARCHS = {"mipseb": 0.38, "arm7": 0.24, "mipsel": 0.15, "arm5": 0.13, "arm6": 0.10}
"""Architectures bots announce under and their shares (home routers on MIPS first)."""
HAJIME_FILES = ((".i.{arch}.1506551478", 0.6), ("atk.{arch}.1506215619", 0.25), ("config", 0.15))
"""The file whose day key a bot is found under first, and how often: its architecture's
modules mostly; under ``config`` (any architecture) the architecture stays unknown."""
HAJIME_NOT_SERVING = 0.06
"""Reachable bots whose uTP side never answers the ``config`` request."""
HAJIME_PROBE_LOSS = 0.04
"""Chance that the uTP probe of a serving bot goes unanswered anyway."""


@dataclass
class Traits:
    """What one bot's protocol reveals, decided once per bot."""

    server_id: int = 0
    superpeer: bool = False
    delays: list[float] = field(default_factory=list)
    """Sality: seconds after each URL-pack release until the bot has it."""
    sensor: bool = False
    """Sality: botmon's sensor is in the bot's peer list."""
    group: str = ""
    """Peers are named within a group (a ZeroAccess network, a word size)."""
    arch: str = ""
    serving: bool = True
    """Hajime: answers the uTP ``config`` request."""
    counter: int = 0
    """ZeroAccess 2013: base of the opaque per-record words."""
    gaps_h: list[int] = field(default_factory=list)
    """ZeroAccess later variant: hours between the newest record and each record."""
    offsets: list[int] = field(default_factory=list)
    """ZeroAccess later variant: the port offsets of the listed peers."""
    texts: dict[object, str] = field(default_factory=dict)
    """JSON texts already built for this bot."""


class Bot(Protocol):
    """The part of :class:`botmon.sim.history.Bot` a family reads and sets (a protocol, so
    the two modules do not import each other)."""

    nat: bool
    port: int
    bot_id: str | None
    online: list[bool]
    traits: Traits


class Family:
    """A family's reveals; this base reveals nothing (Hide'n'Seek and Mozi's history)."""

    name = ""
    failed_tries = True
    """The crawler tries known bots and records failures (Hajime's lookups do not)."""
    senses = False
    """botmon's sensor is modelled (contacts recorded as sensor replies)."""
    contacts_per_round = 0.0
    """Chance that a bot listing the sensor contacts it in a crawl round while online."""

    def prepare(self, bots: Sequence[Bot], rng: random.Random, start: float, end: float) -> None:
        """Decide every bot's traits (and, where the protocol fixes them, its port and ID)."""
        for bot in bots:
            bot.traits = Traits()

    def crawlable(self, bot: Bot) -> bool:
        """The crawler hears this bot (behind NAT it does not)."""
        return not bot.nat

    def listable(self, bot: Bot) -> bool:
        """Other bots name this one in their peer lists."""
        return True

    def data(self, bot: Bot, t: float, hour: int, rng: random.Random) -> str | None:
        """``data`` of the crawler's reply from ``bot`` at ``t``."""
        return None

    def stale(self, bot: Bot, t: float, hour: int, rng: random.Random) -> str | None:
        """For a family without failed tries: ``data`` of a reply about a bot that is offline
        but still found (None: nothing is recorded)."""
        return None

    def contact(self, bot: Bot, t: float) -> str | None:
        """``data`` of the sensor's record of a contact from ``bot`` at ``t``."""
        return None


def _logistic(rng: random.Random, median: float, scale: float) -> float:
    u = min(max(rng.random(), 1e-9), 1 - 1e-9)
    return max(0.0, median + scale * math.log(u / (1 - u)))


class Sality(Family):
    """Superpeers crawled, clients heard by the sensor, URL packs spreading (see module)."""

    name = "sality"
    senses = True
    contacts_per_round = SALITY_HELLO_PER_ROUND

    def __init__(self) -> None:
        self.releases: list[float] = []

    def prepare(self, bots: Sequence[Bot], rng: random.Random, start: float, end: float) -> None:
        t = start - rng.uniform(*SALITY_PACK_EVERY_DAYS) * DAY
        self.releases = []
        while t < end:
            self.releases.append(t)
            t += rng.uniform(*SALITY_PACK_EVERY_DAYS) * DAY
        used: set[int] = set()
        for bot in bots:
            superpeer = not bot.nat
            low, high = SUPERPEER_IDS if superpeer else (2, SUPERPEER_IDS[0] - 1)
            server_id = rng.randint(low, high)
            while server_id in used:
                server_id = rng.randint(low, high)
            used.add(server_id)
            median, scale = SALITY_SPREAD_H["superpeer" if superpeer else "client"]
            bot.bot_id = str(server_id)
            bot.traits = Traits(
                server_id=server_id,
                superpeer=superpeer,
                delays=[_logistic(rng, median, scale) * HOUR for _ in self.releases],
                sensor=rng.random() < SALITY_SENSOR_SHARE,
            )
        # The first pack was everywhere before the window.
        for bot in bots:
            bot.traits.delays[0] = 0.0

    def listable(self, bot: Bot) -> bool:
        return bot.traits.superpeer  # only publicly reachable peers are handed out

    def pack(self, bot: Bot, t: float) -> int:
        """Index of the newest URL pack ``bot`` has at ``t``."""
        k = bisect.bisect_right(self.releases, t) - 1
        delays, releases = bot.traits.delays, self.releases
        while k > 0 and t < releases[k] + delays[k]:
            k -= 1
        return max(k, 0)

    def _text(self, bot: Bot, k: int, message: str | None) -> str:
        texts = bot.traits.texts
        key = (k, message)
        text = texts.get(key)
        if text is None:
            tr = bot.traits
            data = {
                "url_pack": str(SALITY_FIRST_PACK + k),
                "peer_class": "superpeer" if tr.superpeer else "client",
                "server_id": str(tr.server_id),
            }
            if message is not None:
                data["message"] = message
            text = texts[key] = json.dumps(data)
        return text

    def data(self, bot: Bot, t: float, hour: int, rng: random.Random) -> str | None:
        return self._text(bot, self.pack(bot, t), None)

    def contact(self, bot: Bot, t: float) -> str | None:
        return self._text(bot, self.pack(bot, t), "hello")


def list_age(age_s: float) -> str:
    """The ``list_age`` bucket of the newest peer record's age."""
    for bound, label in LIST_AGE_BUCKETS:
        if age_s < bound:
            return label
    return ">7 d"


class ZeroAccess(Family):
    """The 2013 networks and the later variant's port ranges (see module)."""

    name = "zeroaccess"

    def prepare(self, bots: Sequence[Bot], rng: random.Random, start: float, end: float) -> None:
        nets = list(ZA_NETWORKS_2013.items())
        for bot in bots:
            r = rng.random()
            tr = Traits()
            for port, share in nets:
                if r < share:
                    bot.port = int(port)
                    tr.group = port
                    tr.counter = rng.randint(0x10000, 0x20000)
                    break
                r -= share
            else:
                wide = rng.random() < ZA_64BIT_2015
                bot.port = (0x8000 if wide else 0x4000) + rng.randrange(0x4000)
                tr.arch = "64-bit" if wide else "32-bit"
                tr.group = tr.arch
                gaps = [0]
                for _ in range(ZA_PEERS - 1):
                    gaps.append(gaps[-1] + int(rng.expovariate(1 / 1.5)))
                tr.gaps_h = gaps
                tr.offsets = [rng.randrange(0x4000) for _ in range(ZA_PEERS)]
            bot.traits = tr

    def listable(self, bot: Bot) -> bool:
        return True  # NATed bots are listed too (they contact others), never answering

    def data(self, bot: Bot, t: float, hour: int, rng: random.Random) -> str | None:
        tr = bot.traits
        texts = tr.texts
        if not tr.arch:
            # An opaque word per record that moves on once a day (built once a day per bot).
            day = int(t // DAY)
            text = texts.get(day)
            if text is None:
                first = tr.counter + day % 0x10000
                words = ",".join(map(str, range(first, first + ZA_PEERS)))
                text = texts[day] = (
                    f'{{"variant": "2013", "network": "{tr.group}", "list_age": "opaque", '
                    f'"peer_ts": [{words}]}}'
                )
            return text
        # The newest record is the last peer heard from: minutes ago while the bot is up,
        # the time it was down when it has just come back.
        age = rng.expovariate(1 / 900)
        back = hour - 1
        while back >= 0 and back > hour - 24 * 8 and not bot.online[back]:
            back -= 1
        if back < hour - 1:
            age += (hour - 1 - back) * HOUR
        newest_h = int((t - age) // HOUR)
        bucket = list_age(age)
        key = (newest_h, bucket)
        text = texts.get(key)
        if text is None:
            words = ",".join(
                str((((newest_h - g) & 0x3FFFF) << 14) | o)
                for g, o in zip(tr.gaps_h, tr.offsets, strict=True)
            )
            text = texts[key] = (
                f'{{"variant": "2015", "network": "{bot.port}", "arch": "{tr.arch}", '
                f'"list_age": "{bucket}", "peer_ts": [{words}]}}'
            )
        return text


class Hajime(Family):
    """Bots found under the day's keys per architecture, uTP-confirmed (see module)."""

    name = "hajime"
    failed_tries = False

    def __init__(self) -> None:
        self.texts: dict[tuple[int, str, str], str] = {}
        self.files: dict[str, tuple[list[float], list[str]]] = {}
        """Per architecture: upper bounds of the file shares and the file names."""

    def prepare(self, bots: Sequence[Bot], rng: random.Random, start: float, end: float) -> None:
        archs = list(HAJIME_ARCHS)
        weights = list(HAJIME_ARCHS.values())
        for arch in archs:
            bounds: list[float] = []
            for _, share in HAJIME_FILES[:-1]:
                bounds.append((bounds[-1] if bounds else 0.0) + share)
            self.files[arch] = (bounds, [name.format(arch=arch) for name, _ in HAJIME_FILES])
        for bot in bots:
            bot.traits = Traits(
                arch=rng.choices(archs, weights)[0],
                serving=not bot.nat and rng.random() >= HAJIME_NOT_SERVING,
            )

    def crawlable(self, bot: Bot) -> bool:
        return True  # a NATed bot's announce is found all the same; its uTP side is not

    def listable(self, bot: Bot) -> bool:
        return False  # peers come from DHT lookups: no bot names another

    def _text(self, arch: str, t: float, rng: random.Random, utp: str) -> str:
        """The reply's data: the day's key and the file it was found under (a few hundred
        distinct texts over weeks, built once each)."""
        bounds, names = self.files[arch]
        file = names[bisect.bisect_right(bounds, rng.random())]
        day = int(t // DAY)
        key = (day, file, utp)
        text = self.texts.get(key)
        if text is None:
            day_key = time.strftime("%Y-%m-%d", time.gmtime(day * DAY))
            data = {"day_key": day_key, "file": file, "utp": utp}
            if file != "config":
                data["arch"] = arch
            text = self.texts[key] = json.dumps(data)
        return text

    def data(self, bot: Bot, t: float, hour: int, rng: random.Random) -> str | None:
        tr = bot.traits
        confirmed = tr.serving and rng.random() >= HAJIME_PROBE_LOSS
        return self._text(tr.arch, t, rng, "confirmed" if confirmed else "unconfirmed")

    def stale(self, bot: Bot, t: float, hour: int, rng: random.Random) -> str | None:
        # Announces outlive the bot in the DHT for a while: found, but the probe goes unanswered.
        if hour > 0 and bot.online[hour - 1]:
            return self._text(bot.traits.arch, t, rng, "unconfirmed")
        return None


FAMILIES: dict[str, type[Family]] = {
    "": Family,
    "sality": Sality,
    "zeroaccess": ZeroAccess,
    "hajime": Hajime,
}
"""Family models by :attr:`botmon.sim.history.Profile.family`."""
