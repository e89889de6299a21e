"""Fault test: the server dies in the middle of a crawl and comes back.

The crawler (the real engine, in this process, so its own count of what it produced can be
read) keeps crawling while the server is away; its report client spools and retries.
Afterwards the store holds exactly the records the crawler produced: none lost, none twice.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from botmon.cli.crawl import build_settings
from botmon.client import ClientSettings, ReportClient
from botmon.crawl.peerlist import parse_peer
from botmon.crawl.runner import CrawlRunner
from botmon.protocols.registry import get_plugin
from tests.e2e.conftest import read_records, simulate

pytestmark = pytest.mark.timeout(240)


def kill_hard(server: Any) -> None:
    """SIGKILL: no clean shut-down, answers in flight are lost (the harshest stop)."""
    proc = server.process
    proc.kill()
    proc.wait(15)
    server.process = None


def produced_of(stats: dict[str, int]) -> dict[str, int]:
    return {k: stats[f"added_{k}"] for k in ("replies", "failed_tries", "edges")}


async def wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        await asyncio.sleep(0.05)
    return bool(predicate())


@pytest.mark.slow
def test_server_killed_mid_crawl_loses_nothing_and_doubles_nothing(
    duckdb_server: Any, tmp_path: Path
) -> None:
    server = duckdb_server
    server.create_botnet("hns")
    token = server.token(botnets=("hns",))
    plugin = get_plugin("hns")
    settings = build_settings(plugin, rounds=3, interval=4.0, timeouts=(1.0, 2.0))
    with simulate(tmp_path, "hns", "--bots", "1000", "--nat", "0.2", "--seed-rng", "5") as sim:
        seeds = [parse_peer(s, settings.port) for s in sim.seeds]

        async def crawl() -> tuple[dict[str, int], dict[str, int], dict[str, Any]]:
            client = ReportClient(
                server.url,
                token,
                "hns",
                spool_dir=tmp_path / "spool",
                flush_interval_s=0.5,
                settings=ClientSettings(retry_base_s=0.2, retry_max_s=1.0),
            )
            runner = CrawlRunner(plugin, settings, client)
            runner.add_seeds(seeds)
            client.set_status_provider(runner.heartbeat)
            await client.start()
            crawling = asyncio.create_task(runner.run())
            assert await wait_for(lambda: client.stats["records_stored"] > 0, 20)
            await asyncio.to_thread(kill_hard, server)
            # The crawl goes on; what it produces waits in the spool.
            assert await wait_for(lambda: client.stats["retries"] >= 3, 20)
            await asyncio.sleep(3)
            during = client.stats
            assert not crawling.done(), "the outage must fall inside the crawl"
            await asyncio.to_thread(server.start)
            status = await asyncio.wait_for(crawling, 180)
            await client.close(timeout=60)
            return during, client.stats, status

        during, stats, status = asyncio.run(crawl())

    print(
        f"fault e2e: produced {produced_of(stats)}, {during['spool_batches']} batches spooled "
        f"during the outage, {stats['retries']} retries, {stats['duplicates']} duplicates"
    )
    assert during["spool_batches"] >= 2 and during["records_added"] > during["records_stored"]
    assert stats["spool_batches"] == 0 and stats["dropped_records"] == 0
    assert stats["rejected"] == 0 and stats["invalid_records"] == 0
    produced = produced_of(stats)
    assert produced["replies"] > 1000 and produced["edges"] > 1000
    stored = server.counts("hns")
    assert {k: stored[k] for k in produced} == produced, (produced, stored, stats)
    # And no record is there twice (every reply of a bot has its own receive time).
    replies = read_records(server, "hns", "replies")
    assert len({(r["ip"], r["port"], r["timestamp"]) for r in replies}) == len(replies)
    assert status.get("bot_replies", produced["replies"]) == produced["replies"]
