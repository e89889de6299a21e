"""The read queries' cache never serves stale numbers: after rows arrive in a bucket already
answered (late data), in the newest bucket (live data) or before the range (history import),
every view equals the plain-Python reference again; and a repeated request is answered from
the cache."""

from __future__ import annotations

import math
import time
from typing import Any

import msgspec
import pytest

from botmon import enrich
from botmon.server import read_queries as q
from botmon.store.base import Store
from botmon.validation import validate_batch
from tests.dashboard.data import HOUR, DataSet, Reference, make


def write(store: Store, botnet: str, batch_id: str, replies: list[dict[str, Any]]) -> None:
    body = msgspec.json.encode({"botnet": botnet, "batch_id": batch_id, "replies": replies})
    batch = validate_batch(body, now=time.time() + 3600)
    enrich.Enricher.default().enrich_batch(batch)  # as the server does
    store.write_batch(batch, "cache-test")


def check_views(store: Store, data: DataSet, start: float, end: float) -> None:
    ref = Reference(data)
    for size in (HOUR, 86400):
        table = q.population(store, "alpha", start, end, size)
        got = {r[0]: r[1:4] for r in table.rows}
        expected = {t: v[:3] for t, v in ref.population("alpha", start, end, size).items()}
        assert got == expected
    got_ret = {
        r[0]: (r[1], r[2]) for r in q.returning(store, "alpha", start, end, HOUR).rows if r[1]
    }
    assert got_ret == ref.returning("alpha", start, end, HOUR, "ip")
    got_ret = {
        r[0]: (r[1], r[2]) for r in q.returning(store, "alpha", start, end, HOUR, "id").rows if r[1]
    }
    assert got_ret == ref.returning("alpha", start, end, HOUR, "bot_id")
    overlap = q.compare_overlap(store, ["alpha", "beta"], start, end).rows[0]
    a, b = ref.ips("alpha", start, end), ref.ips("beta", start, end)
    assert overlap[2:5] == (len(a), len(b), len(a & b))
    overview = {r[0]: r for r in q.overview(store, end, HOUR).rows}
    for name in ("alpha", "beta"):
        stamps = [r["timestamp"] for r in data.replies[name]]
        assert overview[name][6] == pytest.approx(min(stamps), abs=1e-3)
        assert overview[name][7] == pytest.approx(max(stamps), abs=1e-3)
    trend = {(r[0], r[1]): r[2] for r in q.trend(store, start, end, HOUR).rows}
    for name in ("alpha", "beta"):
        for t, v in ref.population(name, start, end, HOUR).items():
            assert trend[(name, t)] == v[0]
    for size in (HOUR, 86400, 604800):
        counting = {r[0]: r[1:3] for r in q.counting(store, "alpha", start, end, size).rows}
        expected_counts = {t: v[:2] for t, v in ref.population("alpha", start, end, size).items()}
        assert counting == expected_counts
    for botnet in ("alpha", None):
        got_cc = {r[0]: r[1] for r in q.countries(store, botnet, start, end).rows}
        assert got_cc == ref.countries(botnet, start, end)
    got_as = {r[0]: r[2] for r in q.ases(store, "alpha", start, end, 1000).rows}
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
    cache = q._cache(store)
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


def test_the_warm_up_leaves_the_default_views_answered_from_the_cache(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = time.time()
    data = make(now)
    for name in ("alpha", "beta"):
        store.create_botnet(name)
        write(store, name, f"first-{name}", data.replies[name])
    steps = q.warm_up(store, now)
    assert steps >= 2 + 2 * 6 + 2
    queries: list[str] = []
    real_query = store.query

    def counted(sql: str, params: Any = ()) -> Any:
        queries.append(sql)
        return real_query(sql, params)

    monkeypatch.setattr(store, "query", counted)
    end = math.ceil(now / 300) * 300
    start = end - q.WARM_RANGE_S
    q.trend(store, start, end, HOUR)
    q.population(store, "alpha", start, end, HOUR)
    q.counting(store, "beta", start, end, 86400)
    scans = [s for s in queries if "FROM replies" in s or "FROM failed_tries" in s]
    assert scans == []  # every bucket came from the cache or the seen tables
    # And the warm-up gives up cleanly at its deadline.
    assert q.warm_up(store, now, deadline_s=-1.0) == 0
