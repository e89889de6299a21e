"""The whole crawl path on a harder botnet: 2,000 bots, 20 % NAT, light churn (sped up).

Judged against the emulator's ground truth, churn sessions included: every bot that was
online and reachable for the whole crawl is found; every stored reply comes from a real,
non-NATed bot that was online at that moment; NATed bots are recorded only as peers that
never answered (edge targets, failed tries); every stored edge is in the emulated peer lists.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import (
    epoch,
    finish,
    online_at,
    online_throughout,
    read_records,
    simulate,
    start_crawl,
)

pytestmark = pytest.mark.timeout(300)

SLACK_S = 2.0
"""The emulator applies a session flip up to a tick late; the crawler stamps on receipt."""


@pytest.mark.slow
def test_churning_botnet_is_measured_as_it_was(duckdb_server: Any, tmp_path: Path) -> None:
    server = duckdb_server
    server.create_botnet("hns")
    token = server.token(botnets=("hns",))
    with simulate(
        tmp_path,
        "hns",
        "--bots", "2000",
        "--nat", "0.2",
        "--churn", "light",
        "--churn-scale", "0.05",  # online ~180 s, offline ~45 s on average
        "--seed-rng", "11",
        "--seeds", "20",
        "--truth-interval", "0.5",
    ) as sim:  # fmt: skip
        seed_args = [a for s in sim.seeds for a in ("--seed", s)]
        began = time.time()
        run = start_crawl(
            tmp_path,
            "hns",
            "--botnet", "hns",
            *seed_args,
            "--server", server.url,
            "--token", token,
            "--rounds", "2",
            "--interval", "5",
            "--timeouts", "1,2,4",  # default 4,8,16,32 makes each churned round last a minute
            "--spool", str(tmp_path / "spool"),
            "--progress", "plain",
        )  # fmt: skip
        rc = finish(run, timeout_s=240)
        ended = time.time()
        sim.stop()  # the final truth, with every session closed or open as it stands
        truth = sim.truth()
    assert rc == 0, run.output[-3000:]
    assert "Traceback" not in run.output, run.output[:3000]  # no crash, even a caught one

    bots = {f"{b['ip']}:{b['port']}": b for b in truth}
    natted = {a for a, b in bots.items() if b["nat"]}
    steady = {
        a
        for a, b in bots.items()
        if not b["nat"] and online_throughout(b["sessions"], began, ended)
    }
    flips = sum(
        1
        for b in truth
        for start, end in b["sessions"]
        for t in (start, end)
        if t is not None and began < t < ended
    )
    assert flips > 20, "the churn should be visible during the crawl"
    # Reachable: listed by a bot that was itself steady (or a seed), so a crawler can learn it.
    reachable = {a for a in steady if a in sim.seeds or any(a in bots[s]["peers"] for s in steady)}
    assert len(reachable) > 800

    replies = read_records(server, "hns", "replies")
    answered = {f"{r['ip']}:{r['port']}" for r in replies}
    missed = reachable - answered
    assert not missed, f"{len(missed)} steady bots not found, e.g. {sorted(missed)[:5]}"
    for r in replies:
        addr = f"{r['ip']}:{r['port']}"
        assert addr in bots and addr not in natted, r
        assert online_at(bots[addr]["sessions"], epoch(r["timestamp"]), SLACK_S), (
            f"reply from {addr} at {r['timestamp']} while it was offline: {bots[addr]['sessions']}"
        )

    edges = read_records(server, "hns", "edges")
    assert edges
    for e in edges:
        src, dst = f"{e['src_ip']}:{e['src_port']}", f"{e['dst_ip']}:{e['dst_port']}"
        assert dst in bots[src]["peers"], e
    targets = {f"{e['dst_ip']}:{e['dst_port']}" for e in edges}
    assert targets & natted, "NATed bots appear as peers others announce"

    print(
        f"churn e2e: {len(bots)} bots, {len(natted)} NATed, {flips} session changes during the "
        f"{ended - began:.0f} s crawl; {len(reachable & answered)}/{len(reachable)} steady "
        f"reachable bots found, {len(answered)} bots answered, {len(replies)} replies, "
        f"{len(edges)} edges"
    )
    failed = read_records(server, "hns", "failed_tries")
    tried = {f"{f['ip']}:{f['port']}" for f in failed}
    assert failed and tried <= set(bots)
    natted_known = natted & targets
    assert natted_known <= tried, "every NATed peer that was learnt was tried and failed"
