"""The report client against a real ``botmon serve`` on loopback with a real DuckDB store.

Given a crawler that produces records, the client delivers every one of them to the store
exactly once: through batching limits, lost answers, 5xx and 429, a server outage and a
client restart; commands reach the crawler once each; a bad token stops it with a clear
error; memory and disk stay bounded while the server is away.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from botmon.client import ClientSettings, Command, ReportClient, ReportClientError
from botmon.wire import CampaignSettings, HeartbeatStatus, Reply
from tests.client.conftest import (
    FaultTransport,
    make_edges,
    make_failed,
    make_replies,
    queue_command,
    read_back,
)

FAST = ClientSettings(
    retry_base_s=0.05, retry_max_s=0.4, start_check_timeout_s=2.0, request_timeout_s=10.0
)


def counts(server: Any, botnet: str | None = None) -> dict[str, int]:
    c = server.counts(botnet or server.botnet)
    return {k: c.get(k, 0) for k in ("replies", "failed_tries", "edges", "batches")}


async def wait_for(predicate: Any, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())


def test_batches_hold_at_most_10000_records_per_kind_and_all_arrive(
    server: Any, spool: Path
) -> None:
    async def run() -> dict[str, int]:
        client = ReportClient(
            server.url, server.token(), server.botnet, spool_dir=spool, settings=FAST
        )
        await client.start()
        client.add(replies=make_replies(25_001), edges=make_edges(12_000))
        client.add(failed_tries=make_failed(7))
        await client.close(timeout=30)
        return client.stats

    stats = asyncio.run(run())
    # 25,001 replies need three batches; the edges and failed tries ride along.
    assert counts(server) == {"replies": 25_001, "failed_tries": 7, "edges": 12_000, "batches": 3}
    assert stats["batches_sent"] == 3 and stats["batches_sealed"] == 3
    assert stats["records_stored"] == 37_008 == stats["records_added"]
    assert stats["spool_batches"] == 0 and not list((spool / "pending").iterdir())
    stored = read_back(server.url, server.admin_token, server.botnet, "replies")
    assert sorted(r["ip"] for r in stored) == sorted(r.ip for r in make_replies(25_001))


def test_a_partly_filled_batch_leaves_within_the_flush_interval(server: Any, spool: Path) -> None:
    async def run() -> float:
        client = ReportClient(
            server.url,
            server.token(),
            server.botnet,
            spool_dir=spool,
            flush_interval_s=0.3,
            settings=FAST,
        )
        await client.start()
        client.add(replies=make_replies(5))
        t = time.monotonic()
        arrived = await wait_for(lambda: client.stats["records_stored"] == 5, timeout=5)
        took = time.monotonic() - t
        await client.close()
        assert arrived
        return took

    took = asyncio.run(run())
    assert took < 2.0
    assert counts(server)["replies"] == 5


def test_a_lost_answer_is_resent_with_the_same_batch_id_and_stored_once(
    server: Any, spool: Path
) -> None:
    token = server.token()
    transport = FaultTransport(server.url, token, ["lose", "ok", "lose", "lose", "ok"])

    async def run() -> dict[str, int]:
        client = ReportClient(
            server.url, token, server.botnet, spool_dir=spool, settings=FAST, transport=transport
        )
        await client.start()
        client.add(replies=make_replies(10_000))  # batch 1: sealed at once
        client.add(replies=make_replies(3, start=10_000))  # batch 2: sealed on close
        await client.close(timeout=20)
        return client.stats

    stats = asyncio.run(run())
    assert [a for _, a in transport.ingest_calls] == ["lose", "ok", "lose", "lose", "ok"]
    assert stats["duplicates"] == 2 and stats["retries"] == 3 and stats["batches_sent"] == 2
    assert counts(server) == {"replies": 10_003, "failed_tries": 0, "edges": 0, "batches": 2}


def test_5xx_and_connection_errors_are_retried_with_growing_back_off(
    server: Any, spool: Path
) -> None:
    token = server.token()
    transport = FaultTransport(server.url, token, ["503", "down", "503", "down", "503", "ok"])
    settings = FAST.replace(retry_base_s=0.1, retry_max_s=5.0)

    async def run() -> dict[str, int]:
        client = ReportClient(
            server.url,
            token,
            server.botnet,
            spool_dir=spool,
            settings=settings,
            transport=transport,
        )
        await client.start()
        client.add(replies=make_replies(100))
        await client.close(timeout=20)
        return client.stats

    stats = asyncio.run(run())
    times = [t for t, _ in transport.ingest_calls]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert stats["retries"] == 5 and stats["batches_sent"] == 1
    # Equal jitter: retry k waits between 0.1 * 2**(k-1) / 2 and 0.1 * 2**(k-1).
    for k, gap in enumerate(gaps, start=1):
        step = 0.1 * 2 ** (k - 1)
        assert step / 2 - 0.01 <= gap <= step + 0.5, (k, gaps)  # + scheduling on a busy box
    assert gaps[-1] > gaps[0] * 3
    assert counts(server)["replies"] == 100


def test_429_waits_as_long_as_retry_after_asks(server: Any, spool: Path) -> None:
    token = server.token()
    transport = FaultTransport(server.url, token, ["429:1", "ok"])

    async def run() -> dict[str, int]:
        client = ReportClient(
            server.url, token, server.botnet, spool_dir=spool, settings=FAST, transport=transport
        )
        await client.start()
        client.add(replies=make_replies(10))
        await client.close(timeout=20)
        return client.stats

    stats = asyncio.run(run())
    (t1, _), (t2, _) = transport.ingest_calls
    assert t2 - t1 >= 0.95  # the back-off alone would have waited <= 0.05 s
    assert stats["throttled"] == 1 and stats["batches_sent"] == 1
    assert counts(server)["replies"] == 10


def test_records_survive_a_server_outage_and_are_stored_once(any_server: Any, spool: Path) -> None:
    server = any_server
    token = server.token()

    async def run() -> dict[str, int]:
        client = ReportClient(
            server.url, token, server.botnet, spool_dir=spool, flush_interval_s=0.2, settings=FAST
        )
        await client.start()
        client.add(replies=make_replies(4_000))
        assert await wait_for(lambda: client.stats["records_stored"] == 4_000)
        server.stop()
        client.add(replies=make_replies(23_000, start=4_000), edges=make_edges(50))
        # While the server is down the batches wait on disk, and retries keep going.
        assert await wait_for(lambda: client.stats["retries"] >= 3)
        # The writer spools the batches while the sender retries: wait for both.
        assert await wait_for(lambda: client.stats["spool_batches"] >= 3)
        assert len(list((spool / "pending").glob("*.json"))) == client.stats["spool_batches"]
        server.start()
        assert await client.flush(timeout=30)
        await client.close(timeout=10)
        return client.stats

    stats = asyncio.run(run())
    c = counts(server)
    assert c["replies"] == 27_000 and c["edges"] == 50
    assert stats["records_stored"] == 27_050 and stats["dropped_records"] == 0
    stored = read_back(server.url, server.admin_token, server.botnet, "replies")
    assert len({(r["ip"], r["timestamp"]) for r in stored}) == len(stored) == 27_000


def test_a_new_client_on_the_same_spool_replays_what_the_old_one_left(
    any_server: Any, spool: Path
) -> None:
    server = any_server
    token = server.token()
    server.stop()

    async def first() -> dict[str, int]:
        client = ReportClient(server.url, token, server.botnet, spool_dir=spool, settings=FAST)
        await client.start()  # the server is down: start does not fail
        client.add(replies=make_replies(15_000), failed_tries=make_failed(20))
        await client.close(timeout=0.5)
        return client.stats

    left = asyncio.run(first())
    assert left["spool_batches"] == 2 and left["records_stored"] == 0
    server.start()

    async def second() -> dict[str, int]:
        client = ReportClient(server.url, token, server.botnet, spool_dir=spool, settings=FAST)
        await client.start()
        client.add(replies=make_replies(1, start=15_000))
        await client.close(timeout=20)
        return client.stats

    stats = asyncio.run(second())
    assert stats["replayed"] == 2 and stats["batches_sent"] == 3
    assert counts(server) == {"replies": 15_001, "failed_tries": 20, "edges": 0, "batches": 3}


def test_commands_reach_the_crawler_once_each_in_order(server: Any, spool: Path) -> None:
    token = server.token(name="crawler-cmd")
    server.token(name="someone-else")
    got: list[Command] = []
    statuses: list[int] = []

    async def run() -> None:
        client = ReportClient(
            server.url,
            token,
            server.botnet,
            spool_dir=spool,
            heartbeat_interval_s=0.2,
            settings=FAST,
        )
        client.set_status_provider(lambda: HeartbeatStatus(counters={"round": len(statuses)}))
        client.on_command(got.append)
        await client.start()
        for i in range(3):
            queue_command(server.url, server.admin_token, "crawler-cmd", "set_rate", {"rate": i})
        queue_command(server.url, server.admin_token, "someone-else", "pause", {})
        assert await wait_for(lambda: len(got) >= 3, timeout=10)
        beats = client.stats["heartbeats"]
        assert await wait_for(lambda: client.stats["heartbeats"] >= beats + 3, timeout=10)
        statuses.append(client.stats["commands"])
        await client.close()

    asyncio.run(run())
    assert [(c.command, c.args) for c in got] == [("set_rate", {"rate": i}) for i in range(3)]
    assert len({c.id for c in got}) == 3 and statuses == [3]


def test_a_bad_token_is_a_clear_permanent_error(server: Any, spool: Path) -> None:
    async def run() -> ReportClient:
        client = ReportClient(
            server.url, "not-a-token", server.botnet, spool_dir=spool, settings=FAST
        )
        client.add(replies=make_replies(10))
        with pytest.raises(ReportClientError, match=r"refused the token \(HTTP 401"):
            await client.start()
        await client.close(timeout=1)
        return client

    t = time.monotonic()
    client = asyncio.run(run())
    assert time.monotonic() - t < 5
    assert client.stats["retries"] == 0 and client.error is not None
    # Nothing is lost: the records wait in the spool for a run with a good token.
    assert client.stats["spool_batches"] == 1
    assert counts(server)["replies"] == 0


def test_a_token_for_another_botnet_stops_sending_without_retrying(
    server: Any, spool: Path
) -> None:
    other = f"{server.botnet}-other"
    server.create_botnet(other)
    token = server.token(botnets=(other,))

    async def run() -> dict[str, int]:
        client = ReportClient(server.url, token, server.botnet, spool_dir=spool, settings=FAST)
        await client.start()  # heartbeats are allowed; writing hns is not
        client.add(replies=make_replies(10))
        assert await wait_for(lambda: client.error is not None, timeout=10)
        await client.close(timeout=1)
        return client.stats

    stats = asyncio.run(run())
    assert stats["auth_errors"] == 1 and stats["retries"] == 0 and stats["spool_batches"] == 1


def test_a_batch_the_server_refuses_is_kept_aside_and_not_retried(
    server: Any, spool: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = server.token()

    async def run() -> dict[str, int]:
        client = ReportClient(server.url, token, "no-such-botnet", spool_dir=spool, settings=FAST)
        await client.start()
        client.add(replies=make_replies(10))
        await client.close(timeout=10)
        return client.stats

    with caplog.at_level(logging.ERROR, logger="botmon.client"):
        stats = asyncio.run(run())
    assert stats["rejected"] == 1 and stats["rejected_records"] == 10 and stats["retries"] == 0
    [kept] = list((spool / "rejected").glob("*.json"))
    reason = (kept.parent / f"{kept.name}.reason.txt").read_text()
    assert "HTTP 422" in reason and "no-such-botnet" in reason
    assert "REFUSED" in caplog.text


def test_invalid_records_are_set_aside_and_the_good_ones_stored(server: Any, spool: Path) -> None:
    good = make_replies(99)
    bad = [
        Reply(time.time(), "999.1.1.1", 6000),
        Reply(time.time() + 86_400, "127.9.9.9", 1),
        Reply(time.time(), "127.9.9.8", 1, data={"plugin bug": object()}),
    ]

    async def run() -> dict[str, int]:
        client = ReportClient(
            server.url, server.token(), server.botnet, spool_dir=spool, settings=FAST
        )
        await client.start()
        client.add(replies=[*good[:50], bad[0], *good[50:], bad[1], bad[2]])
        await client.close(timeout=10)
        return client.stats

    stats = asyncio.run(run())
    assert stats["invalid_records"] == 3 and stats["records_stored"] == 99
    assert counts(server)["replies"] == 99
    # What cannot be encoded is set aside by add() (before the journal), the rest at sealing.
    kept = list((spool / "rejected").glob("*-invalid.json"))
    text = "".join(p.read_text() for p in kept)
    assert text.count('"error"') == 3
    assert "999.1.1.1" in text and "future" in text and "not JSON-encodable" in text


def test_add_refuses_objects_that_are_not_records(spool: Path) -> None:
    client = ReportClient("http://127.0.0.1:9", "t", "hns", spool_dir=spool)
    with pytest.raises(TypeError, match="replies must hold Reply"):
        client.add(replies=[{"ip": "127.0.0.1"}])  # type: ignore[list-item]
    asyncio.run(client.close(timeout=0))


def test_commands_that_arrive_before_a_handler_is_set_wait_for_it(server: Any, spool: Path) -> None:
    token = server.token(name="late-handler")
    got: list[str] = []

    async def run() -> None:
        client = ReportClient(
            server.url,
            token,
            server.botnet,
            spool_dir=spool,
            heartbeat_interval_s=0.2,
            settings=FAST,
        )
        queue_command(server.url, server.admin_token, "late-handler", "pause", {})
        await client.start()  # the first heartbeat fetches the command: no handler yet
        await asyncio.sleep(0.5)
        client.on_command(lambda c: got.append(c.command))
        assert await wait_for(lambda: got == ["pause"], timeout=5)
        await asyncio.sleep(0.5)
        await client.close()

    asyncio.run(run())
    assert got == ["pause"]


@pytest.mark.parametrize(
    ("url", "token", "botnet", "message"),
    [
        ("127.0.0.1:8470", "t", "hns", "must start with http"),
        ("http://127.0.0.1:8470", "", "hns", "token is required"),
        ("http://127.0.0.1:8470", "two words", "hns", "token holds spaces"),
        ("http://127.0.0.1:8470", "t", "Bad Name", "not valid"),
    ],
)
def test_unusable_arguments_are_refused_at_once(
    spool: Path, url: str, token: str, botnet: str, message: str
) -> None:
    with pytest.raises(ReportClientError, match=message):
        ReportClient(url, token, botnet, spool_dir=spool)


def test_a_second_client_on_a_spool_in_use_is_refused(spool: Path) -> None:
    first = ReportClient("http://127.0.0.1:9", "t", "hns", spool_dir=spool)
    with pytest.raises(ReportClientError, match="in use by another report client"):
        ReportClient("http://127.0.0.1:9", "t", "hns", spool_dir=spool)
    asyncio.run(first.close(timeout=0))


def test_a_campaign_is_registered_once_the_server_is_reachable_and_ended_on_close(
    own_server: Any, spool: Path
) -> None:
    server = own_server
    token = server.token(name="crawler-later")
    settings = CampaignSettings(protocol="hns", rounds=0, seeds=3)
    server.stop()
    sent: list[int | None] = []

    async def run() -> ReportClient:
        client = ReportClient(
            server.url,
            token,
            server.botnet,
            spool_dir=spool,
            heartbeat_interval_s=0.2,
            settings=FAST,
            campaign=settings,
        )
        client.set_status_provider(lambda: HeartbeatStatus(state="running"))
        await client.start()  # the server is down: no campaign yet, the run goes on
        assert client.campaign is None
        await asyncio.to_thread(server.start)
        assert await wait_for(lambda: client.stats["heartbeats"] >= 2, timeout=15)
        assert client.campaign is not None
        sent.append(client.campaign.id)
        await client.close(timeout=10)
        return client

    client = asyncio.run(run())
    assert client.campaign is not None and sent == [client.campaign.id]
    viewer = server.token("viewer")
    answer = httpx.get(
        f"{server.url}/api/v1/stats/monitors",
        headers={"Authorization": f"Bearer {viewer}"},
        trust_env=False,
    )
    row = next(r for r in answer.json()["rows"] if r["source"] == "crawler-later")
    assert (row["campaign"], row["campaign_settings"]) == (
        client.campaign.id,
        "hns: until stopped, 3 seeds",
    )
    assert row["campaign_ended_at"] is not None and row["botnet"] == server.botnet


def test_a_refused_campaign_is_not_asked_again_and_records_still_flow(
    server: Any, spool: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = server.token(botnets=(server.botnet,))

    async def run() -> ReportClient:
        client = ReportClient(
            server.url,
            token,
            server.botnet,
            spool_dir=spool,
            heartbeat_interval_s=0.2,
            settings=FAST,
            campaign=CampaignSettings(protocol="hns", scope=["x" * 65]),  # too long a label
        )
        await client.start()
        client.add(replies=make_replies(10))
        assert await wait_for(lambda: client.stats["heartbeats"] >= 3, timeout=10)
        await client.close(timeout=10)
        return client

    with caplog.at_level(logging.ERROR, logger="botmon.client"):
        client = asyncio.run(run())
    assert client.campaign is None and client.error is None
    assert sum("refused the campaign" in r.message for r in caplog.records) == 1
    assert counts(server)["replies"] == 10
