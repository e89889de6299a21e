"""A crawler process loads the wire contract, the client and the engine, never the server's
storage stack (store package, database drivers, Arrow) nor the server itself."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.fixtures.server import LiveServer

SERVER_SIDE = ("botmon.store", "botmon.server", "duckdb", "psycopg", "psycopg_pool", "pyarrow")


def server_side(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in SERVER_SIDE or m.startswith(SERVER_SIDE))


def test_importing_the_client_loads_no_server_side_module() -> None:
    code = "import sys, botmon.client\nprint('\\n'.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert server_side(done.stdout.split()) == []


def test_botmon_crawl_loads_no_server_side_module(
    duckdb_server: LiveServer, tmp_path: Path
) -> None:
    """The real command, up to the server's answer (a refused token ends it at once):
    ``-X importtime`` names every module the process imported."""
    argv = [
        sys.executable, "-X", "importtime", "-m", "botmon", "crawl", "hns", "--botnet", "hns",
        "--seed", "127.0.0.1:6000", "--server", duckdb_server.url, "--token", "not-a-token",
        "--spool", str(tmp_path / "spool"), "--progress", "none",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "refused" in done.stderr, done.stderr[-2000:]
    imported = [
        line.split("|")[-1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    ]
    assert "botmon.client.client" in imported and "botmon.crawl.runner" in imported
    assert server_side(imported) == []
