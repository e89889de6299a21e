"""A crawler reporting over BMS gRPC rides out a server restart: nothing lost, nothing twice.

A real crawl of an emulated Hide'n'Seek botnet reports to ``botmon serve --grpc-port``; while
it runs the server is stopped and started again (its sessions are in memory, so they are
gone). The client spools meanwhile, registers a new session when the server is back, and
sends what was not acknowledged. Afterwards the store holds exactly the records the crawler
produced (kept beside, in a list), each once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import uvloop

from botmon.client import ClientSettings, ReportClient
from botmon.client.grpc_transport import GrpcTransport
from botmon.crawl.runner import CrawlRunner
from botmon.crawl.sink import ListReporter
from botmon.protocols.contract import Peer
from botmon.protocols.registry import get_plugin
from botmon.settings import CrawlSettings
from botmon.settings.loader import load
from botmon.sim.registry import default_registry
from tests.e2e.conftest import epoch
from tests.e2e.grpc_support import Both, export, start_bms_server
from tests.fixtures.server import LiveServer, free_port

pytestmark = pytest.mark.timeout(150)

MONITOR = "crawler-restart"


def _key(record: dict[str, Any]) -> tuple[Any, ...]:
    """A reply as (microsecond, address, port): the precision BMS and botmon keep."""
    return round(epoch(record["timestamp"]) * 1_000_000), record["ip"], record["port"]


def _crawl_with_restart(server: LiveServer, client: ReportClient, kept: ListReporter) -> None:
    spec = default_registry().get("hns")
    options: dict[str, Any] = {"bots": 80, "port": free_port(), "seed_rng": 5}
    cfg = load(spec.settings, options=options, env={}).settings
    plugin = get_plugin("hns")
    settings = CrawlSettings.for_protocol(plugin.defaults).replace(
        "rounds", rounds=3, interval_s=1.5
    )

    async def restart() -> None:
        deadline = asyncio.get_running_loop().time() + 30
        while client.stats["records_stored"] == 0:  # the first batches went through
            assert asyncio.get_running_loop().time() < deadline, client.stats
            await asyncio.sleep(0.05)
        await asyncio.to_thread(server.stop)
        await asyncio.sleep(1.0)  # the crawl goes on: its batches wait in the spool
        await asyncio.to_thread(server.start)

    async def main() -> None:
        await client.start()
        async with spec.build(cfg) as net:
            runner = CrawlRunner(plugin, settings, Both([client, kept]))
            runner.add_seeds(Peer(ip, port) for ip, port in net.seeds(3))
            restarting = asyncio.create_task(restart())
            await asyncio.wait_for(runner.run(), 90)
            await restarting
        assert await client.flush(60), client.stats
        await client.close(timeout=30)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


@pytest.mark.slow
def test_server_restart_mid_crawl_loses_nothing(tmp_path: Path) -> None:
    server, grpc_port = start_bms_server(tmp_path / "server")
    try:
        server.create_botnet("hns")
        client = ReportClient(
            f"grpc://127.0.0.1:{grpc_port}",
            server.token(botnets=("hns",), name=MONITOR),
            "hns",
            spool_dir=tmp_path / "spool",
            settings=ClientSettings(flush_interval_s=0.2, retry_base_s=0.2, retry_max_s=1.0),
            monitor_id=MONITOR,
        )
        kept = ListReporter()
        _crawl_with_restart(server, client, kept)
        stored = {kind: export(server, "hns", kind) for kind in ("replies", "edges")}
    finally:
        server.stop()
    stats = client.stats
    transport = client._transport
    assert isinstance(transport, GrpcTransport)
    assert transport.sessions >= 2, "the restart must have cost the session"
    assert stats["retries"] > 0 and stats["spool_batches"] == 0, stats
    assert stats["rejected"] == 0 and stats["dropped_records"] == 0, stats
    sent = Counter((round(r.timestamp * 1_000_000), r.ip, r.port) for r in kept.replies)
    got = Counter(_key(r) for r in stored["replies"])
    assert got == sent, f"lost {sent - got}, twice {got - sent}"
    assert len(stored["edges"]) == len(kept.edges)
    print(
        f"restart mid-crawl: {len(kept.replies)} replies, {len(kept.edges)} edges stored once; "
        f"{transport.sessions} sessions, {stats['retries']} retries"
    )
