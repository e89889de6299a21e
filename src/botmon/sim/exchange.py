"""Emulated bots act: periodic peer exchange, news, and contacts to peers outside the botnet.

Sans-I/O: :class:`PeerExchange` never reads a clock or touches a socket. The emulator calls
:meth:`PeerExchange.tick` with ``now`` on each churn tick and sends the contacts it returns
(real packets to sensors and crawlers); it reports what outside peers ask and answer with
:meth:`~PeerExchange.contacted_by`, :meth:`~PeerExchange.answer_for` and
:meth:`~PeerExchange.on_answer`.

The model (DESIGN §8, "emulated bots act"):

- Every ``exchange_interval_s`` each online bot (NATed ones too: they can initiate) runs
  an exchange at its own random phase: it asks ``exchange_fanout`` random peers of its list.
  The work of one interval is spread over the ticks by phase, never one burst.
- Exchanges between emulated bots happen in memory. A contact to a peer that is not an
  emulated bot (a sensor, a crawler) is a real packet on loopback from the bot's own address;
  a peer off loopback is never contacted (refused and counted).
- An asked bot that is online and not NATed adds the asker to its list if it is new, and
  answers one peer: its oldest still-valid news entry (a peer new to it within the last two
  intervals, handed out to at most ``news_share`` askers, never to the asker itself), else a
  random entry of its list.
- News is what a bot hands out first: a peer new to the botnet (an outside peer: a sensor,
  a crawler, a newcomer) that the bot has *verified*. An outside peer that contacts a bot for
  the first time, or that the bot learns of as news from another bot's answer, is added to
  its list and contacted at once (verification, on the next tick); when it answers, it
  becomes news at that bot. So a sensor's news spreads from neighbour to neighbour and every
  bot that passes it on has contacted the sensor itself (NATed bots too), while a crawler,
  which does not answer bots' requests, is listed but never spread as news. Contacts
  between emulated bots are never news: the population is fixed, so a bot meeting another
  bot for the first time is no event worth spreading, and the sensor's news does not drown
  in them however long the botnet has run.
- Lists are capped (``list_cap``, or the first list's size if larger); a full list replaces
  a random entry that is not news. A real answer from an outside peer the bot contacted adds
  the peer it names.

Measured with this model (1,000 bots, 40 % NAT, no churn, a sensor announced with one
contact to each of 20 bots): >= 0.95 of all bots and of the NATed ones contact it within
three intervals, whether it is announced at the start or after the botnet has run for
several intervals, and with a crawler at work at the same time.

Every peer a bot ever listed is appended to its ``Bot.peer_index`` (up to
:data:`MAX_LEARNED` learned ones), so the ground truth's ``peers`` hold every peer the bot
could have named (``Bot.peers`` stays its first list). Which outside peers each bot
contacted, and when first, is kept for the truth (``contacted``), bounded per bot.
"""

from __future__ import annotations

import array
import random
from collections import deque
from dataclasses import dataclass

from botmon.settings.sim import CommonConfig
from botmon.sim.population import Population, pack_entry
from botmon.sim.stats import Stats

MAX_OUTSIDE = 4096
"""Outside peers (sensors, crawlers, peers they name) an emulator tracks; more are ignored."""
MAX_LEARNED = 256
"""Learned peers recorded per bot in its truth list; beyond that a bot still uses them."""
MAX_CONTACTED = 16
"""Outside peers recorded per bot in ``contacted``."""
MAX_NEWS = 16
"""News entries a bot holds at once; the oldest goes first."""
MAX_PENDING = 100_000
"""Contacts to outside peers awaiting an answer; beyond that, answers are not expected."""
ANSWER_WAIT_S = 10.0
"""How long a bot accepts the answer of an outside peer it contacted."""
MAX_VERIFY_PER_TICK = 4096
"""Verification contacts made per tick; the rest wait in a bounded queue."""
VERIFY_QUEUE = 100_000


@dataclass(slots=True)
class _News:
    entry: int
    since: float
    shares: int = 0


def _is_news(fresh: deque[_News], entry: int) -> bool:
    return any(item.entry == entry for item in fresh)


