"""A batch over the server's body limit is split, not lost (server run with a small limit)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from botmon.client import ClientSettings, ReportClient
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
