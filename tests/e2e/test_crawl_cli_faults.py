"""``botmon crawl`` when the server is not there or will not have it.

A refused token ends the crawl at once with one clear line; a crawl run while the server is
down keeps its records in the spool, and the next run on that spool delivers them, so the
store ends up with exactly what the two runs say they produced.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import BOTMON, finish, simulate, start_crawl

pytestmark = pytest.mark.timeout(180)


def final_count(output: str, name: str) -> int:
    """A counter from the crawl's last progress line (its summary)."""
    lines = [line for line in output.splitlines() if f" {name} " in line]
    assert lines, output[-2000:]
    match = re.search(rf" {name} (\d+)", lines[-1])
    assert match, lines[-1]
    return int(match[1])


def test_a_refused_token_stops_the_crawl_with_one_clear_line(
    duckdb_server: Any, tmp_path: Path
) -> None:
    duckdb_server.create_botnet("hns")
    done = subprocess.run(
        [*BOTMON, "crawl", "hns", "--botnet", "hns", "--seed", "127.1.1.1:6000",
         "--server", duckdb_server.url, "--token", "wrong-token", "--rounds", "1",
         "--spool", str(tmp_path / "spool"), "--progress", "none"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "refused the token (HTTP 401" in done.stderr, done.stderr


@pytest.mark.slow
def test_records_of_a_run_during_an_outage_arrive_with_the_next_run(
    duckdb_server: Any, tmp_path: Path
) -> None:
    server = duckdb_server
    server.create_botnet("hns")
    token = server.token(botnets=("hns",))
    spool = tmp_path / "spool"
    with simulate(tmp_path, "hns", "--bots", "200", "--nat", "0.1", "--seed-rng", "9") as sim:
        args = [
            "hns", "--botnet", "hns", "--seed", sim.seeds[0], "--server", server.url,
            "--token", token, "--rounds", "1", "--timeouts", "1", "--spool", str(spool),
            "--progress", "plain",
        ]  # fmt: skip
        server.stop()
        first = start_crawl(tmp_path, *args, name="crawl-1")
        assert finish(first, timeout_s=90) == 0, first.output[-3000:]
        left = list((spool / "pending").glob("*.json"))
        assert left and "left in the spool" in first.output
        server.start()
        second = start_crawl(tmp_path, *args, name="crawl-2")
        assert finish(second, timeout_s=90) == 0, second.output[-3000:]
    assert not list((spool / "pending").glob("*.json"))
    assert "Traceback" not in first.output + second.output
    produced = final_count(first.output, "bot_replies") + final_count(second.output, "bot_replies")
    assert produced > 300
    assert server.counts("hns")["replies"] == produced
