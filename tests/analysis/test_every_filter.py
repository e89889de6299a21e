"""Every analysis answers under every record filter the API offers: one kind of monitor or
both, with or without the excluded monitors, on both backends. (The peer graph once counted
its vantage points over edges with a filter written for replies, and the fuzzer's
``source_type=crawler&exclude_monitors=true`` met a store error.)"""

from __future__ import annotations

import pytest

from botmon.analysis import framework, runs
from botmon.store.base import Store
from botmon.store.exclusions import MonitorToExclude
from botmon.store.reads import record_filter
from botmon.wire import Edge, FailedTry, Reply
from tests.store.helpers import NOW, make_batch

SENSOR = ("198.51.100.9", 4000)


def _fill(store: Store) -> None:
    store.create_botnet("every")
    bots = [(f"192.0.2.{i}", 1000 + i, f"{i:04x}") for i in range(1, 13)]
    replies = [
        Reply(NOW + 600 * r + i, ip, port, bot_id=bid)
        for r in range(6)
        for i, (ip, port, bid) in enumerate(bots)
        if (r + i) % 4
    ]
    replies.append(Reply(NOW + 30, *SENSOR, bot_id="ffff"))
    failed = [FailedTry(NOW + 600 * r + 5, "192.0.2.1", 1001, bot_id="0001") for r in range(6)]
    edges = [
        Edge(NOW + 600 * r + i, ip, port, *(SENSOR if i % 2 else bots[(i + 1) % 12][:2]))
        for r in range(6)
        for i, (ip, port, _) in enumerate(bots)
    ]
    store.write_batch(make_batch("every", "c", replies, failed, edges), "crawler-a")
    sensed = [Reply(NOW + 300 * k, "203.0.113.5", 7777) for k in range(12)]
    sensed += [Reply(NOW + 900 * k + 17, "192.0.2.3", 1003, bot_id="0003") for k in range(4)]
    store.write_batch(make_batch("every", "s", sensed, source_type="sensor"), "sensor-a")
    store.exclude_monitors("every", [MonitorToExclude(ip=SENSOR[0], port=SENSOR[1])], "test", NOW)


@pytest.mark.parametrize("name", framework.ANALYSIS_NAMES)
def test_each_analysis_under_each_filter(store: Store, name: str) -> None:
    _fill(store)
    analysis = framework.get(name)
    results = {}
    for kind in (None, "crawler", "sensor"):
        for exclude in (False, True):
            source = record_filter(kind, exclude)
            request = runs.build_request(analysis, "every", NOW - 3600, NOW + 7200, source)
            result = runs.compute(store, analysis, request)
            assert result.analysis == name and result.botnet == "every"
            results[kind, exclude] = framework.to_json(result)
    # Excluding the sensor changes what the crawlers' records say (it answered them).
    if name in ("count", "graph", "churn"):
        assert results[None, True] != results[None, False]
