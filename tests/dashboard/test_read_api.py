"""The read API's numbers equal counts computed in plain Python from the records sent, on both
store backends, through a real ``botmon serve``; and it rejects bad requests cleanly."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.dashboard.data import HOUR, DataSet, Reference, bucket_of, make
from tests.fixtures.server import LiveServer

API = "/api/v1/stats"


@pytest.fixture
def loaded(live_server: LiveServer) -> Iterator[tuple[LiveServer, DataSet, httpx.Client]]:
    """The test data ingested through the API by a crawler token; a viewer client to read."""
    data = make(time.time())
    for name in ("alpha", "beta"):
        live_server.create_botnet(name)
    crawler = live_server.token("crawler", name="crawler-test")
    viewer = live_server.token("viewer")
    with httpx.Client(base_url=live_server.url, timeout=30, trust_env=False) as c:
        for batch in data.batches():
            answer = c.post(
                "/api/v1/ingest", json=batch, headers={"Authorization": f"Bearer {crawler}"}
            )
            assert answer.status_code == 200, answer.text
        answer = c.post(
            "/api/v1/heartbeat",
            json={
                "status": {"state": "running", "requests_per_s": 12.5, "replies": 321, "errors": 4}
            },
            headers={"Authorization": f"Bearer {crawler}"},
        )
        assert answer.status_code == 200, answer.text
    with httpx.Client(
        base_url=live_server.url,
        timeout=60,
        trust_env=False,
        headers={"Authorization": f"Bearer {viewer}"},
    ) as client:
        yield live_server, data, client


def get(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    answer = client.get(API + path, params=params)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["columns"] == list(body["rows"][0]) if body["rows"] else True
    rows: list[dict[str, Any]] = body["rows"]
    return rows


def test_every_view_matches_the_raw_records(
    loaded: tuple[LiveServer, DataSet, httpx.Client],
) -> None:
    _, data, client = loaded
    ref = Reference(data)
    start, end = data.t0, data.end

    # Single botnet: population per hour and per day (bucket alignment included).
    for size in (HOUR, 86400):
        rows = get(client, "/botnets/alpha/population", start=start, end=end, bucket=size)
        expected = ref.population("alpha", start, end, size)
        got = {
            r["t"]: (r["ips"], r["ids"], r["ip_ports"], r["replies"], r["failed_tries"])
            for r in rows
        }
        assert got == expected
    rows = get(client, "/botnets/beta/population", start=start, end=end, bucket=HOUR)
    assert {
        r["t"]: (r["ips"], r["ids"], r["ip_ports"], r["replies"], r["failed_tries"]) for r in rows
    } == ref.population("beta", start, end, HOUR)

    # Counting comparison: IPs vs IDs (alpha's moving bots give more IPs than IDs per day).
    for size in (HOUR, 86400, 604800):
        rows = get(client, "/counting", botnet="alpha", start=start, end=end, bucket=size)
        expected = ref.population("alpha", start, end, size)
        for r in rows:
            ips, ids = expected[r["t"]][0], expected[r["t"]][1]
            assert (r["ips"], r["ids"]) == (ips, ids)
            assert r["ips_per_id"] == (round(ips / ids, 4) if ids else None)
    daily = get(client, "/counting", botnet="alpha", start=start, end=end, bucket=604800)
    assert sum(r["ips"] for r in daily) > sum(r["ids"] for r in daily) > 0

    # New vs returning, by IP and by ID.
    for by, key in (("ip", "ip"), ("id", "bot_id")):
        rows = get(client, "/botnets/alpha/returning", start=start, end=end, bucket=HOUR, by=by)
        expected_ret = ref.returning("alpha", start, end, HOUR, key)
        got_ret = {r["t"]: (r["bots"], r["new"]) for r in rows if r["bots"]}
        assert got_ret == expected_ret
        assert all(r["returning"] == r["bots"] - r["new"] for r in rows)

    # Top peers by in-degree.
    rows = get(client, "/botnets/alpha/top-peers", start=start, end=end, limit=5)
    degrees = ref.in_degree("alpha", start, end)
    assert len(rows) == 5
    assert [r["in_degree"] for r in rows] == sorted(degrees.values(), reverse=True)[:5]
    for r in rows:
        assert degrees[(r["ip"], r["port"])] == r["in_degree"]

    # Geolocations, for one botnet and for all.
    for botnet in ("alpha", None):
        params = {"start": start, "end": end, **({"botnet": botnet} if botnet else {})}
        rows = get(client, "/countries", **params)
        expected_cc = ref.countries(botnet, start, end)
        assert {r["country"]: r["ips"] for r in rows} == expected_cc
        assert abs(sum(r["share"] for r in rows) - 1) < 1e-3
    assert {r["country"] for r in rows} >= {"CN", "DE", "US"}

    # ASes.
    rows = get(client, "/ases", botnet="alpha", start=start, end=end, limit=1000)
    assert {r["asn"]: r["ips"] for r in rows} == ref.ases("alpha", start, end)
    assert all(r["as_name"] for r in rows)

    # Comparison: overlap, normalised population, country mix, hour-of-day profile.
    rows = get(client, "/compare/overlap", botnets="alpha,beta", start=start, end=end)
    a, b = ref.ips("alpha", start, end), ref.ips("beta", start, end)
    assert rows == [
        {
            "botnet_a": "alpha",
            "botnet_b": "beta",
            "ips_a": len(a),
            "ips_b": len(b),
            "shared_ips": len(a & b),
            "jaccard": round(len(a & b) / len(a | b), 6),
        }
    ]
    rows = get(
        client, "/compare/population", botnets="alpha,beta", start=start, end=end, bucket=HOUR
    )
    for name in ("alpha", "beta"):
        expected_pop = ref.population(name, start, end, HOUR)
        peak = max(v[0] for v in expected_pop.values())
        mine = [r for r in rows if r["botnet"] == name]
        assert {r["t"]: r["ips"] for r in mine} == {t: v[0] for t, v in expected_pop.items()}
        assert max(r["normalised"] for r in mine) == 1.0
        assert all(r["normalised"] == round(r["ips"] / peak, 4) for r in mine)
    rows = get(client, "/compare/countries", botnets="alpha,beta", start=start, end=end, limit=3)
    for name in ("alpha", "beta"):
        expected_cc = ref.countries(name, start, end)
        mine = [r for r in rows if r["botnet"] == name]
        assert len(mine) == 3
        assert all(expected_cc[r["country"]] == r["ips"] for r in mine)
        assert [r["ips"] for r in mine] == sorted(expected_cc.values(), reverse=True)[:3]
    rows = get(client, "/compare/hours", botnets="alpha,beta", start=start, end=end)
    for name in ("alpha", "beta"):
        utc, local = ref.hours(name, start, end)
        mine = sorted((r for r in rows if r["botnet"] == name), key=lambda r: r["hour"])
        assert [r["utc"] for r in mine] == pytest.approx([round(u, 3) for u in utc], abs=1e-3)
        assert [r["local"] for r in mine] == pytest.approx([round(v, 3) for v in local], abs=1e-3)
    beta_utc = [r["utc"] for r in rows if r["botnet"] == "beta"]
    assert max(beta_utc) > min(beta_utc)  # beta's daily cycle shows

    # Overview: the last hour of the data, all-time first/last seen; trend; monitors.
    rows = get(client, "/overview", end=end, window=HOUR)
    by_name = {r["botnet"]: r for r in rows}
    last_hour = ref.population("alpha", end - HOUR, end, HOUR)
    ips, ids, _, replies, failed = next(iter(last_hour.values()))
    assert (
        by_name["alpha"]["ips"],
        by_name["alpha"]["ids"],
        by_name["alpha"]["replies"],
        by_name["alpha"]["failed_tries"],
    ) == (ips, ids, replies, failed)
    assert by_name["alpha"]["first_seen"] == pytest.approx(
        min(r["timestamp"] for r in data.replies["alpha"]), abs=1e-3
    )
    assert by_name["beta"]["last_seen"] == pytest.approx(
        max(r["timestamp"] for r in data.replies["beta"]), abs=1e-3
    )
    rows = get(client, "/trend", start=start, end=end, bucket=HOUR)
    for name in ("alpha", "beta"):
        expected_pop = ref.population(name, start, end, HOUR)
        assert {r["t"]: (r["ips"], r["ids"]) for r in rows if r["botnet"] == name} == {
            t: (v[0], v[1]) for t, v in expected_pop.items()
        }
    rows = get(client, "/monitors", end=end, window=24 * HOUR)
    crawler = next(r for r in rows if r["source"] == "crawler-test")
    assert crawler["state"] == "running"
    assert crawler["reported_requests_per_s"] == 12.5
    assert crawler["reported_errors"] == 4
    n_replies = sum(len(v) for v in data.replies.values())
    n_failed = sum(len(v) for v in data.failed.values())
    assert (crawler["replies"], crawler["failed_tries"]) == (n_replies, n_failed)
    assert crawler["heartbeat_age_s"] is not None


def test_csv_holds_the_same_rows_as_json(
    loaded: tuple[LiveServer, DataSet, httpx.Client],
) -> None:
    _, data, client = loaded
    params = {"start": data.t0, "end": data.end, "bucket": HOUR}
    as_json = get(client, "/botnets/alpha/population", **params)
    answer = client.get(API + "/botnets/alpha/population", params={**params, "format": "csv"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == len(as_json) == 24
    for j, c in zip(as_json, rows, strict=True):
        assert {k: float(v) for k, v in c.items()} == {k: float(v) for k, v in j.items()}


def test_bad_requests_get_clean_errors(
    loaded: tuple[LiveServer, DataSet, httpx.Client],
) -> None:
    server, data, client = loaded
    bad = [
        ("/botnets/nosuch/population", {}, 404, "unknown_botnet"),
        ("/botnets/alpha/population", {"bucket": "x"}, 422, "invalid_parameter"),
        ("/botnets/alpha/population", {"bucket": 1}, 422, "invalid_parameter"),
        (
            "/botnets/alpha/population",
            {"start": data.end - 300 * 86400, "end": data.end, "bucket": 60},
            422,
            "too_many_buckets",
        ),
        (
            "/botnets/alpha/population",
            {"start": data.end, "end": data.t0},
            422,
            "invalid_parameter",
        ),
        ("/botnets/alpha/population", {"start": "yesterday"}, 422, "invalid_parameter"),
        ("/botnets/alpha/population", {"format": "xml"}, 422, "invalid_parameter"),
        ("/botnets/alpha/returning", {"by": "port"}, 422, "invalid_parameter"),
        ("/counting", {}, 422, "invalid_parameter"),
        ("/countries", {"botnet": "NOT A NAME"}, 422, "invalid_parameter"),
        (
            "/compare/overlap",
            {"botnets": ",".join(f"b{i}" for i in range(9))},
            422,
            "invalid_parameter",
        ),
        ("/compare/overlap", {"botnets": "alpha,ghost"}, 404, "unknown_botnet"),
        ("/ases", {"limit": 0}, 422, "invalid_parameter"),
    ]
    for path, params, status, reason in bad:
        answer = client.get(API + path, params=params)
        assert answer.status_code == status, (path, params, answer.text)
        assert answer.json()["reason"] == reason, (path, params, answer.text)
    with httpx.Client(base_url=server.url, timeout=10, trust_env=False) as anonymous:
        assert anonymous.get(API + "/overview").status_code == 401
        crawler = server.token("crawler")
        answer = anonymous.get(API + "/overview", headers={"Authorization": f"Bearer {crawler}"})
        assert answer.status_code == 403
        admin = anonymous.get(API + "/overview", headers=server.headers())
        assert admin.status_code == 200


def test_every_read_endpoint_is_documented_in_openapi(
    loaded: tuple[LiveServer, DataSet, httpx.Client],
) -> None:
    _, _, client = loaded
    document = client.get("/openapi.json").json()
    paths = {p for p in document["paths"] if p.startswith(API)}
    assert paths == {
        f"{API}/{p}"
        for p in (
            "overview",
            "trend",
            "monitors",
            "botnets/{botnet}/population",
            "botnets/{botnet}/returning",
            "botnets/{botnet}/top-peers",
            "botnets/{botnet}/devices",
            "botnets/{botnet}/clients",
            "botnets/{botnet}/size-estimate",
            "botnets/{botnet}/facets",
            "countries",
            "ases",
            "counting",
            "sources",
            "compare/population",
            "compare/countries",
            "compare/overlap",
            "compare/hours",
            "botnets/{botnet}/configs",
            "compare/devices",
        )
    }
    for path in paths:
        op = document["paths"][path]["get"]
        names = {p["name"] for p in op["parameters"]}
        # A botnet's configurations are every one ever seen, not a time window of records.
        window = set() if path.endswith("/configs") else {"start", "end", "source_type"}
        assert {"format", *window} <= names, path
        assert "viewer" in op["x-botmon-roles"]
        assert "text/csv" in op["responses"]["200"]["content"]
    assert "ViewTable" in document["components"]["schemas"]


def test_buckets_are_aligned_to_utc_days_and_monday_weeks() -> None:
    monday = 1_795_392_000.0  # 2026-11-23 00:00 UTC, a Monday
    assert time.gmtime(monday).tm_wday == 0
    assert bucket_of(monday + 5 * 86400, 604800) == monday
    assert bucket_of(monday + 3 * HOUR + 5, 86400) == monday
