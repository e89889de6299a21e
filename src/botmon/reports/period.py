"""Which UTC span a daily or weekly report covers.

A daily report is one UTC day; a weekly report is the seven UTC days ending with the day
named (so ``--date`` of a Sunday gives that ISO week, Monday to Sunday). Without a date, a
daily report covers yesterday and a weekly report the last full ISO week, so a report run
from cron at any hour of a day names the same, finished period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

Kind = Literal["daily", "weekly"]
KINDS: tuple[Kind, ...] = ("daily", "weekly")
DAY_S = 86400


class PeriodError(ValueError):
    """A date or kind a report cannot be made for; the message says what is accepted."""


@dataclass(frozen=True)
class Period:
    """``[start, end)`` in epoch seconds, whole UTC days."""

    kind: Kind
    first_day: date
    last_day: date

    @property
    def start(self) -> float:
        return datetime(*self.first_day.timetuple()[:3], tzinfo=UTC).timestamp()

    @property
    def end(self) -> float:
        return self.start + self.days * DAY_S

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def label(self) -> str:
        """``2026-12-06`` for a day, ``2026-W49`` for an ISO week, else first..last."""
        if self.kind == "daily":
            return self.first_day.isoformat()
        year, week, weekday = self.last_day.isocalendar()
        if weekday == 7:
            return f"{year}-W{week:02d}"
        return f"{self.first_day.isoformat()}..{self.last_day.isoformat()}"


def parse_day(text: str) -> date:
    """``YYYY-MM-DD``; PeriodError otherwise."""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"date must be a day as YYYY-MM-DD, not {text[:40]!r}") from None


def period_for(kind: str, day: date | None, today: date | None = None) -> Period:
    """The period of ``kind`` ending with ``day`` (default: the last finished one).

    A period that has not ended yet (``day`` is today or later) is refused: its counts would
    change after the report is signed."""
    if kind not in KINDS:
        raise PeriodError(f"report kind must be daily or weekly, not {kind[:40]!r}")
    today = today or datetime.now(UTC).date()
    if day is None:
        # the last Sunday before today ends the last full ISO week
        back = 1 if kind == "daily" else today.isoweekday()
        day = today - timedelta(days=back)
    if day >= today:
        raise PeriodError(f"{day.isoformat()} has not ended yet (UTC): name a past day")
    if day.year < 2000:
        raise PeriodError("date must be in the year 2000 or later")
    span = 1 if kind == "daily" else 7
    return Period(kind, day - timedelta(days=span - 1), day)  # type: ignore[arg-type]
