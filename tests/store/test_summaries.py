"""The seen tables (first and last sighting of every address and bot ID) stay equal to what
the raw replies say, on both backends: after a full build, after live, late and duplicate
batches, and (PostgreSQL) for a batch whose transaction commits after a refresh began."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botmon.store import open_store, summaries
from botmon.store.base import Store
from botmon.validation import ValidatedBatch
from botmon.wire import Reply
from tests.store.helpers import NOW, make_batch


def located(batch: ValidatedBatch, countries: list[str | None]) -> ValidatedBatch:
    """The batch as enrichment would leave it: a country (and an AS derived from it)."""
    batch.replies.country = list(countries)
    batch.replies.asn = [None if c is None else 64000 + ord(c[0]) for c in countries]
    return batch


def expected_seen(rows: list[tuple[str, Reply, str | None]]) -> dict[str, Any]:
    """Per (botnet, ip): first, last, latest located country; per (botnet, bot id): first, last."""
    ips: dict[tuple[str, str], list[Any]] = {}
    ids: dict[tuple[str, str], list[float]] = {}
    for botnet, r, country in sorted(rows, key=lambda x: x[1].timestamp):
        e = ips.setdefault((botnet, r.ip), [r.timestamp, r.timestamp, None])
        e[0], e[1] = min(e[0], r.timestamp), max(e[1], r.timestamp)
        if country is not None:
            e[2] = country
        if r.bot_id is not None:
            f = ids.setdefault((botnet, r.bot_id), [r.timestamp, r.timestamp])
            f[0], f[1] = min(f[0], r.timestamp), max(f[1], r.timestamp)
    return {"ips": ips, "ids": ids}


def actual_seen(store: Store) -> dict[str, Any]:
    ips = {
        (str(b), str(ip)): [pytest.approx(f, abs=1e-6), pytest.approx(la, abs=1e-6), c]
        for b, ip, f, la, c in store.query(
            "SELECT n.name, s.ip, s.first_ts, s.last_ts, s.country FROM seen_ips s"
            " JOIN botnets n ON n.id = s.botnet_id"
        )
    }
    ids = {
        (str(b), str(k)): [pytest.approx(f, abs=1e-6), pytest.approx(la, abs=1e-6)]
        for b, k, f, la in store.query(
            "SELECT n.name, s.bot_id, s.first_ts, s.last_ts FROM seen_ids s"
            " JOIN botnets n ON n.id = s.botnet_id"
        )
    }
    return {"ips": ips, "ids": ids}


def test_seen_tables_follow_every_kind_of_batch(store: Store) -> None:
    store.create_botnet("alpha")
    store.create_botnet("beta")
    assert store.refresh_summaries() == -1  # the first refresh is a full build
    assert store.refresh_summaries() == 0  # nothing new
    rng = random.Random(7)
    written: list[tuple[str, Reply, str | None]] = []
    pool = [f"127.9.{i // 200}.{i % 200 + 1}" for i in range(300)] + ["::1", "2001:db8::7"]

    def send(botnet: str, batch_id: str, start: float, n: int, *, refresh: bool = True) -> None:
        replies = [
            Reply(start + rng.random() * 600, rng.choice(pool), 1000 + i, f"id{rng.randrange(90)}")
            for i in range(n)
        ]
        countries = [rng.choice(["DE", "BR", None]) for _ in replies]
        result = store.write_batch(located(make_batch(botnet, batch_id, replies), countries), "t")
        if not result.duplicate:
            written.extend((botnet, r, c) for r, c in zip(replies, countries, strict=True))
        if refresh:
            assert store.refresh_summaries() == (0 if result.duplicate else 1)
            assert actual_seen(store) == expected_seen(written)

    send("alpha", "a1", NOW, 400)
    send("beta", "b1", NOW + 100, 300)
    send("alpha", "live", NOW + 7200, 50)  # newer rows
    send("alpha", "late", NOW - 86400, 80)  # older rows: first sightings move back
    send("alpha", "a1", NOW, 400)  # a duplicate batch id: nothing stored, nothing changes
    send("alpha", "x1", NOW + 30, 20, refresh=False)  # several batches, one refresh
    send("beta", "x2", NOW - 500, 20, refresh=False)
    assert store.refresh_summaries() >= 1
    assert actual_seen(store) == expected_seen(written)
    assert store.refresh_summaries() == 0


def test_a_full_rebuild_equals_the_merged_tables(store: Store) -> None:
    store.create_botnet("alpha")
    rows: list[tuple[str, Reply, str | None]] = []
    for k in range(3):
        replies = [
            Reply(NOW + 50 * k + i, f"127.8.0.{i % 7 + 1}", 10, f"b{i % 5}") for i in range(20)
        ]
        countries: list[str | None] = ["DE" if k < 2 else "FR"] * 20
        store.write_batch(located(make_batch("alpha", f"b{k}", replies), countries), "t")
        rows.extend(("alpha", r, c) for r, c in zip(replies, countries, strict=True))
        store.refresh_summaries()
    merged = actual_seen(store)
    assert merged == expected_seen(rows)
    assert {c for *_, c in merged["ips"].values()} == {"FR"}  # the latest located country
    assert store.refresh_summaries(full=True) == -1
    assert actual_seen(store) == merged


def test_a_batch_committed_after_a_refresh_began_is_not_skipped(pg_database_url: str) -> None:
    """A batch whose transaction is still open when a refresh reads the batches has a seq at
    or above the new watermark (the oldest open transaction), so the next refresh merges it."""
    import psycopg

    store = open_store(pg_database_url)
    try:
        store.migrate()
        store.create_botnet("alpha")
        store.write_batch(make_batch("alpha", "first", [Reply(NOW, "127.5.5.5", 1, None)]), "t")
        store.refresh_summaries()
        with psycopg.connect(pg_database_url) as late:
            late.execute(
                "INSERT INTO batches (source_id, batch_id, botnet_id, received_at, replies,"
                " failed_tries, edges, seq, first_ts, last_ts) SELECT s.id, 'slow', b.id, now(),"
                " 1, 0, 0, pg_current_xact_id()::text::bigint, to_timestamp(%s), to_timestamp(%s)"
                " FROM botnets b, sources s WHERE b.name = 'alpha' AND s.name = 't'",
                [NOW, NOW],
            )
            late.execute(
                "INSERT INTO replies (botnet_id, source_id, ts, ip, port) SELECT b.id, s.id,"
                " to_timestamp(%s), '127.7.7.7', 1 FROM botnets b, sources s"
                " WHERE b.name = 'alpha' AND s.name = 't'",
                [NOW],
            )
            # Meanwhile another batch commits and a refresh runs: it cannot see the open one.
            quick = make_batch("alpha", "quick", [Reply(NOW + 5, "127.6.6.6", 2, None)])
            store.write_batch(quick, "t")
            assert store.refresh_summaries() >= 1
            assert store.query("SELECT count(*) FROM seen_ips") == [(2,)]
            late.commit()
        assert store.refresh_summaries() >= 1
        ips = sorted(str(ip) for (ip,) in store.query("SELECT ip FROM seen_ips"))
        assert ips == ["127.5.5.5", "127.6.6.6", "127.7.7.7"]
    finally:
        store.close()


@given(
    st.lists(
        st.tuples(st.integers(1, 3), st.integers(-(10**9), 10**9), st.integers(-(10**9), 10**9)),
        max_size=80,
    ),
    st.integers(1, 30),
)
def test_joined_spans_cover_every_changed_span(
    spans: list[tuple[int, int, int]], limit: int
) -> None:
    joined = summaries.coalesce_spans(spans, limit)
    botnets = {b for b, _, _ in spans}
    assert len(joined) <= max(limit, len(botnets))
    per: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for b, lo, hi in joined:
        assert lo <= hi
        per[b].append((lo, hi))
    for b, lo, hi in spans:
        assert any(a <= min(lo, hi) and max(lo, hi) <= z for a, z in per[b])
    for items in per.values():  # no two joined spans of one botnet overlap
        items.sort()
        assert all(items[i][1] < items[i + 1][0] for i in range(len(items) - 1))
