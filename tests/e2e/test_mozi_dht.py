"""botmon's Mozi crawler and sensor on a DHT of real libtorrent nodes and emulated Mozi bots.

``botmon simulate btdht --nodes 20`` runs 20 real libtorrent DHT nodes on loopback;
``botmon simulate mozi --bots 500 --nat 0.2 --benign 30`` joins them with 500 emulated Mozi
bots (a fifth behind NAT) and 30 plain DHT nodes, and pushes a new configuration and then a
stop order mid-run. ``botmon crawl mozi``, seeded with the libtorrent nodes only, and
``botmon sensor mozi``, announced to the reachable nodes, report to a live ``botmon serve``.
What the store then holds is checked against both emulators' final ground truth:

- the crawler found every reachable Mozi bot (with its verified configuration and ``[cpu]``),
  recorded nothing else as a bot (no libtorrent node, no plain node, no NATed bot), and
  stored the DHT's edges (every libtorrent node's table, every reachable bot listed);
- the sensor recorded NATed bots the crawler cannot reach, and only bots, as the truth says
  they contacted it;
- each pushed configuration (a new version, then a stop order) is in the crawler's records
  within one crawl round: every bot's first crawl answer after the push already carries it.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from botmon.sim.truth import read_truth
from tests.e2e.conftest import BOTMON, epoch, read_records, spawn_fast, stop_process
from tests.fixtures.server import LiveServer
from tests.sensor.helpers import free_udp_port
from tests.sim.helpers import free_port

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

BOTS, NAT, PLAIN, LIBTORRENT = 500, 0.2, 30, 20
PUSH_AT, STOP_AT = 8.0, 13.0
"""Seconds after the emulator's start: a new configuration version, then a stop order."""
ROUNDS, INTERVAL = 4, 6.0
"""Round starts at least 6 s apart: the last round starts 18 s or more after the crawler, so
after both pushes however fast rounds are here; on a slow machine rounds run back to back
and fall later still. The crawler sees version 1 first and each push in the round it falls
in or the next."""


