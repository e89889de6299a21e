"""``GET /api/v1/analyses/{name}``: auth, options, formats, errors, cache and schedule, on the
real app and a real store, with a test-only analysis registered in place of the real ones
(:mod:`tests.analysis.probe`): its numbers are checked against the replies written."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from botmon.analysis import framework, runs
from botmon.analysis.framework import Analysis
from botmon.auth import hash_token, new_token, token_prefix
from botmon.cli.admin import AdminError, ApiAdmin
from botmon.cli.analyze import ApiRunner
from botmon.server.app import create_app
from botmon.server.state import ServerState
from botmon.settings import AnalysisSettings, ServerSettings
from botmon.store import open_store
from botmon.store.base import Store
from tests.analysis.probe import CALLS, probe_registry  # noqa: F401 - fixture
from tests.dashboard.data import write

NOW = time.time()
REPLIES = [
    {"timestamp": NOW - 3600 - i * 60, "ip": f"127.1.0.{i % 7}", "port": 1000 + i % 2}
    for i in range(40)
]
OLD = [{"timestamp": NOW - 10 * 86400, "ip": "127.1.9.9", "port": 9}]
"""Outside the probe's default 3-day range."""


def _token(store: Store, role: str) -> str:
    token = new_token()
    store.create_monitor(f"{role}-t", role, [], hash_token(token), token_prefix(token))
    return token


class Api:
    def __init__(self, client: TestClient, tokens: dict[str, str], store: Store) -> None:
        self.client, self.tokens, self.store = client, tokens, store

    def get(self, path: str, role: str | None = "viewer", **params: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return self.client.get(path, params=params, headers=headers)  # type: ignore[arg-type]


def _app(tmp_path: Path, schedule_s: float) -> Iterator[Api]:
    store = open_store(str(tmp_path / "a.duckdb"))
    store.migrate()
    store.create_botnet("alpha")
    store.create_botnet("empty")
    write(store, "alpha", "b1", REPLIES)
    write(store, "alpha", "b0", OLD)
    tokens = {role: _token(store, role) for role in ("viewer", "crawler", "admin")}
    state = ServerState(
        store=store,
        settings=ServerSettings(db=str(tmp_path / "a.duckdb"), ingest_workers=0),
        analysis=AnalysisSettings(schedule_s=schedule_s),
    )
    try:
        with TestClient(create_app(state), raise_server_exceptions=False) as client:
            yield Api(client, tokens, store)
    finally:
        store.close()


@pytest.fixture
def api(tmp_path: Path, probe_registry: Analysis) -> Iterator[Api]:  # noqa: F811
    yield from _app(tmp_path, 0)


def _expected(by: str = "ip") -> dict[str, int]:
    out: dict[str, int] = {}
    for r in REPLIES:
        key = r["ip"] if by == "ip" else f"{r['ip']}:{r['port']}"
        out[str(key)] = out.get(str(key), 0) + 1
    return out


def test_json_is_the_result_with_method_and_params(api: Api) -> None:
    for path, params in (
        ("/api/v1/analyses/probe", {"botnet": "alpha"}),
        ("/api/v1/analyses/probe/alpha", {}),
    ):
        r = api.get(path, **params)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["analysis"] == "probe" and body["botnet"] == "alpha"
        assert body["addresses"] == 7 and body["replies"] == 40
        assert dict(body["per_address"]) == _expected()
        assert body["params"] == {
            "bucket_s": 300,
            "by": "ip",
            "count_replies": True,
            "limit": 1000,
            "ratio": 0.5,
        }
        assert body["end"] - body["start"] == 3 * 86400
        assert body["end"] % 60 == 0 and NOW <= body["end"] <= time.time() + 60
        assert r.headers["X-Botmon-Scheduled"] == "false"
    r = api.get("/api/v1/analyses/probe", botnet="alpha", by="ip_port", count_replies="false")
    body = r.json()
    assert dict(body["per_address"]) == _expected("ip_port") and body["replies"] == 0
    r = api.get("/api/v1/analyses/probe", botnet="alpha", start=NOW - 20 * 86400, end=NOW)
    assert r.json()["addresses"] == 8  # the old reply is inside this range


def test_csv_gives_one_section(api: Api) -> None:
    r = api.get("/api/v1/analyses/probe/alpha", format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["address", "replies"]
    assert {a: int(n) for a, n in rows[1:]} == _expected()
    assert "probe-alpha-addresses" in r.headers["content-disposition"]
    r = api.get("/api/v1/analyses/probe/alpha", format="csv", section="totals")
    assert list(csv.reader(io.StringIO(r.text))) == [["addresses", "replies"], ["7", "40"]]
    r = api.get("/api/v1/analyses/probe/alpha", format="csv", section="nope")
    assert r.status_code == 422 and r.json()["field"] == "section"
    assert "addresses, totals" in r.json()["error"]


def test_auth_as_the_other_read_routes(api: Api) -> None:
    assert api.get("/api/v1/analyses/probe/alpha", role=None).status_code == 401
    assert api.get("/api/v1/analyses/probe/alpha", role="crawler").status_code == 403
    assert api.get("/api/v1/analyses/probe/alpha", role="admin").status_code == 200
    assert api.get("/api/v1/analyses/probe/alpha", role="viewer").status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bucket_s": "10"}, "bucket_s"),
        ({"bucket_s": "x"}, "bucket_s"),
        ({"limit": "9" * 40}, "limit"),
        ({"by": "asn"}, "by"),
        ({"count_replies": "maybe"}, "count_replies"),
        ({"ratio": "nan"}, "ratio"),
        ({"ratio": "2"}, "ratio"),
        ({"gap": "5"}, "gap"),
        ({"format": "xml"}, "format"),
        ({"source_type": "honeypot"}, "source_type"),
        ({"start": "yesterday"}, "start"),
        ({"start": str(NOW), "end": str(NOW - 10)}, "end"),
        ({"start": str(NOW - 500 * 86400), "end": str(NOW)}, "start"),
    ],
)
def test_bad_values_are_422_naming_the_field(api: Api, params: dict[str, str], field: str) -> None:
    r = api.get("/api/v1/analyses/probe/alpha", **params)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert r.json()["reason"] == "invalid_parameter"


