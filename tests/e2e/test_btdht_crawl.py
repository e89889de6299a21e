"""``botmon crawl btdht`` against 20 real libtorrent DHT nodes on loopback, into the store.

From one seed the crawl must reach every node, record each under its node ID with the client
version libtorrent sends, and store every routing-table entry the nodes hold as an edge
(libtorrent's own tables are the truth).
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from botmon.sim.libtorrent_dht import LibtorrentDht
from tests.e2e.conftest import finish, free_port, read_records, start_crawl

pytestmark = pytest.mark.timeout(120)


def test_btdht_crawl_finds_every_libtorrent_node_and_its_table(
    duckdb_server: Any, tmp_path: Path
) -> None:
    server = duckdb_server
    server.create_botnet("dht")
    token = server.token(botnets=("dht",))
    with LibtorrentDht(20, port=free_port(socket.SOCK_DGRAM), seed=12) as dht:
        assert dht.wait_joined(min_table=8, timeout=15)
        seed = dht.nodes[0]
        run = start_crawl(
            tmp_path,
            "btdht",
            "--botnet", "dht",
            "--seed", f"{seed.ip}:{seed.port}",
            "--server", server.url,
            "--token", token,
            "--rounds", "1",
            "--per-target-rate", "20",  # the test nodes allow it; keeps the run short
            "--spool", str(tmp_path / "spool"),
            "--progress", "plain",
        )  # fmt: skip
        rc = finish(run, timeout_s=60)
        tables = dht.routing_tables()
    assert rc == 0, run.output[-3000:]
    assert "Traceback" not in run.output, run.output[:3000]

    nodes = {f"{n.ip}:{n.port}": n for n in dht.nodes}
    replies = read_records(server, "dht", "replies")
    found = {f"{r['ip']}:{r['port']}": r for r in replies}
    assert set(found) == set(nodes), sorted(set(nodes) - set(found))
    for address, r in found.items():
        node = nodes[address]
        assert r["bot_id"] == node.node_id
        assert r["data"] == {
            "node_id": node.node_id,
            "client": "LT",
            "client_version": node.client_version,
            "v": node.v,
            "bep42": None,  # loopback is exempt
        }

    edges = read_records(server, "dht", "edges")
    stored = {(e["src_ip"], e["src_port"], e["src_id"], e["dst_id"]) for e in edges}
    truth = {
        (peer.ip, peer.port, nodes[f"{peer.ip}:{peer.port}"].node_id, dst_id)
        for peer, table in tables.items()
        for dst_id, _ in table
    }
    assert len(tables) == 20 and len(truth) >= 20 * 8
    assert truth <= stored, sorted(truth - stored)[:5]
    assert {(e["dst_ip"], e["dst_port"]) for e in edges} <= {(n.ip, n.port) for n in dht.nodes}
