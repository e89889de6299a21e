"""Two ``botmon serve`` processes on one PostgreSQL database, one SIGKILLed mid-ingest.

Each server has its own crawler (a real report client with its own spool); server A is killed
while both report and restarted a few seconds later. Afterwards the database holds every
record once (batch ids are unique per source across servers), the summary tables that both
servers refresh every second agree with the records, and both servers answer the same
dashboard views.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from botmon.client import ClientSettings, ReportClient
from botmon.store import open_store
from botmon.wire import Reply
from tests.fixtures.server import LiveServer, free_port, start_live_server

pytestmark = pytest.mark.timeout(300)

PER_CRAWLER = 24_000
CHUNK = 400
SERVER_ARGS = ("--ingest-workers", "0", "--summary-refresh", "1")
T0 = time.time() - 3 * 3600


def _second_server(first: LiveServer, workdir: Path) -> LiveServer:
    """Another server on the same database (the admin token is in the database: it works on
    both)."""
    port = free_port()
    server = LiveServer(
        url=f"http://127.0.0.1:{port}",
        db=first.db,
        backend=first.backend,
        admin_token=first.admin_token,
        port=port,
        workdir=workdir,
        extra_args=SERVER_ARGS,
    )
    server.start()
    return server


def _replies(crawler: int, chunk: int) -> list[Reply]:
    """Distinct replies: crawler, chunk and index make the address, port and time unique."""
    base = chunk * CHUNK
    return [
        Reply(
            timestamp=T0 + crawler * 0.25 + (base + i) * 0.3,
            ip=f"127.{10 + crawler}.{(base + i) >> 8 & 255}.{(base + i) & 255}",
            port=1024 + (base + i) % 60000,
            bot_id=f"{crawler:02x}{(base + i) % 5000:06x}",
        )
        for i in range(CHUNK)
    ]


def _views(server: LiveServer) -> dict[str, Any]:
    params = {"start": int(T0 - 3600), "end": int(T0 + 6 * 3600)}
    with httpx.Client(base_url=server.url, headers=server.headers(), timeout=60) as c:
        out = {}
        for path in ("/api/v1/stats/overview", "/api/v1/stats/botnets/hns/population"):
            answer = c.get(path, params=params)
            assert answer.status_code == 200, (path, answer.text)
            out[path] = answer.json()
        answer = c.get("/api/v1/botnets", params={"window": 30 * 86400})
        assert answer.status_code == 200
        out["/api/v1/botnets"] = answer.json()
        return out


def test_two_servers_one_database_one_killed_mid_ingest(
    pg_database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = start_live_server(pg_database_url, tmp_path / "a", SERVER_ARGS)
    b = _second_server(a, tmp_path / "b")
    try:
        a.create_botnet("hns")
        tokens = [a.token(botnets=("hns",)), b.token(botnets=("hns",))]

        async def report() -> list[dict[str, int]]:
            clients = [
                ReportClient(
                    server.url,
                    token,
                    "hns",
                    spool_dir=tmp_path / f"spool-{n}",
                    batch_size=1000,
                    flush_interval_s=0.2,
                    settings=ClientSettings(retry_base_s=0.2, retry_max_s=1.0),
                )
                for n, (server, token) in enumerate(zip((a, b), tokens, strict=True))
            ]
            for client in clients:
                await client.start()
            chunks = PER_CRAWLER // CHUNK
            for chunk in range(chunks):
                for n, client in enumerate(clients):
                    client.add(replies=_replies(n, chunk))
                if chunk == chunks // 3:
                    proc = a.process
                    assert proc is not None and clients[0].stats["records_stored"] > 0
                    proc.kill()  # SIGKILL mid-ingest: answers in flight are lost
                    proc.wait(15)
                    a.process = None
                if chunk == chunks // 2:
                    await asyncio.to_thread(a.start)
                await asyncio.sleep(0.1)
            for client in clients:
                await client.close(timeout=90)
            return [client.stats for client in clients]

        stats = asyncio.run(report())
        for s in stats:
            assert s["spool_batches"] == 0 and s["dropped_records"] == 0 and s["rejected"] == 0
            assert s["added_replies"] == PER_CRAWLER
        assert stats[0]["retries"] > 0, "the kill must have hit crawler A's reporting"

        store = open_store(pg_database_url)
        try:
            total, distinct, batches = store.query(
                "SELECT count(*), count(DISTINCT (source_id, ip, port, ts)),"
                " (SELECT count(*) FROM batches) FROM replies"
            )[0]
            print(
                f"two servers: sent {2 * PER_CRAWLER} replies, stored {total}, "
                f"distinct {distinct}, {batches} batches, answered duplicate "
                f"{sum(s['duplicates'] for s in stats)}, retries {[s['retries'] for s in stats]}"
            )
            assert total == distinct == 2 * PER_CRAWLER
            assert batches == sum(s["batches_sent"] - s["duplicates"] for s in stats)

            # Both servers refresh the summaries every second; once the newest batch is
            # merged, the summary tables must agree with the records.
            def summarised() -> bool:
                row = store.query(
                    "SELECT (SELECT watermark FROM summary_state WHERE name = 'seen'),"
                    " (SELECT max(seq) FROM batches)"
                )[0]
                return row[0] is not None and row[0] > row[1]

            deadline = time.monotonic() + 30
            while not summarised() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert summarised()
            seen = store.query(
                "SELECT (SELECT count(*) FROM seen_ips), (SELECT count(DISTINCT ip) FROM"
                " replies), (SELECT count(*) FROM seen_ids), (SELECT count(DISTINCT bot_id)"
                " FROM replies)"
            )[0]
            assert seen[0] == seen[1] and seen[2] == seen[3], seen
        finally:
            store.close()
        assert _views(a) == _views(b)
    finally:
        a.stop()
        b.stop()
