"""Emulated bots that fight back: the defences real P2P botnets use against monitors.

Any emulator switches these on through the shared settings (:class:`~botmon.settings.sim.
CommonConfig`), so a crawler or sensor can be measured against them whatever the protocol:

- **Request budget with automatic blacklisting** (GameOver Zeus): a source IP that sends one
  bot more than ``budget_requests`` requests within ``budget_window_s`` is ignored by that
  bot for ``blacklist_period_s`` (0: for good). Every blacklisting is kept for the truth
  (:meth:`Defences.blacklistings_of`), so a test can say which crawler was caught, by which
  bot, when and for how long.
- **Ignoring strangers**: with ``ignore_unknown`` a bot answers only sources it has heard of
  (peers in its list, or that contacted it before: the first request of a stranger is
  remembered, never answered).
- **What a reply names** (:meth:`Defences.choose`): ``peer_order`` ``recent`` puts the peers a
  bot heard from most recently first (ZeroAccess); ``peer_list_cap`` keeps only the first
  entries of that order; ``neighbour_restriction`` ``closest`` answers only the
  ``restrict_to`` peers closest to the requester's ID (P2P Zeus; protocols without IDs fall
  back to ``random``), ``random`` a few at random; ``reply_peers`` caps the peers one reply
  names (1: one peer per reply, as Sality).

Sans-I/O like the rest of an emulator's core: ``now`` comes in, nothing here reads a clock or
touches a socket. The older per-source token bucket and permanent blacklist
(:mod:`botmon.sim.antiabuse`) run first in :meth:`Defences.check`, so a core calls one thing.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from botmon.settings.sim import CommonConfig
from botmon.sim.antiabuse import AntiAbuse
from botmon.sim.population import Population

MAX_TRACKED_SOURCES = 200_000
"""(bot, source) pairs whose recent requests are counted, and pairs blacklisted at once;
beyond that new pairs are neither counted nor blacklisted (``defences/untracked``), so a scan
from many sources cannot grow the emulator without bound."""
MAX_BLACKLISTINGS = 100_000
"""Blacklistings kept for the truth; more are counted (``defences/blacklistings``) only."""
MAX_HEARD_PER_BOT = 256
"""Peers per bot whose last contact is remembered for ``recent`` ordering and strangers."""


@dataclass(frozen=True, slots=True)
class Blacklisting:
    """Bot ``bot`` ignored ``source`` from ``since`` until ``until`` (None: for good)."""

    bot: int
    source: str
    since: float
    until: float | None

    def as_truth(self) -> list[object]:
        """``[source, since, until]`` as the truth file holds it."""
        return [
            self.source,
            round(self.since, 3),
            None if self.until is None else round(self.until, 3),
        ]


class Defences:
    """The defences of one emulated botnet, per bot and per source IP."""

    def __init__(
        self, cfg: CommonConfig, population: Population, rng: random.Random | None = None
    ) -> None:
        self.cfg = cfg
        self.population = population
        self.rng = rng if rng is not None else random.Random(population.seed ^ 0xDEF)
        self.antiabuse = AntiAbuse(cfg.rate_limit, cfg.rate_burst, cfg.blacklist_after)
        self.budget = cfg.budget_requests
        self.window = cfg.budget_window_s
        self.period = cfg.blacklist_period_s
        self._recent: dict[tuple[int, str], deque[float]] = {}
        self._banned: dict[tuple[int, str], float | None] = {}
        self.blacklistings: list[Blacklisting] = []
        self._by_bot: dict[int, list[Blacklisting]] = {}
        self.counters: dict[str, int] = {"defences/blacklistings": 0, "defences/untracked": 0}
        self._pruned_at = float("-inf")
        self._heard: dict[int, dict[str, float]] = {}
        self._remembers = cfg.ignore_unknown or cfg.peer_order == "recent"
        """Only these two defences need who a bot heard from; otherwise nothing is kept."""
        self._known: dict[int, tuple[int, frozenset[str]]] = {}
        self.touched: set[int] = set()
        """Bots whose truth changed (a new blacklisting) since the runtime last looked."""

    @property
    def shapes_replies(self) -> bool:
        """True when :meth:`choose` changes what a reply names."""
        c = self.cfg
        return (
            c.peer_order != "random"
            or c.peer_list_cap is not None
            or c.neighbour_restriction != "none"
            or c.reply_peers is not None
        )

    # -- who is answered --------------------------------------------------------------------

    def check(self, bot: int, source: str, now: float) -> str | None:
        """Count one request of ``source`` to ``bot``; a drop reason, or None to answer.

        Reasons: ``rate_limit`` and ``blacklist`` (the token bucket and permanent list of
        :mod:`~botmon.sim.antiabuse`), ``blacklisted`` (inside a blacklisting period, or the
        request that crossed the budget and started one) and ``unknown`` (a stranger, with
        ``ignore_unknown``).
        """
        verdict = self.antiabuse.check(bot, source, now)
        if verdict is not None:
            return verdict
        if self.budget is not None:
            key = (bot, source)
            if key in self._banned:
                until = self._banned[key]
                if until is None or now < until:
                    return "blacklisted"
                del self._banned[key]
            times = self._recent.get(key)
            if times is None:
                if len(self._recent) >= MAX_TRACKED_SOURCES:
                    self._prune(now)
                if len(self._recent) < MAX_TRACKED_SOURCES:
                    times = self._recent[key] = deque()
                else:
                    self.counters["defences/untracked"] += 1
            if times is not None:
                times.append(now)
                while times and times[0] <= now - self.window:
                    times.popleft()
                if len(times) > self.budget:
                    if self._blacklist(bot, source, now):
                        times.clear()
                        return "blacklisted"
                    times.popleft()  # not banned (table full): the count stays bounded
        if self.cfg.ignore_unknown and not self.knows(bot, source):
            self.heard(bot, source, now)
            return "unknown"
        return None

    def _blacklist(self, bot: int, source: str, now: float) -> bool:
        """Start a blacklisting; False when the table is full of live ones (not banned)."""
        if len(self._banned) >= MAX_TRACKED_SOURCES:
            self._prune(now)
            if len(self._banned) >= MAX_TRACKED_SOURCES:
                self.counters["defences/untracked"] += 1
                return False
        until = None if self.period == 0 else now + self.period
        self._banned[(bot, source)] = until
        self.counters["defences/blacklistings"] += 1
        if len(self.blacklistings) < MAX_BLACKLISTINGS:
            entry = Blacklisting(bot, source, now, until)
            self.blacklistings.append(entry)
            self._by_bot.setdefault(bot, []).append(entry)
            self.touched.add(bot)
        return True

    def _prune(self, now: float) -> None:
        """Forget pairs with no request inside the window and blacklistings that ended
        (bounded memory under scans). A full pass costs one look at every pair, so it runs at
        most once per half window however many new sources come."""
        if now - self._pruned_at < self.window / 2:
            return
        self._pruned_at = now
        stale = [k for k, t in self._recent.items() if not t or t[-1] <= now - self.window]
        for key in stale:
            del self._recent[key]
        ended = [k for k, until in self._banned.items() if until is not None and until <= now]
        for key in ended:
            del self._banned[key]

    def blacklisted(self, bot: int, source: str, now: float) -> bool:
        """Whether ``bot`` ignores ``source`` at ``now``."""
        if self.antiabuse.blacklisted(bot, source):
            return True
        if (bot, source) not in self._banned:
            return False
        until = self._banned[(bot, source)]
        return until is None or now < until

    def blacklistings_of(self, bot: int) -> list[Blacklisting]:
        """Every blacklisting ``bot`` made, oldest first (the truth's ``blacklisted``)."""
        return list(self._by_bot.get(bot, ()))

    # -- what a bot has heard ---------------------------------------------------------------

    def heard(self, bot: int, ip: str, now: float) -> None:
        """``bot`` heard from ``ip`` now: it is no stranger, and ``recent`` puts it first."""
        if not self._remembers:
            return
        heard = self._heard.get(bot)
        if heard is None:
            heard = self._heard[bot] = {}
        if ip not in heard and len(heard) >= MAX_HEARD_PER_BOT:
            oldest = min(heard, key=heard.__getitem__)
            del heard[oldest]
        heard[ip] = now

    def knows(self, bot: int, ip: str) -> bool:
        """Whether ``ip`` is in ``bot``'s list (first or learned) or contacted it before."""
        heard = self._heard.get(bot)
        if heard is not None and ip in heard:
            return True
        index = self.population.bots[bot].peer_index
        cached = self._known.get(bot)
        if cached is None or cached[0] != len(index):
            texts = self.population.entry_texts
            ips = frozenset(texts[j].rpartition(":")[0] for j in index)
            cached = self._known[bot] = (len(index), ips)
        return ip in cached[1]

    def addresses_changed(self) -> None:
        """Entries of :attr:`Population.entry_texts` changed (a bot moved): forget the peer
        addresses :meth:`knows` cached."""
        self._known.clear()

    # -- what a reply names -----------------------------------------------------------------

    def choose(
        self,
        bot: int,
        entries: Sequence[int],
        distance: Callable[[int], int] | None = None,
        requester: str | None = None,
    ) -> list[int]:
        """The entries (indexes into :attr:`Population.entry_texts`) one reply of ``bot``
        names, in order, out of ``entries`` (the bot's list of the moment, as the protocol
        would answer it). ``distance`` maps an entry to its distance from the requester's ID
        (``closest``; None: the protocol has no IDs, ``closest`` acts as ``random``).

        ``requester`` (its IP) makes the ``random`` restriction the same few peers for every
        request of that requester while the list stays the same, as a bot that keeps a
        neighbour set per contact would: asking again does not reveal more. Without it each
        reply draws afresh."""
        cfg = self.cfg
        chosen = list(entries)
        if cfg.peer_order == "recent":
            heard = self._heard.get(bot, {})
            texts = self.population.entry_texts
            # Peers heard from most recently first; the rest keep their (list) order.
            chosen.sort(key=lambda e: -heard.get(texts[e].rpartition(":")[0], float("-inf")))
        if cfg.peer_list_cap is not None:
            chosen = chosen[: cfg.peer_list_cap]
        if cfg.neighbour_restriction == "closest" and distance is not None:
            chosen = sorted(chosen, key=distance)[: cfg.restrict_to]
        elif cfg.neighbour_restriction != "none" and len(chosen) > cfg.restrict_to:
            rng = self.rng
            if requester is not None:
                rng = random.Random(f"{self.population.seed}:{bot}:{requester}")
            chosen = rng.sample(chosen, cfg.restrict_to)
        if cfg.reply_peers is not None and len(chosen) > cfg.reply_peers:
            if cfg.neighbour_restriction == "none" and cfg.peer_order == "random":
                chosen = self.rng.sample(chosen, cfg.reply_peers)
            else:
                chosen = chosen[: cfg.reply_peers]
        return chosen
