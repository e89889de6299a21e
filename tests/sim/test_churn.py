"""Churn on a virtual clock: sessions alternate, follow the profile and are reproducible."""

from __future__ import annotations

import statistics

from botmon.sim.churn import (
    CHURN_PROFILES,
    ChurnModel,
    ChurnProfile,
    offline_length,
    online_length,
    uniform,
)

LIGHT = CHURN_PROFILES["light"]
HEAVY = CHURN_PROFILES["heavy"]
assert LIGHT is not None and HEAVY is not None


def _run(model: ChurnModel, until: float, step: float) -> None:
    t = model.start
    while t < until:
        t = min(until, t + step)
        model.advance(t)


def test_no_churn_means_one_open_session_from_start() -> None:
    model = ChurnModel(5, None, 1.0, seed=1, start=1000.0)
    assert model.advance(10_000.0) == []
    assert model.sessions == [[[1000.0, None]]] * 5
    assert all(model.online)


def test_sessions_alternate_with_gaps_and_respect_the_minimum_length() -> None:
    model = ChurnModel(200, HEAVY, 0.01, seed=3, start=0.0)
    _run(model, 60.0, 0.05)
    minimum = HEAVY.min_period_s * 0.01
    flips = 0
    for i, sessions in enumerate(model.sessions):
        for k, (start, end) in enumerate(sessions):
            assert start is not None
            if end is None:
                assert k == len(sessions) - 1 and model.online[i]
                continue
            assert end - start >= minimum - 1e-9
            if k + 1 < len(sessions):
                nxt = sessions[k + 1][0]
                assert nxt is not None and nxt - end >= minimum - 1e-9
            flips += 1
    assert flips > 200  # heavy churn at 1/100 scale flips often within a virtual minute


def test_schedule_does_not_depend_on_how_ticks_fall() -> None:
    coarse = ChurnModel(100, LIGHT, 0.01, seed=11, start=50.0)
    fine = ChurnModel(100, LIGHT, 0.01, seed=11, start=50.0)
    _run(coarse, 200.0, 1.7)
    _run(fine, 200.0, 0.01)
    coarse.advance(200.0)
    fine.advance(200.0)
    assert coarse.sessions == fine.sessions


def test_stationary_start_and_means_match_the_profile() -> None:
    model = ChurnModel(20_000, HEAVY, 1.0, seed=5, start=0.0)
    share = sum(model.online) / 20_000
    expected = HEAVY.online_mean_s / (HEAVY.online_mean_s + HEAVY.offline_mean_s)
    assert abs(share - expected) < 0.02
    on = [online_length(LIGHT, uniform(1, i, 0)) for i in range(20_000)]
    off = [offline_length(LIGHT, uniform(2, i, 0)) for i in range(20_000)]
    assert abs(statistics.mean(on) / LIGHT.online_mean_s - 1) < 0.08
    assert abs(statistics.mean(off) / LIGHT.offline_mean_s - 1) < 0.05
    # shape < 1: the median session is shorter than the mean (many short, a long tail).
    assert statistics.median(on) < 0.7 * LIGHT.online_mean_s


def test_close_all_ends_open_sessions_at_stop_time() -> None:
    profile = ChurnProfile(online_mean_s=100.0, online_shape=1.0, offline_mean_s=1.0)
    model = ChurnModel(50, profile, 1.0, seed=2, start=0.0)
    model.advance(10.0)
    model.close_all(12.5)
    assert not any(model.online)
    for sessions in model.sessions:
        assert all(end is not None for _, end in sessions)
    assert any(s[-1][1] == 12.5 for s in model.sessions if s)
    assert model.next_event() is None
