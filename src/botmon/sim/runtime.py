"""What every emulator shares at run time: population, churn ticks, truth file, seeds, stop.

A protocol emulator subclasses :class:`Emulator` and supplies ``_open`` / ``_close`` (its
sockets) and ``_send`` (its bots' contacts to peers outside the botnet); everything else —
the churn clock, the bots' peer exchange (:mod:`botmon.sim.exchange`), anti-crawling state,
counters, the ground-truth file and a clean, idempotent stop — lives here once.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from botmon.settings.sim import CommonConfig
from botmon.sim.churn import CHURN_PROFILES, ChurnModel
from botmon.sim.defences import Defences
from botmon.sim.exchange import PeerExchange
from botmon.sim.population import Bot, Population, build_population
from botmon.sim.stats import SourceStats, Stats
from botmon.sim.truth import TruthWriter, truth_records

TICK_S = 0.05
"""How often churn events are applied; bounds how late a bot goes on- or offline."""


class TruthFileError(RuntimeError):
    """The ground-truth file cannot be written; the message is one line."""


class Emulator:
    """An emulated botnet on loopback: ``await start()``, read counters, ``await stop()``."""

    protocol = "?"

    def __init__(self, cfg: CommonConfig, *, clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.clock = clock
        self.seed = (
            cfg.seed_rng if cfg.seed_rng is not None else random.SystemRandom().getrandbits(63)
        )
        self.population: Population = build_population(cfg, self.seed)
        self.stats = Stats()
        self.defences = Defences(cfg, self.population)
        self.antiabuse = self.defences
        """Every core asks :meth:`Defences.check` (the older name is kept for its callers)."""
        # Answer randomness (which peer, garbage bytes) is seeded too, but apart from the
        # population so the botnet stays the same whatever traffic it gets.
        self.rng = random.Random(self.seed ^ 0x5EED)
        self.churn = ChurnModel(
            cfg.bots, CHURN_PROFILES[cfg.churn], cfg.churn_scale, self.seed, start=0.0
        )
        self.exchange = PeerExchange(cfg, self.population, self.churn.online, self.stats, self.seed)
        self._truth = (
            TruthWriter(cfg.truth, self.population, self._truth_extras) if cfg.truth else None
        )
        self._truth_dirty = False
        self._truth_written_at = 0.0
        self.last_truth_error: str | None = None
        self._truth_write_s = 0.0
        self._tick_task: asyncio.Task[None] | None = None
        self.started_at: float | None = None
        self.stopped_at: float | None = None

    # -- what tests and the CLI read ------------------------------------------------------

    @property
    def bots(self) -> list[Bot]:
        """Every bot, in index order."""
        return self.population.bots

    @property
    def running(self) -> bool:
        """True between a successful ``start()`` and ``stop()``."""
        return self.started_at is not None and self.stopped_at is None

    @property
    def counters(self) -> dict[str, int]:
        """Totals under the keys documented in :mod:`botmon.sim.stats`, and
        ``defences/blacklistings``."""
        return {**self.stats.counters, **self.defences.counters}

    @property
    def by_source(self) -> dict[str, SourceStats]:
        """Requests, answers and drops per source IP (the first 10,000 sources)."""
        return self.stats.by_source

    def is_online(self, bot: Bot) -> bool:
        """Whether ``bot`` is in an online session right now."""
        return bool(self.churn.online[bot.index])

    def online_count(self) -> int:
        """Bots online now (NAT ones included)."""
        return sum(self.churn.online)

    def contacts_by_peer(self) -> dict[str, int]:
        """Outside peers (sensors, crawlers) bots contacted, with how many bots did."""
        return dict(self.exchange.totals)

    def seeds(self, k: int = 5) -> list[tuple[str, int]]:
        """``k`` answering bots to start a crawl from: normal, not NATed, online first."""
        order = self.population.seed_order
        online = [i for i in order if self.churn.online[i]]
        offline = [i for i in order if not self.churn.online[i]]
        return [self.bots[i].address for i in (online + offline)[:k]]

    def truth(self) -> list[dict[str, Any]]:
        """The ground truth as the file holds it, one dictionary per bot."""
        return truth_records(self.population, self.churn.sessions, self._truth_extras)

    def status_line(self) -> str:
        """One short line for a live status display."""
        c = self.stats.counters
        if self.stopped_at is not None:
            state = f"stopped, {len(self.bots)} bots"
        else:
            state = f"{self.online_count()}/{len(self.bots)} online"
        return (
            f"{self.protocol}: {state} | requests {c['requests']} answers {c['answers']} "
            f"dropped {self.stats.dropped_total()} | exchanges {c['exchange/rounds']} "
            f"outside contacts {c['exchange/outside_contacts']}"
        )

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the sockets, start the churn clock and write the first truth file."""
        if self.started_at is not None:
            raise RuntimeError("an emulator starts once")
        now = self.clock()
        self.churn = ChurnModel(
            self.cfg.bots, CHURN_PROFILES[self.cfg.churn], self.cfg.churn_scale, self.seed, now
        )
        self.exchange.start(now, self.churn.online)
        await self._open()
        try:
            self._write_truth()
        except OSError as exc:
            await self._close()
            raise TruthFileError(
                f"cannot write the truth file {self.cfg.truth}: {exc.strerror or exc}"
            ) from None
        self.started_at = now
        self._tick_task = asyncio.create_task(self._tick(), name=f"sim-{self.protocol}-tick")

    async def stop(self) -> None:
        """Close every socket, end open sessions now, write the final truth. Idempotent."""
        if self.started_at is None or self.stopped_at is not None:
            return
        now = self.clock()
        self.stopped_at = now
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
            self._tick_task = None
        await self._close()
        flipped = self.churn.advance(now)
        if flipped:
            self._on_flips(flipped)
        self.churn.close_all(now)
        try:
            self._write_truth()
        except OSError as exc:
            self.last_truth_error = str(exc)
            raise TruthFileError(
                f"cannot write the final truth file {self.cfg.truth}: {exc.strerror or exc}"
            ) from None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _open(self) -> None:
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError

    def _send(self, contacts: list[tuple[int, int]]) -> None:
        """Send each (bot, entry) contact to the peer outside the botnet, from the bot."""
        raise NotImplementedError

    def _on_flips(self, flipped: list[int]) -> None:
        """Bots that just went on- or offline; a protocol emulator may react (new address)."""

    def _truth_extras(self, bot: Bot) -> dict[str, Any]:
        """Fields of ``bot``'s truth line beyond the population's: outside peers contacted."""
        extras: dict[str, Any] = {"contacted": dict(self.exchange.contacted[bot.index] or {})}
        return self._defence_extras(bot, extras)

    def _defence_extras(self, bot: Bot, extras: dict[str, Any]) -> dict[str, Any]:
        """``extras`` with ``blacklisted`` (``[[source_ip, since, until|null], ...]``): every
        blacklisting the bot made, when its botnet fights back (any emulator adds this)."""
        found = self.defences.blacklistings_of(bot.index)
        if found:
            extras["blacklisted"] = [b.as_truth() for b in found]
        return extras

    def _truth_stale(self) -> None:
        """Say that more than sessions changed (addresses), so the whole truth is re-rendered."""
        if self._truth is not None:
            self._truth.stale = True

    async def _tick(self) -> None:
        interval = self.cfg.truth_interval_s
        while True:
            await asyncio.sleep(TICK_S)
            now = self.clock()
            flipped = self.churn.advance(now)
            if flipped:
                self._on_flips(flipped)
                self._truth_dirty = True
            contacts = self.exchange.tick(now)
            if contacts:
                self._send(contacts)
            touched = self.exchange.touched
            if self.defences.touched:
                touched.update(self.defences.touched)
                self.defences.touched.clear()
            if touched:
                if self._truth is not None:
                    self._truth.touch(touched)
                touched.clear()
                self._truth_dirty = True
            # A rewrite of 50,000 bots takes ~0.2 s: never spend more than a tenth of the
            # time rewriting, however fast sessions change.
            gap = max(interval, 10 * self._truth_write_s)
            if self._truth_dirty and time.monotonic() - self._truth_written_at >= gap:
                try:
                    self._write_truth()
                except OSError as exc:
                    # A full disk must not stop the botnet; the next change retries.
                    self.stats.counters["truth_errors"] += 1
                    self.last_truth_error = str(exc)

    def _write_truth(self) -> None:
        self._truth_dirty = False
        self._truth_written_at = time.monotonic()
        if self._truth is not None:
            began = time.perf_counter()
            self._truth.write(self.churn.sessions)
            self._truth_write_s = time.perf_counter() - began
