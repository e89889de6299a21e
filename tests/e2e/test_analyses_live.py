"""The analyses on a short live run: an emulated Hide'n'Seek botnet with churn sped up,
botmon's crawler polling it about once a second and botmon's sensor in the bots' peer lists,
all reporting to a real ``botmon serve``; then the analyses through its read API.

Traces (tests/analysis) check the analyses against a modelled truth over days; this checks
that the same analyses hold on what real crawls store. The time scale is compressed
(sessions of seconds, 1-second buckets), so the comparisons are against what a perfect
observer with the same buckets and session gap would have measured from the emulator's
truth, with the tolerances stated at each check.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from lifelines import KaplanMeierFitter

from botmon.sim.truth import read_truth
from tests.e2e.conftest import BOTMON, read_records, spawn_fast, stop_process
from tests.fixtures.server import LiveServer
from tests.sensor.helpers import free_udp_port
from tests.sim.helpers import free_port

pytestmark = pytest.mark.timeout(240)

CRAWL_S = 36.0
"""How long the crawler and the sensor run."""
BUCKET_S = 1
GAP_S = 4
"""A session closes after 4 s of silence: above the ~1 s between the crawler's tries of one
bot (a round plus its 0.5 s timeout), below most offline spans (mean 12 s here)."""
EXCHANGE_S = 2.0


def _get(server: LiveServer, token: str, name: str, **params: Any) -> dict[str, Any]:
    r = httpx.get(
        f"{server.url}/api/v1/analyses/{name}",
        params={"botnet": "hns", **params},
        headers={"Authorization": f"Bearer {token}"},
        timeout=120,
        trust_env=False,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _observed_sessions(
    sessions: list[list[float | None]], start: float, end: float
) -> list[tuple[float, bool]]:
    """What a perfect observer sees of one bot in [start, end): 1-second buckets in which it
    was online, runs of them split by GAP_S of silence; (length, ended before the window's
    end) per session. The crawler's records should give the same distribution."""
    present: set[int] = set()
    for a, b in sessions:
        assert a is not None
        lo, hi = max(a, start), min(b if b is not None else end, end)
        if hi <= lo:
            continue
        present.update(range(math.floor(lo / BUCKET_S), math.floor(hi / BUCKET_S) + 1))
    out: list[tuple[float, bool]] = []
    run: list[int] = []
    last_bucket = math.floor(end / BUCKET_S) - 1
    for k in sorted(present):
        if run and (k - run[-1] - 1) * BUCKET_S >= GAP_S:
            out.append(((run[-1] - run[0] + 1) * BUCKET_S, True))
            run = []
        run.append(k)
    if run:
        ended = (last_bucket - run[-1]) * BUCKET_S >= GAP_S
        out.append(((run[-1] - run[0] + 1) * BUCKET_S, ended))
    return out