class PeerExchange:
    """The acting part of every bot of one emulator."""

    def __init__(
        self,
        cfg: CommonConfig,
        population: Population,
        online: bytearray,
        stats: Stats,
        seed: int,
    ) -> None:
        self.interval = cfg.exchange_interval_s
        self.fanout = cfg.exchange_fanout
        self.news_share = cfg.news_share
        self.population = population
        self.online = online
        self.counters = stats.counters
        self.rng = random.Random(seed ^ 0xE7C4A96)
        bots = population.bots
        self.n = n = len(bots)
        self.nat = bytes(b.nat for b in bots)
        self.lists = [array.array("I", b.peer_index) for b in bots]
        self.caps = [max(cfg.list_cap, len(b.peer_index)) for b in bots]
        self.learned = [0] * n
        self.news: list[deque[_News] | None] = [None] * n
        self.contacted: list[dict[str, float] | None] = [None] * n
        self.totals: dict[str, int] = {}
        """Outside peer -> how many bots contacted it."""
        self.touched: set[int] = set()
        """Bots whose truth line changed since the emulator last looked."""
        self._entries = {population.entry_texts[i]: i for i in range(n)}
        self._outside: dict[str, int] = {}
        self._pending: dict[tuple[int, str], float] = {}
        self._verify: deque[tuple[int, int]] = deque(maxlen=VERIFY_QUEUE)
        self.verified: list[set[int] | None] = [None] * n
        """Outside peers that answered each bot (bounded by MAX_CONTACTED): its news so far."""
        phases = [self.rng.random() * self.interval for _ in range(n)]
        self._phase = phases
        self._order = sorted(range(n), key=phases.__getitem__)
        self._pos = 0
        self._cycle = 0.0

    def start(self, now: float, online: bytearray) -> None:
        """Begin the first interval at ``now`` with the churn model's online flags."""
        self._cycle = now
        self.online = online

    @property
    def active(self) -> bool:
        """False when bots never act (interval 0)."""
        return self.interval > 0

    # -- entries ------------------------------------------------------------------------------

    def moved(self, index: int, old: str, new: str) -> None:
        """Bot ``index`` took the address ``new`` (linenet's address changes)."""
        if self._entries.get(old) == index:
            del self._entries[old]
        self._entries[new] = index

    def entry_of(self, ip: str, port: int) -> int | None:
        """The entry of ``ip:port`` (a bot, or an outside peer, registered while room)."""
        text = f"{ip}:{port}"
        entry = self._entries.get(text)
        if entry is None:
            entry = self._outside.get(text)
        if entry is None:
            if len(self._outside) >= MAX_OUTSIDE:
                self.counters["exchange/outside_full"] += 1
                return None
            try:
                packed = pack_entry(ip, port)
            except (OSError, OverflowError):
                return None
            texts = self.population.entry_texts
            entry = self._outside[text] = len(texts)
            texts.append(text)
            self.population.entry_bytes.append(packed)
        return entry

    # -- what outside peers do ----------------------------------------------------------------

    def contacted_by(self, bot: int, ip: str, port: int, now: float) -> int | None:
        """An outside peer at ``ip:port`` contacted ``bot``; its entry (None if untracked)."""
        entry = self.entry_of(ip, port)
        if entry == bot:  # its own address (spoofed): nothing to learn
            return None
        if entry is not None:
            self._heard_from(bot, entry, now)
        return entry

    def answer_for(self, bot: int, asker: int | None, now: float) -> int | None:
        """The entry ``bot`` names to ``asker``: oldest valid news, else a random peer."""
        return self._pick(bot, asker, now)[0]

    def answered(self, bot: int, src: str, now: float) -> bool:
        """An outside peer ``src`` (``"ip:port"``) answered ``bot``; True if ``bot`` asked it
        lately (then the peer is verified: news at ``bot`` the first time)."""
        expiry = self._pending.get((bot, src))
        if expiry is None or expiry < now:
            return False
        source_ip, _, source_port = src.rpartition(":")
        answered = self.entry_of(source_ip, int(source_port))
        if answered is not None:
            self._verified(bot, answered, now)
        return True

    def on_answer(self, bot: int, src: str, ip: str, port: int, now: float) -> bool:
        """An answer from ``src`` naming ``ip:port``; True if ``bot`` asked ``src`` lately."""
        if not self.answered(bot, src, now):
            return False
        entry = self.entry_of(ip, port)
        if entry is not None and entry != bot and entry not in self.lists[bot]:
            self._add(bot, entry, news=False)
        self.counters["exchange/outside_answers"] += 1
        return True

    def _verified(self, bot: int, entry: int, now: float) -> None:
        """Outside peer ``entry`` answered ``bot``: the first time, it becomes news there."""
        done = self.verified[bot]
        if done is None:
            done = self.verified[bot] = set()
        if entry in done or len(done) >= MAX_CONTACTED:
            return
        done.add(entry)
        if entry not in self.lists[bot]:
            self._add(bot, entry, news=False)
        self._make_news(bot, entry, now)
        self.counters["exchange/verified"] += 1

    # -- the clock ------------------------------------------------------------------------------

    def tick(self, now: float) -> list[tuple[int, int]]:
        """Run what is due up to ``now``; the contacts to outside peers, as (bot, entry)."""
        out: list[tuple[int, int]] = []
        if not self.active:
            return out
        self._expire(now)
        verify = self._verify
        for _ in range(min(len(verify), MAX_VERIFY_PER_TICK)):
            bot, entry = verify.popleft()
            if self.online[bot]:
                self._contact(bot, entry, now, out, verify=True)
        order, phase, online = self._order, self._phase, self.online
        for _ in range(self.n):  # at most one whole round per tick, however late the tick
            i = order[self._pos]
            if self._cycle + phase[i] > now:
                break
            if online[i]:
                self._exchange(i, now, out)
            self._pos += 1
            if self._pos == self.n:
                self._pos = 0
                self._cycle += self.interval
        return out

    def _expire(self, now: float) -> None:
        if len(self._pending) > MAX_PENDING // 2:
            self._pending = {k: t for k, t in self._pending.items() if t > now}

    def _exchange(self, bot: int, now: float, out: list[tuple[int, int]]) -> None:
        peers = self.lists[bot]
        if not peers:
            return
        self.counters["exchange/rounds"] += 1
        k = min(self.fanout, len(peers))
        for entry in self.rng.sample(list(peers), k):
            self._contact(bot, entry, now, out)

    def _contact(
        self, bot: int, entry: int, now: float, out: list[tuple[int, int]], verify: bool = False
    ) -> None:
        if entry < self.n:
            self._ask(bot, entry, now, verify)
            return
        text = self.population.entry_texts[entry]
        if not text.startswith("127."):
            self.counters["exchange/refused_not_loopback"] += 1
            return
        if len(self._pending) >= MAX_PENDING:
            self.counters["exchange/pending_full"] += 1
        else:
            self._pending[(bot, text)] = now + ANSWER_WAIT_S
        self.counters["exchange/outside_contacts"] += 1
        seen = self.contacted[bot]
        if seen is None:
            seen = self.contacted[bot] = {}
        if text not in seen and len(seen) < MAX_CONTACTED:
            seen[text] = now
            self.totals[text] = self.totals.get(text, 0) + 1
            self.touched.add(bot)
        out.append((bot, entry))

    def _ask(self, asker: int, bot: int, now: float, verify: bool) -> None:
        """``asker`` asks emulated ``bot`` for a peer, in memory.

        The answer to a verification adds the peer it names but is no news (as the answer
        of an outside peer): news travels by exchanges, so verifications cannot chain and
        the work per interval stays bounded by the exchanges.
        """
        counters = self.counters
        counters["exchange/asks"] += 1
        if not self.online[bot] or self.nat[bot]:
            return
        self._heard_from(bot, asker, now)
        entry, is_news = self._pick(bot, asker, now)
        if entry is None or entry == asker:
            return
        counters["exchange/answers"] += 1
        if entry in self.lists[asker]:
            return
        self._add(asker, entry, news=False, now=now)
        if is_news and not verify:
            counters["exchange/news_learned"] += 1
            self._verify.append((asker, entry))  # news again once it answers the asker

    # -- one bot's list ---------------------------------------------------------------------------

    def _heard_from(self, bot: int, entry: int, now: float) -> None:
        """``entry`` contacted ``bot``: on its list if missing; an outside peer is verified.

        Only peers new to the botnet (outside peers) can become news, and only once they
        answer the bot's verification contact (see the module docstring).
        """
        if entry in self.lists[bot]:
            return
        self._add(bot, entry, news=False, now=now)
        if entry >= self.n:
            self._verify.append((bot, entry))

    def _add(self, bot: int, entry: int, *, news: bool, now: float = 0.0) -> None:
        peers = self.lists[bot]
        if len(peers) < self.caps[bot]:
            peers.append(entry)
        else:
            fresh = self.news[bot]
            randrange = self.rng.randrange
            for _ in range(8):
                j = randrange(len(peers))
                if not fresh or not _is_news(fresh, peers[j]):
                    peers[j] = entry
                    break
            else:
                self.counters["exchange/list_full"] += 1
                return
        if news:
            self._make_news(bot, entry, now)
        self._record(bot, entry)

    def _make_news(self, bot: int, entry: int, now: float) -> None:
        fresh = self.news[bot]
        if fresh is None:
            fresh = self.news[bot] = deque(maxlen=MAX_NEWS)
        fresh.append(_News(entry, now))

    def _record(self, bot: int, entry: int) -> None:
        """Append a peer new to ``bot``'s truth list (bounded)."""
        b = self.population.bots[bot]
        if entry in b.peer_index:
            return
        if self.learned[bot] >= MAX_LEARNED:
            self.counters["exchange/unrecorded"] += 1
            return
        self.learned[bot] += 1
        b.peer_index.append(entry)
        self.touched.add(bot)

    def _pick(self, bot: int, asker: int | None, now: float) -> tuple[int | None, bool]:
        fresh = self.news[bot]
        texts = self.population.entry_texts
        # Bots have an address each; an outside asker is not told of itself under any port.
        prefix = None
        if asker is not None and asker >= self.n:
            prefix = texts[asker].rpartition(":")[0] + ":"
        if fresh:
            oldest = now - 2 * self.interval
            while fresh and (fresh[0].since < oldest or fresh[0].shares >= self.news_share):
                fresh.popleft()
            for item in fresh:
                if item.since >= oldest and item.shares < self.news_share:
                    if item.entry == asker or (
                        prefix is not None and texts[item.entry].startswith(prefix)
                    ):
                        continue
                    item.shares += 1
                    return item.entry, True
        peers = self.lists[bot]
        for _ in range(3):
            if not peers:
                break
            entry = peers[self.rng.randrange(len(peers))]
            if entry != asker and (prefix is None or not texts[entry].startswith(prefix)):
                return entry, False
        return None, False
