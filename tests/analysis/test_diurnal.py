"""The diurnal analysis on stored monitoring data with a known daily cycle and a known
throttling window: the throttled region is flagged with its evidence and the others are not,
peaks land where the bots' local day puts them, a flat population has no strength, and
DuckDB and PostgreSQL give the same result.

Two kinds of data: small stores written here record by record (a cycle and a throttle whose
every number is chosen), and traces from :func:`botmon.sim.trace.generate_trace` (the
modelled population, with its sessions, churn, NAT and loss, polled by a modelled crawler).
"""

from __future__ import annotations

import cmath
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from botmon import enrich
from botmon.analysis import framework
from botmon.analysis.diurnal import ANALYSIS, DiurnalResult
from botmon.analysis.framework import OptionError
from botmon.analysis.table import UnknownBotnet
from botmon.buckets import DAY, HOUR
from botmon.enrich.timezones import utc_offset_hours
from botmon.sim.trace import TraceModel, TraceTruth, generate_trace
from botmon.store import open_store
from botmon.store.base import Store
from botmon.wire import FailedTry, Reply
from tests.store.helpers import make_batch

START = 1_779_840_000.0  # a Sunday, 00:00 UTC
COUNTRIES = {"CN": 60, "IN": 40, "BR": 25, "US": 20}
PEAK_LOCAL = 20.0


