"""botmon's Hajime crawler and sensor on a DHT of real libtorrent nodes and emulated bots.

``botmon simulate btdht --nodes 10`` runs 10 real libtorrent DHT nodes on loopback;
``botmon simulate hajime --bots 200 --nat 0.2 --benign 40`` joins them with 200 emulated
Hajime bots (a fifth behind NAT) and 40 plain DHT nodes: reachable bots announce ``config``
and their architecture's modules under today's keys (libtorrent nodes take announcements
too) and serve them over uTP; NATed bots look keys up and open uTP to whoever is announced.
``botmon crawl hajime``, seeded with the libtorrent nodes only, and ``botmon sensor hajime``,
announced to every reachable node, report to a live ``botmon serve``. Checked against the
emulators' final ground truth:

- the crawler confirmed every reachable bot over uTP, with its architecture and today's
  key, and recorded nothing else (no libtorrent or plain node, no NATed bot) as a reply;
- the sensor recorded the NATed bots that, by the truth, opened uTP to it, with the file
  they asked for (hence their architecture), and only bots.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from botmon.protocols import hajime_keys
from botmon.sim.truth import read_truth
from tests.e2e.conftest import BOTMON, read_records, spawn_fast, stop_process
from tests.fixtures.server import LiveServer
from tests.sensor.helpers import free_udp_port
from tests.sim.helpers import free_port

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

BOTS, NAT, PLAIN, LIBTORRENT = 200, 0.2, 40, 10


def _wait_for(paths: list[Path], procs: list[subprocess.Popen[bytes]], timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while not all(p.exists() and p.stat().st_size for p in paths):
        assert time.monotonic() < end, f"not written in {timeout_s} s: {paths}"
        assert all(p.poll() is None for p in procs), "a process exited early"
        time.sleep(0.05)


def _wait_announced(truth: Path, procs: list[subprocess.Popen[bytes]], timeout_s: float) -> None:
    """Until every reachable bot has announced its files once (by the truth)."""
    end = time.monotonic() + timeout_s
    while True:
        lines = read_truth(truth)
        if all(b["announced_at"] for b in lines if not b["nat"]):
            return
        assert time.monotonic() < end, "the bots did not announce in time"
        assert all(p.poll() is None for p in procs), "a process exited early"
        time.sleep(0.25)


def test_crawler_confirms_hajime_bots_and_sensor_sees_nated_ones(
    duckdb_server: LiveServer, tmp_path: Path
) -> None:
    server = duckdb_server
    server.create_botnet("hajime")
    crawler_token = server.token(botnets=("hajime",), name="e2e-hajime-crawler")
    sensor_token = server.token(botnets=("hajime",), name="e2e-hajime-sensor")
    reachable, truth = tmp_path / "peers.txt", tmp_path / "truth.jsonl"
    plain_file = tmp_path / "truth.plain.jsonl"
    lt_seeds, lt_truth = tmp_path / "lt-seeds.txt", tmp_path / "lt-truth.jsonl"
    reachable.touch()  # libtorrent nodes ping whatever the emulator will write here
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(
            spawn_fast(
                [*BOTMON, "simulate", "btdht", "--nodes", str(LIBTORRENT),
                 "--port", str(free_port()), "--seeds", str(LIBTORRENT),
                 "--seeds-file", str(lt_seeds), "--truth", str(lt_truth),
                 "--join", str(reachable)],
                tmp_path / "btdht.log",
            )
        )  # fmt: skip
        _wait_for([lt_seeds], procs, 30)
        procs.append(
            spawn_fast(
                [*BOTMON, "simulate", "hajime", "--bots", str(BOTS), "--nat", str(NAT),
                 "--benign", str(PLAIN), "--churn", "none", "--seed-rng", "14",
                 "--port", str(free_port()), "--peerlist", str(reachable),
                 "--bootstrap", str(lt_seeds),
                 "--truth", str(truth), "--truth-interval", "0.5",
                 "--exchange-interval", "5", "--fetch-interval", "4"],
                tmp_path / "hajime-sim.log",
            )
        )  # fmt: skip
        _wait_for([reachable, truth, plain_file], procs, 30)
        me = f"127.0.0.1:{free_udp_port()}"
        sensor = spawn_fast(
            [*BOTMON, "sensor", "hajime", "--botnet", "hajime", "--listen", me,
             "--announce-peerlist", str(reachable), "--announce-interval", "20",
             "--per-source-rate", "0",
             "--server", server.url, "--token", sensor_token,
             "--spool", str(tmp_path / "sensor-spool"), "--progress", "plain"],
            tmp_path / "sensor.log",
        )  # fmt: skip
        procs.append(sensor)
        _wait_announced(truth, procs, 40)
        crawler = spawn_fast(
            [*BOTMON, "crawl", "hajime", "--botnet", "hajime", "--peerlist", str(lt_seeds),
             "--rounds", "2", "--interval", "6", "--per-target-rate", "50",
             "--timeouts", "2,4,8",
             "--server", server.url, "--token", crawler_token,
             "--spool", str(tmp_path / "crawl-spool"), "--progress", "plain"],
            tmp_path / "crawl.log",
        )  # fmt: skip
        procs.append(crawler)
        assert crawler.wait(90) == 0, (tmp_path / "crawl.log").read_text()[-3000:]
        sensor_stopped = time.time()
        stop_process(sensor, 30)
        assert sensor.returncode == 0, (tmp_path / "sensor.log").read_text()[-3000:]
    finally:
        for proc in reversed(procs):
            stop_process(proc, 30)

    bots = {f"{b['ip']}:{b['port']}": b for b in read_truth(truth)}
    natted = {a for a, b in bots.items() if b["nat"]}
    online = set(bots) - natted  # --churn none: every bot is online throughout
    assert len(bots) == BOTS and len(natted) == BOTS * NAT
    libtorrent = read_truth(lt_truth)
    assert len(libtorrent) == LIBTORRENT
    not_bots = {n["ip"] for n in read_truth(plain_file)} | {n["ip"] for n in libtorrent}
    today = {hajime_keys.utc_day(time.time() - d).isoformat() for d in (0, 180)}

    replies = read_records(server, "hajime", "replies")
    crawled = [r for r in replies if r["source_type"] == "crawler"]
    found = {f"{r['ip']}:{r['port']}" for r in crawled}
    print(f"crawler: {len(found & online)} of {len(online)} reachable bots confirmed over uTP")
    assert found == online, "every reachable bot, and nothing else, is confirmed"
    assert not {r["ip"] for r in crawled} & not_bots, "a DHT node recorded as a Hajime bot"
    archs: dict[str, set[str]] = {}
    for r in crawled:
        bot = bots[f"{r['ip']}:{r['port']}"]
        assert r["bot_id"] is None
        assert r["data"]["arch"] in (bot["arch"], "unknown"), (r["data"], bot["arch"])
        archs.setdefault(f"{r['ip']}:{r['port']}", set()).add(r["data"]["arch"])
        assert r["data"]["utp"] == "confirmed" and r["data"]["served"] == "config"
        assert r["data"]["day_key"] in today and r["data"]["file"] in bot["files"]
    unknown = sorted(a for a, seen in archs.items() if seen == {"unknown"})
    print(f"crawler: architecture known for {len(archs) - len(unknown)} of {len(archs)} bots")
    assert not unknown, "a bot found only under config"
    edges = read_records(server, "hajime", "edges")
    assert online <= {f"{e['dst_ip']}:{e['dst_port']}" for e in edges}, "announced, no edge"

    # botmon's own crawler (from 127.0.0.1) finds the sensor under the keys and opens uTP
    # to it like a bot: leave it out.
    sensed = [r for r in replies if r["source_type"] == "sensor" and r["ip"] != "127.0.0.1"]
    assert {f"{r['ip']}:{r['port']}" for r in sensed} <= natted, "the sensor saw a non-fetcher"
    said = {a for a in natted if bots[a]["fetched"].get(me, sensor_stopped) < sensor_stopped - 1}
    syns = {f"{r['ip']}:{r['port']}" for r in sensed if r["data"]["message"] == "syn"}
    asked = [r for r in sensed if r["data"]["message"] == "file_request"]
    print(f"sensor: {len(syns & said)} NATed bots of {len(said)} that opened uTP to it")
    assert said and len(syns & said) >= 0.95 * len(said)
    assert syns <= {a for a in natted if me in bots[a]["fetched"]}
    for r in asked:
        bot = bots[f"{r['ip']}:{r['port']}"]
        assert r["data"]["utp"] == "confirmed" and r["data"]["file"] in bot["files"]
        assert r["data"]["arch"] in (bot["arch"], "unknown")
    assert {r["data"]["arch"] for r in asked} - {"unknown"}, "no architecture seen by the sensor"
