"""One crawl, two servers, two protocols: what botmon stores is the same either way.

A real crawler crawls a real emulated botnet on loopback and hands every record to two report
clients at once: one posts JSON to a botmon server over HTTP, the other streams to a second
botmon server over the BMS gRPC protocol (``grpc://``). The exports of both stores (every
kind, JSON lines, as ``botmon export`` fetches them) must be equal record for record, source
included (the token has the same name on both servers). BMS timestamps carry microseconds, and so do
botmon's stores, so the comparison is at microsecond precision: exactly what both exports
print.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import uvloop

from botmon.client import ClientSettings, ReportClient
from botmon.crawl.runner import CrawlRunner, campaign_settings
from botmon.protocols.contract import Peer
from botmon.protocols.registry import get_plugin
from botmon.settings import CrawlSettings
from botmon.settings.loader import load
from botmon.sim.registry import default_registry
from tests.e2e.grpc_support import KINDS, QUICK, Both, export
from tests.fixtures.server import LiveServer, free_port, start_live_server

pytestmark = pytest.mark.timeout(180)

MONITOR = "crawler-eq"
"""The token's name on both servers: it is the records' source, and exports show it."""
BOTNETS = ("sality", "hns")
FAST = ClientSettings(flush_interval_s=0.2, retry_base_s=0.2, retry_max_s=1.0, batch_size=500)


def _clients(
    http: LiveServer, bms: LiveServer, grpc_port: int, botnet: str, spool: Path
) -> list[ReportClient]:
    """A client per server, both on the token named :data:`MONITOR`, with the crawl's
    campaign (the gRPC one registers it as its BMS session's configuration)."""
    plugin = get_plugin(botnet)
    campaign = campaign_settings(plugin, _settings(botnet), 3)
    return [
        ReportClient(
            http.url,
            http.token(botnets=(botnet,), name=f"{MONITOR}-{botnet}"),
            botnet,
            spool_dir=spool / f"http-{botnet}",
            settings=FAST,
            campaign=campaign,
        ),
        ReportClient(
            f"grpc://127.0.0.1:{grpc_port}",
            bms.token(botnets=(botnet,), name=f"{MONITOR}-{botnet}"),
            botnet,
            spool_dir=spool / f"grpc-{botnet}",
            settings=FAST,
            campaign=campaign,
            monitor_id=f"{MONITOR}-{botnet}",
        ),
    ]


def _settings(name: str) -> CrawlSettings:
    plugin = get_plugin(name)
    settings = CrawlSettings.for_protocol(plugin.defaults)
    settings = settings.replace("rounds", rounds=1, interval_s=0.0)
    # Emulated bots ban nobody: no need for the polite per-bot pace of the real networks.
    return settings.replace("rate", per_target_rate=max(settings.rate.per_target_rate, 50.0))


def _crawl(clients: list[ReportClient], name: str) -> None:
    """Crawl emulated botnet ``name`` (150 bots, a fifth behind NAT) reporting to ``clients``."""
    spec = default_registry().get(name)
    options: dict[str, Any] = {"bots": 150, "port": free_port(), "seed_rng": 11, "nat": 0.2}
    cfg = load(spec.settings, options=options, env={}).settings

    async def main() -> None:
        for client in clients:
            await client.start()
        async with spec.build(cfg) as net:
            runner = CrawlRunner(get_plugin(name), _settings(name), Both(clients))
            runner.add_seeds(Peer(ip, port) for ip, port in net.seeds(3))
            await asyncio.wait_for(runner.run(), 90)
        for client in clients:
            assert await client.flush(60), client.stats
            await client.close(timeout=30)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


@pytest.mark.slow
def test_crawl_reported_over_grpc_is_stored_as_over_http(tmp_path: Path) -> None:
    """Sality gives bot ids, reply data and edges with ids; Hide'n'Seek failed tries (its
    NATed bots never answer): together every field of every kind crosses both protocols."""
    (tmp_path / "http").mkdir()
    (tmp_path / "grpc").mkdir()
    grpc_port = free_port()
    with ThreadPoolExecutor(2) as pool:  # two server starts at once: half the wait
        started = [
            pool.submit(
                start_live_server,
                str(tmp_path / "http" / "botmon.duckdb"),
                tmp_path / "http",
                QUICK,
            ),
            pool.submit(
                start_live_server,
                str(tmp_path / "grpc" / "botmon.duckdb"),
                tmp_path / "grpc",
                (*QUICK, "--grpc-port", str(grpc_port), "--grpc-plaintext"),
            ),
        ]
        servers = [f.exception() or f.result() for f in started]
    if not all(isinstance(s, LiveServer) for s in servers):
        for server in servers:
            if isinstance(server, LiveServer):
                server.stop()
        pytest.fail(f"a server did not start: {servers}")
    http, bms = (s for s in servers if isinstance(s, LiveServer))
    exports: dict[tuple[str, str], tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    try:
        for botnet in BOTNETS:
            for server in (http, bms):
                server.create_botnet(botnet)
            clients = _clients(http, bms, grpc_port, botnet, tmp_path)
            _crawl(clients, botnet)
            for client in clients:
                stats = client.stats
                assert stats["spool_batches"] == 0 and stats["rejected"] == 0, stats
                assert stats["invalid_records"] == 0 and stats["dropped_records"] == 0, stats
                assert stats["batches_sent"] > 0, stats
            for kind in KINDS:
                exports[botnet, kind] = (export(http, botnet, kind), export(bms, botnet, kind))
    finally:
        http.stop()
        bms.stop()
    for (botnet, kind), (over_http, over_grpc) in exports.items():
        assert over_grpc == over_http, (botnet, kind)
        print(f"{botnet} {kind}: {len(over_http)} equal records")
    counted = {kind: sum(len(exports[b, kind][0]) for b in BOTNETS) for kind in KINDS}
    assert all(counted.values()), counted  # every kind crossed
    sality = exports["sality", "replies"][0]
    assert any(r["bot_id"] for r in sality) and any(r["data"] for r in sality)
    assert any(e["src_id"] for e in exports["sality", "edges"][0])
