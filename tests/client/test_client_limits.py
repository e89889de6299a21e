"""A batch over the server's body limit is split, not lost (server run with a small limit)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from botmon.client import ClientSettings, ReportClient
from botmon.client.spool import Spool
from botmon.wire import Batch
from tests.client.conftest import make_replies
from tests.fixtures.server import LiveServer, start_live_server


@pytest.fixture
def small_body_server(tmp_path: Path) -> Iterator[LiveServer]:
    workdir = tmp_path / "server"
    workdir.mkdir()
    server = start_live_server(str(workdir / "botmon.duckdb"), workdir, ["--max-body-mb", "0.2"])
    try:
        server.create_botnet("hns")
        yield server
    finally:
        server.stop()


def test_an_oversized_batch_is_split_until_the_server_takes_it(
    small_body_server: LiveServer, tmp_path: Path
) -> None:
    server = small_body_server

    async def run() -> dict[str, int]:
        client = ReportClient(
            server.url,
            server.token(),
            "hns",
            tmp_path / "spool",
            settings=ClientSettings(retry_base_s=0.05, retry_max_s=0.2),
        )
        await client.start()
        client.add(replies=make_replies(10_000))  # ~0.7 MB of JSON, limit 0.2 MB
        await client.close(timeout=30)
        return client.stats

    stats = asyncio.run(run())
    assert stats["split_batches"] >= 3 and stats["rejected"] == 0
    assert stats["records_stored"] == 10_000 and stats["spool_batches"] == 0
    assert server.counts("hns")["replies"] == 10_000


def test_a_split_batch_resent_after_a_crash_is_stored_once(
    small_body_server: LiveServer, tmp_path: Path
) -> None:
    """The halves of a split batch have ids derived from the original's: when a crash leaves
    the original in the spool after its halves were sent, the next client splits it into the
    same ids and the server stores nothing twice."""
    server = small_body_server
    token = server.token()
    spool_dir = tmp_path / "spool"
    original = msgspec.json.encode(Batch("hns", "crash-1", replies=make_replies(10_000)))

    async def replay() -> dict[str, int]:
        spool = Spool(spool_dir, max_bytes=1 << 30, rejected_max_files=10)
        spool.write("crash-1", original, 10_000)  # the original, still pending after a crash
        spool.close()
        settings = ClientSettings(retry_base_s=0.05, retry_max_s=0.2)
        client = ReportClient(server.url, token, "hns", spool_dir, settings=settings)
        await client.start()
        await client.close(timeout=30)
        return client.stats

    first = asyncio.run(replay())
    assert first["split_batches"] >= 3 and first["records_stored"] == 10_000
    again = asyncio.run(replay())
    assert again["split_batches"] == first["split_batches"]
    assert again["records_stored"] == 0 and again["duplicates"] >= 4
    assert server.counts("hns")["replies"] == 10_000
