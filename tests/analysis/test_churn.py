"""Churn and lifetimes: sessions, censoring, Kaplan-Meier medians, peer classes and rates.

First on a hand-built botnet whose every session is written out below (so every figure can
be worked out on paper), then on generated traces against their truth.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from botmon.analysis import framework
from botmon.analysis.churn import ANALYSIS, CLASSES, CURVE_POINTS, ChurnResult, kaplan_meier
from botmon.analysis.framework import ResultBase
from botmon.analysis.table import UnknownBotnet
from botmon.buckets import bucket_index, bucket_start
from botmon.sim.trace import TraceModel, TraceTruth, generate_trace
from botmon.store import open_store
from botmon.store.base import Store
from botmon.wire import FailedTry, Reply
from tests.store.helpers import NOW, make_batch

B = 300
W0 = bucket_start(bucket_index(NOW, 3600), 3600)
"""The hand-built window starts on the hour and lasts ten hours (120 buckets)."""
W1 = W0 + 10 * 3600

# bot ID -> list of (ip, first bucket, last bucket) runs, one reply per bucket.
PEERS: dict[str, list[tuple[str, int, int]]] = {
    "a-online": [("198.51.100.1", 0, 119)],
    "b-entered": [("198.51.100.2", 30, 119)],
    "c-left": [("198.51.100.3", 0, 59)],
    # Two sessions 20 buckets apart, from two addresses (an address change).
    "d-dangling": [("198.51.100.4", 20, 29), ("198.51.100.40", 50, 59)],
    "e-one-off": [("198.51.100.5", 70, 70)],
    # Two empty buckets (600 s < gap): one session of ten buckets.
    "g-dangling": [("198.51.100.7", 80, 83), ("198.51.100.7", 86, 89)],
    # Three empty buckets (900 s = gap): two sessions.
    "h-dangling": [("198.51.100.8", 40, 45), ("198.51.100.8", 49, 52)],
}


def _write_hand_built(store: Store) -> None:
    store.create_botnet("hand")
    replies = [
        Reply(timestamp=W0 + k * B + 10, ip=ip, port=4000, bot_id=bot)
        for bot, runs in PEERS.items()
        for ip, first, last in runs
        for k in range(first, last + 1)
    ]
    replies.append(Reply(timestamp=W0 + 5 * B + 20, ip="198.51.100.99", port=4000))
    failed = [FailedTry(timestamp=W0 + 10 * B, ip="198.51.100.6", port=4000, bot_id="f-offline")]
    store.write_batch(make_batch("hand", "b1", replies, failed), "crawler-1")


def _run(store: Store, **texts: str) -> ChurnResult:
    request = ANALYSIS.request("hand", W0, W1, texts=dict(texts))
    result = framework.run(store, "churn", request)
    assert isinstance(result, ChurnResult)
    return result


def test_hand_built_sessions_classes_and_medians(store: Store) -> None:
    """Every figure below is worked out from PEERS by hand (see the comments)."""
    _write_hand_built(store)
    r = _run(store)
    assert r.by == "id" and r.params["by"] == "id" and r.params["by_requested"] == "auto"
    assert r.bots == 8  # seven replying bot IDs and one that only failed
    assert r.without_id == 1
    # a, b, c, d(2), e, g, h(2)
    assert r.sessions == 9
    assert r.censored_sessions == 2  # a and b run to the end
    assert r.left_censored_sessions == 2  # a and c began before the window could tell
    # Measured: b (27000 s, censored), d 3000 + 3000, e 300, g 3000, h 1800 + 1200. KM:
    # 300 -> 6/7, 1200 -> 5/7, 1800 -> 4/7, 3000 -> 1/7: the median is 3000 s.
    assert r.median_session_s == 3000.0
    # Lifetimes of peers first seen inside: b 27000 (censored), d 12000, e 300, g 3000,
    # h 3900. KM: 4/5, 3/5, 2/5 at 3900 s.
    assert r.median_lifetime_s == 3900.0
    assert (r.lifetimes, r.censored_lifetimes) == (5, 1)
    assert r.classes == {
        "offline": 1,
        "one-off": 1,
        "online": 1,
        "entered": 1,
        "left": 1,
        "dangling": 3,
    }
    assert sum(r.classes.values()) == r.bots
    # The records span W0 + 10 s (first reply) to W1 - 290 s (last reply, bucket 119).
    assert (r.params["observed_from"], r.params["observed_until"]) == (W0 + 10, W1 - 290)
    # Joins: b, d, e, g, h; leaves: c, d, e, g, h; observed 10 h - 300 s, less two gaps.
    hours = (10 * 3600 - 300 - 2 * 900) / 3600
    assert sum(h.joins for h in r.rates) == 5 and sum(h.leaves for h in r.rates) == 5
    assert r.joins_per_hour == pytest.approx(5 / hours, rel=1e-5)
    assert r.leaves_per_hour == pytest.approx(5 / hours, rel=1e-5)
    assert r.session_survival[0] == [0.0, 1.0] and r.session_survival[-1][1] == pytest.approx(1 / 7)
    assert r.vantage_points == ["crawler-1"]


def test_by_ip_port_splits_an_address_change_and_counts_id_less_peers(store: Store) -> None:
    _write_hand_built(store)
    by_id, by_addr = _run(store, by="id"), _run(store, by="ip_port")
    assert by_addr.by == "ip_port" and by_addr.without_id == 0
    # d's two addresses become two peers; the reply without an ID becomes a peer too.
    assert by_addr.bots == by_id.bots + 2
    assert by_addr.sessions == by_id.sessions + 1
    assert sum(by_addr.classes.values()) == by_addr.bots
    assert by_addr.classes["one-off"] == 2


def test_auto_takes_ip_port_for_a_botnet_without_ids(store: Store) -> None:
    store.create_botnet("hand")
    replies = [
        Reply(timestamp=W0 + k * B + 10, ip=f"198.51.100.{i}", port=4000)
        for i in (1, 2)
        for k in range(10, 20)
    ]
    store.write_batch(make_batch("hand", "b1", replies), "crawler-1")
    r = _run(store)
    assert (r.by, r.bots, r.sessions, r.without_id) == ("ip_port", 2, 2, 0)
    # The records are the window's edges: both peers were there all the time observed.
    assert r.classes["online"] == 2 and r.params["observed_from"] == W0 + 10 * B + 10
    by_id = _run(store, by="id")
    assert (by_id.bots, by_id.without_id) == (0, 20)


def test_gap_and_bucket_options_change_the_sessions(store: Store) -> None:
    _write_hand_built(store)
    # With a gap of 1000 s, h's three empty buckets no longer close its session.
    assert _run(store, gap_s="1000").sessions == 8
    # With a gap of 300 s, g's two empty buckets do.
    assert _run(store, gap_s="300").sessions == 10
    hourly = _run(store, bucket_s="3600", gap_s="3600")
    assert hourly.bucket_s == 3600 and hourly.median_session_s is not None
    assert hourly.median_session_s % 3600 == 0


def test_sections_hold_the_result(store: Store) -> None:
    _write_hand_built(store)
    r = _run(store)
    sections = {s.name: s for s in r.sections()}
    assert list(sections) == ["summary", "classes", "rates", "by_country", "by_as"]
    assert framework.section(r).name == "summary"
    summary = dict(zip(sections["summary"].columns, sections["summary"].rows[0], strict=True))
    assert summary["bots"] == 8 and summary["median_session_s"] == 3000.0
    assert [row[0] for row in sections["classes"].rows] == list(CLASSES)
    assert sum(row[1] for row in sections["rates"].rows) == 5
    body = framework.to_json(r)
    for key in ("by", "bots", "sessions", "median_session_s", "median_lifetime_s", "classes"):
        assert key in body
    assert body["gap_s"] == 900 and body["bucket_s"] == 300


def test_no_data_gives_empty_figures_not_an_error(store: Store) -> None:
    store.create_botnet("hand")
    r = _run(store)
    assert r.bots == 0 and r.sessions == 0
    assert r.median_session_s is None and r.session_survival == []
    assert set(r.classes) == set(CLASSES) and sum(r.classes.values()) == 0


@pytest.mark.parametrize(
    ("name", "text"),
    [("by", "mac"), ("bucket_s", "0"), ("bucket_s", "five"), ("gap_s", "-1"), ("gap_s", "1e9")],
)
def test_bad_options_are_rejected(name: str, text: str) -> None:
    with pytest.raises(framework.OptionError, match=name):
        ANALYSIS.request("hand", W0, W1, texts={name: text})


def test_unknown_option_and_botnet(store: Store) -> None:
    with pytest.raises(framework.OptionError, match="no option"):
        ANALYSIS.request("hand", W0, W1, texts={"gap": "5"})
    with pytest.raises(UnknownBotnet):
        _run(store)


def _comparable(result: ResultBase) -> dict[str, Any]:
    body = framework.to_json(result)
    body.pop("computed_at")
    return body


# -- generated traces with known truth ---------------------------------------------------------

STEADY = TraceModel(
    botnet="steady", bots=150, days=3.0, throttle=None, dynamic_share=0.0, nat_share=0.3
)
"""Sessions (median 4 h) far longer than the crawl interval (5 min), infections of ten days
(few sessions cut by an infection's end), fixed addresses, no throttling: what the crawler
records is the sessions themselves, up to a bucket at each end and 5 % lost polls (each
bridged by the 15-minute gap), so the median must come back within 10 %."""

FLEETING = TraceModel(
    botnet="fleeting",
    bots=100,
    days=3.0,
    throttle=None,
    mean_lifetime_days=0.5,
    dynamic_share=0.8,
    reassign_hours=(2.0, 8.0),
)
"""Infections of half a day on average (most begin and end inside three days, so the truth's
median lifetime is a fair yardstick) on addresses reassigned every 2-8 hours."""


@pytest.fixture(scope="module")
def traces(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Store, dict[str, TraceTruth]]]:
    """Both traces in one DuckDB store (generated once for the tests below)."""
    store = open_store(str(tmp_path_factory.mktemp("churn") / "traces.duckdb"))
    store.migrate()
    try:
        truths = {m.botnet: generate_trace(store, m, seed=1) for m in (STEADY, FLEETING)}
        yield store, truths
    finally:
        store.close()


def _trace_run(store: Store, model: TraceModel, **texts: str) -> ChurnResult:
    result = ANALYSIS.compute(
        store, ANALYSIS.request(model.botnet, model.start, model.end, texts=texts)
    )
    assert isinstance(result, ChurnResult)
    return result


def test_median_session_within_ten_percent_of_the_truth(
    traces: tuple[Store, dict[str, TraceTruth]],
) -> None:
    store, truths = traces
    truth = truths["steady"].median_session_s()
    r = _trace_run(store, STEADY)
    assert r.by == "id" and r.params["sessions_from"] == "crawler"
    assert r.median_session_s is not None
    assert abs(r.median_session_s / truth - 1) <= 0.10, (r.median_session_s, truth)
    assert sum(r.classes.values()) == r.bots
    # Every infection that could answer the crawler was seen answering, and so was every
    # sensor (they answer like bots); NATed bots appear only as failed tries.
    answering = sum(1 for b in truths["steady"].bots if not b.nat and b.sessions)
    sensors = sum(1 for m in truths["steady"].monitors if m.kind == "sensor")
    assert r.bots - r.classes["offline"] == answering + sensors
    assert r.vantage_points == ["trace-crawler"]


def test_median_lifetime_within_twenty_percent_of_the_truth(
    traces: tuple[Store, dict[str, TraceTruth]],
) -> None:
    """Lifetimes run from the first to the last sighting: a new infection is found by the
    crawler only once a peer lists it, and one quiet at the window's end counts as gone,
    so the estimate runs a little short of the truth (6-9 % on seeds 1-3); 20 % allowed."""
    store, truths = traces
    truth = truths["fleeting"].median_lifetime_s()
    r = _trace_run(store, FLEETING, by="id")
    assert r.median_lifetime_s is not None
    assert abs(r.median_lifetime_s / truth - 1) <= 0.20, (r.median_lifetime_s, truth)
    assert r.lifetimes > 300 and r.censored_lifetimes < r.lifetimes / 4


def test_by_ip_port_gives_more_and_shorter_sessions_under_address_changes(
    traces: tuple[Store, dict[str, TraceTruth]],
) -> None:
    """An address change ends an ip:port's session while the bot ID's goes on: the
    divergence BMS reads as NAT or reassignment."""
    store, _ = traces
    by_id, by_addr = _trace_run(store, FLEETING, by="id"), _trace_run(store, FLEETING, by="ip_port")
    assert by_addr.bots > 2 * by_id.bots
    assert by_addr.sessions > by_id.sessions
    assert by_id.median_session_s is not None and by_addr.median_session_s is not None
    assert by_addr.median_session_s < by_id.median_session_s
    assert sum(by_addr.classes.values()) == by_addr.bots
    assert sum(c.bots for c in by_id.by_country) == by_id.bots - by_id.classes["offline"]


def test_the_same_result_on_duckdb_and_postgresql(tmp_path: Path, pg_database_url: str) -> None:
    """Every figure, curve, class and group the same (apart from computed_at), by bot ID,
    by ip:port and from the sensor's records."""
    model = TraceModel(botnet="both", bots=60, days=1.0, mean_lifetime_days=0.5, dynamic_share=0.8)
    sensed = ANALYSIS.request("both", model.start, model.end, source="sensor")
    results = []
    for url in (str(tmp_path / "both.duckdb"), pg_database_url):
        store = open_store(url)
        try:
            store.migrate()
            generate_trace(store, model, seed=4)
            runs: list[ResultBase] = [_trace_run(store, model, by=b) for b in ("auto", "ip_port")]
            runs.append(ANALYSIS.compute(store, sensed))
            results.append([_comparable(r) for r in runs])
        finally:
            store.close()
    assert results[0] == results[1]
    assert results[0][0]["bots"] > 50 and results[0][0]["by_country"]
    assert results[0][2]["params"]["sessions_from"] == "sensor"


def test_folded_kaplan_meier_equals_lifelines_on_every_length() -> None:
    """Folding lengths into weighted rows changes nothing: lifelines fitted on each length
    gives the same median and curve; a long curve is thinned to 200 points, ends kept."""
    from lifelines import KaplanMeierFitter

    rng = np.random.default_rng(7)
    units = rng.integers(1, 500, 5000).astype(np.int64)
    observed = rng.random(5000) < 0.7
    median, curve = kaplan_meier(units, observed, 300)
    direct = KaplanMeierFitter().fit(units * 300.0, event_observed=observed)
    assert median == direct.median_survival_time_
    full = direct.survival_function_.iloc[:, 0]
    assert len(curve) <= CURVE_POINTS and curve[0] == [0.0, 1.0]
    assert curve[-1][0] == full.index[-1]
    for t, p in curve:
        assert p == pytest.approx(full.loc[t], abs=1e-6)
    assert kaplan_meier(units[:0], observed[:0], 300) == (None, [])
    never, _ = kaplan_meier(units, np.zeros(5000, dtype=np.bool_), 300)
    assert never is None


SPARSE = TraceModel(
    botnet="sparse",
    bots=120,
    days=3.0,
    throttle=None,
    dynamic_share=0.0,
    crawl_interval_s=1800,
    loss=0.0,
)
"""The STEADY model crawled every 30 minutes, as the demo's history is: with the default
15-minute gap every answer would be its own session."""


def test_a_gap_shorter_than_the_crawl_pace_is_widened_and_said(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "sparse.duckdb"))
    store.migrate()
    try:
        truth = generate_trace(store, SPARSE, seed=2)
        widened = _trace_run(store, SPARSE)
        kept = _trace_run(store, SPARSE, auto_gap="false")
    finally:
        store.close()
    assert widened.reprobe_interval_s == kept.reprobe_interval_s == 1800
    assert (widened.gap_s, widened.params["gap_s_requested"]) == (5400, 900)
    assert widened.warnings and "widened to 5400 s" in widened.warnings[0]
    assert kept.gap_s == 900 and "raise gap_s" in kept.warnings[0]
    # Kept at 15 minutes, every answer is a one-bucket session. Widened, the sessions are
    # the bots' as a 30-minute poll with a 90-minute gap sees them: pauses shorter than the
    # gap bridged. That is the yardstick (the truth's sessions merged the same way); 15 %.
    assert kept.median_session_s == 300
    merged: list[float] = []
    lo, hi = SPARSE.start + 5400, SPARSE.start + SPARSE.days * 86400 - 5400
    for bot in truth.bots:
        if bot.nat:
            continue
        runs: list[list[float]] = []
        for a, b in sorted(bot.sessions):
            if runs and a - runs[-1][1] < 5400:
                runs[-1][1] = max(runs[-1][1], b)
            else:
                runs.append([a, b])
        merged += [b - a for a, b in runs if a >= lo and b <= hi]
    expected = float(np.median(merged))
    assert widened.median_session_s is not None
    assert abs(widened.median_session_s / expected - 1) <= 0.15, (
        widened.median_session_s,
        expected,
    )
