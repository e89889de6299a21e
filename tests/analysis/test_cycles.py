"""The daily-cycle fit and the dip rule on hourly counts whose cycle and dip are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from botmon.analysis import cycles
from botmon.analysis.cycles import DipRule, Series

DAYS = 5
HOURS = np.arange(DAYS * 24, dtype=np.float64) + 0.5 + 1_000_000 * 24  # middles, epoch hours


def counts(
    level: float,
    strength: float,
    peak: float,
    noise: float = 0.0,
    trend: float = 0.0,
    seed: int = 1,
    offset: float = 0.0,
) -> np.ndarray:
    """Poisson counts of a cycle with a known strength and peak (in the clock ``offset``
    hours ahead of UTC), a linear trend and noise."""
    rng = np.random.default_rng(seed)
    t = HOURS + offset
    mean = level * (1 + strength * np.cos(cycles.OMEGA * (t - peak)))
    mean *= 1 + trend * (HOURS - HOURS[0]) / len(HOURS)
    if noise:
        return rng.poisson(mean).astype(np.float64)
    return mean


def all_hours() -> np.ndarray:
    return np.ones(len(HOURS), dtype=np.bool_)


@pytest.mark.parametrize(("strength", "peak"), [(0.3, 20.0), (0.6, 3.5), (0.1, 12.0)])
def test_fit_recovers_strength_and_peak_despite_trend_and_noise(
    strength: float, peak: float
) -> None:
    c = counts(200, strength, peak, noise=1, trend=0.3)
    fit = cycles.fit_cycle([Series(c, HOURS, all_hours())])
    assert fit is not None
    assert fit.strength == pytest.approx(strength, abs=0.03)
    gap = abs((fit.peak_hour - peak + 12) % 24 - 12)
    assert gap < 0.5, (fit.peak_hour, peak)
    assert fit.explained > 0.5


def test_flat_counts_have_no_strength_and_explain_nothing() -> None:
    fit = cycles.fit_cycle([Series(counts(200, 0.0, 0.0, noise=1), HOURS, all_hours())])
    assert fit is not None
    assert fit.strength < 0.03
    assert fit.explained < 0.15


def test_local_clock_moves_the_peak_by_the_offset_and_regions_share_one_cycle() -> None:
    # Two countries peak at 20:00 local time: 12:00 and 01:00 UTC.
    cn = counts(150, 0.4, 20.0, noise=1, offset=8, seed=2)
    br = counts(60, 0.4, 20.0, noise=1, offset=-3, seed=3)
    utc_cn = cycles.fit_cycle([Series(cn, HOURS, all_hours())])
    assert utc_cn is not None and abs(utc_cn.peak_hour - 12.0) < 0.5
    groups = [Series(cn, HOURS + 8, all_hours()), Series(br, HOURS - 3, all_hours())]
    both = cycles.fit_cycle(groups)
    assert both is not None
    assert abs(both.peak_hour - 20.0) < 0.5
    assert both.strength == pytest.approx(0.4, abs=0.04)


def test_a_masked_throttled_window_leaves_the_fit_undisturbed() -> None:
    c = counts(200, 0.3, 20.0, noise=1)
    window = (np.floor(HOURS) % 24 >= 18) & (np.floor(HOURS) % 24 < 22)
    throttled = np.where(window, 0.0, c)
    raw = cycles.fit_cycle([Series(throttled, HOURS, all_hours())])
    masked = cycles.fit_cycle([Series(throttled, HOURS, ~window)])
    assert raw is not None and masked is not None
    assert abs((raw.peak_hour - 20 + 12) % 24 - 12) > 2  # the dip drags the raw peak away
    assert abs((masked.peak_hour - 20 + 12) % 24 - 12) < 0.5


def test_too_few_hours_give_no_cycle() -> None:
    short = Series(counts(100, 0.3, 20.0)[:20], HOURS[:20], all_hours()[:20])
    assert cycles.fit_cycle([short]) is None
    assert cycles.fit_cycle([Series(np.zeros(len(HOURS)), HOURS, all_hours())]) is None


def by_day(c: np.ndarray) -> np.ndarray:
    """(days, 24) by UTC hour (HOURS starts at 00:30 UTC)."""
    return c.reshape(DAYS, 24)


def shape_for(offset: float, peak: float = 20.0, strength: float = 0.3) -> np.ndarray:
    """The local-time shape shifted to a region's UTC hours, for every day."""
    local = np.array([1 + strength * math.cos(cycles.OMEGA * (h + 0.5 - peak)) for h in range(24)])
    return np.tile([local[int(h + offset) % 24] for h in range(24)], (DAYS, 1))


@pytest.mark.parametrize(("first", "length"), [(10, 4), (22, 4), (0, 1)])
def test_a_daily_window_is_found_even_across_midnight(first: int, length: int) -> None:
    c = by_day(counts(100, 0.3, 20.0, noise=1, offset=8))
    hours = [(first + k) % 24 for k in range(length)]
    c[:, hours] *= 0.1
    expected = cycles.expected_counts(c, shape_for(8))
    rule = DipRule()
    dip = cycles.find_dip(c, expected, cycles.dipped_hours(c, expected, rule), rule)
    assert dip is not None
    assert dip.window() == hours
    assert dip.days_held == DAYS
    assert dip.observed < 0.2 * dip.expected


def test_local_time_explains_an_ordinary_night_and_noise_is_no_window() -> None:
    for seed in range(5):
        c = by_day(counts(40, 0.6, 20.0, noise=1, offset=-3, seed=seed))
        expected = cycles.expected_counts(c, shape_for(-3, strength=0.6))
        rule = DipRule()
        assert cycles.find_dip(c, expected, cycles.dipped_hours(c, expected, rule), rule) is None


def test_the_rule_thresholds_decide() -> None:
    c = by_day(counts(100, 0.0, 0.0))  # no noise: the thresholds alone decide
    c[:, 5:8] *= 0.6  # a 40 % dip
    c[:3, 14:16] *= 0.2  # a deep dip on 3 of 5 days only
    expected = cycles.expected_counts(c, np.ones((DAYS, 24)))

    def dip(**kw: float) -> cycles.Dip | None:
        rule = DipRule(**kw)  # type: ignore[arg-type]
        return cycles.find_dip(c, expected, cycles.dipped_hours(c, expected, rule), rule)

    assert dip() is None or dip().window() == [14, 15]  # type: ignore[union-attr]
    found = dip(drop=0.3, held_share=0.9)
    assert found is not None and found.window() == [5, 6, 7]
    assert dip(drop=0.3, held_share=0.9, max_window_h=2) is None
    assert dip(drop=0.3, held_share=0.9, min_expected=1000) is None
    held = dip(held_share=0.6)
    assert held is not None and held.window() == [14, 15] and held.days_held == 3
