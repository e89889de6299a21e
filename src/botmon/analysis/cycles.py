"""The 24-hour cycle of hourly presence counts, and dips that a region's local time does not
explain: the numbers behind the diurnal analysis (:mod:`botmon.analysis.diurnal`), on plain
arrays so they are tested without a store.

A cycle is fitted by least squares, not read off a discrete Fourier transform, because the
fit takes any time coordinate (UTC, or local time with the offset of each day, so daylight
saving moves the hours as it should), leaves out hours that are missing or known to be
throttled, and absorbs a slow trend (a growing or shrinking botnet) that would otherwise
leak into the daily component.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]

OMEGA = 2 * math.pi / 24
"""Angular frequency of the daily component, per hour."""


@dataclass(frozen=True)
class Series:
    """One region's hourly counts: ``counts[i]`` in the hour whose middle is ``hours[i]``
    (hours since the epoch, shifted by the region's UTC offset for local time); ``use[i]``
    False leaves the hour out (no monitoring, or a throttled window)."""

    counts: Floats
    hours: Floats
    use: Bools


@dataclass(frozen=True)
class Cycle:
    """The daily component of one or several regions' counts."""

    strength: float
    """Amplitude of the 24 h component relative to the mean (0: flat; 1: the count falls to
    zero at the trough)."""
    peak_hour: float
    """Hour of day (0 <= h < 24) at which the 24 h component peaks."""
    explained: float
    """Share of the variance left after mean and trend that the 24 h component explains."""


def _baseline(hours: Floats) -> Floats:
    """Mean and linear trend columns (the trend centred and scaled, for conditioning)."""
    centre = (hours.max() + hours.min()) / 2
    span = max(1.0, float(hours.max() - hours.min()))
    return np.column_stack([np.ones_like(hours), (hours - centre) / span])


def _residual(columns: Floats, y: Floats) -> Floats:
    """What of ``y`` the columns do not explain (least squares)."""
    coef, *_ = np.linalg.lstsq(columns, y, rcond=None)
    out: Floats = y - columns @ coef
    return out


def fit_cycle(groups: Sequence[Series], min_hours: int = 24) -> Cycle | None:
    """The 24 h cycle shared by ``groups``: each group keeps its own mean and trend, all
    share one relative amplitude and phase (each group's sine weighted by its mean, so a
    big region counts for more). Fitted by projecting every group's own mean and trend out
    (equivalent to the joint least squares, without a column per group). None when fewer
    than ``min_hours`` hours are usable or the counts have no positive mean."""
    ys: list[Floats] = []
    xs: list[Floats] = []
    for g in groups:
        keep = g.use & np.isfinite(g.counts)
        if int(keep.sum()) < 4:
            continue
        y, h = g.counts[keep].astype(np.float64), g.hours[keep]
        base = _baseline(h)
        wave = np.column_stack([np.cos(OMEGA * h), np.sin(OMEGA * h)])
        coef, *_ = np.linalg.lstsq(np.column_stack([base, wave]), y, rcond=None)
        level = float(coef[0])
        if not level > 0:
            continue
        ys.append(_residual(base, y))
        xs.append(
            np.column_stack(
                [_residual(base, level * wave[:, 0]), _residual(base, level * wave[:, 1])]
            )
        )
    if not ys or sum(len(y) for y in ys) < min_hours:
        return None
    y_all, x_all = np.concatenate(ys), np.concatenate(xs)
    (a, b), *_ = np.linalg.lstsq(x_all, y_all, rcond=None)
    before = float(y_all @ y_all)
    after = y_all - x_all @ np.array([a, b])
    explained = 1 - float(after @ after) / before if before > 0 else 0.0
    peak = (math.atan2(float(b), float(a)) / OMEGA) % 24
    return Cycle(
        strength=float(math.hypot(float(a), float(b))),
        peak_hour=0.0 if peak >= 24 - 1e-9 else peak,
        explained=max(0.0, explained),
    )


def local_shape(profiles: Sequence[tuple[Floats, float]]) -> Floats | None:
    """The expected presence by local hour of day (24 values, mean 1) from other regions'
    local-hour profiles (mean count per local hour, and the region's weight): each profile
    normalised to mean 1, then averaged by weight. None without a usable profile."""
    total = np.zeros(24)
    weight = 0.0
    for profile, w in profiles:
        mean = float(np.mean(profile))
        if mean > 0 and w > 0:
            total += w * profile / mean
            weight += w
    if weight <= 0:
        return None
    shape: Floats = total / weight
    return shape


@dataclass(frozen=True)
class Dip:
    """A window of UTC hours in which a region's presence stayed well below what its local
    time predicts, day after day."""

    first_hour: int
    """First UTC hour of the window (0..23)."""
    hours: int
    """Length of the window in hours (it may wrap past midnight)."""
    observed: float
    """Mean count per hour in the window."""
    expected: float
    """Mean count per hour the other regions' local-time profile predicts there."""
    days_held: int
    """Days on which the window's mean fell below the drop threshold."""
    days: int
    """Complete days judged."""

    def window(self) -> list[int]:
        """The window's UTC hours of day, in order."""
        return [(self.first_hour + k) % 24 for k in range(self.hours)]


@dataclass(frozen=True)
class DipRule:
    """When a dip counts: thresholds of the throttling rule (the analysis's options)."""

    drop: float = 0.5
    """An hour dips when its count is below ``(1 - drop)`` times the expected count."""
    held_share: float = 0.6
    """...on at least this share of the complete days."""
    max_window_h: int = 12
    """Longer runs of dipped hours are a low level or an outage, not a window."""
    min_expected: float = 5.0
    """Expected count per hour in the window needed to judge a region at all."""


def expected_counts(observed: Floats, shape: Floats) -> Floats:
    """Each day's expected counts per UTC hour: the day's level (the median ratio of the
    observed counts to the shape, robust to a dip of a few hours) times the shape.
    ``observed`` and ``shape`` are (days, 24) arrays indexed by UTC hour."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(shape > 0, observed / shape, np.nan)
    level = np.nanmedian(np.where(np.isfinite(ratio), ratio, np.nan), axis=1)
    level = np.where(np.isfinite(level), level, 0.0)
    out: Floats = level[:, None] * shape
    return out


def dipped_hours(observed: Floats, expected: Floats, rule: DipRule) -> Bools:
    """UTC hours of day (24 flags) that dipped on at least ``rule.held_share`` of the days."""
    days = observed.shape[0]
    if days == 0:
        return np.zeros(24, dtype=np.bool_)
    low = observed < (1 - rule.drop) * expected
    held = low.sum(axis=0)
    out: Bools = held >= max(1.0, rule.held_share * days)
    return out


def find_dip(observed: Floats, expected: Floats, flags: Bools, rule: DipRule) -> Dip | None:
    """The longest run of flagged UTC hours (wrapping past midnight) no longer than
    ``rule.max_window_h`` whose expected count reaches ``rule.min_expected``; ties go to the
    deeper dip. ``observed`` and ``expected`` are (days, 24)."""
    if observed.shape[0] == 0 or flags.all() or not flags.any():
        return None
    runs: list[tuple[int, int]] = []
    # Start scanning just after an unflagged hour so a run across midnight stays whole.
    begin = (int(np.flatnonzero(~flags)[0]) + 1) % 24
    run_start, run_len = -1, 0
    for k in range(24):
        h = (begin + k) % 24
        if flags[h]:
            if run_len == 0:
                run_start = h
            run_len += 1
        elif run_len:
            runs.append((run_start, run_len))
            run_len = 0
    if run_len:
        runs.append((run_start, run_len))
    best: Dip | None = None
    for first, length in runs:
        if length > rule.max_window_h:
            continue
        cols = [(first + k) % 24 for k in range(length)]
        exp_day = expected[:, cols].mean(axis=1)
        obs_day = observed[:, cols].mean(axis=1)
        exp_mean = float(exp_day.mean())
        if exp_mean < rule.min_expected:
            continue
        dip = Dip(
            first_hour=first,
            hours=length,
            observed=float(obs_day.mean()),
            expected=exp_mean,
            days_held=int((obs_day < (1 - rule.drop) * exp_day).sum()),
            days=int(observed.shape[0]),
        )
        if best is None or (dip.hours, -dip.observed / dip.expected) > (
            best.hours,
            -best.observed / best.expected,
        ):
            best = dip
    return best
