"""Files holding tokens or records are private from the moment they exist (0600 files, 0700
folders): the DuckDB file and its WAL, the server file, exports, spooled batches; and a
crawler's default spool is in the user's state directory, not where it was started."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.crawl.test_cli_crawl import ThreadBots
from tests.fixtures.server import LiveServer, botmon_argv, free_port
from tests.server.helpers import batch, client


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> object:
    """Run as a user whose umask would make files world-readable (022)."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_serve_and_export_make_private_files(tmp_path: Path, open_umask: object) -> None:
    db = tmp_path / "fresh.duckdb"  # created by botmon serve itself
    port = free_port()
    server = LiveServer(f"http://127.0.0.1:{port}", str(db), "duckdb", "", port, tmp_path)
    server.start()
    try:
        server_file = tmp_path / "fresh.duckdb.server.json"
        server.admin_token = json.loads(server_file.read_text())["admin_token"]
        server.create_botnet("hns")
        with client(server, server.admin_token) as c:
            assert c.post("/api/v1/ingest", json=batch(replies=50)).status_code == 200
        created = [db, server_file, *tmp_path.glob("fresh.duckdb.wal")]
        assert {p.name: oct(mode(p)) for p in created} == {p.name: "0o600" for p in created}
    finally:
        server.stop()
    out = tmp_path / "replies.csv"
    argv = [*botmon_argv(), "export", "--botnet", "hns", "--kind", "replies", "--db", str(db)]
    done = subprocess.run([*argv, "-o", str(out)], capture_output=True, timeout=60, text=True)
    assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) == 51 and mode(out) == 0o600


def test_the_default_spool_is_private_and_in_the_state_directory(
    tmp_path: Path, open_umask: object
) -> None:
    workdir, state = tmp_path / "work", tmp_path / "state"
    workdir.mkdir()
    with ThreadBots(2, 16310) as bots:
        argv = [
            sys.executable, "-m", "botmon", "crawl", "hns", "--botnet", "hns",
            "--seed", f"{bots.peers[0].ip}:{bots.peers[0].port}",
            "--server", f"http://127.0.0.1:{free_port()}",  # nobody listens: records spool
            "--token", "x" * 43, "--rounds", "1", "--interval", "0.5", "--timeouts", "0.5",
            "--progress", "none",
        ]  # fmt: skip
        env = {**os.environ, "XDG_STATE_HOME": str(state)}
        subprocess.run(argv, capture_output=True, timeout=90, text=True, cwd=workdir, env=env)
    assert list(workdir.iterdir()) == []
    spool = state / "botmon" / "spool-hns"
    files = [p for p in spool.rglob("*") if p.is_file() and p.name != ".lock"]
    assert files, sorted(spool.rglob("*"))
    for folder in (state / "botmon", spool, *[p for p in spool.rglob("*") if p.is_dir()]):
        assert mode(folder) == 0o700, folder
    for f in files:
        assert mode(f) == 0o600, f