def test_unknown_botnet_or_analysis_is_404(api: Api) -> None:
    r = api.get("/api/v1/analyses/probe/nosuch")
    assert r.status_code == 404 and r.json()["reason"] == "unknown_botnet"
    assert api.get("/api/v1/analyses/probe", botnet="nosuch").status_code == 404
    assert api.get("/api/v1/analyses/nosuch/alpha").status_code == 404
    r = api.get("/api/v1/analyses/probe")
    assert r.status_code == 422 and r.json()["field"] == "botnet"
    assert api.get("/api/v1/analyses/probe", botnet="bad name!").status_code == 422


def test_openapi_lists_each_route_with_its_options(api: Api) -> None:
    doc = api.client.get("/openapi.json").json()
    for path in ("/api/v1/analyses/probe", "/api/v1/analyses/probe/{botnet}"):
        op = doc["paths"][path]["get"]
        params = {p["name"]: p for p in op["parameters"]}
        for opt in framework.get("probe").options:
            assert params[opt.name]["schema"] == opt.schema()
        assert params["by"]["schema"]["enum"] == ["ip", "ip_port"]
        assert {"start", "end", "source_type", "format", "section", "botnet"} <= params.keys()
        schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ProbeResult"}
        assert {"401", "403", "404", "422"} <= op["responses"].keys()
    props = doc["components"]["schemas"]["ProbeResult"]["properties"]
    assert {"analysis", "method", "params", "vantage_points", "addresses"} <= props.keys()


def test_repeated_request_is_served_from_the_cache_until_data_arrive(api: Api) -> None:
    first = api.get("/api/v1/analyses/probe/alpha", by="ip_port").json()
    assert CALLS["alpha"] == 1
    again = api.get("/api/v1/analyses/probe/alpha", by="ip_port").json()
    assert CALLS["alpha"] == 1 and again == first
    api.get("/api/v1/analyses/probe/alpha", by="ip")
    assert CALLS["alpha"] == 2  # other options: another result
    write(api.store, "alpha", "b2", [{"timestamp": NOW - 60, "ip": "127.1.5.5", "port": 5}])
    fresh = api.get("/api/v1/analyses/probe/alpha", by="ip_port").json()
    assert CALLS["alpha"] == 3 and fresh["addresses"] == first["addresses"] + 1


def test_schedule_computes_without_a_request(tmp_path: Path, probe_registry: Analysis) -> None:  # noqa: F811
    for api in _app(tmp_path, 0.5):
        schedule = api.client.app.state.analysis_schedule  # type: ignore[attr-defined]
        deadline = time.monotonic() + 20
        while schedule.rounds < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert schedule.rounds >= 2
        assert CALLS["alpha"] >= 1 and CALLS["empty"] >= 1  # every botnet, no request
        calls = CALLS["alpha"]
        r = api.get("/api/v1/analyses/probe/alpha")
        assert r.status_code == 200 and r.json()["addresses"] == 7
        assert r.headers["X-Botmon-Scheduled"] == "true"
        assert float(r.headers["X-Botmon-Result-Age"]) < 5
        assert CALLS["alpha"] - calls <= 1  # at most the schedule's own next round
        r = api.get("/api/v1/analyses/probe/alpha", by="ip_port")
        assert r.headers["X-Botmon-Scheduled"] == "false"
        metrics = api.client.get("/metrics").text
        assert 'botmon_analysis_runs_total{analysis="probe",outcome="ok"}' in metrics
        assert "botmon_analysis_run_duration_seconds_bucket" in metrics


def test_the_command_through_a_server_gets_the_same_result(api: Api) -> None:
    """``botmon analyze`` while a server holds the store: the same request through the API
    (every option as query text, the range explicit) gives the result the store gives."""
    analysis = framework.get("probe")
    admin = ApiAdmin("http://testserver", api.tokens["admin"])
    admin.client.close()
    admin.client = api.client
    api.client.headers["Authorization"] = f"Bearer {api.tokens['admin']}"
    remote = ApiRunner(admin)
    request = runs.build_request(
        analysis,
        "alpha",
        NOW - 86400,
        NOW + 0.25,
        "crawler",
        {"by": "ip_port", "count_replies": False, "ratio": 0.125},
    )
    got = remote.result(analysis, request)
    assert isinstance(got, type(runs.compute(api.store, analysis, request)))
    assert got == runs.compute(api.store, analysis, request)  # the server's cached result
    assert got.params["ratio"] == 0.125 and got.end == NOW + 0.25 and got.replies == 0
    out = io.BytesIO()
    remote.export(analysis, request, "lines", out)
    assert len(out.getvalue().splitlines()) == got.addresses > 0
    r = api.get("/api/v1/analyses/probe/alpha", format="lines")
    assert r.status_code == 200 and r.content.splitlines()[0].startswith(b"127.1.0.")
    request = runs.build_request(analysis, "nosuch", settings=AnalysisSettings())
    with pytest.raises(AdminError, match="404"):
        remote.result(analysis, request)
