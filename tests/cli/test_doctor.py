"""``botmon doctor`` as a user runs it: a real process, real data, real databases."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import duckdb
import pytest

from botmon.cli.doctor import check_dashboard_assets, check_geo
from botmon.enrich.defaults import ASN_TABLE_NAME, DEFAULT_DIR, GEO_DIR_ENV
from botmon.store import open_store
from botmon.store.common import migrations
from tests.enrich.conftest import dated_copy
from tests.fixtures.server import botmon_argv, start_live_server

TODAY = dt.datetime.now(dt.UTC).date().isoformat()


def doctor(
    cwd: Path, *args: str, geo_dir: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BOTMON_")}
    if geo_dir is not None:
        environ[GEO_DIR_ENV] = str(geo_dir)
    return subprocess.run(
        [*botmon_argv(), "doctor", *args],
        cwd=cwd,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def lines(done: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """``{check name: "level  reason"}`` from doctor's output, one line per check."""
    out: dict[str, str] = {}
    for line in done.stdout.splitlines():
        level, _, rest = line.partition("  ")
        name, _, reason = rest.strip().partition(": ")
        out[name] = f"{level.strip()}  {reason}"
    return out


def test_a_complete_installation_is_all_ok(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url)
    try:
        version = store.migrate()
        backend = store.backend
    finally:
        store.close()
    fresh = dated_copy(DEFAULT_DIR, tmp_path / "geo", TODAY)
    done = doctor(tmp_path, "--db", store_url, geo_dir=fresh)
    assert done.returncode == 0, done.stdout + done.stderr
    got = lines(done)
    assert set(got) == {"geo data", "dashboard assets", "database"}
    assert got["geo data"].startswith(f"ok  data date {TODAY}, 0 days old (stale after 180)")
    assert "@ip-location-db/asn@" in got["geo data"]
    assert got["dashboard assets"].startswith("ok  3 files in ")
    assert got["database"].startswith(f"ok  {backend} ")
    assert got["database"].endswith(f"schema version {version}")


def test_stale_geo_data_is_a_warning_and_a_missing_default_db_is_not_created(
    tmp_path: Path,
) -> None:
    old = dated_copy(DEFAULT_DIR, tmp_path / "geo", "2020-01-01")
    done = doctor(tmp_path, geo_dir=old)
    assert done.returncode == 0, done.stdout + done.stderr
    got = lines(done)
    assert got["geo data"].startswith("warn  stale: data date 2020-01-01, ")
    assert got["database"] == "warn  botmon.duckdb does not exist yet (`botmon serve` creates it)"
    assert not (tmp_path / "botmon.duckdb").exists()
    tighter = doctor(tmp_path, geo_dir=old, env={"BOTMON_GEO_STALE_DAYS": "zero"})
    assert tighter.returncode == 1
    assert lines(tighter)["geo data"].startswith("fail  geo.stale_days: not an integer")


@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_named_database_that_does_not_exist_fails(tmp_path: Path, how: str) -> None:
    target = tmp_path / "typo.duckdb"
    if how == "option":
        done = doctor(tmp_path, "--db", str(target))
    else:
        done = doctor(tmp_path, env={"BOTMON_DB": str(target)})
    assert done.returncode == 1
    assert lines(done)["database"] == f"fail  no DuckDB file at {target}"
    assert not target.exists()


def test_a_schema_newer_than_this_botmon_fails(tmp_path: Path) -> None:
    db = tmp_path / "future.duckdb"
    store = open_store(str(db))
    store.migrate()
    store.close()
    newest = migrations("duckdb")[-1][0]
    with duckdb.connect(str(db)) as con:
        con.execute("INSERT INTO schema_version VALUES (?, now())", [newest + 1])
    done = doctor(tmp_path, "--db", str(db))
    assert done.returncode == 1
    assert lines(done)["database"].endswith(
        f"schema version {newest + 1}, newer than this botmon ({newest}): upgrade botmon"
    )


def test_an_empty_duckdb_file_is_a_warning(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    duckdb.connect(str(db)).close()
    done = doctor(tmp_path, "--db", str(db))
    assert lines(done)["database"].startswith("warn  duckdb ")
    assert "no botmon schema" in lines(done)["database"]


def test_a_database_held_by_a_running_server_is_fine(tmp_path: Path) -> None:
    db = tmp_path / "live.duckdb"
    server = start_live_server(str(db), tmp_path)
    try:
        done = doctor(tmp_path, "--db", str(db))
    finally:
        server.stop()
    assert lines(done)["database"].startswith(f"ok  {db} is in use by botmon serve (pid ")
    assert server.url in lines(done)["database"]


def test_missing_or_broken_geo_data_and_missing_assets(tmp_path: Path) -> None:
    missing = check_geo(directory=tmp_path / "none")
    assert (missing.level, missing.name) == ("warn", "geo data")
    assert "only the lab database answers" in missing.reason
    broken = dated_copy(DEFAULT_DIR, tmp_path / "broken", TODAY)
    (broken / ASN_TABLE_NAME).unlink()
    (broken / ASN_TABLE_NAME).write_bytes(b"not a range table")
    failed = check_geo(directory=broken)
    assert failed.level == "fail" and str(broken) in failed.reason
    assets = check_dashboard_assets(tmp_path / "vendor")
    assert assets.level == "fail"
    assert "echarts.min.js, world.geo.json, countries.json" in assets.reason
