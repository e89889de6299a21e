"""``botmon sensor`` as a user runs it: a real process, a real server, real bots on loopback.

The sensor listens on a free loopback port and reports to ``botmon serve`` (DuckDB and
PostgreSQL); test bots on 127.x.y.z contact it over UDP; a bot in the announce peer list
hears from it. Contacts must become stored replies and edges, its heartbeats a ``sensor``
row of the health table, and Ctrl-C a clean exit 0. Bad input is one line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from botmon.cli import sensor as sensor_cli
from botmon.protocols.contract import Peer
from tests.e2e.conftest import BOTMON, read_records, stop_process
from tests.e2e.test_health_table import monitors
from tests.fixtures.server import LiveServer
from tests.sensor.helpers import UdpBot, free_udp_port, hns_reply, plugin

pytestmark = pytest.mark.timeout(120)

FAST_CLIENT = {
    "BOTMON_CLIENT_HEARTBEAT_INTERVAL_S": "0.5",
    "BOTMON_CLIENT_FLUSH_INTERVAL_S": "0.2",
}


def start_sensor(
    tmp_path: Path, me: Peer, server: str, token: str, *args: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """``botmon sensor hns`` on ``me`` for botnet hns, spooling in tmp_path, plus ``args``."""
    log = tmp_path / "sensor.log"
    common = ["hns", "--botnet", "hns", "--listen", f"{me.ip}:{me.port}", "--server", server]
    common += ["--token", token, "--spool", str(tmp_path / "spool")]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*BOTMON, "sensor", *common, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **FAST_CLIENT},
        )
    return proc, log


def interrupt(proc: subprocess.Popen[bytes]) -> int:
    """Ctrl-C, then its exit status (-1 if it had to be killed)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(30)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        return -1


def wait_for(check: Callable[[], Any], timeout_s: float, what: str, log: Path) -> Any:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"{what} not seen in {timeout_s} s:\n{log.read_text(errors='replace')[-3000:]}")


