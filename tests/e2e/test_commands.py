"""The command channel end to end: admin -> server -> heartbeat -> client -> crawl engine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import finish, simulate, start_crawl

pytestmark = pytest.mark.timeout(120)


@pytest.mark.slow
def test_a_stop_command_from_the_server_ends_an_endless_crawl(
    duckdb_server: Any, tmp_path: Path
) -> None:
    server = duckdb_server
    server.create_botnet("hns")
    token = server.token(botnets=("hns",), name="crawler-under-command")
    with simulate(tmp_path, "hns", "--bots", "100", "--seed-rng", "2") as sim:
        run = start_crawl(
            tmp_path,
            "hns", "--botnet", "hns", "--seed", sim.seeds[0],
            "--server", server.url, "--token", token,
            "--interval", "2", "--timeouts", "1",
            "--spool", str(tmp_path / "spool"), "--progress", "plain",
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while server.counts("hns")["replies"] == 0:  # crawling and reporting
            assert time.monotonic() < deadline and run.proc.poll() is None, run.output[-2000:]
            time.sleep(0.2)
        answer = httpx.post(
            f"{server.url}/api/v1/admin/commands",
            json={"source": "crawler-under-command", "command": "stop", "args": {}},
            headers={"Authorization": f"Bearer {server.admin_token}"},
            trust_env=False,
        )
        assert answer.status_code == 201, answer.text
        queued = time.monotonic()
        # The next heartbeat (every 10 s by default) carries it; the crawl then flushes, exits 0.
        assert finish(run, timeout_s=40) == 0, run.output[-3000:]
        took = time.monotonic() - queued
    assert took < 25, took
    assert "Traceback" not in run.output, run.output[:3000]
    assert not list((tmp_path / "spool" / "pending").glob("*.json"))
