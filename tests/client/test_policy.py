"""The client's pure parts: batching limits and ids, the retry policy, settings checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from botmon.client.batcher import Batcher
from botmon.client.retry import Outcome, backoff_delay, classify, parse_retry_after
from botmon.settings import ClientSettings, SettingsError
from botmon.wire import Batch, Edge, FailedTry, Reply

T0 = 1_700_000_000.0


def replies(n: int, start: int = 0) -> list[Reply]:
    return [
        Reply(T0 + i, f"127.1.{(i >> 8) & 255}.{i & 255}", 6000) for i in range(start, start + n)
    ]


def test_no_batch_is_sealed_before_a_kind_is_full() -> None:
    b = Batcher("hns", batch_size=100)
    assert b.add(replies(99)) == []
    assert b.pending == 99


def test_a_kind_reaching_the_size_seals_one_batch_with_every_kind_in_it() -> None:
    b = Batcher("hns", batch_size=100)
    edge = Edge(T0, "127.1.0.1", 6000, "127.1.0.2", 6000)
    fail = FailedTry(T0, "127.1.0.3", 6000, reason="timeout")
    assert b.add(edges=[edge], failed_tries=[fail]) == []
    [batch] = b.add(replies(100))
    assert (len(batch.replies), len(batch.failed_tries), len(batch.edges)) == (100, 1, 1)
    assert batch.botnet == "hns" and b.pending == 0


def test_a_large_add_is_cut_into_batches_of_at_most_the_size_in_order() -> None:
    b = Batcher("hns", batch_size=10_000)
    full = b.add(replies(25_001))
    assert [len(x.replies) for x in full] == [10_000, 10_000]
    rest = b.seal()
    assert rest is not None and len(rest.replies) == 5_001
    got = [r.timestamp for x in [*full, rest] for r in x.replies]
    assert got == [T0 + i for i in range(25_001)]
    assert b.seal() is None


def test_each_sealed_batch_gets_its_own_id() -> None:
    b = Batcher("hns", batch_size=10)
    batches = b.add(replies(50))
    ids = {x.batch_id for x in batches}
    assert len(ids) == 5 and all(len(i) == 32 for i in ids)


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.ACK),
        (201, Outcome.ACK),
        (408, Outcome.RETRY),
        (500, Outcome.RETRY),
        (502, Outcome.RETRY),
        (503, Outcome.RETRY),
        (429, Outcome.THROTTLED),
        (401, Outcome.AUTH),
        (403, Outcome.AUTH),
        (400, Outcome.REJECTED),
        (404, Outcome.REJECTED),
        (413, Outcome.REJECTED),
        (422, Outcome.REJECTED),
        (302, Outcome.REJECTED),
    ],
)
def test_http_status_classification(status: int, outcome: Outcome) -> None:
    assert classify(status) is outcome


def test_backoff_doubles_with_jitter_within_bounds_and_is_capped() -> None:
    lows = [backoff_delay(a, 0.5, 30.0, rand=lambda: 0.0) for a in range(1, 10)]
    highs = [backoff_delay(a, 0.5, 30.0, rand=lambda: 1.0) for a in range(1, 10)]
    assert lows[:4] == [0.25, 0.5, 1.0, 2.0]
    assert highs[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(highs) == 30.0 and highs[-1] == 30.0 and lows[-1] == 15.0
    assert backoff_delay(10_000, 0.5, 30.0) <= 30.0


def test_retry_after_in_seconds_or_as_http_date() -> None:
    assert parse_retry_after("7", T0) == 7.0
    assert parse_retry_after(None, T0) is None
    assert parse_retry_after("soon", T0) is None
    # 2023-11-14T22:13:20Z is T0; a date 30 s later.
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", T0) == pytest.approx(30.0)
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:00 GMT", T0) == 0.0


@pytest.mark.parametrize(
    "change",
    [
        {"batch_size": 0},
        {"batch_size": 10_001},
        {"flush_interval_s": 0},
        {"heartbeat_interval_s": float("nan")},
        {"retry_base_s": -1},
        {"retry_max_s": 1.0, "retry_base_s": 5.0},
        {"spool_max_bytes": 1000},
        {"rejected_max_files": 0},
    ],
)
def test_bad_settings_are_refused_with_the_setting_named(change: dict[str, object]) -> None:
    with pytest.raises(SettingsError, match=rf"^client\.{next(iter(change))}: "):
        ClientSettings().replace(**change)


@given(
    size=st.integers(1, 50),
    adds=st.lists(
        st.tuples(st.integers(0, 120), st.integers(0, 30), st.integers(0, 30)), max_size=20
    ),
)
def test_batching_keeps_every_record_in_order_and_within_the_size(
    size: int, adds: list[tuple[int, int, int]]
) -> None:
    b = Batcher("hns", batch_size=size)
    sent: list[Batch] = []
    made = {"replies": 0, "failed_tries": 0, "edges": 0}
    for nr, nf, ne in adds:
        sent += b.add(
            replies=replies(nr, start=made["replies"]),
            failed_tries=[
                FailedTry(T0 + made["failed_tries"] + i, "127.1.0.1", 1) for i in range(nf)
            ],
            edges=[Edge(T0 + made["edges"] + i, "127.1.0.1", 1, "127.1.0.2", 2) for i in range(ne)],
        )
        made["replies"] += nr
        made["failed_tries"] += nf
        made["edges"] += ne
        assert b.pending < 3 * size
    last = b.seal()
    sent += [last] if last is not None else []
    for kind, n in made.items():
        got = [r.timestamp for batch in sent for r in getattr(batch, kind)]
        assert got == [T0 + i for i in range(n)]
        assert all(len(getattr(batch, kind)) <= size for batch in sent)
    assert len({batch.batch_id for batch in sent}) == len(sent)
    assert all(batch.replies or batch.failed_tries or batch.edges for batch in sent)
