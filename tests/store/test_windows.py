"""The window summaries answer exactly what a plain DISTINCT over the replies answers, on both
backends: random replies written as late and out-of-order batches with refreshes in between,
random windows (aligned to hours and days or not) and buckets of an hour, a day, a week and
sizes the summaries do not keep. And ``GET /api/v1/botnets``'s numbers need no replies."""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botmon.store.base import Store
from botmon.store.reads import Measure
from botmon.store.windows import DAY_US, HOUR_US, ORIGIN_S, micros
from botmon.wire import Reply
from tests.store.helpers import NOW, make_batch

T0_US = (int(NOW) // 86400 - 3) * DAY_US
"""Three days before NOW's day: data spans about ten days across a week boundary."""
SPAN_US = 10 * DAY_US
POOL = [f"127.20.0.{i}" for i in range(1, 16)] + ["::1", "2001:db8::9"]
_names = itertools.count()


def _reference(store: Store, ids: list[int], lo_us: int, hi_us: int) -> list[tuple[Any, ...]]:
    """Every reply of these botnets in [lo_us, hi_us): (botnet, ts µs, ip, port, bot id,
    country, asn), straight from the replies table."""
    duck = store.backend == "duckdb"
    us = "epoch_us(ts)" if duck else "(extract(epoch FROM ts) * 1000000)::bigint"
    ts = (
        (lambda v: f"make_timestamp({v}::BIGINT)")
        if duck
        else (lambda v: f"(timestamptz 'epoch' + {v} * interval '1 microsecond')")
    )
    rows = store.query(
        f"SELECT botnet_id, {us}, ip, port, bot_id, country, asn FROM replies"
        f" WHERE botnet_id IN ({', '.join(map(str, ids))})"
        f" AND ts >= {ts(lo_us)} AND ts < {ts(hi_us)}"
    )
    return [(int(b), int(t), str(ip), int(p), k, c, a) for b, t, ip, p, k, c, a in rows]


def _bucket(t_us: int, bucket_s: int) -> int:
    return (t_us - ORIGIN_S * 1_000_000) // (bucket_s * 1_000_000)


def _latest_located(rows: list[tuple[Any, ...]]) -> dict[tuple[int, str], tuple[Any, Any]]:
    """Per (botnet, ip): country and AS of its latest reply that has one (each separately)."""
    out: dict[tuple[int, str], list[Any]] = {}
    for b, _, ip, _, _, country, asn in sorted(rows, key=lambda r: r[1]):
        e = out.setdefault((b, ip), [None, None])
        if country is not None:
            e[0] = country
        if asn is not None:
            e[1] = int(asn)
    return {k: (v[0], v[1]) for k, v in out.items()}


def _check_window(store: Store, ids: list[int], lo_us: int, hi_us: int) -> None:
    """Every read-port method the views use over the replies, against a plain computation
    over the replies of the window."""
    start, end = lo_us / 1e6, hi_us / 1e6
    lo_us, hi_us = micros(start), micros(end)
    rows = _reference(store, ids, lo_us, hi_us)
    keys: dict[str, Callable[[tuple[Any, ...]], Any]] = {
        "rows": lambda r: r,
        "ips": lambda r: r[2],
        "ids": lambda r: r[4],
        "ip_ports": lambda r: (r[2], r[3]),
    }
    measures: tuple[Measure, ...] = ("rows", "ips", "ids", "ip_ports")
    for bucket_s in (3600, 86400, 604800, 7200, 2 * 86400):
        for measure in measures:
            sets: dict[tuple[int, int], set[Any]] = defaultdict(set)
            for r in rows:
                if keys[measure](r) is not None:
                    sets[(r[0], _bucket(r[1], bucket_s))].add(keys[measure](r))
            want = {k: len(v) for k, v in sets.items()}
            got = store.bucket_counts("replies", ids, start, end, bucket_s, measure)
            assert got == want, (bucket_s, measure)
    per_botnet: dict[str, dict[int, set[Any]]] = {m: defaultdict(set) for m in measures}
    for r in rows:
        for m in measures:
            if keys[m](r) is not None:
                per_botnet[m][r[0]].add(keys[m](r))
    for chosen in (measures, ("ips", "ids"), ("rows",)):
        want_range = {
            b: tuple(len(per_botnet[m].get(b, ())) for m in chosen) for b in {r[0] for r in rows}
        }
        assert store.range_counts("replies", ids, start, end, chosen) == want_range, chosen
    per_hour: dict[tuple[int, int], set[tuple[Any, str]]] = defaultdict(set)
    for b, t, ip, _, _, country, _ in rows:
        per_hour[(b, _bucket(t, 3600))].add((country, ip))
    want_hours = {
        k: sorted(((c, sum(1 for cc, _ in v if cc == c)) for c in {cc for cc, _ in v}), key=str)
        for k, v in per_hour.items()
    }
    got_hours = store.hour_profile(ids, start, end)
    assert {k: sorted(v, key=str) for k, v in got_hours.items()} == want_hours
    located = _latest_located(rows)
    for chosen_ids in (ids, ids[:1]):
        countries: dict[Any, set[str]] = defaultdict(set)
        for (b, ip), (country, _) in located.items():
            if b in chosen_ids:
                countries[country].add(ip)
        want_countries = sorted(((c, len(v)) for c, v in countries.items()), key=str)
        got = store.ips_per_country(chosen_ids, start, end, from_seen=False)
        assert sorted(got, key=str) == want_countries
    per_as: dict[Any, dict[str, Any]] = defaultdict(dict)
    for (_, ip), (country, asn) in located.items():
        prev = per_as[asn].get(ip)
        per_as[asn][ip] = country if prev is None else max(prev, country or prev)
    total = sum(len(v) for v in per_as.values())
    want_ases = {
        asn: (len(v), max((c for c in v.values() if c is not None), default=None))
        for asn, v in per_as.items()
    }
    got_ases = {
        a: (n, c)
        for a, _, n, c, t in store.ips_per_as(ids, start, end, 1000, from_seen=False)
        if t == total
    }
    assert got_ases == want_ases
    members: dict[str, set[int]] = defaultdict(set)
    for b, _, ip, *_ in rows:
        members[ip].add(b)
    want_groups: dict[frozenset[int], int] = defaultdict(int)
    for m in members.values():
        want_groups[frozenset(m)] += 1
    assert store.ip_overlap(ids, start, end, from_seen=False) == dict(want_groups)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(0, 2**32 - 1), batches=st.integers(2, 6))