def write_cycle(
    store: Store,
    botnet: str,
    *,
    days: int = 3,
    strength: float = 0.5,
    throttle: tuple[str, int, int] | None = ("CN", 10, 14),
    with_ids: bool = True,
    seed: int = 1,
    start: float = START,
) -> None:
    """Bots online each hour with a probability that follows their local day (peak at
    PEAK_LOCAL); in the throttle's country and UTC hours the crawler's tries fail instead."""
    rng = random.Random(seed)
    enricher = enrich.Enricher.default()
    store.create_botnet(botnet)
    bots = [(cc, ip) for cc, n in COUNTRIES.items() for ip in enrich.sample_public_ips(cc, n, rng)]
    replies: list[Reply] = []
    failed: list[FailedTry] = []
    for h in range(days * 24):
        t0 = start + h * HOUR
        offsets = {cc: utc_offset_hours(cc, t0) or 0.0 for cc in COUNTRIES}
        for i, (cc, ip) in enumerate(bots):
            local = (t0 / HOUR + offsets[cc]) % 24
            online = 0.5 * (1 + strength * math.cos(2 * math.pi * (local + 0.5 - PEAK_LOCAL) / 24))
            if rng.random() >= min(1.0, max(0.0, online)):
                continue
            at = t0 + rng.random() * (HOUR - 1)
            if throttle and cc == throttle[0] and throttle[1] <= (t0 // HOUR) % 24 < throttle[2]:
                failed.append(FailedTry(timestamp=at, ip=ip, port=4000, reason="timeout"))
            else:
                bot_id = f"{i:08x}" if with_ids else None
                replies.append(Reply(timestamp=at, ip=ip, port=4000, bot_id=bot_id))
    step = 5000
    for k in range(0, max(len(replies), len(failed)), step):
        batch = make_batch(botnet, f"{botnet}-{k}", replies[k : k + step], failed[k : k + step])
        enricher.enrich_batch(batch)
        store.write_batch(batch, "crawler-1")


def run(store: Store, botnet: str, days: float = 3, **options: Any) -> DiurnalResult:
    request = ANALYSIS.request(botnet, START, START + days * DAY, values=options)
    result = ANALYSIS.compute(store, request)
    assert isinstance(result, DiurnalResult)
    return result


def by_country(result: DiurnalResult) -> dict[str, Any]:
    return {r.country: r for r in result.regions if r.country}


def gap(a: float, b: float) -> float:
    """Distance between two hours of day."""
    return abs((a - b + 12) % 24 - 12)


def test_throttled_region_flagged_with_evidence_others_not(store: Store) -> None:
    write_cycle(store, "cyc")
    result = run(store, "cyc")
    regions = by_country(result)
    assert set(regions) == set(COUNTRIES)
    assert [cc for cc, r in regions.items() if r.throttling_suspected] == ["CN"]
    ev = regions["CN"].evidence
    assert ev is not None
    assert ev.window_utc == [10, 14]
    assert ev.window_local == [18.0, 22.0]  # China is UTC+8 all year
    assert ev.observed == 0 and ev.expected > 10
    assert ev.days_held == ev.days == 3
    assert ev.failed_share_window == 1.0 and ev.failed_share_outside == 0.0
    # The throttled window is left out of CN's fit, so its peak is its bots' own.
    for cc, r in regions.items():
        assert r.strength is not None and r.strength > 0.15, cc
        assert gap(r.peak_hour_local, PEAK_LOCAL) < 1.0, (cc, r.peak_hour_local)
    assert gap(result.peak_hour_local, PEAK_LOCAL) < 1.0
    assert result.vantage_points == ["crawler-1"]
    sections = {s.name: s for s in result.sections()}
    assert [row[0] for row in sections["evidence"].rows if row[0] == "CN"] == ["CN"]
    assert any(r.throttling_suspected for r in result.ases)
    assert all(r.country == "CN" for r in result.ases if r.throttling_suspected)


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A DuckDB store with "cyc" (3 days, bot IDs, China throttled 10-14 UTC) and "noids"
    (2 days, no bot IDs), for the checks that need no second backend."""
    store = open_store(str(tmp_path_factory.mktemp("diurnal") / "hand.duckdb"))
    try:
        store.migrate()
        write_cycle(store, "cyc", seed=5)
        write_cycle(store, "noids", days=2, with_ids=False, seed=4)
        yield store
    finally:
        store.close()


def test_short_ranges_ids_and_bad_options_get_clear_answers(hand: Store) -> None:
    store = hand
    one_day = run(store, "noids", days=1)
    assert one_day.strength is None and one_day.regions[0].strength is None
    assert any("at least 2" in n for n in one_day.notes)
    with pytest.raises(OptionError, match="by"):
        run(store, "noids", days=2, by="id")
    with pytest.raises(UnknownBotnet):
        run(store, "nobody")
    for name, text in [("drop", "2"), ("top", "0"), ("by", "mac"), ("held_share", "x")]:
        with pytest.raises(OptionError, match=name):
            ANALYSIS.request("noids", START, START + DAY, texts={name: text})
    with pytest.raises(OptionError, match="range"):
        ANALYSIS.compute(store, ANALYSIS.request("noids", START, START + 500 * DAY))


def test_counted_by_bot_id_agrees_with_by_address(hand: Store) -> None:
    by_ip, by_id = run(hand, "cyc"), run(hand, "cyc", by="id")
    assert by_id.params["by"] == "id" and by_id.bots == by_ip.bots
    assert [r.country for r in by_id.regions if r.throttling_suspected] == ["CN"]


def test_registered_and_json_has_the_contract_keys(hand: Store) -> None:
    assert framework.get("diurnal") is ANALYSIS
    body = framework.to_json(run(hand, "cyc"))
    for key in ("strength", "peak_hour_utc", "peak_hour_local", "regions", "ases", "method"):
        assert key in body
    contract = {"country", "strength", "peak_hour_utc", "peak_hour_local", "throttling_suspected"}
    for region in body["regions"]:
        assert contract <= set(region)
        assert len(region["profile_utc"]) == 24 and len(region["profile_local"]) == 24


# -- generated traces -----------------------------------------------------------------------
TRACE_DAYS = 3


def model(botnet: str, **changes: Any) -> TraceModel:
    """A small trace (150 bots, 3 days, a crawl every 15 minutes) with a strong daily cycle
    and China throttled 10-14 UTC unless ``changes`` say otherwise."""
    base: dict[str, Any] = {
        "botnet": botnet,
        "bots": 150,
        "days": float(TRACE_DAYS),
        "diurnal_amplitude": 0.8,
        "crawl_interval_s": 900,
        "foreign_crawlers": 1,
        "foreign_sensors": 1,
    }
    base.update(changes)
    return TraceModel(**base)


Traces = tuple[Store, dict[str, TraceTruth]]
MODELS = {
    "throttled-1": (model("throttled-1"), 1),
    "throttled-2": (model("throttled-2", throttle=("IN", 2, 5)), 2),
    "daily": (model("daily", throttle=None), 3),
    "flat": (model("flat", throttle=None, diurnal_amplitude=0.0), 4),
}


@pytest.fixture(scope="module")
def traces(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Store, dict[str, TraceTruth]]]:
    """One DuckDB store holding every trace of MODELS (each its own botnet), and the truths."""
    store = open_store(str(tmp_path_factory.mktemp("diurnal") / "traces.duckdb"))
    try:
        store.migrate()
        truths = {name: generate_trace(store, m, seed=seed) for name, (m, seed) in MODELS.items()}
        yield store, truths
    finally:
        store.close()


def analyse(store: Store, m: TraceModel, **options: Any) -> DiurnalResult:
    request = ANALYSIS.request(m.botnet, m.start, m.start + m.days * DAY, values=options)
    result = ANALYSIS.compute(store, request)
    assert isinstance(result, DiurnalResult)
    return result


def truth_peak_local(truth: TraceTruth, countries: set[str] | None = None) -> float:
    """The local hour at which the modelled bots really were online the most: the phase of
    the 24-hour Fourier component of bots online per hour (from their sessions), each hour
    placed at its local time. Computed here from the truth, apart from the analysis."""
    m = truth.model
    total = 0j
    for bot in truth.bots:
        if countries is not None and bot.country not in countries:
            continue
        offset = utc_offset_hours(bot.country, m.start + m.days * DAY / 2) or 0.0
        hours: set[int] = set()
        for s, e in bot.sessions:
            hours.update(range(int(s // HOUR), int((e - 1e-6) // HOUR) + 1))
        for h in hours:
            if m.start <= h * HOUR < m.start + m.days * DAY:
                total += cmath.exp(1j * 2 * math.pi * (h + 0.5 + offset) / 24)
    return (cmath.phase(total) * 24 / (2 * math.pi)) % 24


@pytest.mark.parametrize("name", ["throttled-1", "throttled-2"])
def test_trace_throttled_region_is_flagged_and_no_other(traces: Traces, name: str) -> None:
    store, truths = traces
    m, truth = MODELS[name][0], truths[name]
    assert m.throttle is not None
    country, first, last = m.throttle
    result = analyse(store, m)
    flagged = [r.country for r in result.regions if r.throttling_suspected]
    assert flagged == [truth.throttled_country] == [country]
    (region,) = [r for r in result.regions if r.throttling_suspected]
    ev = region.evidence
    assert ev is not None
    # The window found is the modelled one, give or take the hour a crawl round straddles.
    assert abs(ev.window_utc[0] - first) <= 1 and abs(ev.window_utc[1] - last) <= 1
    assert ev.ratio < 0.2 and ev.days_held == ev.days >= 2
    assert ev.failed_share_window is not None and ev.failed_share_outside is not None
    assert ev.failed_share_window > ev.failed_share_outside
    assert {r.country for r in result.ases if r.throttling_suspected} <= {country}


@pytest.mark.parametrize("name", ["daily", "flat"])
def test_trace_without_throttle_flags_no_region(traces: Traces, name: str) -> None:
    store, truths = traces
    result = analyse(store, MODELS[name][0])
    assert truths[name].throttled_country is None
    assert [r.country for r in result.regions + result.ases if r.throttling_suspected] == []


def test_trace_peak_local_hour_is_the_bots_own(traces: Traces) -> None:
    """Tolerance: 1 hour from the truth's presence peak. The session model scales session
    lengths around ``peak_local_hour``, so bots are online the most some hours later; the
    analysis is held to the truth, and both stay within 3.5 hours of the model's knob."""
    store, truths = traces
    for name in ("throttled-1", "daily"):
        m, truth = MODELS[name][0], truths[name]
        result = analyse(store, m)
        assert result.peak_hour_local is not None
        real = truth_peak_local(truth)
        assert gap(result.peak_hour_local, real) < 1.0, (name, result.peak_hour_local, real)
        assert (
            gap(real, m.peak_local_hour) < 3.5
            and gap(result.peak_hour_local, m.peak_local_hour) < 3.5
        )
        big = [r for r in result.regions if r.bots >= 30]
        assert len(big) >= 3
        for r in big:
            assert r.peak_hour_local is not None
            assert gap(r.peak_hour_local, truth_peak_local(truth, {r.country or ""})) < 1.5, (
                r.country
            )


def test_trace_strong_cycle_is_stronger_than_flat(
    traces: Traces,
) -> None:
    store, _ = traces
    daily, flat = analyse(store, MODELS["daily"][0]), analyse(store, MODELS["flat"][0])
    assert daily.strength is not None and flat.strength is not None
    assert daily.strength > 0.15 and flat.strength < 0.08
    assert daily.strength > 3 * flat.strength
    assert daily.explained is not None and flat.explained is not None
    assert daily.explained > flat.explained


def test_trace_same_result_on_duckdb_and_postgresql(tmp_path: Path, pg_database_url: str) -> None:
    m = model("both", bots=80, days=2.5)
    bodies = []
    for url in (str(tmp_path / "both.duckdb"), pg_database_url):
        store = open_store(url)
        try:
            store.migrate()
            generate_trace(store, m, seed=7)
            body = framework.to_json(analyse(store, m))
        finally:
            store.close()
        body.pop("computed_at")
        bodies.append(body)
    assert bodies[0]["regions"] and any(r["throttling_suspected"] for r in bodies[0]["regions"])
    assert bodies[0] == bodies[1]
