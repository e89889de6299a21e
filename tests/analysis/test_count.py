"""Counting bots, checked against generated traces whose truth is known.

Given an ID-less botnet and an ID-bearing botnet generated in the same countries (so in
the same ASes, each AS with one address reassignment period), the estimate of the ID-less
botnet's bots, calibrated on the other, has the true number of responsive bots inside its
interval in at least 90 % of seeded runs, while its raw IP count overstates that number
when addresses change often. The same data gives the same result on DuckDB and
PostgreSQL, and bad options are refused with a message naming them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from botmon.analysis import framework
from botmon.analysis.count import ANALYSIS, CountResult
from botmon.analysis.framework import OptionError
from botmon.analysis.table import UnknownBotnet
from botmon.sim.history import Geo
from botmon.sim.trace import DAY, TraceModel, TraceTruth, generate_trace
from botmon.store import open_store
from botmon.store.base import Store

COUNTRIES = {"CN": 35.0, "IN": 25.0, "BR": 20.0, "US": 20.0}
SEEDS = range(1, 11)
COVERAGE = 0.9
"""The issue's bar: the interval holds the truth in at least 90 % of seeded runs."""


def model(name: str, with_ids: bool, **extra: Any) -> TraceModel:
    """A small, fast trace: two hundred bots over two days, crawled every 15 minutes
    (no peer lists: counting reads replies only), reassigning addresses every 6 to 24
    hours."""
    values: dict[str, Any] = {
        "botnet": name,
        "bots": 200,
        "days": 2.0,
        "with_ids": with_ids,
        "countries": COUNTRIES,
        "dynamic_share": 0.7,
        "reassign_hours": (6.0, 24.0),
        "crawl_interval_s": 900,
        "peers_per_reply": 0,
        "foreign_crawlers": 0,
        "foreign_sensors": 0,
        "sensor": False,
        "throttle": None,
    }
    values.update(extra)
    return TraceModel(**values)


def pair(
    store: Store, seed: int, geo: Geo | None = None, **extra: Any
) -> tuple[TraceTruth, TraceTruth]:
    """An ID-bearing and an ID-less botnet of the same countries in one store (``geo``
    shared: loading the geo data is most of a small trace's time)."""
    geo = geo or Geo()
    ided = generate_trace(store, model("ided", True, **extra), seed=seed, geo=geo)
    plain = generate_trace(store, model("plain", False, **extra), seed=seed + 1000, geo=geo)
    return ided, plain


def count(store: Store, truth: TraceTruth, **options: Any) -> CountResult:
    m = truth.model
    request = ANALYSIS.request(
        m.botnet, m.start, m.start + m.days * DAY, source="crawler", values=options
    )
    result = ANALYSIS.compute(store, request)
    assert isinstance(result, CountResult)
    return result


def active(truth: TraceTruth) -> int:
    m = truth.model
    return truth.active_bots(m.start, m.start + m.days * DAY, responsive=True)