def test_window_summaries_equal_distinct_over_replies(
    store: Store, seed: int, batches: int
) -> None:
    rng = random.Random(seed)
    names = [f"w{next(_names)}" for _ in range(2)]
    ids = [store.create_botnet(name).id for name in names]
    stamps = rng.sample(range(0, SPAN_US // 1000), 240)  # distinct milliseconds: no ties
    chunks: list[tuple[int, list[int]]] = []
    for b in (0, 1):  # per botnet: a few stretches of time, and one batch spread over all
        mine = stamps[b::2]
        spread, rest = mine[::7], sorted(set(mine) - set(mine[::7]))
        cuts = sorted(rng.sample(range(1, len(rest)), batches - 1))
        chunks += [(b, rest[i:j]) for i, j in zip([0, *cuts], [*cuts, len(rest)], strict=True)]
        chunks.append((b, spread))
    written: list[tuple[int, list[Reply], list[Any], list[Any]]] = []
    for b, chunk in chunks:
        replies = [
            Reply(
                (T0_US + ms * 1000) / 1e6,
                rng.choice(POOL),
                rng.choice([80, 81]),
                rng.choice([None, "k1", "k2", "k3", "k4"]),
            )
            for ms in chunk
        ]
        countries = [rng.choice(["DE", "DE", "BR", None]) for _ in replies]
        asns = [rng.choice([64500, 64500, 64501, None]) for _ in replies]
        written.append((b, replies, countries, asns))
    rng.shuffle(written)  # late and out-of-order batches
    for k, (b, replies, countries, asns) in enumerate(written):
        batch = make_batch(names[b], f"b{k}", replies)
        batch.replies.country = countries
        batch.replies.asn = asns
        store.write_batch(batch, "t")
        if rng.random() < 0.6:
            store.refresh_summaries()
    for unit in (1, HOUR_US, DAY_US):  # windows from any instant, an hour, a day
        lo = rng.randrange(SPAN_US // unit) * unit
        hi = lo + rng.choice([rng.randrange(1, 3 * DAY_US), 7 * DAY_US, rng.randrange(SPAN_US)])
        lo, hi = (T0_US + lo) // 1000 * 1000, (T0_US + hi) // 1000 * 1000  # milliseconds
        _check_window(store, ids, lo, hi)
    # One that holds a whole ISO week (Monday 00:00 UTC; epoch day 4 was a Monday).
    monday = (-(-(T0_US // DAY_US - 4) // 7) * 7 + 4) * DAY_US
    lo = monday - rng.randrange(2 * DAY_US) // 1000 * 1000
    _check_window(store, ids, lo, monday + 7 * DAY_US + rng.randrange(DAY_US) // 1000 * 1000)


def _execute(store: Store, sql: str) -> None:
    """A write behind the store's back (tests only): the store offers no way to delete."""
    if store.backend == "duckdb":
        with store._write() as cur:  # type: ignore[attr-defined]
            cur.execute(sql)
    else:
        with store._conn() as conn:  # type: ignore[attr-defined]
            conn.execute(sql)


def _old_summaries(store: Store, now: float, window_s: int) -> list[tuple[Any, ...]]:
    """What ``GET /api/v1/botnets`` answered before: min/max and DISTINCT over the replies."""
    duck = store.backend == "duckdb"
    us = "epoch_us(ts)" if duck else "(extract(epoch FROM ts) * 1000000)::bigint"
    lo, hi = micros(now - window_s), micros(now)
    out = []
    for b in store.list_botnets():
        rows = [
            (int(t), str(ip), k)
            for t, ip, k in store.query(
                f"SELECT {us}, ip, bot_id FROM replies WHERE botnet_id = {b.id}"
            )
        ]
        recent = [r for r in rows if lo <= r[0] <= hi]
        out.append(
            (
                b.name,
                min((r[0] for r in rows), default=None),
                max((r[0] for r in rows), default=None),
                len({r[1] for r in recent}),
                len({r[2] for r in recent if r[2] is not None}),
                len(recent),
            )
        )
    return out


def _new_summaries(store: Store, now: float, window_s: int) -> list[tuple[Any, ...]]:
    return [
        (
            s.name,
            None if s.first_seen is None else micros(s.first_seen),
            None if s.last_seen is None else micros(s.last_seen),
            s.recent_ips,
            s.recent_ids,
            s.recent_replies,
        )
        for s in store.botnet_summaries(now, window_s)
    ]


HOUR = (int(NOW) // 3600 + 1) * 3600


@pytest.mark.parametrize(
    ("now", "window_s"),
    [
        pytest.param(HOUR + 6 * 3600, 7200, id="newest-aligned"),
        pytest.param(HOUR + 6 * 3600 + 1234.5, 5000, id="newest"),
        pytest.param(HOUR + 3 * 3600, 3600, id="past-aligned"),
        pytest.param(HOUR + 2 * 3600 + 777.25, 3600, id="past"),
    ],
)
def test_botnet_list_counts_come_from_the_summaries_not_the_replies(
    store: Store, now: float, window_s: int
) -> None:
    """``botnet_summaries`` equals the old scan of the replies, for a window that reaches the
    newest data and one in the past, aligned to hours or not; and it keeps answering the
    same when every reply is deleted except those in the partial hours at the window's
    edges (none at all for an hour-aligned window): it reads nothing else of them."""
    rng = random.Random(3)
    store.create_botnet("quiet")  # no replies: zeros and no first/last
    for name in ("alpha", "beta"):
        store.create_botnet(name)
        for k in range(4):
            replies = [
                Reply(
                    NOW + rng.randrange(6 * 3600 * 1000) / 1000,
                    rng.choice(POOL),
                    80,
                    rng.choice([None, "k1", "k2", "k3"]),
                )
                for _ in range(60)
            ]
            store.write_batch(make_batch(name, f"{name}{k}", replies), "t")
            store.refresh_summaries()
    before = _old_summaries(store, now, window_s)
    assert any(row[5] for row in before)  # the window holds replies
    assert _new_summaries(store, now, window_s) == before
    lo, hi = micros(now - window_s), micros(now) + 1
    edges = [(lo, -(-lo // HOUR_US) * HOUR_US), (hi // HOUR_US * HOUR_US, hi)]
    us = "epoch_us(ts)" if store.backend == "duckdb" else "(extract(epoch FROM ts) * 1e6)::bigint"
    kept = " OR ".join(f"({us} >= {a} AND {us} < {b})" for a, b in edges if a < b)
    _execute(store, f"DELETE FROM replies WHERE NOT ({kept or 'false'})")
    assert _new_summaries(store, now, window_s) == before


def _past_answers(store: Store, ids: list[int], start: float, end: float) -> list[Any]:
    """Every answer the read port gives the views for a window (hour-aligned here)."""
    out: list[Any] = []
    for bucket_s, measures in (
        (3600, ("rows", "ips", "ids", "ip_ports")),
        (7200, ("rows",)),
        (86400, ("rows", "ips", "ids")),
        (604800, ("ips", "ids")),
    ):
        for measure in measures:
            out.append(store.bucket_counts("replies", ids, start, end, bucket_s, measure))
    out.append(store.range_counts("replies", ids, start, end, ("ips", "ids", "rows")))
    hours = store.hour_profile(ids, start, end)
    out.append({k: sorted(v, key=str) for k, v in hours.items()})  # rows come in any order
    out.append(sorted(store.ips_per_country(ids, start, end, from_seen=False), key=str))
    out.append(store.ips_per_as(ids, start, end, 10, from_seen=False))
    out.append(store.ip_overlap(ids, start, end, from_seen=False))
    return out


def test_past_windows_need_no_replies(store: Store) -> None:
    """A past window cut on whole hours (two days across a week boundary, a whole week, a
    few hours) is answered by the read port from the window tables alone: its answers stay
    the same after every reply is deleted behind the store's back. (That they are right is
    the property test above.)"""
    rng = random.Random(5)
    ids = [store.create_botnet(name).id for name in ("gamma", "delta")]
    day0 = (int(NOW) // 86400 - 9) * 86400
    for k, name in enumerate(("gamma", "delta") * 3):
        replies = [
            Reply(
                day0 + rng.randrange(16 * 86400 * 1000) / 1000,
                rng.choice(POOL),
                rng.choice([80, 81]),
                rng.choice([None, "k1", "k2", "k3"]),
            )
            for _ in range(150)
        ]
        batch = make_batch(name, f"p{k}", replies)
        # Each address stays where it is (an address that moved country or AS within a day
        # is read from the replies for the hours of a partial day).
        batch.replies.country = [["DE", "BR", None][POOL.index(r.ip) % 3] for r in replies]
        batch.replies.asn = [[64500, 64501, None][POOL.index(r.ip) % 3] for r in replies]
        store.write_batch(batch, "t")
    store.refresh_summaries()
    monday = (-(-(day0 // 86400 - 4) // 7) * 7 + 4) * 86400
    windows = [
        (monday - 86400 - 5 * 3600, monday + 86400 + 7 * 3600),
        (monday, monday + 7 * 86400),
        (monday + 3 * 86400 + 2 * 3600, monday + 3 * 86400 + 9 * 3600),
    ]
    before = [_past_answers(store, ids, float(lo), float(hi)) for lo, hi in windows]
    assert all(any(a) for a in before)  # the windows hold replies
    _execute(store, "DELETE FROM replies")
    assert [_past_answers(store, ids, float(lo), float(hi)) for lo, hi in windows] == before
