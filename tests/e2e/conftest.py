"""End-to-end plumbing: the real CLI processes (simulate, crawl) around a real server.

Every process is started with bounded waits and torn down (SIGINT, then SIGKILL) even when a
test fails, so no emulator or crawler outlives its test. Emulators get a free port of their
own so these tests can run beside anyone else's on the same machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", 'slow: an end-to-end test that takes 20 s or more (deselect with -m "not slow")'
    )


BOTMON = [str(Path(sys.executable).with_name("botmon"))]
"""The installed ``botmon`` script of the Python running the tests (the venv's)."""


def free_port(kind: int) -> int:
    """A port free for ``kind`` (SOCK_DGRAM/SOCK_STREAM) on every address right now."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("0.0.0.0", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Emulator:
    """A running ``botmon simulate`` process."""

    proc: subprocess.Popen[bytes]
    seeds: list[str]
    truth_path: Path
    log_path: Path

    def truth(self) -> list[dict[str, Any]]:
        lines = self.truth_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def stop(self) -> None:
        stop_process(self.proc)


def stop_process(proc: subprocess.Popen[bytes], wait_s: float = 15.0) -> None:
    """SIGINT (clean stop, final truth written), then SIGKILL if it does not go."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


@contextlib.contextmanager
def simulate(
    tmp_path: Path, protocol: str, *args: str, ready_s: float = 60.0
) -> Iterator[Emulator]:
    """Run ``botmon simulate PROTOCOL ARGS`` on a free port until the block ends."""
    kind = socket.SOCK_DGRAM if protocol == "hns" else socket.SOCK_STREAM
    port = free_port(kind)
    truth = tmp_path / f"{protocol}-truth.jsonl"
    seeds_file = tmp_path / f"{protocol}-seeds.txt"
    log_path = tmp_path / f"{protocol}-sim.log"
    cmd = [
        *BOTMON,
        "simulate",
        protocol,
        "--port",
        str(port),
        "--truth",
        str(truth),
        "--seeds-file",
        str(seeds_file),
        "--duration",
        "600",
        *args,
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + ready_s
        while not (seeds_file.exists() and truth.exists()):
            if proc.poll() is not None:
                pytest.fail(f"simulator exited {proc.returncode}: {log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"simulator not ready in {ready_s} s: {log_path.read_text()[-2000:]}")
            time.sleep(0.05)
        seeds = [s for s in seeds_file.read_text().split() if s]
        yield Emulator(proc, seeds, truth, log_path)
    finally:
        stop_process(proc)


FAST_CLIENT = {
    "BOTMON_CLIENT_HEARTBEAT_INTERVAL_S": "0.5",
    "BOTMON_CLIENT_FLUSH_INTERVAL_S": "0.2",
}
"""Client settings for tests that read the store while crawlers and sensors still run."""


def spawn_fast(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` (a botmon command) with :data:`FAST_CLIENT`, output to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **FAST_CLIENT}
        )


@dataclass
class CrawlRun:
    """A finished (or running) ``botmon crawl`` process and its output."""

    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_crawl(tmp_path: Path, *args: str, name: str = "crawl") -> CrawlRun:
    """Start ``botmon crawl ARGS`` in the background (stdout and stderr to a log file)."""
    log_path = tmp_path / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*BOTMON, "crawl", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200"},
        )
    return CrawlRun(proc, log_path)


def finish(run: CrawlRun, timeout_s: float) -> int:
    """Wait for a crawl to exit on its own; fail (and stop it) after ``timeout_s``."""
    try:
        return run.proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        stop_process(run.proc)
        pytest.fail(f"crawl did not finish in {timeout_s} s:\n{run.output[-3000:]}")


def read_records(server: Any, botnet: str, kind: str) -> list[dict[str, Any]]:
    """Every stored record of one kind, through the read API (JSON lines)."""
    r = httpx.get(
        f"{server.url}/api/v1/botnets/{botnet}/records/{kind}",
        params={"format": "jsonl", "start": "2000-01-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {server.admin_token}"},
        timeout=60,
        trust_env=False,
    )
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines() if line.strip()]


def epoch(value: Any) -> float:
    """A record timestamp from the read API (epoch seconds or RFC 3339) as epoch seconds."""
    if isinstance(value, int | float):
        return float(value)
    from datetime import datetime

    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def online_at(sessions: list[list[float | None]], t: float, slack: float = 0.0) -> bool:
    """Whether a bot with these truth sessions was online at ``t`` (give or take ``slack``)."""
    for start, end in sessions:
        assert start is not None
        if start - slack <= t and (end is None or t <= end + slack):
            return True
    return False


def online_throughout(sessions: list[list[float | None]], a: float, b: float) -> bool:
    """Whether one session covers the whole window [a, b]."""
    return any(
        start is not None and start <= a and (end is None or end >= b) for start, end in sessions
    )