@pytest.fixture
def duck(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(str(tmp_path / "count.duckdb"))
    try:
        opened.migrate()
        yield opened
    finally:
        opened.close()


def test_interval_holds_the_true_count_of_an_id_less_botnet(tmp_path: Path) -> None:
    covered = 0
    lines = []
    geo = Geo()
    for seed in SEEDS:
        store = open_store(str(tmp_path / f"seed{seed}.duckdb"))
        try:
            store.migrate()
            _, plain = pair(store, seed, geo)
            result = count(store, plain, calibrate_with="ided")
        finally:
            store.close()
        truth = active(plain)
        assert result.ci_low is not None
        inside = result.ci_low <= truth <= result.ci_high
        covered += inside
        lines.append(
            f"seed {seed}: truth {truth}, ips {result.ips}, estimate {result.estimate} "
            f"[{result.ci_low}, {result.ci_high}] {'in' if inside else 'OUT'}"
        )
        assert result.calibration.botnet == "ided"
        assert result.ids == 0
    coverage = covered / len(SEEDS)
    print("\n".join(lines) + f"\ncoverage {coverage:.0%} of {len(SEEDS)} seeded runs")
    assert coverage >= COVERAGE, lines


def test_raw_ips_overstate_under_reassignment_and_the_estimate_does_not(duck: Store) -> None:
    ided, plain = pair(duck, 41, dynamic_share=0.9, reassign_hours=(4.0, 8.0))
    result = count(duck, plain)  # the default calibration: the ID-bearing neighbour
    truth = active(plain)
    assert result.calibration.botnet == "ided"
    assert "sharing most ASes" in result.calibration.reason
    assert result.ips > 2 * truth, (result.ips, truth)
    assert result.ci_low is not None and result.ci_low <= truth <= result.ci_high
    assert abs(result.estimate - truth) <= 0.15 * truth
    # A shorter counting window: fewer addresses per bot, and still the truth of that day.
    m = plain.model
    day = count(duck, plain, window_s=DAY)
    last_day = plain.active_bots(m.start + m.days * DAY - DAY, m.start + m.days * DAY)
    assert day.window_s == DAY and day.params["window_s"] == DAY and day.ips < result.ips
    assert day.ci_low is not None and day.ci_low <= last_day <= day.ci_high, (day, last_day)
    # The curve: addresses per ID grow with the window's length.
    overall = [g for g in result.ips_per_id if g.asn is None]
    assert [g.window_s for g in overall][:3] == [3600, 6 * 3600, DAY]
    values = [g.ips_per_id for g in overall]
    assert values == sorted(values) and values[-1] > 3 * values[0], values
    assert any(g.asn is not None for g in result.ips_per_id)
    # Its own IDs check the method: calibrated on itself it lands on its ID count.
    own = count(duck, ided)
    assert own.calibration.botnet == "ided" and own.ids > 0
    assert own.ci_low is not None and own.ci_low <= own.ids <= own.ci_high
    assert abs(own.estimate - own.ids) <= 0.05 * own.ids
    names = [s.name for s in own.sections()]
    assert names == ["summary", "ips_per_id", "per_as"]


def test_without_an_id_bearing_botnet_the_ips_are_an_upper_bound(duck: Store) -> None:
    plain = generate_trace(duck, model("alone", False, bots=60, days=1.0), seed=5)
    result = count(duck, plain)
    assert result.calibration.botnet is None
    assert result.estimate == result.ips == result.ci_high and result.ci_low is None
    assert result.method.startswith("Not estimated")
    assert result.ips >= active(plain) * 0.9


def test_identical_on_duckdb_and_postgresql(store: Store, tmp_path: Path) -> None:
    results = []
    for target in (store, open_store(str(tmp_path / "other.duckdb"))):
        if target is not store:
            target.migrate()
        _, plain = pair(target, 7, bots=80, days=2.0)
        results.append(framework.to_json(count(target, plain, bootstrap=300)))
        if target is not store:
            target.close()
    for r in results:
        r.pop("computed_at")
    assert results[0] == results[1]


def test_bad_options_are_refused(duck: Store) -> None:
    _, plain = pair(duck, 3, bots=40, days=1.0)
    start = plain.model.start
    end = start + DAY
    for texts, word in (
        ({"confidence": "2"}, "confidence"),
        ({"confidence": "x"}, "confidence"),
        ({"bootstrap": "10"}, "bootstrap"),
        ({"bootstrap": "1000000"}, "bootstrap"),
        ({"window_s": "-5"}, "window_s"),
        ({"min_ids": "1"}, "min_ids"),
        ({"nonsense": "1"}, "nonsense"),
    ):
        with pytest.raises(OptionError, match=word):
            ANALYSIS.request("plain", start, end, texts=texts)  # type: ignore[arg-type]
    for values, word in (({"window_s": 60}, "window_s"), ({"calibrate_with": "nope"}, "nope")):
        request = ANALYSIS.request("plain", start, end, values=values)
        with pytest.raises(OptionError, match=word):
            ANALYSIS.compute(duck, request)
    with pytest.raises(UnknownBotnet):
        ANALYSIS.compute(duck, ANALYSIS.request("missing", start, end))
