"""Records are neither lost nor stalled: poison batches, poison records, a full spool.

Against a real ``botmon serve`` on loopback. A poison batch (one the store cannot hold) is
refused with 422 naming the record on both backends and set aside by the client, which goes
on with later batches; a record nested too deeply costs its batch nothing but itself; a full
spool holds the crawl back instead of dropping batches, and nothing is lost.
"""

from __future__ import annotations

import asyncio
import errno
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from botmon.client import ClientSettings, ReportClient
from botmon.client.spool import Spool
from botmon.wire import Reply
from tests.client.conftest import FaultTransport, make_replies

FAST = ClientSettings(
    retry_base_s=0.02, retry_max_s=0.1, start_check_timeout_s=2.0, request_timeout_s=10.0
)


def poison_body(batch_id: str) -> bytes:
    """Three replies; the first has an exponent no backend holds (no encoder writes it)."""
    now = time.time() - 60
    records = [f'{{"timestamp": {now + i}, "ip": "127.5.0.{i}", "port": 1}}' for i in range(3)]
    records[0] = records[0][:-1] + ', "data": {"x": 1e999999}}'
    return (
        f'{{"botnet": "hns", "batch_id": "{batch_id}", "replies": [{", ".join(records)}]}}'.encode()
    )


def test_a_number_the_store_cannot_hold_is_refused_with_422_naming_the_record(
    live_server: Any,
) -> None:
    live_server.create_botnet("hns")
    r = httpx.post(
        f"{live_server.url}/api/v1/ingest",
        content=poison_body("poison-1"),
        headers={**live_server.headers(), "Content-Type": "application/json"},
        timeout=30,
        trust_env=False,
    )
    assert r.status_code == 422, r.text
    assert (r.json()["kind"], r.json()["index"], r.json()["field"]) == ("replies", 0, "data")
    assert live_server.counts("hns").get("replies", 0) == 0


def test_a_poison_batch_is_set_aside_and_every_later_record_is_stored(
    live_server: Any, tmp_path: Path
) -> None:
    """The issue's measurement: a poison batch spooled ahead of good ones (an older client
    wrote it) used to be retried for ever on PostgreSQL, storing nothing after it."""
    server = live_server
    server.create_botnet("hns")
    spool_dir = tmp_path / "spool"
    spool = Spool(spool_dir, 1 << 30, 10)
    spool.write("poison-2", poison_body("poison-2"), records=3)
    spool.close()

    async def run() -> dict[str, int]:
        client = ReportClient(server.url, server.token(), "hns", spool_dir=spool_dir, settings=FAST)
        await client.start()
        for chunk in range(5):
            client.add(replies=make_replies(2_000, start=chunk * 2_000))
        assert await client.flush(timeout=60)
        await client.close(timeout=10)
        return client.stats

    stats = asyncio.run(run())
    assert server.counts("hns")["replies"] == 10_000
    assert stats["rejected"] == 1 and stats["records_stored"] == 10_000
    [kept] = (spool_dir / "rejected").glob("*-poison-2.json")
    reason = (kept.parent / f"{kept.name}.reason.txt").read_text()
    assert reason.startswith("HTTP 422") and "replies[0].data" in reason


def test_a_batch_failing_with_5xx_is_set_aside_after_a_bounded_number_of_answers(
    server: Any, spool: Path
) -> None:
    """5xx answers count, "not now" does not: a down server never makes the client give up."""
    script = ["down"] * 4 + ["503:retry-after"] * 4 + ["500"] * 3

    async def run() -> tuple[dict[str, int], FaultTransport]:
        transport = FaultTransport(server.url, server.token(), script)
        client = ReportClient(
            server.url,
            "t",
            server.botnet,
            spool_dir=spool,
            settings=FAST.replace(max_answered_attempts=3),
            transport=transport,  # type: ignore[arg-type]
        )
        await client.start()
        client.add(replies=make_replies(10))
        assert await client.flush(timeout=30)
        client.add(replies=make_replies(20, start=10))
        assert await client.flush(timeout=30)
        await client.close(timeout=10)
        return client.stats, transport

    stats, transport = asyncio.run(run())
    # All 11 scripted answers went to the first batch: only the three 500s counted.
    assert [a for _, a in transport.ingest_calls][:11] == script
    assert stats["rejected"] == 1 and stats["rejected_records"] == 10
    assert stats["records_stored"] == 20 and server.counts(server.botnet)["replies"] == 20
    [kept] = (spool / "rejected").glob("*.reason.txt")
    assert kept.read_text().startswith("HTTP 500") and "3 times" in kept.read_text()


