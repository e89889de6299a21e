"""The read API filtered by ``source_type``: crawler and sensor batches go in through a real
``botmon serve`` (each from its own token), and every filtered answer equals counts made in
plain Python from what that kind of monitor sent; the sources view counts crawler only,
sensor only and both; bad filter values are refused on every stats route."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from botmon.wire import SOURCE_TYPES
from tests.dashboard.data import HOUR, DataSet, Reference, bucket_of, make
from tests.fixtures.server import LiveServer

API = "/api/v1/stats"


def _part(data: DataSet, keep: Any, with_failed_and_edges: bool) -> DataSet:
    """The records of ``data`` whose bot ``keep(port)`` accepts (alpha only)."""
    part = replace(data, replies={}, failed={}, edges={})
    part.replies = {"alpha": [r for r in data.replies["alpha"] if keep(r["port"])]}
    part.failed = {"alpha": data.failed["alpha"] if with_failed_and_edges else []}
    part.edges = {"alpha": data.edges["alpha"] if with_failed_and_edges else []}
    return part


@pytest.fixture
def sent(live_server: LiveServer) -> Iterator[tuple[dict[str, DataSet], httpx.Client]]:
    """alpha's bots with even numbers reported by a crawler (with every failed try and edge),
    those with numbers divisible by three by a sensor: bots 0, 6, 12, 18 by both."""
    data = make(time.time())
    parts = {
        "crawler": _part(data, lambda port: (port - 20000) % 2 == 0, True),
        "sensor": _part(data, lambda port: (port - 20000) % 3 == 0, False),
    }
    live_server.create_botnet("alpha")
    viewer = live_server.token("viewer")
    with httpx.Client(base_url=live_server.url, timeout=60, trust_env=False) as c:
        for kind, part in parts.items():
            token = live_server.token("crawler", name=f"{kind}-1")
            for batch in part.batches():
                body = {**batch, "batch_id": f"{kind}-{batch['batch_id']}", "source_type": kind}
                answer = c.post(
                    "/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {token}"}
                )
                assert answer.status_code == 200, answer.text
        c.headers["Authorization"] = f"Bearer {viewer}"
        yield parts, c


def _population(client: httpx.Client, **params: Any) -> dict[float, tuple[int, ...]]:
    answer = client.get(API + "/botnets/alpha/population", params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["params"]["source_type"] == (params.get("source_type") or "all")
    keys = ("ips", "ids", "ip_ports", "replies", "failed_tries")
    return {r["t"]: tuple(r[k] for k in keys) for r in body["rows"]}


def test_filtered_views_equal_what_each_kind_sent(
    sent: tuple[dict[str, DataSet], httpx.Client],
) -> None:
    parts, client = sent
    data = parts["crawler"]
    start, end = data.t0, data.end
    both = replace(
        data, replies={"alpha": [*data.replies["alpha"], *parts["sensor"].replies["alpha"]]}
    )
    truths = {
        "crawler": Reference(data),
        "sensor": Reference(parts["sensor"]),
        "all": Reference(both),
    }
    for size in (HOUR, 86400):
        for kind, ref in truths.items():
            got = _population(client, start=start, end=end, bucket=size, source_type=kind)
            assert got == ref.population("alpha", start, end, size), (kind, size)
    assert _population(client, start=start, end=end, bucket=HOUR) == truths["all"].population(
        "alpha", start, end, HOUR
    )
    # The core read API's population takes the same filter.
    answer = client.get(
        "/api/v1/botnets/alpha/population",
        params={"start": start, "end": end, "bucket": HOUR, "source_type": "sensor"},
    )
    assert answer.status_code == 200, answer.text
    want = {
        t: v[0] for t, v in truths["sensor"].population("alpha", start, end, HOUR).items() if v[3]
    }
    assert {p["t"]: p["ips"] for p in answer.json()["series"]} == want
    # Geography and peers follow the filter: the sensor sent no edges.
    for kind, ref in truths.items():
        answer = client.get(
            API + "/countries",
            params={"botnet": "alpha", "start": start, "end": end, "source_type": kind},
        )
        assert {r["country"]: r["ips"] for r in answer.json()["rows"]} == ref.countries(
            "alpha", start, end
        )
    answer = client.get(
        API + "/botnets/alpha/top-peers",
        params={"start": start, "end": end, "source_type": "sensor"},
    )
    assert answer.json()["rows"] == []


def test_sources_view_counts_crawler_only_sensor_only_and_both(
    sent: tuple[dict[str, DataSet], httpx.Client],
) -> None:
    parts, client = sent
    start, end = parts["crawler"].t0, parts["crawler"].end
    params = {"botnet": "alpha", "start": start, "end": end, "bucket": 86400}
    answer = client.get(API + "/sources", params=params)
    assert answer.status_code == 200, answer.text
    rows = answer.json()["rows"]
    *series, total = rows
    ips = {k: {r["ip"] for r in p.replies["alpha"]} for k, p in parts.items()}
    ids = {k: {r["bot_id"] for r in p.replies["alpha"]} for k, p in parts.items()}
    assert total["t"] is None
    assert (total["ips_crawler_only"], total["ips_both"], total["ips_sensor_only"]) == (
        len(ips["crawler"] - ips["sensor"]),
        len(ips["crawler"] & ips["sensor"]),
        len(ips["sensor"] - ips["crawler"]),
    )
    assert (total["ids_crawler_only"], total["ids_both"], total["ids_sensor_only"]) == (
        len(ids["crawler"] - ids["sensor"]),
        4,
        len(ids["sensor"] - ids["crawler"]),
    )
    per_day: dict[float, dict[str, set[str]]] = {}
    for kind, part in parts.items():
        for r in part.replies["alpha"]:
            per_day.setdefault(bucket_of(r["timestamp"], 86400), {}).setdefault(kind, set()).add(
                r["ip"]
            )
    for row in series:
        seen = per_day.get(row["t"], {})
        c, s = seen.get("crawler", set()), seen.get("sensor", set())
        assert (row["ips_crawler_only"], row["ips_both"], row["ips_sensor_only"]) == (
            len(c - s),
            len(c & s),
            len(s - c),
        )
    answer = client.get(API + "/sources", params={**params, "format": "csv"})
    assert answer.status_code == 200
    table = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(table) == len(rows) and table[-1]["t"] == ""
    assert int(table[-1]["ips_both"]) == total["ips_both"]


def test_every_stats_route_documents_and_checks_the_filter(
    sent: tuple[dict[str, DataSet], httpx.Client],
) -> None:
    _, client = sent
    spec = client.get("/openapi.json").json()
    stats = [  # a botnet's configurations are no count of records: no filter to take
        p for p in spec["paths"] if p.startswith(API) and not p.endswith("/configs")
    ] + ["/api/v1/botnets/{botnet}/population"]
    assert API + "/sources" in stats
    for path in stats:
        params = spec["paths"][path]["get"]["parameters"]
        (found,) = [p for p in params if p["name"] == "source_type"]
        assert found["schema"]["enum"] == [*SOURCE_TYPES, "all"]
        url = path.replace("{botnet}", "alpha")
        query = {"botnet": "alpha", "botnets": "alpha"}
        for bad in ("robot", "CRAWLER", "crawler,sensor"):
            answer = client.get(url, params={**query, "source_type": bad})
            assert answer.status_code == 422, (path, bad, answer.text)
            assert answer.json()["field"] == "source_type"
        for good in (*SOURCE_TYPES, "all"):
            answer = client.get(url, params={**query, "source_type": good})
            assert answer.status_code == 200, (path, good, answer.text)
