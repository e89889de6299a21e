"""linenet end to end: the TCP path from ``botmon simulate linenet`` to the store.

Every responsive bot is found under its own bot id, NATed bots never answer, benign hosts
(a non-bot service on a listed address) are not taken for bots, and every edge is real.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import finish, read_records, simulate, start_crawl

pytestmark = pytest.mark.timeout(180)


@pytest.mark.slow
def test_linenet_crawl_over_tcp_reaches_the_store(duckdb_server: Any, tmp_path: Path) -> None:
    server = duckdb_server
    server.create_botnet("linenet")
    token = server.token(botnets=("linenet",))
    with simulate(
        tmp_path,
        "linenet",
        "--bots", "300",
        "--nat", "0.2",
        "--benign", "5",
        "--seed-rng", "3",
    ) as sim:  # fmt: skip
        seed_args = [a for s in sim.seeds[:3] for a in ("--seed", s)]
        run = start_crawl(
            tmp_path,
            "linenet",
            "--botnet", "linenet",
            *seed_args,
            "--server", server.url,
            "--token", token,
            "--rounds", "1",  # a round also crawls the peers it discovers
            "--spool", str(tmp_path / "spool"),
            "--progress", "plain",
        )  # fmt: skip
        rc = finish(run, timeout_s=120)
    # Read after the emulator stopped: its final truth holds every peer a bot learned by
    # exchanging peers while it was crawled (an answer may name one).
    truth = sim.truth()
    assert rc == 0, run.output[-3000:]
    assert "Traceback" not in run.output, run.output[:3000]  # no crash, even a caught one

    bots = {f"{b['ip']}:{b['port']}": b for b in truth}
    responsive = {a for a, b in bots.items() if not b["nat"]}
    listed = {p for b in truth for p in b["peers"]}
    benign = listed - set(bots)
    assert benign, "a few bots list the benign hosts"

    replies = read_records(server, "linenet", "replies")
    answered = {f"{r['ip']}:{r['port']}": r["bot_id"] for r in replies}
    assert set(answered) == responsive, (
        sorted(responsive - set(answered))[:5],
        sorted(set(answered) - responsive)[:5],
    )
    assert all(bots[a]["bot_id"] == i for a, i in answered.items()), "ids match the truth"
    assert not set(answered) & benign

    edges = read_records(server, "linenet", "edges")
    assert edges
    for e in edges:
        src = bots[f"{e['src_ip']}:{e['src_port']}"]
        assert e["src_id"] == src["bot_id"]
        assert f"{e['dst_ip']}:{e['dst_port']}" in src["peers"]
    failed = {f"{f['ip']}:{f['port']}" for f in read_records(server, "linenet", "failed_tries")}
    natted_listed = {a for a, b in bots.items() if b["nat"] and a in listed}
    assert natted_listed and natted_listed <= failed
