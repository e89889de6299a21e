"""The crawl's live progress: a rich panel on a terminal, plain periodic lines otherwise.

Both read the same status dict (the heartbeat's), so what a person sees is what the server
is told. Requests per second is the change of the ``sent`` counter between two looks.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from botmon.crawl.counters import RateMeter

StatusFn = Callable[[], dict[str, Any]]
StoredFn = Callable[[], int | None]


def paused_note(s: dict[str, Any]) -> str:
    """`` (paused: spool_full)`` and the like, or nothing while running."""
    return f" (paused: {s.get('paused_reason') or 'command'})" if s.get("paused") else ""


class Progress:
    """Shows known / responsive / in flight / requests per second / replies stored."""

    def __init__(
        self,
        status: StatusFn,
        stored: StoredFn,
        *,
        mode: str = "auto",
        plain_interval_s: float = 10.0,
        stream: TextIO | None = None,
        title: str = "botmon crawl",
    ) -> None:
        self.status = status
        self.stored = stored
        self.stream = stream or sys.stdout
        if mode == "auto":
            mode = "rich" if self.stream.isatty() else "plain"
        self.mode = mode
        self.plain_interval_s = plain_interval_s
        self.title = title
        self._meter = RateMeter(time.monotonic())

    @property
    def rate(self) -> float:
        """Requests per second between the last two looks."""
        return self._meter.rate

    rate_key = "sent"
    """The counter whose growth per second is shown (a sensor shows ``contacts``)."""

    def _sample(self) -> dict[str, Any]:
        s = self.status()
        self._meter.update(int(s.get(self.rate_key, 0)), time.monotonic())
        return s

    def line(self, s: dict[str, Any] | None = None) -> str:
        """One plain status line (also the final summary)."""
        s = s if s is not None else self._sample()
        stored = self.stored()
        stored_text = "-" if stored is None else str(stored)
        state = paused_note(s)
        return (
            f"[{time.strftime('%H:%M:%S')}] round {s.get('round', 0)}{state}: "
            f"known {s.get('known', 0)} responsive {s.get('responsive', 0)} "
            f"tracked {s.get('tracked', 0)} in_flight {s.get('in_flight', 0)} "
            f"req/s {self.rate:.0f} sent {s.get('sent', 0)} bot_replies {s.get('bot_replies', 0)} "
            f"timeouts {s.get('timeouts', 0)} malformed {s.get('malformed', 0)} "
            f"out_of_scope {s.get('out_of_scope', 0)} records_stored {stored_text}"
        )

    def _table(self) -> Table:
        s = self._sample()
        table = Table(title=self.title, show_header=False, expand=False)
        table.add_column("what", style="bold")
        table.add_column("value", justify="right")
        for name, value in self.rows(s, self.stored()):
            table.add_row(name, str(value))
        return table

    def rows(self, s: dict[str, Any], stored: int | None) -> list[tuple[str, object]]:
        """The panel's rows (name, value) for status ``s``."""
        return [
            ("round", f"{s.get('round', 0)}{paused_note(s)}"),
            ("known peers", s.get("known", 0)),
            ("responsive this round", s.get("responsive", 0)),
            ("tracked bots", s.get("tracked", 0)),
            ("in flight", s.get("in_flight", 0)),
            ("requests / s", f"{self.rate:.0f}"),
            ("bot replies", s.get("bot_replies", 0)),
            ("timeouts", s.get("timeouts", 0)),
            ("malformed", s.get("malformed", 0)),
            ("unexpected source", s.get("unexpected_source", 0)),
            ("out of scope (never contacted)", s.get("out_of_scope", 0)),
            ("records stored", "-" if stored is None else stored),
        ]

    async def run(self) -> None:
        """Refresh until cancelled."""
        if self.mode == "none":
            return
        if self.mode == "plain":
            # A line every interval, and one as soon as a round ends (scripts wait for it).
            rounds_seen = 0
            next_line = time.monotonic() + self.plain_interval_s
            while True:
                await asyncio.sleep(min(0.5, self.plain_interval_s))
                s = self.status()
                done = int(s.get("rounds", 0))
                if done != rounds_seen or time.monotonic() >= next_line:
                    s = self._sample()
                    prefix = f"round {done} done: " if done != rounds_seen else ""
                    rounds_seen = done
                    next_line = time.monotonic() + self.plain_interval_s
                    print(prefix + self.line(s), file=self.stream, flush=True)
        console = Console(file=self.stream)
        with Live(self._table(), console=console, refresh_per_second=4, transient=False) as live:
            while True:
                await asyncio.sleep(0.5)
                live.update(self._table())
