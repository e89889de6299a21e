"""Sality v3 end to end: ``botmon simulate sality`` with ``botmon crawl sality`` and
``botmon sensor sality`` beside it, both reporting to a real ``botmon serve``.

Given an emulated botnet of 400 bots, 40 % clients behind NAT, bots exchanging every 3 s and
a new URL pack released at one superpeer after 4 s: the crawler (one peer per reply, so each
bot is asked many times) finds every superpeer of the truth and invents none, hears no
client, and its edges name only superpeers with their real server IDs; the sensor, announced
with a hello to ten superpeers, is contacted by nearly every client within three exchange
intervals and records each with its real server ID and class; both see the new pack spread.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from botmon.protocols.sality_wire import peer_class
from botmon.sim.truth import read_truth
from tests.e2e.conftest import BOTMON, epoch, read_records, spawn_fast, stop_process
from tests.fixtures.server import LiveServer
from tests.sensor.helpers import free_udp_port

pytestmark = pytest.mark.timeout(240)

INTERVAL_S = 3.0


def test_crawler_finds_every_superpeer_and_the_sensor_hears_the_clients(
    duckdb_server: LiveServer, tmp_path: Path
) -> None:
    server = duckdb_server
    server.create_botnet("sality")
    crawler_token = server.token(botnets=("sality",), name="e2e-crawler")
    sensor_token = server.token(botnets=("sality",), name="e2e-sensor")
    truth_path, seeds, announce = (tmp_path / n for n in ("truth.jsonl", "seeds.txt", "10.txt"))
    sim = spawn_fast(
        [*BOTMON, "simulate", "sality", "--bots", "400", "--nat", "0.4", "--churn", "none",
         "--seed-rng", "9", "--port", str(free_udp_port()), "--truth", str(truth_path),
         "--truth-interval", "0.5", "--seeds", "10", "--seeds-file", str(seeds),
         "--exchange-interval", str(INTERVAL_S), "--push-pack-at", "4"],
        tmp_path / "sim.log",
    )  # fmt: skip
    sensor = crawler = None
    try:
        end = time.monotonic() + 60
        while not (seeds.exists() and len(seeds.read_text().split()) == 10):
            assert time.monotonic() < end and sim.poll() is None, "no seeds from the emulator"
            time.sleep(0.1)
        announce.write_text(seeds.read_text())
        me = f"127.0.0.1:{free_udp_port()}"
        started = time.time()
        sensor = spawn_fast(
            [*BOTMON, "sensor", "sality", "--botnet", "sality", "--listen", me,
             "--announce-peerlist", str(announce), "--server", server.url,
             "--token", sensor_token, "--spool", str(tmp_path / "sensor-spool"),
             "--progress", "plain"],
            tmp_path / "sensor.log",
        )  # fmt: skip
        crawler = spawn_fast(
            [*BOTMON, "crawl", "sality", "--botnet", "sality", "--peerlist", str(seeds),
             "--server", server.url, "--token", crawler_token, "--rounds", "1",
             "--requests-per-round", "64", "--per-target-rate", "500",
             "--spool", str(tmp_path / "crawl-spool")],
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

    truth = read_truth(truth_path)
    bots = {f"{b['ip']}:{b['port']}": b for b in truth}
    ids = {a: b["bot_id"] for a, b in bots.items()}
    clients = {a for a, b in bots.items() if b["nat"]}
    superpeers = set(bots) - clients
    assert len(bots) == 400 and len(clients) == 160
    assert all(peer_class(int(ids[a])) == "client" for a in clients)
    assert all(peer_class(int(ids[a])) == "superpeer" for a in superpeers)

    replies = [r for r in read_records(server, "sality", "replies") if r["ip"] != "127.0.0.1"]
    assert {f"{r['ip']}:{r['port']}" for r in replies} <= set(bots), "a bot that does not exist"
    crawled = [r for r in replies if r["source_type"] == "crawler"]
    answered = {f"{r['ip']}:{r['port']}" for r in crawled}
    missed = superpeers - answered
    assert not missed, f"{len(missed)} superpeers not found, e.g. {sorted(missed)[:5]}"
    assert not answered & clients, "a client behind NAT cannot answer"
    named_ids = [r for r in crawled if r.get("bot_id") is not None]
    assert len(named_ids) >= 0.5 * len(crawled)
    assert all(r["bot_id"] == ids[f"{r['ip']}:{r['port']}"] for r in named_ids)

    edges = read_records(server, "sality", "edges")
    crawl_edges = [e for e in edges if f"{e['src_ip']}:{e['src_port']}" in answered]
    assert crawl_edges
    for e in crawl_edges:
        src, dst = f"{e['src_ip']}:{e['src_port']}", f"{e['dst_ip']}:{e['dst_port']}"
        if dst == me:
            continue  # the sensor, handed out as news once it answered
        assert dst in superpeers, f"a reply named {dst}, which is no superpeer"
        assert dst in bots[src]["peers"] and e["dst_id"] == ids[dst]

    contacts = [
        r
        for r in replies
        if r["source_type"] == "sensor" and r["data"]["message"] in ("hello", "peer_exchange")
    ]
    for r in contacts:
        address = f"{r['ip']}:{r['port']}"
        assert r["bot_id"] == ids[address] == r["data"]["server_id"]
        assert r["data"]["peer_class"] == peer_class(int(ids[address]))
    sensed = {
        f"{r['ip']}:{r['port']}"
        for r in contacts
        if epoch(r["timestamp"]) <= started + 3 * INTERVAL_S + 1.0
    }
    share, client_share = len(sensed) / len(bots), len(sensed & clients) / len(clients)
    packs = {r["data"]["url_pack"] for r in replies}
    final_packs = [b["url_pack"] for b in truth]
    print(
        f"sality e2e: crawler found {len(answered)}/{len(superpeers)} superpeers with "
        f"{len(crawled)} replies, {len(named_ids)} with their server ID; sensor heard "
        f"{share:.3f} of all bots and {client_share:.3f} of the clients within three "
        f"intervals; pack versions seen {sorted(packs)}, final truth "
        f"{final_packs.count(391)}/{len(final_packs)} at 391"
    )
    assert client_share >= 0.9, "the sensor must hear the clients the crawler cannot"
    assert "391" in packs and packs <= {"390", "391"}, "the new URL pack is seen spreading"
    assert final_packs.count(391) > final_packs.count(390)
