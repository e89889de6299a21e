"""A third-party botnet package crawls and senses end to end, with no change to botmon.

``tests/thirdparty/botmon-gossipnet`` is a package of its own (a protocol module and an
emulator module, registered under botmon's entry-point groups in its own pyproject.toml),
installed with pip for this test run (:mod:`tests.fixtures.thirdparty`). Here the real
``botmon`` commands run it as a user would: ``botmon simulate gossipnet`` emulates it,
``botmon crawl gossipnet`` crawls it and ``botmon sensor gossipnet`` senses it, both reporting
to a real server; what is stored is checked against the emulator's ground truth.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import BOTMON, read_records, stop_process
from tests.fixtures.server import LiveServer
from tests.fixtures.thirdparty import thirdparty_env
from tests.sensor.helpers import free_udp_port
from tests.sim.helpers import free_port

pytestmark = pytest.mark.timeout(240)

FAST_CLIENT = {
    "BOTMON_CLIENT_HEARTBEAT_INTERVAL_S": "0.5",
    "BOTMON_CLIENT_FLUSH_INTERVAL_S": "0.2",
}
EXCHANGE_S = 1.0


def _wait_file(path: Path, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and proc.poll() is None:
        if path.exists() and path.stat().st_size:
            return
        time.sleep(0.1)
    raise AssertionError(f"{path.name} not written (exit {proc.poll()})")


def _wait_for_spread(path: Path, me: str, sim: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Let the bots go on exchanging until half of them contacted the sensor (by the truth the
    emulator rewrites every 0.2 s), bounded: how fast the news spreads depends on load."""
    from botmon.sim.truth import read_truth

    end = time.monotonic() + timeout_s
    while time.monotonic() < end and sim.poll() is None:
        time.sleep(4 * EXCHANGE_S)
        try:
            bots = read_truth(path)
        except (OSError, ValueError):
            continue  # caught mid-rewrite: read it again next time
        if sum(1 for b in bots if me in b["contacted"]) >= 0.5 * len(bots):
            return


def test_a_third_party_package_crawls_and_senses_end_to_end(
    live_server: LiveServer, tmp_path: Path
) -> None:
    from botmon.sim.truth import read_truth

    server = live_server
    env = {**thirdparty_env(), **FAST_CLIENT}
    listed = subprocess.run(
        [*BOTMON, "protocols"], env=env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0 and "gossipnet" in listed.stdout, listed.stdout
    server.create_botnet("gossipnet")
    crawler_token = server.token(botnets=("gossipnet",), name="gossip-crawler")
    sensor_token = server.token(botnets=("gossipnet",), name="gossip-sensor")
    truth_path, seeds = tmp_path / "truth.jsonl", tmp_path / "seeds.txt"
    logs = {name: open(tmp_path / f"{name}.log", "wb") for name in ("sim", "sensor")}  # noqa: SIM115
    sim = subprocess.Popen(
        [*BOTMON, "simulate", "gossipnet", "--bots", "300", "--nat", "0.3", "--churn", "none",
         "--seed-rng", "4", "--port", str(free_port()), "--truth", str(truth_path),
         "--truth-interval", "0.2", "--seeds-file", str(seeds), "--seeds", "10",
         "--exchange-interval", str(EXCHANGE_S)],
        env=env, stdout=logs["sim"], stderr=subprocess.STDOUT,
    )  # fmt: skip
    sensor: subprocess.Popen[bytes] | None = None
    try:
        _wait_file(seeds, sim, 60)
        me = f"127.0.0.1:{free_udp_port()}"
        sensor = subprocess.Popen(
            [*BOTMON, "sensor", "gossipnet", "--botnet", "gossipnet", "--listen", me,
             "--announce-peerlist", str(seeds), "--server", server.url, "--token", sensor_token,
             "--spool", str(tmp_path / "sensor-spool"), "--progress", "plain"],
            env=env, stdout=logs["sensor"], stderr=subprocess.STDOUT,
        )  # fmt: skip
        crawl = subprocess.run(
            [*BOTMON, "crawl", "gossipnet", "--botnet", "gossipnet", "--peerlist", str(seeds),
             "--server", server.url, "--token", crawler_token, "--rounds", "2",
             "--interval", "0", "--spool", str(tmp_path / "crawl-spool")],
            env=env, capture_output=True, text=True, timeout=150,
        )  # fmt: skip
        assert crawl.returncode == 0, crawl.stdout[-3000:] + crawl.stderr[-3000:]
        _wait_for_spread(truth_path, me, sim, timeout_s=40)
    finally:
        stopped = time.time()
        if sensor is not None:
            stop_process(sensor, 30)
        stop_process(sim, 30)
        for log in logs.values():
            log.close()
    assert sensor.returncode == 0, (tmp_path / "sensor.log").read_text()[-3000:]
    assert sim.returncode == 0, (tmp_path / "sim.log").read_text()[-3000:]

    bots = {b["ip"]: b for b in read_truth(truth_path)}
    natted = {ip for ip, b in bots.items() if b["nat"]}
    answering = set(bots) - natted
    time.sleep(1.0)  # the sensor's last batches are flushed on its way out
    replies = read_records(server, "gossipnet", "replies")
    by_kind: dict[str, set[str]] = {"crawler": set(), "sensor": set()}
    for r in replies:
        if r["ip"] == "127.0.0.1":
            # The monitors see each other: bots name the sensor, so the crawler asks it, and
            # the sensor records the crawler's request (what monitor detection looks for).
            assert f"{r['ip']}:{r['port']}" == me or r["bot_id"] == "0" * 16, r
            continue
        by_kind[r["source_type"]].add(r["ip"])
        truth = bots.get(r["ip"])
        assert truth is not None, f"a reply from {r['ip']}, which is no bot"
        assert r["bot_id"] == truth["bot_id"], "the protocol's bot ID must be the bot's own"
    crawled, sensed = by_kind["crawler"], by_kind["sensor"]
    print(
        f"gossipnet: crawler {len(crawled)} of {len(answering)} answering bots; "
        f"sensor {len(sensed)} of {len(bots)} bots, {len(sensed & natted)} of {len(natted)} NATed"
    )
    assert crawled <= answering and len(crawled) >= 0.95 * len(answering)
    # How far the sensor's news spread in the time it ran depends on the machine's load;
    # what must hold is that it recorded the bots that, by the truth, contacted it.
    said = {ip for ip, b in bots.items() if b["contacted"].get(me, stopped) < stopped - 1.0}
    assert sensed <= {ip for ip, b in bots.items() if me in b["contacted"]}
    assert said & natted, "no NATed bot contacted the sensor"
    assert len(sensed & said) >= 0.95 * len(said), f"{len(sensed & said)} of {len(said)}"
    assert len(said) >= 0.3 * len(bots), "the sensor's news hardly spread"
