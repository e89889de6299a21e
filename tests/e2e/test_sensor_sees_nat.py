"""botmon's own sensor beside botmon's own crawler on an emulated Hide'n'Seek botnet.

``botmon simulate hns --bots 1000 --nat 0.4 --churn none`` runs with bots exchanging peers
every few seconds; after an interval of warm-up, ``botmon sensor hns`` is announced to 20
bots (its announce peer list) while ``botmon crawl hns`` crawls the same botnet, both
reporting to a real ``botmon serve``. What the store then holds is checked against the
emulator's ground truth: within three exchange intervals of its start the sensor has been
contacted by at least 95 % of all bots and of the NATed ones, the crawler has heard from no
NATed bot, and neither recorded a bot that does not exist.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from botmon.sim.truth import read_truth
from tests.e2e.conftest import BOTMON, epoch, read_records, spawn_fast, stop_process
from tests.fixtures.server import LiveServer
from tests.sensor.helpers import free_udp_port
from tests.sim.helpers import free_port

pytestmark = pytest.mark.timeout(240)

INTERVAL_S = 3.0


def test_the_sensor_hears_nated_bots_the_crawler_cannot(
    duckdb_server: LiveServer, tmp_path: Path
) -> None:
    server = duckdb_server
    server.create_botnet("hns")
    crawler_token = server.token(botnets=("hns",), name="e2e-crawler")
    sensor_token = server.token(botnets=("hns",), name="e2e-sensor")
    truth_path, seeds, announce = (tmp_path / n for n in ("truth.jsonl", "seeds.txt", "20.txt"))
    sim = spawn_fast(
        [*BOTMON, "simulate", "hns", "--bots", "1000", "--nat", "0.4", "--churn", "none",
         "--seed-rng", "21", "--port", str(free_port()), "--truth", str(truth_path),
         "--truth-interval", "0.5", "--seeds", "20", "--seeds-file", str(seeds),
         "--exchange-interval", str(INTERVAL_S)],
        tmp_path / "sim.log",
    )  # fmt: skip
    sensor = crawler = None
    try:
        end = time.monotonic() + 60
        while not (seeds.exists() and len(seeds.read_text().split()) == 20):
            assert time.monotonic() < end and sim.poll() is None, "no seeds from the emulator"
            time.sleep(0.1)
        announce.write_text(seeds.read_text())
        time.sleep(INTERVAL_S)  # the bots act for an interval before the sensor comes
        me = f"127.0.0.1:{free_udp_port()}"
        started = time.time()
        sensor = spawn_fast(
            [*BOTMON, "sensor", "hns", "--botnet", "hns", "--listen", me,
             "--announce-peerlist", str(announce), "--server", server.url,
             "--token", sensor_token, "--spool", str(tmp_path / "sensor-spool"),
             "--progress", "plain"],
            tmp_path / "sensor.log",
        )  # fmt: skip
        crawler = spawn_fast(
            [*BOTMON, "crawl", "hns", "--botnet", "hns", "--peerlist", str(seeds),
             "--server", server.url, "--token", crawler_token, "--rounds", "2",
             "--interval", "0", "--spool", str(tmp_path / "crawl-spool")],
            tmp_path / "crawl.log",
        )  # fmt: skip
        time.sleep(max(0.0, started + 3 * INTERVAL_S + 1.0 - time.time()))
        stop_process(sensor, 30)
        assert crawler.wait(150) == 0, (tmp_path / "crawl.log").read_text()[-3000:]
    finally:
        for proc in (sensor, crawler, sim):
            if proc is not None:
                stop_process(proc, 30)
    assert sensor.returncode == 0, (tmp_path / "sensor.log").read_text()[-3000:]

    bots = {b["ip"]: b for b in read_truth(truth_path)}
    natted = {ip for ip, b in bots.items() if b["nat"]}
    assert len(bots) == 1000 and len(natted) == 400
    replies = [r for r in read_records(server, "hns", "replies") if r["ip"] != "127.0.0.1"]
    by_crawler = {r["ip"] for r in replies if r["source_type"] == "crawler"}
    contacts = [
        r
        for r in replies
        if r["source_type"] == "sensor" and (r.get("data") or {}).get("message") == "request"
    ]
    assert {r["ip"] for r in replies} <= set(bots), "a record of a bot that does not exist"
    sensed = {r["ip"] for r in contacts if epoch(r["timestamp"]) <= started + 3 * INTERVAL_S}
    share, nat_share = len(sensed) / len(bots), len(sensed & natted) / len(natted)
    print(
        f"sensor: {share:.3f} of all bots, {nat_share:.3f} of NATed within three intervals; "
        f"crawler: {len(by_crawler)} of {len(bots) - len(natted)} answering bots"
    )
    assert share >= 0.95 and nat_share >= 0.95
    assert not by_crawler & natted, "the crawler cannot hear a NATed bot"
    assert len(by_crawler) >= 0.95 * (len(bots) - len(natted))
