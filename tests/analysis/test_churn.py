"""Churn and lifetimes: sessions, censoring, Kaplan-Meier medians, peer classes and rates.

First on a hand-built botnet whose every session is written out below (so every figure can
be worked out on paper), then on generated traces against their truth.
"""

from __future__ import annotations

from typing import Any

import pytest

from botmon.analysis import framework
from botmon.analysis.churn import ANALYSIS, CLASSES, ChurnResult
from botmon.analysis.table import UnknownBotnet
from botmon.buckets import bucket_index, bucket_start
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
    # Joins: b, d, e, g, h; leaves: c, d, e, g, h; observable 10 h minus two gaps = 9.5 h.
    assert sum(h.joins for h in r.rates) == 5 and sum(h.leaves for h in r.rates) == 5
    assert r.joins_per_hour == pytest.approx(5 / 9.5, rel=1e-6)
    assert r.leaves_per_hour == pytest.approx(5 / 9.5, rel=1e-6)
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


def _comparable(result: ChurnResult) -> dict[str, Any]:
    body = framework.to_json(result)
    body.pop("computed_at")
    return body
