"""Read routes, service routes (health, metrics, OpenAPI) and streamed exports."""

from __future__ import annotations

import io
import time
from pathlib import Path

import msgspec
import pyarrow.parquet as pq

from tests.fixtures.server import LiveServer, start_live_server
from tests.server.helpers import T0, batch, client, post_batch, reply, wait_until


def _fill(server: LiveServer) -> str:
    server.create_botnet("hns")
    token = server.token("crawler")
    records = [reply(i, timestamp=T0 + (i % 3) * 3600, ip=f"127.1.0.{i % 10}") for i in range(30)]
    r = post_batch(server, token, batch(replies=records, edges=4, failed_tries=2))
    assert r.status_code == 200, r.text
    return server.token("viewer")


def test_population_buckets_and_parameters(live_server: LiveServer) -> None:
    viewer = _fill(live_server)
    with client(live_server, viewer) as c:
        start, end = T0 - 1800 + 1800, T0 + 3 * 3600
        r = c.get(
            "/api/v1/botnets/hns/population",
            params={"bucket": 3600, "start": start, "end": end},
        )
        assert r.status_code == 200, r.text
        series = r.json()["series"]
        assert [p["replies"] for p in series] == [10, 10, 10]
        assert all(p["ips"] == 10 for p in series)
        rfc = c.get(
            "/api/v1/botnets/hns/population",
            params={"bucket": 3600, "start": "2023-11-14T22:13:20Z", "end": "2023-11-15T01:13:20Z"},
        )
        assert rfc.status_code == 200 and rfc.json()["series"] == series
        default = c.get("/api/v1/botnets/hns/population").json()
        assert default["bucket"] == 3600
        assert abs(default["end"] - time.time()) < 60 and default["end"] - default["start"] == 86400

        bad = [
            {"bucket": "abc"},
            {"bucket": 0},
            {"start": "yesterday"},
            {"start": "2024-01-01T00:00:00"},  # no time zone
            {"start": 100},  # before 2000
            {"start": T0 + 10, "end": T0},
            {"bucket": 1, "start": T0, "end": T0 + 86400},  # too many buckets
        ]
        for params in bad:
            r = c.get("/api/v1/botnets/hns/population", params=params)
            assert r.status_code == 422, (params, r.text)
            assert r.json()["reason"] == "invalid_parameter" and r.json()["field"]
        assert c.get("/api/v1/botnets/nope/population").status_code == 404


def test_botnet_summaries(live_server: LiveServer) -> None:
    viewer = _fill(live_server)
    with client(live_server, viewer) as c:
        r = c.get("/api/v1/botnets")
    assert r.status_code == 200
    (hns,) = r.json()["botnets"]
    assert hns["name"] == "hns" and hns["first_seen"] == T0 and hns["last_seen"] == T0 + 7200


def test_exports_stream_each_format(live_server: LiveServer) -> None:
    viewer = _fill(live_server)
    with client(live_server, viewer) as c:
        jsonl = c.get("/api/v1/botnets/hns/records/replies", params={"format": "jsonl"})
        assert jsonl.status_code == 200
        assert jsonl.headers["content-type"].startswith("application/x-ndjson")
        rows = [msgspec.json.decode(line) for line in jsonl.text.splitlines()]
        assert len(rows) == 30 and rows[0]["data"]["version"] == 3
        csv = c.get("/api/v1/botnets/hns/records/edges", params={"format": "csv"})
        assert csv.text.splitlines()[0].startswith('"timestamp","src_ip","src_port"')
        assert len(csv.text.splitlines()) == 5
        parquet = c.get("/api/v1/botnets/hns/records/failed_tries", params={"format": "parquet"})
        assert pq.read_table(io.BytesIO(parquet.content)).num_rows == 2
        window = c.get(
            "/api/v1/botnets/hns/records/replies",
            params={"start": T0 + 3600, "end": T0 + 7200},
        )
        assert len(window.text.splitlines()) == 10
        assert c.get("/api/v1/botnets/hns/records/bogus").status_code == 404
        assert c.get("/api/v1/botnets/nope/records/replies").status_code == 404
        assert (
            c.get("/api/v1/botnets/hns/records/replies", params={"format": "xml"}).status_code
            == 422
        )
    crawler = live_server.token("crawler")
    with client(live_server, crawler) as c:
        assert c.get("/api/v1/botnets/hns/records/replies").status_code == 403


def test_health_metrics_and_openapi(live_server: LiveServer) -> None:
    _fill(live_server)
    token = live_server.token("crawler")
    post_batch(live_server, token, batch(replies=[reply(0, port=99999)]))
    with client(live_server) as c:
        health = c.get("/healthz").json()
        assert health["status"] == "ok" and health["backend"] == live_server.backend
        metrics = c.get("/metrics").text
        assert 'botmon_ingested_records_total{kind="replies"} 30.0' in metrics
        assert 'botmon_rejected_batches_total{reason="invalid_record"} 1.0' in metrics
        assert "botmon_duplicate_batches_total 0.0" in metrics
        assert 'route="/api/v1/ingest"' in metrics
        doc = c.get("/openapi.json").json()
    assert doc["openapi"] == "3.1.0"
    for path, method in [
        ("/api/v1/ingest", "post"),
        ("/api/v1/heartbeat", "post"),
        ("/api/v1/botnets", "get"),
        ("/api/v1/botnets/{botnet}/population", "get"),
        ("/api/v1/botnets/{botnet}/records/{kind}", "get"),
        ("/api/v1/admin/tokens", "post"),
        ("/api/v1/admin/tokens/{name}", "delete"),
        ("/api/v1/admin/commands", "post"),
        ("/api/v1/admin/counts", "get"),
        ("/metrics", "get"),
        ("/healthz", "get"),
    ]:
        assert method in doc["paths"][path], path
    schemas = doc["components"]["schemas"]
    assert {"Batch", "Reply", "Edge", "FailedTry", "Error", "IngestResult"} <= schemas.keys()
    assert schemas["Reply"]["properties"]["port"]["type"] == "integer"
    ingest = doc["paths"]["/api/v1/ingest"]["post"]
    assert {"200", "401", "403", "413", "422"} <= ingest["responses"].keys()


def test_the_server_refreshes_the_dashboard_summaries_in_the_background(
    store_url: str, tmp_path: Path
) -> None:
    """With no dashboard open, the summary tables still follow ingest (seen in /metrics),
    so the first dashboard request after a busy hour finds little left to merge."""
    server = start_live_server(store_url, tmp_path, ["--summary-refresh", "0.2"])
    try:
        server.create_botnet("hns")
        token = server.token("crawler", name="crawler-bg")
        metrics = client(server)

        def metric(name: str) -> float:
            text = metrics.get("/metrics").text
            for line in text.splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[-1])
            return 0.0

        def merged() -> float:
            return metric('botmon_summary_refreshes_total{outcome="merged"}')

        assert wait_until(lambda: merged() >= 1, timeout=30)  # the start-up build
        # The dashboard's default views were computed once after it (a new botnet included).
        assert wait_until(lambda: metric("botmon_dashboard_warm_up_seconds") > 0, timeout=30)
        before = merged()
        assert post_batch(server, token, batch(replies=50)).status_code == 200
        assert wait_until(lambda: merged() > before, timeout=30)
        assert metric('botmon_summary_refreshes_total{outcome="failed"}') == 0
    finally:
        server.stop()
