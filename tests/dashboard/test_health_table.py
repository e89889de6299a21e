"""The health table reads what is stored, whoever wrote it: statuses of crawlers older than
the typed status, and campaign settings of other versions, never break it."""

from __future__ import annotations

import math
import time

import httpx
import msgspec

from botmon.analysis.defaults import RANGE_ROUND_S
from botmon.analysis.overview import monitors
from botmon.store.base import Store
from botmon.wire import HeartbeatStatus, Reply, SensorStatus, read_status
from tests.fixtures.server import LiveServer
from tests.store.helpers import make_batch


def test_statuses_of_older_crawlers_show_what_fits(store: Store) -> None:
    now = time.time()
    store.create_botnet("hns")
    # What botmon's crawler sent before the status was typed: engine counters at the top.
    old_engine = {"sent": 500, "replies": 420, "paused": False, "rate": 0.0, "protocol": "hns"}
    store.record_heartbeat("old-crawler", now - 5, old_engine | {"client": {"heartbeats": 3}})
    # A hand-written status with guessed keys and wrong types.
    store.record_heartbeat(
        "odd-monitor",
        now - 5,
        {"state": "crawling", "replies": "many", "errors": -3, "requests": 9, "client": [1]},
    )
    store.start_campaign("hns", "odd-monitor", {"protocol": 7, "rounds": "x"}, now - 60)
    store.start_campaign("hns", "old-crawler", {"protocol": "hns", "rounds": 0}, now - 60)
    rows = {r["source"]: r for r in monitors(store, now, 3600).dicts()}

    old = rows["old-crawler"]
    assert (old["state"], old["reported_replies"], old["kind"]) == (None, 420, "crawler")
    assert old["reported_requests_per_s"] is None  # never reported, not guessed from "rate"
    assert old["campaign_settings"] == "hns: until stopped"
    odd = rows["odd-monitor"]
    assert (odd["state"], odd["reported_replies"], odd["reported_errors"]) == (None, None, None)
    assert odd["reported_requests"] == 9
    assert odd["campaign_settings"] == "hns"  # settings unreadable: the botnet is shown


def test_read_status_keeps_each_field_that_fits() -> None:
    assert read_status({}) == HeartbeatStatus()
    got = read_status({"state": "paused", "in_flight": "x", "sensor": {"contacts": 4}})
    assert got.state == "paused" and got.in_flight is None and got.sensor is not None
    assert got.sensor.contacts == 4


def test_a_crawler_that_just_beat_is_not_late_when_the_page_rounds_its_range_up(
    duckdb_server: LiveServer,
) -> None:
    """The page asks with its range's end rounded up by minutes (analysis.defaults); the age
    of a heartbeat is still counted to the present, so a live crawler shows as healthy."""
    crawler = duckdb_server.token("crawler", name="beating-crawler")
    with httpx.Client(base_url=duckdb_server.url, timeout=10, trust_env=False) as c:
        beat = c.post(
            "/api/v1/heartbeat",
            json={"status": {"state": "running"}},
            headers={"Authorization": f"Bearer {crawler}"},
        )
        assert beat.status_code == 200
        ahead = math.ceil(time.time() / RANGE_ROUND_S) * RANGE_ROUND_S + RANGE_ROUND_S
        got = c.get(
            "/api/v1/stats/monitors",
            params={"end": ahead, "window": 3600},
            headers={"Authorization": f"Bearer {duckdb_server.admin_token}"},
        )
    assert got.status_code == 200, got.text
    row = next(r for r in got.json()["rows"] if r["source"] == "beating-crawler")
    assert 0 <= row["heartbeat_age_s"] < 30


def test_a_crawler_held_back_by_a_full_spool_says_so(store: Store) -> None:
    now = time.time()
    store.create_botnet("hns")
    status = HeartbeatStatus(kind="crawler", state="paused", paused_reason="spool_full")
    store.record_heartbeat("held-crawler", now - 1, msgspec.to_builtins(status))
    row = {r["source"]: r for r in monitors(store, now, 3600).dicts()}["held-crawler"]
    assert (row["state"], row["paused_reason"]) == ("paused", "spool_full")


def test_sensors_show_beside_crawlers_with_their_contact_rate_and_the_filter_keeps_one_kind(
    store: Store,
) -> None:
    now = time.time()
    store.create_botnet("hns")
    crawler = HeartbeatStatus(kind="crawler", state="running", requests_per_s=120.0)
    sensor = HeartbeatStatus(
        kind="sensor",
        state="running",
        sensor=SensorStatus(contacts=900, answered=850, contacts_per_s=12.5),
    )
    store.record_heartbeat("crawler-a", now - 1, msgspec.to_builtins(crawler))
    store.record_heartbeat("sensor-a", now - 1, msgspec.to_builtins(sensor))
    for name, kind, n in (("crawler-a", "crawler", 3), ("sensor-a", "sensor", 5)):
        replies = [Reply(now - 60, f"127.0.0.{i + 1}", 1000) for i in range(n)]
        store.write_batch(make_batch("hns", name, replies, source_type=kind), name)  # type: ignore[arg-type]
    rows = {r["source"]: r for r in monitors(store, now, 3600).dicts()}
    assert (rows["sensor-a"]["kind"], rows["crawler-a"]["kind"]) == ("sensor", "crawler")
    got = rows["sensor-a"]
    assert (got["contacts_per_s"], got["contacts"], got["answered"], got["replies"]) == (
        12.5,
        900,
        850,
        5,
    )
    assert rows["crawler-a"]["contacts_per_s"] is None
    assert rows["crawler-a"]["reported_requests_per_s"] == 120.0
    only = {r["source"]: r for r in monitors(store, now, 3600, source="sensor").dicts()}
    assert list(only) == ["sensor-a"] and only["sensor-a"]["replies"] == 5
    assert list(r["source"] for r in monitors(store, now, 3600, source="crawler").dicts()) == [
        "crawler-a"
    ]
