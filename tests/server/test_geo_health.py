"""The geolocation data's age as an operator sees it: serve's start-up log, /healthz, /metrics.

Real servers on data whose build manifest gives a chosen date (a copy of the installed data,
``BOTMON_GEO_DIR``), so the tests do not depend on how old the installed data is today.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import msgspec
import pytest

from botmon.enrich.defaults import DEFAULT_DIR, GEO_DIR_ENV
from botmon.server.schemas import Health
from tests.enrich.conftest import dated_copy
from tests.fixtures.server import LiveServer, start_live_server

WARNING = "botmon: warning: geolocation data is "


def _serve_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data_date: str) -> LiveServer:
    monkeypatch.setenv(GEO_DIR_ENV, str(dated_copy(DEFAULT_DIR, tmp_path / "geo", data_date)))
    monkeypatch.delenv("BOTMON_GEO_STALE_DAYS", raising=False)
    return start_live_server(str(tmp_path / "geo.duckdb"), tmp_path)


def _health_and_metrics(server: LiveServer) -> tuple[Health, str]:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as c:
        health = msgspec.json.decode(c.get("/healthz").content, type=Health)
        return health, c.get("/metrics").text


def test_stale_data_is_a_start_up_warning_and_shows_in_health(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = _serve_on(tmp_path, monkeypatch, "2020-01-01")
    try:
        health, metrics = _health_and_metrics(server)
    finally:
        server.stop()
    age = (dt.datetime.now(dt.UTC).date() - dt.date(2020, 1, 1)).days
    assert health.status == "ok"  # stale data is a warning, never unhealthy
    assert health.geo is not None
    assert (health.geo.data_date, health.geo.stale, health.geo.stale_after_days) == (
        "2020-01-01",
        True,
        180,
    )
    assert health.geo.age_days in (age, age + 1)  # the day may turn during the test
    assert "@ip-location-db/asn@" in health.geo.source
    assert f"botmon_geo_data_age_days {health.geo.age_days}.0" in metrics
    warnings = [ln for ln in server.log_path.read_text().splitlines() if ln.startswith(WARNING)]
    assert len(warnings) == 1
    assert f"{health.geo.age_days} days old (data date 2020-01-01" in warnings[0]


def test_current_data_starts_quietly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    today = dt.datetime.now(dt.UTC).date().isoformat()
    server = _serve_on(tmp_path, monkeypatch, today)
    try:
        health, metrics = _health_and_metrics(server)
    finally:
        server.stop()
    assert health.geo is not None
    assert (health.geo.data_date, health.geo.stale) == (today, False)
    assert health.geo.age_days in (0, 1)
    assert f"botmon_geo_data_age_days {health.geo.age_days}.0" in metrics
    assert WARNING not in server.log_path.read_text()
    assert "botmon: serving http://127.0.0.1:" in server.log_path.read_text()


def test_a_bad_threshold_stops_start_up_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOTMON_GEO_STALE_DAYS", "half a year")
    with pytest.raises(
        RuntimeError, match=r"botmon: error: geo\.stale_days: not an integer .*BOTMON_GEO_STALE"
    ):
        start_live_server(str(tmp_path / "bad.duckdb"), tmp_path)