def test_analyses_on_a_live_crawl_and_sensor(duckdb_server: LiveServer, tmp_path: Path) -> None:
    server = duckdb_server
    server.create_botnet("hns")
    crawler_token = server.token(botnets=("hns",), name="live-crawler")
    sensor_token = server.token(botnets=("hns",), name="live-sensor")
    viewer = server.token(role="viewer", name="live-viewer")
    truth_path, seeds, announce = (tmp_path / n for n in ("truth.jsonl", "seeds.txt", "ann.txt"))
    sim = spawn_fast(
        [*BOTMON, "simulate", "hns", "--bots", "300", "--nat", "0.3", "--churn", "heavy",
         "--churn-scale", "0.02", "--seed-rng", "5", "--port", str(free_port()),
         "--truth", str(truth_path), "--truth-interval", "0.5", "--seeds", "30",
         "--seeds-file", str(seeds), "--exchange-interval", str(EXCHANGE_S),
         "--duration", "200"],
        tmp_path / "sim.log",
    )  # fmt: skip
    sensor = crawler = None
    me = f"127.0.0.1:{free_udp_port()}"
    try:
        deadline = time.monotonic() + 60
        while not (seeds.exists() and len(seeds.read_text().split()) == 30):
            assert time.monotonic() < deadline and sim.poll() is None, "no seeds"
            time.sleep(0.1)
        announce.write_text(seeds.read_text())
        sensor = spawn_fast(
            [*BOTMON, "sensor", "hns", "--botnet", "hns", "--listen", me,
             "--announce-peerlist", str(announce), "--server", server.url,
             "--token", sensor_token, "--spool", str(tmp_path / "sensor-spool"),
             "--progress", "plain"],
            tmp_path / "sensor.log",
        )  # fmt: skip
        crawler = spawn_fast(
            [*BOTMON, "crawl", "hns", "--botnet", "hns", "--peerlist", str(seeds),
             "--server", server.url, "--token", crawler_token,
             "--rounds", str(int(CRAWL_S)), "--interval", "1", "--timeouts", "0.5",
             "--spool", str(tmp_path / "crawl-spool"), "--progress", "plain"],
            tmp_path / "crawl.log",
        )  # fmt: skip
        assert crawler.wait(CRAWL_S + 90) == 0, (tmp_path / "crawl.log").read_text()[-3000:]
        ended = time.time()
        stop_process(sensor, 30)
    finally:
        for proc in (sensor, crawler, sim):
            if proc is not None:
                stop_process(proc, 30)
    assert sensor.returncode == 0, (tmp_path / "sensor.log").read_text()[-3000:]
    truth = {f"{b['ip']}:{b['port']}": b for b in read_truth(truth_path)}

    replies = read_records(server, "hns", "replies")
    answered = {f"{r['ip']}:{r['port']}" for r in replies if r["source"] == "live-crawler"}
    crawled = answered & set(truth)  # the sensor answers the crawler too (it is listed)
    assert len(crawled) > 100 and answered - crawled <= {me}
    start = min(r["timestamp"] for r in replies if r["source"] == "live-crawler")
    start = math.floor(float(start))
    end = math.ceil(ended)
    window = {"start": start, "end": end}

    # -- churn: the crawler's sessions against a perfect observer of the truth ------------
    churn = _get(
        server, viewer, "churn", by="ip_port", bucket_s=BUCKET_S, gap_s=GAP_S,
        source_type="crawler", **window,
    )  # fmt: skip
    expected: list[tuple[float, bool]] = []
    for addr in crawled:
        expected.extend(_observed_sessions(truth[addr]["sessions"], start, end))
    km = KaplanMeierFitter().fit([d for d, _ in expected], [e for _, e in expected])
    true_median = float(km.median_survival_time_)
    assert churn["bots"] == len(answered)
    # Tolerance 25 %: the crawler tries each bot about once a second, so online spans
    # shorter than a round are missed and session edges shift by up to a bucket.
    assert churn["median_session_s"] == pytest.approx(true_median, rel=0.25), (
        churn["median_session_s"],
        true_median,
    )
    assert churn["sessions"] == pytest.approx(len(expected), rel=0.25)
    assert sum(churn["classes"].values()) == churn["bots"]
    assert (churn["gap_s"], churn["bucket_s"], churn["by"]) == (GAP_S, BUCKET_S, "ip_port")

    # -- detect: botmon's own crawler, seen by botmon's own sensor, is a crawler to it ------
    sensed = {
        f"{r['ip']}:{r['port']}"
        for r in replies
        if r["source"] == "live-sensor" and f"{r['ip']}:{r['port']}" not in truth
    }
    assert sensed, "the crawler learnt the sensor from peer lists and asked it for peers"
    detect = _get(server, viewer, "detect", **window)
    flagged = {f"{s['ip']}:{s['port']}" for s in detect["suspects"] if s["kind"] == "crawler"}
    assert sensed <= flagged, (sensed, detect["suspects"][:5])
    bots_flagged = {f"{s['ip']}:{s['port']}" for s in detect["suspects"]} & set(truth)
    assert len(bots_flagged) <= 0.01 * len(truth), bots_flagged
    own = {(o["ip"], o["port"]) for o in detect["self"]}
    ip, port = me.rsplit(":", 1)
    assert (ip, int(port)) in own, detect["self"]
    assert me not in {f"{s['ip']}:{s['port']}" for s in detect["suspects"]}

    # -- graph: the stored peer lists, whole -----------------------------------------------
    edges = read_records(server, "hns", "edges")
    graph = _get(server, viewer, "graph", **window)
    nodes = {f"{e['src_ip']}:{e['src_port']}" for e in edges}
    nodes |= {f"{e['dst_ip']}:{e['dst_port']}" for e in edges}
    pairs = {(f"{e['src_ip']}:{e['src_port']}", f"{e['dst_ip']}:{e['dst_port']}") for e in edges}
    assert (graph["nodes"], graph["edges"]) == (len(nodes), len(pairs))
    for src, dst in pairs:
        assert (src in truth or src == me) and (dst in truth or dst == me)

    # -- count: what the store holds, side by side ------------------------------------------
    count = _get(server, viewer, "count", source_type="crawler", **window)
    assert count["ips"] == len({a.rsplit(":", 1)[0] for a in answered})
    assert count["ip_ports"] == len(answered)
    print(
        f"live analyses: {len(crawled)} bots crawled, churn median {churn['median_session_s']}"
        f" s vs {true_median} s observable, {churn['sessions']} sessions vs {len(expected)};"
        f" crawler seen by the sensor {sorted(sensed)} flagged; graph {graph['nodes']} nodes"
    )
