"""ZeroAccess v2 end to end, both variants: ``botmon simulate zeroaccess`` with bots exchanging
peers, ``botmon crawl zeroaccess`` and ``botmon sensor zeroaccess`` beside each other, all
reporting to a real ``botmon serve``.

Given 600 bots, 40 % behind NAT, no churn, the crawler (default pacing, two rounds from 20
seeds) finds every responsive bot of the ground truth and reports no address that is no bot,
never a NATed one; every edge to a bot was on the naming bot's list. The sensor, announced
to the 20 seeds after one exchange interval, is contacted by most bots and most NATed ones
within three intervals of its first record, since a getL's sender goes to the top of the
asked bot's list and travels on. Ports are drawn in the 2015 variant's 32-bit range, so
both variants can use them.
"""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

import pytest

from botmon.sim.truth import read_truth
from tests.e2e.conftest import BOTMON, epoch, read_records, spawn_fast, stop_process
from tests.fixtures.server import LiveServer

pytestmark = pytest.mark.timeout(240)

INTERVAL_S = 3.0
BOTS = 600
NAT = 0.4


def _free_port_in(low: int, high: int) -> int:
    """A port in ``low..high`` free for UDP on every address right now (random probes)."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randint(low, high)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free UDP port in {low}..{high}")


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["2013", "2015"])
def test_crawler_finds_every_responsive_bot_and_the_sensor_hears_nated_ones(
    duckdb_server: LiveServer, tmp_path: Path, variant: str
) -> None:
    server = duckdb_server
    server.create_botnet("zeroaccess")
    crawler_token = server.token(botnets=("zeroaccess",), name="za-crawler")
    sensor_token = server.token(botnets=("zeroaccess",), name="za-sensor")
    truth_path, seeds, announce = (tmp_path / n for n in ("truth.jsonl", "seeds.txt", "20.txt"))
    option = ["--protocol-option", f"variant={variant}"]
    sim = spawn_fast(
        [*BOTMON, "simulate", "zeroaccess", "--variant", variant, "--bots", str(BOTS),
         "--nat", str(NAT), "--churn", "none", "--seed-rng", "14",
         "--port", str(_free_port_in(20000, 32000)), "--truth", str(truth_path),
         "--truth-interval", "0.5", "--seeds", "20", "--seeds-file", str(seeds),
         "--exchange-interval", str(INTERVAL_S)],
        tmp_path / "sim.log",
    )  # fmt: skip
    sensor = crawler = None
    try:
        end = time.monotonic() + 60
        while not (seeds.exists() and len(seeds.read_text().split()) == 20):
            assert time.monotonic() < end and sim.poll() is None, (tmp_path / "sim.log").read_text()
            time.sleep(0.1)
        announce.write_text(seeds.read_text())
        time.sleep(INTERVAL_S)  # the bots act for an interval before the sensor comes
        me = f"127.0.0.1:{_free_port_in(20000, 32000)}"
        started = time.time()
        sensor = spawn_fast(
            [*BOTMON, "sensor", "zeroaccess", "--botnet", "zeroaccess", "--listen", me,
             "--announce-peerlist", str(announce), "--server", server.url,
             "--token", sensor_token, "--spool", str(tmp_path / "sensor-spool"),
             "--progress", "plain", *option],
            tmp_path / "sensor.log",
        )  # fmt: skip
        crawler = spawn_fast(
            [*BOTMON, "crawl", "zeroaccess", "--botnet", "zeroaccess", "--peerlist", str(seeds),
             "--server", server.url, "--token", crawler_token, "--rounds", "2",
             "--interval", "0", "--spool", str(tmp_path / "crawl-spool"), *option],
            tmp_path / "crawl.log",
        )  # fmt: skip
        # One interval more than is counted: the sensor's own start-up may take a while on a
        # busy machine, so the three intervals are counted from its first record.
        time.sleep(max(0.0, started + 4 * INTERVAL_S + 1.0 - time.time()))
        stop_process(sensor, 30)
        assert crawler.wait(150) == 0, (tmp_path / "crawl.log").read_text()[-3000:]
    finally:
        for proc in (sensor, crawler, sim):
            if proc is not None:
                stop_process(proc, 30)
    assert sensor.returncode == 0, (tmp_path / "sensor.log").read_text()[-3000:]
    assert "Traceback" not in (tmp_path / "crawl.log").read_text()

    truth = read_truth(truth_path)
    bots = {f"{b['ip']}:{b['port']}": b for b in truth}
    by_ip = {b["ip"]: b for b in truth}
    natted = {a for a, b in bots.items() if b["nat"]}
    responsive = set(bots) - natted
    assert len(bots) == BOTS and len(natted) == round(NAT * BOTS)

    replies = read_records(server, "zeroaccess", "replies")
    crawled = [r for r in replies if r["source_type"] == "crawler"]
    found = {f"{r['ip']}:{r['port']}" for r in crawled}
    assert found - set(bots) == set(), "a reply from an address that is no bot"
    assert not found & natted, "the crawler cannot hear a NATed bot"
    missed = responsive - found
    assert not missed, f"{len(missed)} responsive bots not found, e.g. {sorted(missed)[:5]}"
    for r in crawled:
        assert r.get("bot_id") is None
        data = r["data"]
        assert data["variant"] == variant and data["network"] == str(r["port"])
        assert len(data["peer_ts"]) <= 16
        assert data["list_age"] in (
            ("opaque",) if variant == "2013" else ("<1 h", "1-6 h", "6-24 h", "1-7 d", ">7 d")
        )
    edges = [e for e in read_records(server, "zeroaccess", "edges") if e["dst_ip"] in by_ip]
    for e in edges:
        if e["src_ip"] in by_ip:  # crawler edges: a bot named a bot it had on its list
            listed = bots[f"{e['src_ip']}:{e['src_port']}"]["peers"]
            assert f"{e['dst_ip']}:{e['dst_port']}" in listed, e

    contacts = [
        r
        for r in replies
        if r["source_type"] == "sensor" and (r.get("data") or {}).get("message") == "request"
    ]
    assert {r["ip"] for r in contacts} <= set(by_ip), "a sensor contact from no bot"
    first = min(epoch(r["timestamp"]) for r in replies if r["source_type"] == "sensor")
    sensed = {r["ip"] for r in contacts if epoch(r["timestamp"]) <= first + 3 * INTERVAL_S}
    natted_ips = {bots[a]["ip"] for a in natted}
    share, nat_share = len(sensed) / len(bots), len(sensed & natted_ips) / len(natted_ips)
    print(
        f"zeroaccess {variant}: crawler found {len(found)}/{len(responsive)} responsive bots "
        f"({len(crawled)} replies, {len(edges)} edges to bots); sensor heard {share:.3f} of "
        f"all bots and {nat_share:.3f} of NATed ones within three intervals"
    )
    assert share >= 0.85 and nat_share >= 0.85  # measured 0.93-0.99