def contact_until_answered(bot: UdpBot, me: Peer, timeout_s: float = 20.0) -> bytes:
    """Send ``~`` every 0.2 s (the sensor may still be starting) until an answer comes."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        bot.send(b"~", me)
        time.sleep(0.2)
        got = bot.read()
        if got:
            return got[0][0]
    pytest.fail(f"no answer from the sensor to {bot.peer}")


def test_a_sensor_reports_contacts_heartbeats_and_stops_cleanly(
    live_server: LiveServer, tmp_path: Path
) -> None:
    server = live_server
    server.create_botnet("hns")
    token = server.token(botnets=("hns",), name="sensor-e2e")
    me = Peer("127.0.0.1", free_udp_port())
    bots = [UdpBot(f"127.11.0.{i}") for i in range(1, 6)]
    announced = UdpBot("127.11.1.1")
    peerlist = tmp_path / "peers.txt"
    peerlist.write_text(f"# bots to announce to\n{announced.peer.ip}:{announced.peer.port}\n")
    proc, log = start_sensor(
        tmp_path,
        me,
        server.url,
        token,
        "--announce-peerlist",
        str(peerlist),
        "--announce-interval",
        "1",
        "--progress",
        "plain",
        "--progress-interval",
        "1",
    )
    try:
        for bot in bots:
            assert contact_until_answered(bot, me) == hns_reply(me)
        # The announced bot hears "~" from the listen address itself, again and again.
        wait_for(lambda: announced.seen() >= 2, 20, "announce", log)
        assert {x for x in announced.inbox} == {(b"~", me)}
        announced.send(hns_reply(Peer("127.11.2.2", 6000)), me)  # it answers the sensor
        row = wait_for(
            lambda: (
                monitors(server, server.admin_token).get("sensor-e2e", {}).get("reported_replies")
            ),
            30,
            "the sensor's heartbeat",
            log,
        )
        assert row
        sensor_row = monitors(server, server.admin_token)["sensor-e2e"]
        assert sensor_row["kind"] == "sensor" and sensor_row["state"] == "running"
        assert sensor_row["campaign_settings"] == (
            f"hns sensor on {me.ip}:{me.port}: announced to 1 peer every 1 s, "
            "100 announcements/s, scope 127.0.0.0/8 ::1/128"
        )
        wait_for(
            lambda: server.counts("hns").get("replies", 0) >= len(bots) + 1,
            30,
            "stored replies",
            log,
        )
    finally:
        code = interrupt(proc)
        for bot in (*bots, announced):
            bot.close()
    output = log.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert "Traceback" not in output
    replies = read_records(server, "hns", "replies")
    requests = {r["ip"] for r in replies if (r.get("data") or {}).get("message") == "request"}
    assert {b.peer.ip for b in bots} <= requests
    assert any((r.get("data") or {}).get("message") == "reply" for r in replies)
    edges = {
        (e["src_ip"], e["dst_ip"], e["dst_port"]) for e in read_records(server, "hns", "edges")
    }
    assert {(b.peer.ip, me.ip, me.port) for b in bots} <= edges
    assert ("127.11.1.1", "127.11.2.2", 6000) in edges
    final = monitors(server, server.admin_token)["sensor-e2e"]
    assert final["state"] == "stopped" and final["kind"] == "sensor"


def test_without_a_server_contacts_are_spooled_as_sensor_batches(tmp_path: Path) -> None:
    me = Peer("127.0.0.1", free_udp_port())
    dead = f"http://127.0.0.1:{free_udp_port()}"  # nothing listens there
    bot = UdpBot("127.11.3.1")
    spool = tmp_path / "spool"
    proc, log = start_sensor(tmp_path, me, dead, "t" * 32, "--progress", "none")
    try:
        contact_until_answered(bot, me)
        time.sleep(0.5)
    finally:
        code = interrupt(proc)
        bot.close()
    assert code == 0, log.read_text(errors="replace")[-3000:]
    batches = [json.loads(p.read_text()) for p in sorted((spool / "pending").glob("*.json"))]
    assert batches, log.read_text(errors="replace")[-3000:]
    assert {b["source_type"] for b in batches} == {"sensor"}
    ips = {r["ip"] for b in batches for r in b.get("replies", [])}
    assert bot.peer.ip in ips


def _run(*args: str) -> Any:
    return CliRunner().invoke(sensor_cli.command, list(args))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch", "--botnet", "b", "--dry-run"], "nosuch"),
        (["hns", "--botnet", "b", "--listen", "localhost:6000", "--dry-run"], "--listen"),
        (["hns", "--botnet", "b", "--listen", "127.0.0.1:99999", "--dry-run"], "--listen"),
        (["hns", "--botnet", "b", "--announce-peerlist", "/nonexistent/x", "--dry-run"], "x"),
        (["hns", "--botnet", "b", "--listen", "127.0.0.1"], "--server and --token"),
    ],
)
def test_bad_input_is_one_line(args: list[str], message: str) -> None:
    result = _run(*args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output


def test_a_plugin_that_cannot_sense_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    mute = dataclasses.replace(plugin("hns"), handle_request=None)
    monkeypatch.setattr(sensor_cli, "get_plugin", lambda name: mute)
    result = _run("hns", "--botnet", "b", "--dry-run")
    assert result.exit_code == 1
    assert "cannot run as a sensor" in result.output and len(result.output.splitlines()) == 1


def test_a_bad_setting_is_a_usage_error() -> None:
    result = _run("hns", "--botnet", "b", "--announce-rate", "-1", "--dry-run")
    assert result.exit_code == 2 and "announce" in result.output


def test_server_commands_steer_a_running_sensor(duckdb_server: LiveServer, tmp_path: Path) -> None:
    server = duckdb_server
    server.create_botnet("hns")
    token = server.token(botnets=("hns",), name="sensor-under-command")
    me = Peer("127.0.0.1", free_udp_port())
    newcomer = UdpBot("127.11.4.1")
    contact = UdpBot("127.11.4.2")
    proc, log = start_sensor(
        tmp_path, me, server.url, token, "--announce-interval", "1", "--progress", "none"
    )

    def command(name: str, args: dict[str, Any]) -> None:
        answer = httpx.post(
            f"{server.url}/api/v1/admin/commands",
            json={"source": "sensor-under-command", "command": name, "args": args},
            headers=server.headers(),
            trust_env=False,
        )
        assert answer.status_code == 201, answer.text

    def state() -> str:
        row = monitors(server, server.admin_token).get("sensor-under-command", {})
        return str(row.get("state"))

    try:
        contact_until_answered(contact, me)
        command("add_seeds", {"peers": [f"{newcomer.peer.ip}:{newcomer.peer.port}"]})
        wait_for(lambda: newcomer.seen() >= 1, 20, "an announcement to the added peer", log)
        command("pause", {})
        wait_for(lambda: state() == "paused", 20, "the paused state", log)
        newcomer.read()
        contact.send(b"~", me)
        time.sleep(1.5)
        assert contact.read() == [] and newcomer.read() == []  # dark: no answer, no announce
        command("resume", {})
        wait_for(lambda: state() == "running", 20, "the running state", log)
        contact_until_answered(contact, me)
        command("set_rate", {"rate": 0.5})
        command("stop", {})
        proc.wait(40)
    finally:
        code = interrupt(proc)
        newcomer.close()
        contact.close()
    assert code == 0, log.read_text(errors="replace")[-3000:]
    assert state() == "stopped"  # the stop command ended it (not the Ctrl-C of the cleanup)
