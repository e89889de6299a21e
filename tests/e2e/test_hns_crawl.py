"""Hide'n'Seek end to end: ``botmon simulate hns`` -> ``botmon crawl hns`` -> server -> store.

Given an emulated botnet of 1,000 bots, 20 % behind NAT, no churn, a crawler started from a
few seeds with default settings finds every responsive bot and reports no bot that does not
exist; NATed bots show up only as peers that never answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import finish, read_records, simulate, start_crawl

pytestmark = pytest.mark.timeout(240)


@pytest.mark.slow
def test_crawler_finds_every_responsive_bot_and_no_other(
    duckdb_server: Any, tmp_path: Path
) -> None:
    server = duckdb_server
    server.create_botnet("hns")
    token = server.token(botnets=("hns",))
    with simulate(
        tmp_path, "hns", "--bots", "1000", "--nat", "0.2", "--churn", "none", "--seed-rng", "7"
    ) as sim:
        seed_args = [a for s in sim.seeds[:3] for a in ("--seed", s)]
        run = start_crawl(
            tmp_path,
            "hns",
            "--botnet", "hns",
            *seed_args,
            "--server", server.url,
            "--token", token,
            "--rounds", "3",
            "--interval", "5",
            "--spool", str(tmp_path / "spool"),
            "--progress", "plain",
        )  # fmt: skip
        rc = finish(run, timeout_s=180)
    truth = sim.truth()  # the final truth: every peer a bot learned while it was crawled
    assert rc == 0, run.output[-3000:]
    assert "Traceback" not in run.output, run.output[:3000]  # no crash, even a caught one
    assert not list((tmp_path / "spool" / "pending").glob("*.json")), "records left unsent"

    bots = {f"{b['ip']}:{b['port']}": b for b in truth}
    responsive = {a for a, b in bots.items() if not b["nat"]}
    natted = {a for a, b in bots.items() if b["nat"]}
    assert len(bots) == 1000 and 150 <= len(natted) <= 250

    replies = read_records(server, "hns", "replies")
    answered = {f"{r['ip']}:{r['port']}" for r in replies}
    assert answered - set(bots) == set(), "replies from addresses that are no bot"
    assert answered & natted == set(), "a NATed bot cannot answer"
    missed = responsive - answered
    assert not missed, f"{len(missed)} responsive bots not found, e.g. {sorted(missed)[:5]}"
    assert all(r.get("bot_id") is None for r in replies)  # HNS bots have no id

    edges = read_records(server, "hns", "edges")
    targets = {f"{e['dst_ip']}:{e['dst_port']}" for e in edges}
    for e in edges:
        src = bots[f"{e['src_ip']}:{e['src_port']}"]
        assert f"{e['dst_ip']}:{e['dst_port']}" in src["peers"], e
    # NATed bots are known as peers (edge targets) that never answered.
    listed_natted = {a for a in natted if any(a in bots[r]["peers"] for r in responsive)}
    assert listed_natted and listed_natted <= targets
    failed = read_records(server, "hns", "failed_tries")
    print(
        f"hns e2e: {len(answered)}/{len(responsive)} responsive bots found, "
        f"{len(replies)} replies, {len(edges)} edges, {len(failed)} failed tries"
    )
    assert {f"{f['ip']}:{f['port']}" for f in failed} >= listed_natted
