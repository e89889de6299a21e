"""The overview's health table, fed by botmon's own crawler.

A real crawl engine and report client crawl an emulated Hide'n'Seek botnet (``botmon
simulate``) on loopback and beat against a real server on each store backend; the table is
read through ``/api/v1/stats/monitors`` as the dashboard reads it. No hand-written status.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from botmon.cli.crawl import build_settings
from botmon.client import ClientSettings, ReportClient
from botmon.crawl.peerlist import parse_peer
from botmon.crawl.runner import CrawlRunner, campaign_settings
from botmon.protocols.registry import get_plugin
from botmon.wire import HeartbeatStatus
from tests.e2e.conftest import simulate
from tests.fixtures.server import LiveServer

pytestmark = pytest.mark.timeout(120)


def monitors(server: LiveServer, viewer: str) -> dict[str, dict[str, Any]]:
    answer = httpx.get(
        f"{server.url}/api/v1/stats/monitors",
        params={"window": 3600},
        headers={"Authorization": f"Bearer {viewer}"},
        timeout=30,
        trust_env=False,
    )
    assert answer.status_code == 200, answer.text
    return {row["source"]: row for row in answer.json()["rows"]}


def shown(status: HeartbeatStatus) -> dict[str, Any]:
    """What the health table should show of a status the crawler sent."""
    return {
        "kind": status.kind,
        "state": status.state,
        "botnet": status.botnet,
        "version": status.version,
        "reported_requests_per_s": status.requests_per_s,
        "reported_requests": status.requests,
        "reported_replies": status.replies,
        "reported_errors": status.errors,
        "in_flight": status.in_flight,
        "discovery_queue": status.discovery_queue,
        "tracking_queue": status.tracking_queue,
        "campaign": status.campaign,
    }


def test_the_health_table_shows_what_a_real_crawler_reports(
    live_server: LiveServer, tmp_path: Path
) -> None:
    server = live_server
    server.create_botnet("hns")
    token = server.token(botnets=("hns",), name="crawler-health")
    viewer = server.token("viewer")
    plugin = get_plugin("hns")
    # A global rate cap keeps the crawler busy (and its measured rate above 0) for seconds.
    settings = build_settings(plugin, rounds=2, interval=1.0, timeouts=(1.0,), rate=1500.0)
    with simulate(tmp_path, "hns", "--bots", "400", "--seed-rng", "9") as sim:
        seeds = [parse_peer(s, settings.port) for s in sim.seeds]

        async def crawl() -> tuple[dict[str, Any], list[HeartbeatStatus], ReportClient]:
            client = ReportClient(
                server.url,
                token,
                "hns",
                spool_dir=tmp_path / "spool",
                heartbeat_interval_s=0.25,
                settings=ClientSettings(start_check_timeout_s=5.0),
                campaign=campaign_settings(plugin, settings, len(seeds)),
            )
            runner = CrawlRunner(plugin, settings, client)
            runner.add_seeds(seeds)
            sent: list[HeartbeatStatus] = []

            def heartbeat() -> HeartbeatStatus:
                status = runner.heartbeat()
                sent.append(status)
                return status

            client.set_status_provider(heartbeat)
            client.on_command(runner.handle_command)
            await client.start()
            crawling = asyncio.create_task(runner.run())
            deadline = time.monotonic() + 30
            while True:  # until the table shows the crawler at work
                row = (await asyncio.to_thread(monitors, server, viewer)).get("crawler-health")
                if row and row["state"] == "running" and (row["reported_requests_per_s"] or 0) > 0:
                    break
                assert time.monotonic() < deadline and not crawling.done(), row
                await asyncio.sleep(0.2)
            await asyncio.wait_for(crawling, 90)
            await client.close(timeout=20)
            return row, sent, client

        running, sent, client = asyncio.run(crawl())

    campaign = client.campaign
    assert campaign is not None
    # The row is one of the statuses the crawler sent, field for field (with what the client
    # added: botnet and campaign), and the crawler was measurably at work.
    reported = [shown(s) | {"botnet": "hns", "campaign": campaign.id} for s in sent]
    assert {k: running[k] for k in reported[0]} in reported, running
    assert running["reported_requests_per_s"] > 0 and running["reported_requests"] > 0
    assert running["reported_replies"] > 0 and running["kind"] == "crawler"
    assert running["campaign_settings"].startswith("hns: 2 rounds every 1 s, ")
    assert running["campaign_ended_at"] is None

    # After the run: its final word is "stopped", with the final counters; the campaign ended.
    final = monitors(server, viewer)["crawler-health"]
    last = sent[-1]
    assert last.state == "stopped"
    assert {k: final[k] for k in reported[0]} == shown(last) | {
        "botnet": "hns",
        "campaign": campaign.id,
    }
    assert final["campaign"] == campaign.id and final["campaign_ended_at"] is not None
    assert final["campaign_started_at"] == pytest.approx(campaign.started_at)
    assert final["replies"] > 0  # measured by the store, beside what was reported
