"""Heartbeats, commands and campaigns: the server's coordination state."""

from __future__ import annotations

import threading

import pytest

from botmon.store.base import Store, StoreError
from tests.store.helpers import NOW, make_batch, simple_replies


def test_the_latest_heartbeat_per_source_is_kept(store: Store) -> None:
    store.record_heartbeat("crawler-1", NOW, {"state": "running", "queue": [1, 2]})
    store.record_heartbeat("sensor-1", NOW + 1, {"state": "listening"})
    store.record_heartbeat("crawler-1", NOW + 10, {"state": "paused", "rate": 1.5})
    store.record_heartbeat("crawler-1", NOW + 5, {"state": "late and stale"})
    beats = {h.source: h for h in store.heartbeats()}
    assert list(beats) == ["crawler-1", "sensor-1"]
    assert beats["crawler-1"].at == NOW + 10
    assert beats["crawler-1"].status == {"state": "paused", "rate": 1.5}
    assert beats["sensor-1"].status == {"state": "listening"}


def test_a_heartbeat_status_must_be_a_small_json_object_without_nul(store: Store) -> None:
    with pytest.raises(StoreError, match="NUL"):
        store.record_heartbeat("c", NOW, {"x": "a\x00b"})
    with pytest.raises(StoreError, match="JSON"):
        store.record_heartbeat("c", NOW, {"x": object()})
    with pytest.raises(StoreError, match="larger"):
        store.record_heartbeat("c", NOW, {"x": "y" * 100_000})
    with pytest.raises(StoreError):
        store.record_heartbeat("c", float("nan"), {})
    assert store.heartbeats() == []


def test_commands_are_handed_out_once_oldest_first(store: Store) -> None:
    first = store.add_command("crawler-1", "pause", {}, NOW)
    second = store.add_command("crawler-1", "rate", {"per_s": 50}, NOW + 1)
    store.add_command("crawler-2", "seeds", {"peers": ["127.0.0.1:1"]}, NOW)
    assert second.id > first.id
    taken = store.take_commands("crawler-1")
    assert [(c.command, c.args, c.source) for c in taken] == [
        ("pause", {}, "crawler-1"),
        ("rate", {"per_s": 50}, "crawler-1"),
    ]
    assert taken[0] == first
    assert store.take_commands("crawler-1") == []
    assert store.take_commands("never-seen") == []
    assert [c.command for c in store.take_commands("crawler-2")] == ["seeds"]


def test_concurrent_heartbeats_never_hand_out_a_command_twice(store: Store) -> None:
    for i in range(40):
        store.add_command("crawler-1", "step", {"i": i}, NOW + i)
    barrier = threading.Barrier(4)
    got: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def heartbeat() -> None:
        try:
            barrier.wait(timeout=30)
            for _ in range(10):
                taken = store.take_commands("crawler-1")
                with lock:
                    got.extend(c.args["i"] for c in taken)
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=heartbeat) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sorted(got) == list(range(40))


def test_campaigns_start_and_end(store: Store) -> None:
    store.create_botnet("hns")
    store.create_botnet("mozi")
    settings = {"protocol": "hns", "rounds": 3, "scope": ["127.0.0.0/8"]}
    first = store.start_campaign("hns", "crawler-1", settings, NOW)
    assert (first.botnet, first.source, first.started_at) == ("hns", "crawler-1", NOW)
    assert (first.ended_at, first.settings) == (None, settings)
    other = store.start_campaign("mozi", "crawler-2", {"protocol": "mozi"}, NOW + 1)
    assert store.latest_campaigns() == [first, other]

    assert store.end_campaign(first.id, "crawler-2", NOW + 60) is None  # not its campaign
    assert store.end_campaign(2**40, "crawler-1", NOW + 60) is None
    assert store.end_campaign(first.id, "nobody", NOW + 60) is None
    ended = store.end_campaign(first.id, "crawler-1", NOW + 60)
    assert ended is not None and ended.ended_at == NOW + 60 and ended.settings == settings
    assert store.end_campaign(first.id, "crawler-1", NOW + 70) is None  # ended before

    second = store.start_campaign("hns", "crawler-1", {"protocol": "hns"}, NOW + 100)
    assert second.id > other.id
    assert store.latest_campaigns() == [other, second]  # each source's newest
    with pytest.raises(StoreError, match="unknown botnet"):
        store.start_campaign("nope", "crawler-1", {}, NOW)
    with pytest.raises(StoreError, match="larger"):
        store.start_campaign("hns", "crawler-1", {"x": "y" * 100_000}, NOW)
    assert len(store.latest_campaigns()) == 2


def test_reads_run_while_writes_go_on(store: Store) -> None:
    """Worker threads read (population, summaries) while another thread ingests."""
    store.create_botnet("hns")
    errors: list[BaseException] = []
    done = threading.Event()

    def writer() -> None:
        try:
            for k in range(10):
                store.write_batch(make_batch("hns", f"b{k}", simple_replies(2000, NOW + k)), "s")
        except BaseException as exc:  # asserted below
            errors.append(exc)
        finally:
            done.set()

    def reader() -> None:
        try:
            for _ in range(200):
                store.bucket_counts("replies", None, NOW - 60, NOW + 7200, 60, "ips")
                store.botnet_summaries(NOW)
                if done.is_set():
                    break
        except BaseException as exc:  # asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert store.count_records()["replies"] == 20_000
