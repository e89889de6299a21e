"""The read port's bucket arithmetic in SQL equals botmon.buckets in Python, on both backends,
to the microsecond: a bucket boundary is the same instant in the store and in analyses."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botmon.buckets import bucket_index
from botmon.store.base import Store
from botmon.wire import Reply
from tests.store.helpers import NOW, make_batch

_counter = itertools.count()
MONDAY = 1_750_032_000.0  # 2025-06-16 00:00 UTC
EDGES = [MONDAY - 1e-6, MONDAY, MONDAY - 60, MONDAY + 3600 - 1e-6, MONDAY + 86400]


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stamps=st.lists(
        st.one_of(
            st.sampled_from(EDGES),
            st.integers(-20 * 86400 * 10**6, 20 * 86400 * 10**6).map(lambda us: MONDAY + us / 1e6),
        ),
        min_size=1,
        max_size=60,
    ),
    bucket_s=st.sampled_from([1, 7, 60, 3600, 5000, 86400, 604800, 31 * 86400]),
)
def test_bucket_indexes_match_python(store: Store, stamps: list[float], bucket_s: int) -> None:
    botnet = f"port{next(_counter)}"
    store.create_botnet(botnet)
    (found,) = [b.id for b in store.list_botnets() if b.name == botnet]
    replies = [Reply(t, "127.0.0.1", i % 65536) for i, t in enumerate(stamps)]
    store.write_batch(make_batch(botnet, botnet, replies), "s")
    lo, hi = MONDAY - 40 * 86400, MONDAY + 40 * 86400
    got = store.bucket_counts("replies", [found], lo, hi, bucket_s, "rows")
    # The microsecond the store keeps, bucketed in Python.
    want = Counter(bucket_index(round(t * 1e6) / 1e6, bucket_s) for t in stamps)
    assert got == {(found, i): n for i, n in want.items()}
    spans = store.batch_spans("replies", [found], lo, hi, bucket_s)
    assert spans == [(found, min(want), max(want), 1)]


def test_sunday_night_and_monday_midnight_are_two_iso_weeks(store: Store) -> None:
    store.create_botnet("hns")
    replies = [Reply(MONDAY - 60, "127.0.0.1", 1, "a"), Reply(MONDAY, "127.0.0.2", 1, "b")]
    store.write_batch(make_batch("hns", "b", replies), "s")
    got = store.bucket_counts("replies", None, NOW - 86400 * 30, NOW + 86400 * 30, 604800, "ips")
    assert sorted(got.values()) == [1, 1] and len(got) == 2