def _wait_for(paths: list[Path], procs: list[subprocess.Popen[bytes]], timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while not all(p.exists() and p.stat().st_size for p in paths):
        assert time.monotonic() < end, f"not written in {timeout_s} s: {paths}"
        assert all(p.poll() is None for p in procs), "an emulator exited early"
        time.sleep(0.05)


def _crawl_replies(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in replies if r["source_type"] == "crawler"]


def test_crawler_and_sensor_find_mozi_among_libtorrent_nodes(
    duckdb_server: LiveServer, tmp_path: Path
) -> None:
    server = duckdb_server
    server.create_botnet("mozi")
    crawler_token = server.token(botnets=("mozi",), name="e2e-mozi-crawler")
    sensor_token = server.token(botnets=("mozi",), name="e2e-mozi-sensor")
    lt_seeds, lt_truth = tmp_path / "lt-seeds.txt", tmp_path / "lt-truth.jsonl"
    reachable, keys, truth = (tmp_path / n for n in ("peers.txt", "keys.txt", "truth.jsonl"))
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
                [*BOTMON, "simulate", "mozi", "--bots", str(BOTS), "--nat", str(NAT),
                 "--benign", str(PLAIN), "--churn", "none", "--seed-rng", "12",
                 "--port", str(free_port()), "--bootstrap", str(lt_seeds),
                 "--peerlist", str(reachable), "--public-keys", str(keys),
                 "--truth", str(truth), "--truth-interval", "0.5",
                 "--exchange-interval", "2", "--push-config-at", str(PUSH_AT),
                 "--stop-at", str(STOP_AT)],
                tmp_path / "mozi-sim.log",
            )
        )  # fmt: skip
        _wait_for([reachable, keys, truth], procs, 30)
        key_1, key_2 = keys.read_text().split()
        me = f"127.0.0.1:{free_udp_port()}"
        sensor = spawn_fast(
            [*BOTMON, "sensor", "mozi", "--botnet", "mozi", "--listen", me,
             "--announce-peerlist", str(reachable), "--announce-interval", "5",
             "--server", server.url, "--token", sensor_token,
             "--spool", str(tmp_path / "sensor-spool"), "--progress", "plain"],
            tmp_path / "sensor.log",
        )  # fmt: skip
        procs.append(sensor)
        crawler = spawn_fast(
            [*BOTMON, "crawl", "mozi", "--botnet", "mozi", "--peerlist", str(lt_seeds),
             "--rounds", str(ROUNDS), "--interval", str(INTERVAL), "--per-target-rate", "50",
             "--protocol-option", f"public_key_1={key_1}",
             "--protocol-option", f"public_key_2={key_2}",
             "--server", server.url, "--token", crawler_token,
             "--spool", str(tmp_path / "crawl-spool"), "--progress", "plain"],
            tmp_path / "crawl.log",
        )  # fmt: skip
        procs.append(crawler)
        assert crawler.wait(150) == 0, (tmp_path / "crawl.log").read_text()[-3000:]
        sensor_stopped = time.time()
        stop_process(sensor, 30)
        assert sensor.returncode == 0, (tmp_path / "sensor.log").read_text()[-3000:]
    finally:
        for proc in reversed(procs):
            stop_process(proc, 30)

    # The final truth, written when the emulators stopped.
    bots = {b["node_id"]: b for b in read_truth(truth)}
    natted = {nid for nid, b in bots.items() if b["nat"]}
    online = set(bots) - natted  # --churn none: every bot is online throughout
    plain = read_truth(truth.with_name("truth.plain.jsonl"))
    libtorrent = read_truth(lt_truth)
    assert len(bots) == BOTS and len(natted) == BOTS * NAT and len(libtorrent) == LIBTORRENT
    not_bots = {n["ip"] for n in plain} | {n["ip"] for n in libtorrent}

    replies = read_records(server, "mozi", "replies")
    crawled = _crawl_replies(replies)
    found = {r["bot_id"] for r in crawled}
    print(f"crawler: {len(found & online)} of {len(online)} reachable bots")
    assert found == online, "every reachable bot, and nothing else, is a bot of the crawl"
    assert not {r["ip"] for r in crawled} & not_bots, "a DHT node recorded as a Mozi bot"
    for r in crawled:
        assert r["ip"] == bots[r["bot_id"]]["ip"] and r["data"]["node_id"] == r["bot_id"]
        assert r["data"]["arch"] == bots[r["bot_id"]]["arch"]
        assert r["data"]["config"]["signatures"] == "valid"

    edges = read_records(server, "mozi", "edges")
    lt_ids = {n["ip"]: n["node_id"] for n in libtorrent}
    sources = {(e["src_ip"], e["src_id"]) for e in edges}
    assert {(ip, nid) for ip, nid in lt_ids.items()} <= sources, "a libtorrent table is missing"
    assert online <= {e["dst_id"] for e in edges}, "a reachable bot no stored edge lists"

    _pushes_appear_within_one_round(crawled, bots, truth.with_name("truth.configs.jsonl"))
    _alerts_follow(server, crawled)
    _sensor_sees_nated_bots(replies, bots, natted, me, sensor_stopped, not_bots)


