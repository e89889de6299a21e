"""The diurnal analysis on stored monitoring data with a known daily cycle and a known
throttling window: the throttled region is flagged with its evidence and the others are not,
peaks land where the bots' local day puts them, a flat population has no strength, and
DuckDB and PostgreSQL give the same result.

Two kinds of data: small stores written here record by record (a cycle and a throttle whose
every number is chosen), and traces from :func:`botmon.sim.trace.generate_trace` (the
modelled population, with its sessions, churn, NAT and loss, polled by a modelled crawler).
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from botmon import enrich
from botmon.analysis import framework
from botmon.analysis.diurnal import ANALYSIS, DiurnalResult
from botmon.analysis.framework import OptionError
from botmon.analysis.table import UnknownBotnet
from botmon.buckets import DAY, HOUR
from botmon.enrich.timezones import utc_offset_hours
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
        t0 = START + h * HOUR
        for i, (cc, ip) in enumerate(bots):
            local = (t0 / HOUR + (utc_offset_hours(cc, t0) or 0.0)) % 24
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


def test_no_throttle_no_flag_and_flat_has_no_strength(store: Store) -> None:
    write_cycle(store, "daily", throttle=None, seed=2)
    write_cycle(store, "flat", throttle=None, strength=0.0, seed=3)
    daily, flat = run(store, "daily"), run(store, "flat")
    for result in (daily, flat):
        assert not any(r.throttling_suspected for r in result.regions + result.ases)
    assert daily.strength is not None and flat.strength is not None
    assert daily.strength > 0.35 > 0.1 > flat.strength


def test_short_ranges_ids_and_bad_options_get_clear_answers(store: Store) -> None:
    write_cycle(store, "noids", days=2, with_ids=False, seed=4)
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


def test_counted_by_bot_id_agrees_with_by_address(store: Store) -> None:
    write_cycle(store, "ids", seed=5)
    by_ip, by_id = run(store, "ids"), run(store, "ids", by="id")
    assert by_id.params["by"] == "id" and by_id.bots == by_ip.bots
    assert [r.country for r in by_id.regions if r.throttling_suspected] == ["CN"]


def test_registered_and_json_has_the_contract_keys(store: Store) -> None:
    assert framework.get("diurnal") is ANALYSIS
    write_cycle(store, "keys", days=2, seed=6)
    body = framework.to_json(run(store, "keys", days=2))
    for key in ("strength", "peak_hour_utc", "peak_hour_local", "regions", "ases", "method"):
        assert key in body
    contract = {"country", "strength", "peak_hour_utc", "peak_hour_local", "throttling_suspected"}
    for region in body["regions"]:
        assert contract <= set(region)
        assert len(region["profile_utc"]) == 24 and len(region["profile_local"]) == 24
