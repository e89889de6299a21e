"""The analyses take the exclusion switch: ``botmon analyze --exclude-monitors`` and
``/api/v1/analyses/...?exclude_monitors=true`` leave exactly the excluded monitors out, the
setting ``analysis.exclude_monitors`` makes it the default, and a cached result never
outlives a change of the exclusion list. On :mod:`tests.analysis.probe` (distinct addresses
from the store's sightings)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from botmon.analysis.framework import Analysis
from botmon.auth import hash_token, new_token, token_prefix
from botmon.server.app import create_app
from botmon.server.state import ServerState
from botmon.settings import AnalysisSettings, ServerSettings
from botmon.store import open_store
from botmon.store.exclusions import MonitorToExclude
from tests.analysis.probe import probe_registry  # noqa: F401 - fixture
from tests.cli.helpers import botmon
from tests.dashboard.data import write

NOW = time.time()
REPLIES = [
    {"timestamp": NOW - 3600 - i * 60, "ip": f"127.1.0.{i % 7 + 1}", "port": 1000}
    for i in range(42)
]
EXCLUDED = [("127.1.0.1", 1000), ("127.1.0.2", 1000)]


def _db(tmp_path: Path) -> str:
    db = str(tmp_path / "x.duckdb")
    store = open_store(db)
    try:
        store.migrate()
        store.create_botnet("alpha")
        write(store, "alpha", "b1", REPLIES)
        store.exclude_monitors(
            "alpha", [MonitorToExclude(ip=ip, port=p) for ip, p in EXCLUDED], "t", NOW
        )
    finally:
        store.close()
    return db


def _addresses(*args: str) -> int:
    ran = botmon("analyze", "probe", "--botnet", "alpha", "--format", "json", *args)
    assert ran.code == 0, ran.err
    return int(json.loads(ran.out)["addresses"])


def test_analyze_leaves_exactly_the_excluded_monitors_out(
    tmp_path: Path,
    probe_registry: Analysis,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = _db(tmp_path)
    assert _addresses("--db", db) == 7
    assert _addresses("--db", db, "--exclude-monitors") == 5
    assert _addresses("--db", db, "--exclude-monitors", "--source-type", "sensor") == 0
    monkeypatch.setenv("BOTMON_ANALYSIS_EXCLUDE_MONITORS", "true")
    assert _addresses("--db", db) == 5  # the setting is the default
    assert _addresses("--db", db, "--no-exclude-monitors") == 7


@pytest.fixture
def app(tmp_path: Path, probe_registry: Analysis) -> Iterator[tuple[TestClient, str, str]]:  # noqa: F811
    db = _db(tmp_path)
    store = open_store(db)
    token = new_token()
    store.create_monitor("admin-t", "admin", [], hash_token(token), token_prefix(token))
    state = ServerState(
        store=store,
        settings=ServerSettings(db=db, ingest_workers=0),
        analysis=AnalysisSettings(schedule_s=0, exclude_monitors=True),
    )
    try:
        with TestClient(create_app(state), raise_server_exceptions=False) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            yield client, db, token
    finally:
        store.close()


def test_the_api_switch_its_default_and_a_changing_list(app: tuple[TestClient, str, str]) -> None:
    client, _, _ = app

    def addresses(**params: str) -> int:
        answer = client.get("/api/v1/analyses/probe/alpha", params=params)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["addresses"])

    assert addresses() == 5  # this server's setting: exclude
    assert addresses(exclude_monitors="false") == 7
    assert addresses(exclude_monitors="true") == 5
    bad = client.get("/api/v1/analyses/probe/alpha", params={"exclude_monitors": "perhaps"})
    assert bad.status_code == 422 and bad.json()["field"] == "exclude_monitors"
    # A change of the list: the same request is computed again, not served from the cache.
    path = "/api/v1/admin/botnets/alpha/excluded-monitors/127.1.0.1/1000"
    assert client.delete(path).status_code == 200
    assert addresses() == 6
    spec = client.get("/openapi.json").json()
    names = {p["name"] for p in spec["paths"]["/api/v1/analyses/probe"]["get"]["parameters"]}
    assert "exclude_monitors" in names