def _pushes_appear_within_one_round(
    crawled: list[dict[str, Any]], bots: dict[str, dict[str, Any]], configs_path: Path
) -> None:
    """Each pushed version: every bot's first crawl answer after it carries it (so it is in
    the records within the round the push falls in, or at the latest the next one)."""
    configs = read_truth(configs_path)
    pushes = sorted({(c["version"], c["since"], c["stop"]) for c in configs if c["version"] > 1})
    assert [(v, stop) for v, _, stop in pushes] == [(2, False), (3, True)]
    by_bot: dict[str, list[tuple[float, int, bool]]] = {}
    for r in crawled:
        config = r["data"]["config"]
        by_bot.setdefault(r["bot_id"], []).append(
            (epoch(r["timestamp"]), config["version"], config["stop"])
        )
    for version, since, stop in pushes:
        for bot_id, seen in by_bot.items():
            after = sorted(s for s in seen if s[0] > since + 0.05)
            assert after, f"bot {bot_id} not crawled after version {version} was pushed"
            assert after[0][1] >= version, f"bot {bot_id}: version {version} missed a round"
            assert after[0][2] or not stop, f"bot {bot_id}: the stop order is not flagged"
        # every bot carries the architecture's own blob of this version, verified
        digests = {c["digest"] for c in configs if c["version"] == version}
        assert {b["configs"][version - 1][2] for b in bots.values()} <= digests


def _alerts_follow(server: LiveServer, crawled: list[dict[str, Any]]) -> None:
    """The server turned the pushed versions into alerts at their first sighting, the stop
    order into a critical one, and no valid configuration into a bad_signature alert."""
    r = httpx.get(
        f"{server.url}/api/v1/alerts",
        params={"botnet": "mozi"},
        headers=server.headers(),
        timeout=30,
        trust_env=False,
    )
    assert r.status_code == 200, r.text
    alerts = r.json()["alerts"]
    kinds = {(a["kind"], a["version"]) for a in alerts if a["kind"] != "new_config"}
    # A version is new when the server saw a lower one first: on a loaded machine the crawl
    # may start after the first push, and then version 2 is simply the first configuration.
    # A version the crawl never met (every bot moved on before the next round reached it)
    # raises nothing either.
    seen = sorted((epoch(c["timestamp"]), c["data"]["config"]["version"]) for c in crawled)
    first_version = seen[0][1]
    met = {version for _, version in seen}
    raised = {("new_version", v) for v in (2, 3) if v > first_version and v in met}
    assert ("new_version", 3) in raised, "the crawl started after the stop order"
    assert kinds == raised | {("stop_order", 3)}
    for alert in alerts:
        digest = alert["digest"]
        first = min(
            epoch(c["timestamp"]) for c in crawled if c["data"]["config"]["digest"] == digest
        )
        assert abs(alert["at"] - first) < 1.0, alert
        assert alert["severity"] == "critical" or alert["kind"] != "stop_order"
    stops = {c["data"]["config"]["digest"] for c in crawled if c["data"]["config"]["stop"]}
    assert stops == {a["digest"] for a in alerts if a["kind"] == "stop_order"}


def _sensor_sees_nated_bots(
    replies: list[dict[str, Any]],
    bots: dict[str, dict[str, Any]],
    natted: set[str],
    me: str,
    stopped: float,
    not_bots: set[str],
) -> None:
    # botmon's own crawler (from 127.0.0.1) queries the sensor too, as it queries every node
    # others list, and by design it looks like a Mozi node: leave it out.
    sensed = [r for r in replies if r["source_type"] == "sensor" and r["ip"] != "127.0.0.1"]
    assert not {r["ip"] for r in sensed} & not_bots, "the sensor recorded a plain DHT node"
    assert {r["bot_id"] for r in sensed} <= set(bots)
    requests = {r["bot_id"] for r in sensed if r["data"]["message"] == "request"}
    said = {  # NATed bots that, by the truth, queried the sensor while it ran
        nid for nid in natted if bots[nid]["contacted"].get(me, stopped) < stopped - 1.0
    }
    crawled_nat = {r["bot_id"] for r in _crawl_replies(replies)} & natted
    print(f"sensor: {len(requests & natted)} NATed bots of {len(said)} that queried it")
    assert not crawled_nat, "the crawler cannot hear a NATed bot"
    assert requests & natted <= {nid for nid in natted if me in bots[nid]["contacted"]}
    assert said and len(requests & said) >= 0.95 * len(said)
