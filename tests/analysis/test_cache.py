"""The views' cache never serves stale numbers: after rows arrive in a bucket already
answered (late data), in the newest bucket (live data) or before the range (history import),
every view equals the plain-Python reference again; and a repeated request is answered from
the cache."""

from __future__ import annotations

import time

import pytest

from botmon.analysis import compare, geo, overview, population
from botmon.analysis.cache import cache_of
from botmon.store.base import Store
from tests.dashboard.data import HOUR, DataSet, Reference, make, write


def check_views(store: Store, data: DataSet, start: float, end: float) -> None:
    ref = Reference(data)
    for size in (HOUR, 86400):
        table = population.population(store, "alpha", start, end, size)
        got = {r[0]: r[1:4] for r in table.rows}
        expected = {t: v[:3] for t, v in ref.population("alpha", start, end, size).items()}
        assert got == expected
    got_ret = {
        r[0]: (r[1], r[2])
        for r in population.returning(store, "alpha", start, end, HOUR).rows
        if r[1]
    }
    assert got_ret == ref.returning("alpha", start, end, HOUR, "ip")
    got_ret = {
        r[0]: (r[1], r[2])
        for r in population.returning(store, "alpha", start, end, HOUR, "id").rows
        if r[1]
    }
    assert got_ret == ref.returning("alpha", start, end, HOUR, "bot_id")
    overlap = compare.compare_overlap(store, ["alpha", "beta"], start, end).rows[0]
    a, b = ref.ips("alpha", start, end), ref.ips("beta", start, end)
    assert overlap[2:5] == (len(a), len(b), len(a & b))
    cards = {r[0]: r for r in overview.overview(store, end, HOUR).rows}
    for name in ("alpha", "beta"):
        stamps = [r["timestamp"] for r in data.replies[name]]
        assert cards[name][6] == pytest.approx(min(stamps), abs=1e-3)
        assert cards[name][7] == pytest.approx(max(stamps), abs=1e-3)
    trend = {(r[0], r[1]): r[2] for r in population.trend(store, start, end, HOUR).rows}
    for name in ("alpha", "beta"):
        for t, v in ref.population(name, start, end, HOUR).items():
            assert trend[(name, t)] == v[0]
    for size in (HOUR, 86400, 604800):
        counting = {
            r[0]: r[1:3] for r in population.counting(store, "alpha", start, end, size).rows
        }
        expected_counts = {t: v[:2] for t, v in ref.population("alpha", start, end, size).items()}
        assert counting == expected_counts
    for botnet in ("alpha", None):
        got_cc = {r[0]: r[1] for r in geo.countries(store, botnet, start, end).rows}
        assert got_cc == ref.countries(botnet, start, end)
    got_as = {r[0]: r[2] for r in geo.ases(store, "alpha", start, end, 1000).rows}
    assert got_as == ref.ases("alpha", start, end)


def check_windows(store: Store, data: DataSet, start: float, end: float) -> None:
    """Windows that end before the newest rows (answered from the window tables) and one that
    reaches past them (answered from the seen tables where it can): all exact."""
    check_views(store, data, start, end)
    check_views(store, data, start, data.t0 + 12 * HOUR + 1800)  # ends mid-data
    newest = max(r["timestamp"] for rows in data.replies.values() for r in rows)
    check_views(store, data, start, newest + 1)


def test_cached_answers_follow_new_rows(store: Store) -> None:
    data = make(time.time())
    for name in ("alpha", "beta"):
        store.create_botnet(name)
        write(store, name, f"first-{name}", data.replies[name])
    # A range that cuts buckets at both edges, like the dashboard's sliding window.
    start, end = data.t0 + 1800, data.end - 600
    check_windows(store, data, start, end)
    check_windows(store, data, start, end)  # answered from the cache, same numbers
    cache = cache_of(store)
    assert cache is not None and len(cache.data) > 0

    # Late rows in an old, whole bucket: a new IP and an old IP of beta seen by alpha.
    late = [
        {"timestamp": data.t0 + 5 * HOUR + 17, "ip": "100.64.7.7", "port": 1, "bot_id": "late"},
        {"timestamp": data.t0 + 5 * HOUR + 18, "ip": data.replies["beta"][-1]["ip"], "port": 2},
    ]
    data.replies["alpha"].extend(late)
    write(store, "alpha", "late", late)
    check_windows(store, data, start, end)

    # Live rows in the newest (partial) bucket.
    live = [{"timestamp": end - 60, "ip": "100.64.8.8", "port": 3, "bot_id": "live"}]
    data.replies["alpha"].extend(live)
    write(store, "alpha", "live", live)
    check_windows(store, data, start, end)

    # An import of older history: 'new' bots in the range are no longer new.
    old = [dict(r, timestamp=data.t0 - 3 * 86400) for r in data.replies["alpha"][:40]]
    data.replies["alpha"].extend(old)
    write(store, "alpha", "import", old)
    check_windows(store, data, start, end)
