"""A crawler killed mid-crawl loses nothing and stores nothing twice.

A real ``botmon crawl`` against ``botmon simulate hns`` and ``botmon serve`` on loopback is
SIGKILLed several times mid-crawl and restarted on the same spool, then left to finish. The
crawler runs under a small harness that logs, after each ``ReportClient.add()`` returned,
the records the engine handed over; the store must hold each of them exactly once. Records
handed over in the instant between add() returning and the harness's write of its log line
may be stored without being logged: that is the harness's window, not the crawler's.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import epoch, read_records, simulate, stop_process

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]

HARNESS = """
import os, sys
import msgspec
from botmon.client.client import ReportClient
from botmon.cli.main import main

fd = os.open(os.environ["HANDED_OVER_LOG"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
add = ReportClient.add

def logged(self, replies=(), failed_tries=(), edges=()):
    r, f, e = list(replies), list(failed_tries), list(edges)
    line = msgspec.json.encode([r, f, e]) + b"\\n"  # encoded first: a short window below
    add(self, r, f, e)  # returns once the records are the client's to keep
    os.write(fd, line)

ReportClient.add = logged
main(sys.argv[1:])
"""

KILLS = 3


def key(kind: str, r: dict[str, Any]) -> tuple[Any, ...]:
    us = round(epoch(r["timestamp"]) * 1_000_000)  # what the store keeps, as validation rounds
    if kind == "edges":
        return (kind, us, r["src_ip"], r["src_port"], r["dst_ip"], r["dst_port"])
    return (kind, us, r["ip"], r["port"])


def handed_over(log: Path) -> Counter[tuple[Any, ...]]:
    out: Counter[tuple[Any, ...]] = Counter()
    for line in log.read_text().splitlines():
        try:
            groups = json.loads(line)
        except json.JSONDecodeError:
            continue  # the last line of a killed harness
        for kind, records in zip(("replies", "failed_tries", "edges"), groups, strict=True):
            out.update(key(kind, r) for r in records)
    return out


def stored_records(server: Any) -> Counter[tuple[Any, ...]]:
    stored: Counter[tuple[Any, ...]] = Counter()
    for kind in ("replies", "failed_tries", "edges"):
        stored.update(key(kind, r) for r in read_records(server, "hns", kind))
    return stored


def crawl(
    tmp_path: Path, args: list[str], name: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - the child writes to it
    env = {**os.environ, **(env or {}), "HANDED_OVER_LOG": str(tmp_path / "handed-over.jsonl")}
    try:
        return subprocess.Popen(
            [sys.executable, "-c", HARNESS, "crawl", *args], stdout=log, stderr=log, env=env
        )
    finally:
        log.close()


def test_sigkilled_crawlers_lose_and_double_nothing(duckdb_server: Any, tmp_path: Path) -> None:
    server = duckdb_server
    server.create_botnet("hns")
    token = server.token(botnets=("hns",))
    rng = random.Random(7)
    with simulate(tmp_path, "hns", "--bots", "3000", "--nat", "0.2", "--seed-rng", "5") as sim:
        base = [
            "hns", "--botnet", "hns", "--seed", sim.seeds[0], "--server", server.url,
            "--token", token, "--interval", "1", "--timeouts", "1",
            "--spool", str(tmp_path / "spool"), "--progress", "none",
        ]  # fmt: skip
        for i in range(KILLS):
            proc = crawl(tmp_path, [*base, "--rounds", "1000"], f"killed-{i}")
            time.sleep(rng.uniform(3.0, 6.0))
            assert proc.poll() is None, (tmp_path / f"killed-{i}.log").read_text()[-2000:]
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        last = crawl(tmp_path, [*base, "--rounds", "2"], "last")
        try:
            assert last.wait(120) == 0, (tmp_path / "last.log").read_text()[-3000:]
        finally:
            stop_process(last)
    given, stored = handed_over(tmp_path / "handed-over.jsonl"), stored_records(server)
    lost = given - stored
    doubled = {k: n for k, n in stored.items() if n > max(given.get(k, 0), 1)}
    print(
        f"\nhanded over {sum(given.values())} records in {KILLS + 1} runs ({KILLS} SIGKILLs); "
        f"stored {sum(stored.values())}; lost {sum(lost.values())}; doubled {len(doubled)}"
    )
    assert sum(given.values()) > 10_000
    assert not lost, f"{sum(lost.values())} records lost, e.g. {list(lost)[:3]}"
    assert not doubled, f"{len(doubled)} records stored twice, e.g. {list(doubled)[:3]}"
    assert not list((tmp_path / "spool" / "pending").glob("*.json"))
    assert not list((tmp_path / "spool" / "journal").glob("*.jsonl"))


def test_a_full_spool_pauses_a_real_crawl_which_resumes_and_loses_nothing(
    duckdb_server: Any, tmp_path: Path
) -> None:
    server = duckdb_server
    server.create_botnet("hns")
    token = server.token(botnets=("hns",))
    server.stop()  # nothing leaves the spool: its 1 MiB cap is reached within seconds
    small = {"BOTMON_CLIENT_SPOOL_MAX_BYTES": str(1 << 20), "BOTMON_CLIENT_BATCH_SIZE": "1000"}
    log = tmp_path / "full.log"
    with simulate(tmp_path, "hns", "--bots", "3000", "--nat", "0.2", "--seed-rng", "5") as sim:
        args = [
            "hns", "--botnet", "hns", "--seed", sim.seeds[0], "--server", server.url,
            "--token", token, "--interval", "1", "--timeouts", "1", "--rounds", "3",
            "--spool", str(tmp_path / "spool"), "--progress", "plain",
            "--progress-interval", "0.5",
        ]  # fmt: skip
        proc = crawl(tmp_path, args, "full", small)
        try:
            deadline = time.monotonic() + 90
            while "(paused: spool_full)" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()[-3000:]
                time.sleep(0.2)
            assert "(paused: spool_full)" in log.read_text(), log.read_text()[-3000:]
            pending = tmp_path / "spool" / "pending"
            assert sum(p.stat().st_size for p in pending.glob("*.json")) <= 1 << 20
            server.start()
            assert proc.wait(150) == 0, log.read_text()[-3000:]
        finally:
            stop_process(proc)
    given, stored = handed_over(tmp_path / "handed-over.jsonl"), stored_records(server)
    assert sum(given.values()) > 10_000
    assert given == stored, f"lost {sum((given - stored).values())}"
    assert "SPOOL FULL" in log.read_text() and "the crawl resumes" in log.read_text()
