"""The server's analysis schedule: every analysis of every botnet, recomputed in the background.

Analyses over days of records take seconds; the dashboard's analysis views poll. So
``botmon serve`` recomputes each analysis for each botnet every ``analysis.schedule_s`` with
the configured defaults (the last ``default_range_s`` up to now, both kinds of monitor), one
at a time in the read threads (never in the store threads ingest needs), and keeps the
latest result per (analysis, botnet) in memory. A request that names no range, options or
monitor kind is answered from here while the result is fresh. A failure is logged, counted
and retried on the next round.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field

from botmon.analysis import runs
from botmon.analysis.framework import Analysis, ResultBase
from botmon.server.metrics import Metrics
from botmon.settings import one_line
from botmon.settings.analysis import AnalysisSettings
from botmon.web.access import Access

log = logging.getLogger("botmon.server")

FRESH_ROUNDS = 2.0
"""A scheduled result is served while younger than this many schedule intervals: one late
or failed round still answers from memory, a stopped schedule does not."""


@dataclass
class Scheduled:
    """One scheduled result and when (wall clock, epoch seconds) it was finished."""

    result: ResultBase
    finished_at: float


@dataclass
class Schedule:
    """The latest scheduled result per (analysis, botnet)."""

    settings: AnalysisSettings
    analyses: list[Analysis]
    latest: dict[tuple[str, str], Scheduled] = field(default_factory=dict)
    rounds: int = 0
    """Rounds completed since start (tests wait on it)."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def interval_s(self) -> float:
        return float(self.settings.schedule_s)

    def fresh(self, analysis: str, botnet: str, now: float) -> Scheduled | None:
        """The scheduled result of ``analysis`` for ``botnet`` while fresh, else None."""
        if self.interval_s <= 0:
            return None
        with self._lock:
            found = self.latest.get((analysis, botnet))
        if found is None or now - found.finished_at > FRESH_ROUNDS * self.interval_s:
            return None
        return found

    def keep(self, analysis: str, botnet: str, result: ResultBase, now: float) -> None:
        with self._lock:
            self.latest[(analysis, botnet)] = Scheduled(result, now)

    def forget_others(self, botnets: set[str]) -> None:
        """Drop results of botnets that are gone."""
        with self._lock:
            for key in [k for k in self.latest if k[1] not in botnets]:
                del self.latest[key]

    async def run(self, access: Access, metrics: Metrics | None) -> None:
        """Recompute everything every ``interval_s`` until cancelled."""
        while self.interval_s > 0:
            await self.round(access, metrics)
            self.rounds += 1
            await asyncio.sleep(self.interval_s)

    async def round(self, access: Access, metrics: Metrics | None) -> None:
        """One pass over every analysis and botnet; failures are logged and counted."""
        try:
            botnets = [b.name for b in await access.run_read(access.store.list_botnets)]
        except Exception as exc:
            log.warning("analysis schedule: cannot list botnets: %s", one_line(exc))
            return
        self.forget_others(set(botnets))
        for analysis in self.analyses:
            for botnet in botnets:
                started = time.perf_counter()
                try:
                    request = runs.build_request(
                        analysis, botnet, settings=self.settings, now=time.time()
                    )
                    result = await access.run_read(runs.compute, access.store, analysis, request)
                    self.keep(analysis.name, botnet, result, time.time())
                    outcome = "ok"
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning(
                        "analysis schedule: %s of %s failed: %s",
                        analysis.name,
                        botnet,
                        one_line(exc),
                    )
                    outcome = "failed"
                if metrics is not None:
                    metrics.observe_analysis(analysis.name, outcome, time.perf_counter() - started)
