"""``botmon crawl`` as a user runs it: seeds, peer lists, bad settings, a live server, commands."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from click.testing import CliRunner

from botmon.cli.crawl import build_settings, command
from botmon.crawl.counters import STABLE_KEYS
from botmon.crawl.progress import Progress
from botmon.crawl.runner import CrawlRunner
from botmon.crawl.sink import ListReporter
from botmon.protocols.contract import Peer
from botmon.wire import Command, HeartbeatBody, HeartbeatStatus
from tests.crawl.helpers import hns_reply, registry


class ThreadBots:
    """A few HNS bots on 127.35.0.x answered from a plain thread (the CLI owns its own loop)."""

    def __init__(self, n: int, port: int) -> None:
        self.peers = [Peer(f"127.35.0.{i}", port) for i in range(1, n + 1)]
        self.socks = []
        for p in self.peers:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((p.ip, p.port))
            s.settimeout(0.1)
            self.socks.append(s)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        n = len(self.peers)
        while not self.stop.is_set():
            for i, s in enumerate(self.socks):
                try:
                    data, addr = s.recvfrom(2048)
                except (TimeoutError, OSError):
                    continue
                if data == b"~":
                    s.sendto(hns_reply(self.peers[(i + 1) % n]), addr)

    def __enter__(self) -> ThreadBots:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        for s in self.socks:
            s.close()


@pytest.fixture
def bots() -> Iterator[ThreadBots]:
    with ThreadBots(4, 16300) as b:
        yield b


def test_dry_run_crawl_with_a_peerlist_reports_bad_lines_and_exits_0(
    tmp_path: Path, bots: ThreadBots
) -> None:
    peerlist = tmp_path / "peers.txt"
    peerlist.write_text(
        f"# bootstrap\n{bots.peers[0].ip}:{bots.peers[0].port}\nnot-a-peer\n"
        "127.35.0.9:99999\n192.0.2.1:6000\n"
    )
    result = CliRunner().invoke(
        command,
        [
            "hns",
            "--botnet",
            "hns",
            "--peerlist",
            str(peerlist),
            "--dry-run",
            "--rounds",
            "1",
            "--timeouts",
            "0.5",
            "--progress",
            "plain",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"{peerlist}:3: " in result.output
    assert f"{peerlist}:4: " in result.output
    assert "outside the scope" in result.output
    last = result.output.strip().splitlines()[-1]
    assert "known 4 responsive 4" in last
    assert "out_of_scope 1" in last


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch", "--botnet", "x", "--seed", "127.0.0.1:1", "--dry-run"], "unknown protocol"),
        (["hns", "--botnet", "x", "--dry-run"], "no seeds"),
        (["hns", "--botnet", "x", "--seed", "nope", "--dry-run"], "--seed nope"),
        (["hns", "--botnet", "x", "--seed", "192.0.2.1:1", "--dry-run"], "every seed is outside"),
        (["hns", "--botnet", "x", "--seed", "127.0.0.1:1"], "--server and --token"),
        (["hns", "--botnet", "x", "--peerlist", "/nonexistent/p", "--dry-run"], "cannot read"),
    ],
)
def test_bad_input_is_one_clear_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(command, args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--timeouts", "8,4"],
            "crawl.retry.timeouts: must not decrease (got 8.0,4.0); set with --timeouts or "
            "BOTMON_CRAWL_RETRY_TIMEOUTS",
        ),
        (["--scope", "10.0.0.0/33"], "crawl.scope: '10.0.0.0/33' is not a CIDR network"),
        (
            ["--concurrency", "0"],
            "crawl.queues.discovery_capacity: must be >= 1 (got 0); set with --concurrency or "
            "BOTMON_CRAWL_QUEUES_DISCOVERY_CAPACITY",
        ),
        (
            ["--interval", "-1"],
            "crawl.rounds.interval_s: must be >= 0 (got -1.0); set with --interval",
        ),
    ],
)
def test_a_bad_setting_is_a_usage_error_naming_it(args: list[str], message: str) -> None:
    argv = ["hns", "--botnet", "x", "--seed", "127.0.0.1:1", "--dry-run", *args]
    result = CliRunner().invoke(command, argv)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_a_bad_crawl_variable_names_itself_and_its_source() -> None:
    env = {"BOTMON_CRAWL_ROUNDS_INTERVAL_S": "-5"}
    result = CliRunner().invoke(command, ["hns", "--botnet", "x", "--seed", "127.0.0.1:1"], env=env)
    assert result.exit_code == 2
    assert (
        "crawl.rounds.interval_s: must be >= 0 (got -5.0 from BOTMON_CRAWL_ROUNDS_INTERVAL_S); "
        "set with --interval or BOTMON_CRAWL_ROUNDS_INTERVAL_S" in result.output
    )


def test_an_option_beats_the_variable_which_beats_the_plugin_default() -> None:
    plugin = registry().get("hns")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BOTMON_CRAWL_ROUNDS_INTERVAL_S", "42")
        mp.setenv("BOTMON_CRAWL_RETRY_TIMEOUTS", "1,2")
        s = build_settings(plugin, interval=7.0)
    assert s.rounds.interval_s == 7.0  # option over variable
    assert s.retry.timeouts == (1.0, 2.0)  # variable over the plugin's default
    assert s.rounds.requests_per_round == plugin.defaults.requests_per_round  # plugin default


def test_crawl_reports_to_a_live_server_and_exits_after_n_rounds(
    duckdb_server: Any, tmp_path: Path, bots: ThreadBots
) -> None:
    duckdb_server.create_botnet("hns")
    token = duckdb_server.token("crawler", ["hns"], name="cli-crawler")
    argv = [
        sys.executable,
        "-m",
        "botmon",
        "crawl",
        "hns",
        "--botnet",
        "hns",
        "--seed",
        f"{bots.peers[0].ip}:{bots.peers[0].port}",
        "--server",
        duckdb_server.url,
        "--token",
        token,
        "--rounds",
        "2",
        "--interval",
        "0.5",
        "--timeouts",
        "0.5",
        "--spool",
        str(tmp_path / "spool"),
        "--progress",
        "plain",
    ]
    done = subprocess.run(argv, capture_output=True, timeout=60, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    counts = duckdb_server.counts("hns")
    assert counts["replies"] >= 8  # 4 bots, 2 rounds
    assert counts["edges"] >= 8
    # The run registered its campaign with its parameters, said "stopped" last, ended it.
    viewer = duckdb_server.token("viewer")
    answer = httpx.get(
        f"{duckdb_server.url}/api/v1/stats/monitors",
        params={"window": 3600},
        headers={"Authorization": f"Bearer {viewer}"},
        trust_env=False,
    )
    row = next(r for r in answer.json()["rows"] if r["source"] == "cli-crawler")
    assert row["state"] == "stopped" and row["botnet"] == "hns" and row["kind"] == "crawler"
    assert row["reported_replies"] >= 8 and row["campaign"] is not None
    assert (
        row["campaign_settings"] == "hns: 2 rounds every 0.5 s, 1 seed, scope 127.0.0.0/8 ::1/128"
    )
    assert row["campaign_ended_at"] >= row["campaign_started_at"]


def test_server_commands_reach_the_engine() -> None:
    runner = CrawlRunner(registry().get("hns"), _settings(), ListReporter())

    def cmd(name: str, args: dict[str, Any]) -> None:
        runner.handle_command(Command(id=1, source="server", command=name, args=args))

    cmd("pause", {})
    assert runner.core.paused
    cmd("resume", {})
    assert not runner.core.paused
    cmd("set_rate", {"rate": 25})
    assert runner.core.bucket.rate == 25
    cmd("set_rate", {"rate": "fast"})
    cmd("set_rate", {"rate": -1})
    assert runner.core.bucket.rate == 25
    cmd("add_seeds", {"peers": ["127.36.0.1:6000", "127.36.0.2", "192.0.2.1:6000", "bad:x"]})
    assert runner.counters["command_errors"] == 3  # "fast", -1 and the list with a bad peer
    cmd("add_seeds", {"peers": ["127.36.0.1:6000", "127.36.0.2", "192.0.2.1:6000"]})
    assert set(runner.core.peers) == {Peer("127.36.0.1", 6000), Peer("127.36.0.2", 6000)}
    assert runner.counters["out_of_scope"] == 1
    cmd("reboot", {})
    assert runner.counters["commands/unknown/reboot"] == 1
    cmd("stop", {})
    assert runner._stop
    status = runner.status()
    assert status["commands/pause"] == 1 and status["commands/add_seeds"] == 1
    assert set(STABLE_KEYS) <= set(status)
    assert json.loads(json.dumps(status)) == status
    # the heartbeat: typed fields from the same counters, and all of them for people
    beat = runner.heartbeat()
    assert isinstance(beat, HeartbeatStatus) and beat.state == "stopping"
    assert (beat.requests, beat.replies, beat.in_flight) == (0, 0, 0)
    assert beat.discovery_queue == 2 and beat.counters.keys() == status.keys()


def _settings() -> Any:
    from botmon.settings.crawl import CrawlSettings

    return CrawlSettings.for_protocol(registry().get("hns").defaults)


def test_ctrl_c_stops_a_forever_crawl_cleanly(bots: ThreadBots) -> None:
    argv = [sys.executable, "-m", "botmon", "crawl", "hns", "--botnet", "hns",
            "--seed", f"{bots.peers[0].ip}:{bots.peers[0].port}", "--dry-run",
            "--interval", "0.2", "--timeouts", "0.5", "--progress", "plain",
            "--progress-interval", "0.5"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(3.0)
        assert proc.poll() is None  # runs until stopped
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "Traceback" not in out
    lines = [x for x in out.splitlines() if "known" in x]
    assert len(lines) >= 3  # periodic plain lines when stdout is not a terminal
    assert "known 4 responsive 4" in lines[-1] or "known 4 " in lines[-1]


def test_tcp_deadline_shorter_than_connect_plus_read_is_refused() -> None:
    result = CliRunner().invoke(
        command,
        ["linenet", "--botnet", "x", "--seed", "127.0.0.1:7070", "--timeouts", "3", "--dry-run"],
    )
    assert result.exit_code == 2
    assert "crawl.retry.timeouts: for TCP the first deadline" in result.output


def test_a_full_spool_pauses_the_crawl_and_the_heartbeat_and_display_say_why() -> None:
    runner = CrawlRunner(registry().get("hns"), _settings(), ListReporter())
    progress = Progress(runner.status, lambda: 0, mode="plain")
    runner.hold("spool_full")  # what ReportClient.on_backpressure calls
    beat = runner.heartbeat()
    assert runner.core.paused
    assert (beat.state, beat.paused_reason) == ("paused", "spool_full")
    assert msgspec.json.decode(msgspec.json.encode(HeartbeatBody(beat)), type=HeartbeatBody)
    assert "(paused: spool_full)" in progress.line()
    # An admin's resume does not override a full spool; the spool's release does.
    runner.handle_command(Command(id=1, source="server", command="pause", args={}))
    runner.handle_command(Command(id=2, source="server", command="resume", args={}))
    assert runner.core.paused and runner.heartbeat().paused_reason == "spool_full"
    runner.hold(None)
    assert not runner.core.paused
    beat = runner.heartbeat()
    assert (beat.state, beat.paused_reason) == ("running", None)
    assert "paused" not in progress.line()