def test_one_record_nested_too_deeply_costs_its_batch_only_itself(server: Any, spool: Path) -> None:
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(1_100):
        deep = {"a": deep}
    records = make_replies(10_000)
    records[5_000] = Reply(records[5_000].timestamp, "127.9.0.1", 1, data=deep)

    async def run() -> dict[str, int]:
        client = ReportClient(
            server.url, server.token(), server.botnet, spool_dir=spool, settings=FAST
        )
        await client.start()
        client.add(replies=records)
        assert await client.flush(timeout=60)
        await client.close(timeout=10)
        return client.stats

    stats = asyncio.run(run())
    assert server.counts(server.botnet)["replies"] == 9_999
    assert stats["records_stored"] == 9_999 and stats["invalid_records"] == 1
    assert stats["dropped_records"] == 0 and stats["dropped_batches"] == 0
    [kept] = (spool / "rejected").glob("*-invalid.json")
    assert "127.9.0.1" in kept.read_text()


def test_a_full_spool_holds_the_producer_back_and_loses_nothing(
    own_server: Any, spool: Path
) -> None:
    server = own_server
    token = server.token()
    server.stop()
    cap = 1 << 20
    seen: list[str | None] = []

    async def run() -> dict[str, int]:
        client = ReportClient(
            server.url,
            token,
            "hns",
            spool_dir=spool,
            settings=FAST.replace(start_check_timeout_s=0.2),
            spool_max_bytes=cap,
            batch_size=1_000,
            flush_interval_s=60,
        )
        client.on_backpressure(seen.append)
        await client.start()
        for chunk in range(30):  # 30,000 replies, about 2 MB as JSON: twice the cap
            client.add(replies=make_replies(1_000, start=chunk * 1_000))
            await asyncio.sleep(0.01)
        deadline = time.monotonic() + 20
        while client.backpressure is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert client.backpressure == "spool_full" and seen == ["spool_full"]
        assert client.stats["spool_bytes"] <= cap
        await asyncio.to_thread(server.start)
        deadline = time.monotonic() + 60
        while client.backpressure is not None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert seen == ["spool_full", None]
        assert await client.flush(timeout=60)
        await client.close(timeout=10)
        return client.stats

    stats = asyncio.run(run())
    assert stats["dropped_records"] == 0 and stats["spool_full"] == 1
    assert stats["records_stored"] == 30_000
    assert server.counts("hns")["replies"] == 30_000


def test_a_full_disk_holds_the_producer_back_until_space_returns(
    server: Any, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC cannot be caused safely on this machine: it is injected at fsync."""
    real_fsync = os.fsync
    full = {"on": False}

    def fsync(fd: int) -> None:
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    seen: list[str | None] = []

    async def run() -> dict[str, int]:
        client = ReportClient(
            server.url, server.token(), server.botnet, spool_dir=spool, settings=FAST
        )
        client.on_backpressure(seen.append)
        await client.start()
        full["on"] = True
        client.add(replies=make_replies(500))
        assert not await client.flush(timeout=1.5)
        assert client.backpressure == "spool_full"
        full["on"] = False
        assert await client.flush(timeout=30)
        await client.close(timeout=10)
        return client.stats

    stats = asyncio.run(run())
    assert seen == ["spool_full", None]
    assert stats["records_stored"] == 500 and stats["dropped_records"] == 0
    assert server.counts(server.botnet)["replies"] == 500


def test_batches_replayed_from_the_journal_keep_their_ids(server: Any, spool: Path) -> None:
    """A client that died after sealing: the next one sends the same batch ids once."""
    token = server.token()

    async def crashed() -> list[str]:
        client = ReportClient(
            server.url, token, server.botnet, spool_dir=spool, settings=FAST, batch_size=100
        )
        client.add(replies=make_replies(250))  # two batches sealed, 50 records unsealed
        sealed = [b.batch_id for b in client._sealed]
        client._spool.close()  # the process dies: no close(), nothing spooled
        return sealed

    sealed = asyncio.run(crashed())
    assert len(sealed) == 2

    async def next_run() -> dict[str, int]:
        client = ReportClient(server.url, token, server.botnet, spool_dir=spool, settings=FAST)
        replayed = [b.batch_id for b in client._sealed]
        assert replayed[:2] == sealed and len(replayed) == 3
        await client.start()
        assert await client.flush(timeout=30)
        await client.close(timeout=10)
        return client.stats

    stats = asyncio.run(next_run())
    assert stats["journal_replayed"] == 250 and stats["records_stored"] == 250
    assert server.counts(server.botnet)["replies"] == 250
    assert not list((spool / "journal").glob("*.jsonl"))
