"""Reads: population equals counts computed independently, summaries, exports, query()."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from collections.abc import Callable

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botmon.ipaddr import normalise_ip
from botmon.store import open_store
from botmon.store.base import PopulationPoint, Store, StoreError
from botmon.store.common import EXPORT_SCHEMAS
from botmon.wire import Edge, FailedTry, Reply
from tests.store.helpers import NOW, make_batch, simple_replies

IPS = [
    "127.0.0.1",
    "127.0.0.2",
    "127.1.2.3",
    "10.0.0.1",
    "::1",
    "2001:db8::1",
    "2001:db8::1:0:0:1",
    "fe80::1",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "::ffff:127.0.0.1",  # the same bot as 127.0.0.1
    "::",
    "0.0.0.0",
    "255.255.255.255",
]
_counter = itertools.count()

reply_strategy = st.builds(
    Reply,
    timestamp=st.integers(0, 40 * 3600 * 1000).map(lambda ms: NOW + ms / 1000),
    ip=st.sampled_from(IPS),
    port=st.sampled_from([0, 1, 80, 65535]),
    bot_id=st.one_of(st.none(), st.sampled_from(["a", "b", "c", "dd"])),
)


def _expected(
    replies: list[Reply], bucket_s: int, start: float, end: float
) -> list[PopulationPoint]:
    """The population series computed in plain Python from the records themselves."""
    buckets: dict[int, list[Reply]] = defaultdict(list)
    start_us, end_us = round(start * 1e6), round(end * 1e6)
    for r in replies:
        us = round(r.timestamp * 1e6)
        if start_us <= us < end_us:
            buckets[us // (bucket_s * 1_000_000)].append(r)
    return [
        PopulationPoint(
            t=float(b * bucket_s),
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
    bucket_s=st.sampled_from([1, 60, 300, 3600, 86400]),
    window=st.tuples(st.integers(-3600, 20 * 3600), st.integers(1, 48 * 3600)),
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
    assert store.population(botnet, bucket_s, start, end) == _expected(
        replies, bucket_s, start, end
    )


def test_population_only_counts_its_own_botnet_and_omits_empty_buckets(store: Store) -> None:
    store.create_botnet("hns")
    store.create_botnet("mozi")
    early = [Reply(NOW + 10, "127.0.0.1", 1, "x"), Reply(NOW + 20, "127.0.0.1", 2, "x")]
    late = [Reply(NOW + 7200 + 5, "::1", 1)]
    store.write_batch(make_batch("hns", "b", early + late), "s")
    store.write_batch(make_batch("mozi", "b", simple_replies(50)), "s")
    base = NOW - NOW % 3600
    assert store.population("hns", 3600, NOW - 86400, NOW + 86400) == [
        PopulationPoint(t=base, ips=1, ids=1, ip_ports=2, replies=2),
        PopulationPoint(t=base + 7200, ips=1, ids=0, ip_ports=1, replies=1),
    ]
    assert store.population("hns", 60, NOW + 10.5, NOW + 20) == []  # [start, end)


BAD_POPULATION_ARGS = [
    (0, NOW, NOW + 1),
    (-5, NOW, NOW + 1),
    (60, NOW, NOW),
    (1, NOW, NOW + 10**7),
    (60, -1, 1),
    (60, float("nan"), NOW),
]


def test_bad_population_arguments_are_refused(store: Store) -> None:
    store.create_botnet("hns")
    for bucket_s, start, end in BAD_POPULATION_ARGS:
        with pytest.raises(StoreError):
            store.population("hns", bucket_s, start, end)


def test_reads_of_an_unknown_botnet_are_store_errors(store: Store) -> None:
    with pytest.raises(StoreError, match="unknown botnet"):
        store.population("nope", 60, NOW, NOW + 60)
    with pytest.raises(StoreError, match="unknown botnet"):
        store.count_records("nope")
    with pytest.raises(StoreError, match="unknown botnet"):
        list(store.export("replies", "nope"))
    store.create_botnet("hns")
    with pytest.raises(StoreError, match="unknown record kind"):
        list(store.export("bots", "hns"))  # type: ignore[arg-type]


def test_botnet_summaries_report_first_last_and_recent_counts(store: Store) -> None:
    store.create_botnet("hns", "Hide'n'Seek")
    store.create_botnet("quiet")
    old = [Reply(NOW - 86400, "127.0.0.1", 1, "old")]
    recent = [
        Reply(NOW - 600, "127.0.0.2", 1, "a"),
        Reply(NOW - 300, "127.0.0.2", 2, "a"),
        Reply(NOW - 60, "::1", 3, None),
    ]
    store.write_batch(make_batch("hns", "b", old + recent), "s")
    summaries = {s.name: s for s in store.botnet_summaries(NOW, recent_window_s=3600)}
    hns = summaries["hns"]
    assert hns.description == "Hide'n'Seek"
    assert hns.first_seen == pytest.approx(NOW - 86400)
    assert hns.last_seen == pytest.approx(NOW - 60)
    assert (hns.recent_window_s, hns.recent_ips, hns.recent_ids, hns.recent_replies) == (
        3600,
        2,
        1,
        3,
    )
    quiet = summaries["quiet"]
    assert (quiet.first_seen, quiet.last_seen, quiet.recent_replies) == (None, None, 0)
    assert list(summaries) == ["hns", "quiet"]


def test_export_round_trips_ipv4_and_ipv6_with_utc_timestamps(store: Store) -> None:
    store.create_botnet("hns")
    replies = [
        Reply(NOW + i + 0.123456, ip, 1000 + i, f"id{i}", {"i": i, "ip": ip})
        for i, ip in enumerate(IPS)
    ]
    store.write_batch(make_batch("hns", "b", replies), "crawler-7")
    table = pa.Table.from_batches(list(store.export("replies", "hns")))
    assert table.schema == EXPORT_SCHEMAS["replies"]
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    rows = sorted(table.to_pylist(), key=lambda r: r["port"])
    assert [r["ip"] for r in rows] == [normalise_ip(ip) for ip in IPS]
    assert rows[IPS.index("::ffff:127.0.0.1")]["ip"] == "127.0.0.1"  # the same bot as IPv4
    assert [r["timestamp"].timestamp() for r in rows] == [
        pytest.approx(r.timestamp, abs=1e-6) for r in replies
    ]
    assert [json.loads(r["data"]) for r in rows] == [r.data for r in replies]
    assert {(r["botnet"], r["source"]) for r in rows} == {("hns", "crawler-7")}
    assert [r["bot_id"] for r in rows] == [f"id{i}" for i in range(len(IPS))]


def test_export_of_edges_and_failed_tries(store: Store) -> None:
    store.create_botnet("hns")
    edges = [Edge(NOW, "127.0.0.1", 1, "2001:db8::5", 2, "src", None)]
    failed = [FailedTry(NOW, "::ffff:10.1.2.3", 7, None, "timeout", {"tries": 4})]
    store.write_batch(make_batch("hns", "b", edges=edges, failed_tries=failed), "s")
    (edge,) = pa.Table.from_batches(list(store.export("edges", "hns"))).to_pylist()
    assert (edge["src_ip"], edge["src_port"], edge["src_id"]) == ("127.0.0.1", 1, "src")
    assert (edge["dst_ip"], edge["dst_port"], edge["dst_id"]) == ("2001:db8::5", 2, None)
    (tried,) = pa.Table.from_batches(list(store.export("failed_tries", "hns"))).to_pylist()
    assert (tried["ip"], tried["reason"], json.loads(tried["data"])) == (
        "10.1.2.3",
        "timeout",
        {"tries": 4},
    )


def test_export_filters_by_time_and_streams_in_bounded_batches(store: Store) -> None:
    store.create_botnet("hns")
    store.create_botnet("other")
    for k in range(8):  # 80,000 replies, one per 10 ms
        store.write_batch(
            make_batch("hns", f"b{k}", simple_replies(10_000, NOW + k * 100, 0.01)), "s"
        )
    store.write_batch(make_batch("other", "b", simple_replies(10)), "s")
    batches = list(store.export("replies", "hns"))
    assert sum(b.num_rows for b in batches) == 80_000
    assert max(b.num_rows for b in batches) <= 65_536
    window = list(store.export("replies", "hns", start=NOW + 100, end=NOW + 200))
    stamps = [t.timestamp() for b in window for t in b.column("timestamp").to_pylist()]
    assert len(stamps) == 10_000
    assert min(stamps) >= NOW + 100
    assert max(stamps) < NOW + 200


def test_query_results_are_engine_neutral(store: Store) -> None:
    store.create_botnet("hns")
    store.write_batch(
        make_batch("hns", "b", [Reply(NOW, "2001:db8::7", 5, "x", {"k": [1, 2]})]), "s"
    )
    p = "?" if store.backend == "duckdb" else "%s"
    rows = store.query(f"SELECT ip, ts, port, bot_id, data FROM replies WHERE bot_id = {p}", ["x"])
    assert rows == [("2001:db8::7", NOW, 5, "x", {"k": [1, 2]})]
    (count,) = store.query("SELECT count(DISTINCT ip) FROM replies")
    assert count == (1,)


def test_query_refuses_to_write(store: Store) -> None:
    store.create_botnet("hns")
    store.write_batch(make_batch("hns", "b", simple_replies(3)), "s")
    for sql in ("DELETE FROM replies", "DROP TABLE replies", "SELECT 1; DELETE FROM replies"):
        with pytest.raises(StoreError):
            store.query(sql)
    with pytest.raises(StoreError):
        store.query("INSERT INTO botnets (name, created_at) VALUES ('x', now())")
    assert store.count_records()["replies"] == 3
    assert [b.name for b in store.list_botnets()] == ["hns"]


def test_query_errors_are_store_errors(store: Store) -> None:
    with pytest.raises(StoreError):
        store.query("SELECT * FROM no_such_table")
    with pytest.raises(StoreError):
        store.query("SELEKT 1")
    with pytest.raises(StoreError, match="NUL"):
        store.query("SELECT 1", ["a\x00b"])


def test_reads_work_on_a_freshly_opened_store(store_url: str) -> None:
    """Nothing cached: each read looks names up itself (a CLI export opens, reads, exits)."""
    writer = open_store(store_url)
    writer.migrate()
    writer.create_botnet("hns")
    writer.write_batch(make_batch("hns", "b", simple_replies(5)), "s")
    writer.close()
    reads: list[Callable[[Store], int]] = [
        lambda s: sum(b.num_rows for b in s.export("replies", "hns")),
        lambda s: sum(p.replies for p in s.population("hns", 60, NOW - 60, NOW + 60)),
        lambda s: s.count_records("hns")["replies"],
    ]
    for read in reads:
        fresh = open_store(store_url)
        try:
            assert fresh.schema_version() >= 1
            assert read(fresh) == 5
        finally:
            fresh.close()
