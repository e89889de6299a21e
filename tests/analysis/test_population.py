"""The one population computation: equal to counts computed in plain Python from the records,
in buckets aligned to hours, UTC days and ISO weeks (Monday 00:00 UTC), and served alike by
``/api/v1/botnets/{b}/population`` and ``/api/v1/stats/botnets/{b}/population``."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botmon.analysis.population import population, population_points
from botmon.analysis.table import UnknownBotnet
from botmon.ipaddr import normalise_ip
from botmon.store.base import PopulationPoint, Store
from botmon.wire import Reply
from tests.fixtures.server import LiveServer
from tests.server.helpers import batch, client, post_batch
from tests.store.helpers import NOW, make_batch, simple_replies

IPS = [
    "127.0.0.1",
    "127.1.2.3",
    "10.0.0.1",
    "::1",
    "2001:db8::1",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "::ffff:127.0.0.1",  # the same bot as 127.0.0.1
    "0.0.0.0",
]
MONDAY = datetime(1970, 1, 5, tzinfo=UTC).timestamp()
_counter = itertools.count()

reply_strategy = st.builds(
    Reply,
    timestamp=st.integers(0, 20 * 86400 * 1000).map(lambda ms: NOW + ms / 1000),
    ip=st.sampled_from(IPS),
    port=st.sampled_from([0, 1, 80, 65535]),
    bot_id=st.one_of(st.none(), st.sampled_from(["a", "b", "c", "dd"])),
)


def expected(
    replies: list[Reply], bucket_s: int, start: float, end: float
) -> list[PopulationPoint]:
    """The series computed in plain Python: buckets counted from a Monday, not the epoch."""
    buckets: dict[int, list[Reply]] = defaultdict(list)
    start_us, end_us = round(start * 1e6), round(end * 1e6)
    for r in replies:
        us = round(r.timestamp * 1e6)
        if start_us <= us < end_us:
            buckets[math.floor((r.timestamp - MONDAY) / bucket_s)].append(r)
    return [
        PopulationPoint(
            t=MONDAY + b * bucket_s,
            ips=len({normalise_ip(r.ip) for r in rs}),
            ids=len({r.bot_id for r in rs if r.bot_id is not None}),
            ip_ports=len({(normalise_ip(r.ip), r.port) for r in rs}),
            replies=len(rs),
        )
        for b, rs in sorted(buckets.items())
    ]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    replies=st.lists(reply_strategy, max_size=300),
    bucket_s=st.sampled_from([60, 300, 3600, 86400, 604800]),
    window=st.tuples(st.integers(-3600, 10 * 86400), st.integers(1, 12 * 86400)),
)
def test_population_equals_counts_computed_from_the_records(
    store: Store, replies: list[Reply], bucket_s: int, window: tuple[int, int]
) -> None:
    botnet = f"net{next(_counter)}"  # one fresh botnet per example, same database
    store.create_botnet(botnet)
    half = len(replies) // 2  # two batches from two sources: counts span both
    store.write_batch(make_batch(botnet, f"{botnet}-1", replies[:half]), "crawler")
    store.write_batch(make_batch(botnet, f"{botnet}-2", replies[half:]), "sensor")
    start = NOW + window[0]
    end = start + window[1]
    want = expected(replies, bucket_s, start, end)
    assert population_points(store, botnet, start, end, bucket_s) == want
    assert population_points(store, botnet, start, end, bucket_s) == want  # from the cache


def test_population_only_counts_its_own_botnet_and_omits_empty_buckets(store: Store) -> None:
    store.create_botnet("hns")
    store.create_botnet("mozi")
    early = [Reply(NOW + 10, "127.0.0.1", 1, "x"), Reply(NOW + 20, "127.0.0.1", 2, "x")]
    late = [Reply(NOW + 7200 + 5, "::1", 1)]
    store.write_batch(make_batch("hns", "b", early + late), "s")
    store.write_batch(make_batch("mozi", "b", simple_replies(50)), "s")
    base = NOW - NOW % 3600
    assert population_points(store, "hns", NOW - 86400, NOW + 86400, 3600) == [
        PopulationPoint(t=base, ips=1, ids=1, ip_ports=2, replies=2),
        PopulationPoint(t=base + 7200, ips=1, ids=0, ip_ports=1, replies=1),
    ]
    assert population_points(store, "hns", NOW + 10.5, NOW + 20, 60) == []  # [start, end)
    dense = population(store, "hns", NOW - NOW % 3600, NOW - NOW % 3600 + 4 * 3600, 3600)
    assert [row[4] for row in dense.rows] == [2, 0, 1, 0]  # the stats view keeps gaps as 0


@pytest.mark.parametrize(
    ("bucket_s", "start", "end"),
    [(0, NOW, NOW + 1), (-5, NOW, NOW + 1), (60, NOW, NOW), (60, NOW + 1, NOW)],
)
def test_bad_population_arguments_are_refused(
    store: Store, bucket_s: int, start: float, end: float
) -> None:
    store.create_botnet("hns")
    with pytest.raises(ValueError):
        population(store, "hns", start, end, bucket_s)


def test_an_unknown_botnet_is_named(store: Store) -> None:
    with pytest.raises(UnknownBotnet, match="nope"):
        population_points(store, "nope", NOW, NOW + 60, 60)


# -- both endpoints, one alignment ------------------------------------------------------------

SUNDAY_LATE = datetime(2025, 6, 15, 23, 59, tzinfo=UTC).timestamp()
MONDAY_MIDNIGHT = datetime(2025, 6, 16, tzinfo=UTC).timestamp()
WEEK_BEFORE = datetime(2025, 6, 9, tzinfo=UTC).timestamp()


def test_both_population_endpoints_bucket_weeks_from_monday(live_server: LiveServer) -> None:
    """A reply late on Sunday and one at Monday 00:00 UTC fall in two ISO weeks, labelled by
    their Mondays, in the core read API and in the dashboard's, with the same counts."""
    live_server.create_botnet("hns")
    crawler = live_server.token("crawler")
    replies = [
        {"timestamp": SUNDAY_LATE, "ip": "127.1.0.1", "port": 1, "bot_id": "a"},
        {"timestamp": SUNDAY_LATE + 30, "ip": "127.1.0.2", "port": 1, "bot_id": "b"},
        {"timestamp": MONDAY_MIDNIGHT, "ip": "127.1.0.1", "port": 2, "bot_id": "a"},
    ]
    answer = post_batch(live_server, crawler, batch(replies=replies))
    assert answer.status_code == 200, answer.text
    span = {"bucket": 604800, "start": WEEK_BEFORE - 7 * 86400, "end": MONDAY_MIDNIGHT + 14 * 86400}
    with client(live_server, live_server.token("viewer")) as c:
        core = c.get("/api/v1/botnets/hns/population", params=span)
        stats = c.get("/api/v1/stats/botnets/hns/population", params=span)
    assert core.status_code == 200 and stats.status_code == 200, (core.text, stats.text)
    series = core.json()["series"]
    assert series == [
        {"t": WEEK_BEFORE, "ips": 2, "ids": 2, "ip_ports": 2, "replies": 2},
        {"t": MONDAY_MIDNIGHT, "ips": 1, "ids": 1, "ip_ports": 1, "replies": 1},
    ]
    rows = {r["t"]: r for r in stats.json()["rows"]}
    assert all(datetime.fromtimestamp(t, UTC).weekday() == 0 for t in rows)  # Mondays
    for point in series:
        row = rows[point["t"]]
        assert {k: row[k] for k in point} == point
    assert sum(r["replies"] for r in rows.values()) == 3
