"""POST /api/v1/ingest: what a valid batch stores, and that every refusal stores nothing."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.fixtures.server import LiveServer, start_live_server
from tests.server.helpers import batch, client, post_batch, reply


def test_a_valid_batch_is_stored_once_and_answered_with_its_counts(
    live_server: LiveServer,
) -> None:
    live_server.create_botnet("hns")
    token = live_server.token("crawler", name="crawler-a")
    body = batch(replies=250, failed_tries=20, edges=30, batch_id="batch-0001")

    first = post_batch(live_server, token, body)
    assert first.status_code == 200, first.text
    assert first.json() == {
        "batch_id": "batch-0001",
        "duplicate": False,
        "stored": {"replies": 250, "failed_tries": 20, "edges": 30},
    }
    counts = live_server.counts("hns")
    assert (counts["replies"], counts["failed_tries"], counts["edges"]) == (250, 20, 30)

    again = post_batch(live_server, token, body)
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert live_server.counts("hns") == counts


def test_the_source_is_the_tokens_name_never_the_body(live_server: LiveServer) -> None:
    live_server.create_botnet("hns")
    token = live_server.token("crawler", name="vantage-1")
    body = batch(replies=[reply(0)])
    body["source"] = "someone-else"
    refused = post_batch(live_server, token, body)
    assert refused.status_code == 422  # unknown field: the body cannot name a source
    del body["source"]
    assert post_batch(live_server, token, body).status_code == 200
    with client(live_server, live_server.admin_token) as c:
        rows = c.get("/api/v1/botnets/hns/records/replies").text.splitlines()
    assert [msgspec.json.decode(r)["source"] for r in rows] == ["vantage-1"]


def test_a_crawler_may_set_no_source_but_an_admin_may(live_server: LiveServer) -> None:
    live_server.create_botnet("hns")
    crawler = live_server.token("crawler")
    with client(live_server, crawler) as c:
        r = c.post("/api/v1/ingest?source=x", json=batch(replies=1))
    assert r.status_code == 403
    with client(live_server, live_server.admin_token) as c:
        r = c.post("/api/v1/ingest?source=lab-import", json=batch(replies=1))
        assert r.status_code == 200, r.text
        rows = c.get("/api/v1/botnets/hns/records/replies").text.splitlines()
    assert msgspec.json.decode(rows[0])["source"] == "lab-import"


def _rejections(server: LiveServer) -> list[tuple[str, Callable[[], Any], int, str, str | None]]:
    """(case, request, status, reason, field): each must leave the store as it was."""
    server.create_botnet("hns")
    server.create_botnet("other")
    crawler = server.token("crawler")
    viewer = server.token("viewer")
    only_other = server.token("crawler", botnets=["other"])
    now = time.time()

    def send(body: Any, token: str | None = crawler) -> Callable[[], Any]:
        return lambda: post_batch(server, token, body)

    big = batch(replies=0)
    big["replies"] = [reply(i % 200) for i in range(10_001)]
    padding = "x" * 1000
    huge = (
        b'{"botnet":"hns","batch_id":"huge","replies":['
        + b",".join(msgspec.json.encode(reply(i, bot_id=padding[:200])) for i in range(70_000))
        + b"]}"
    )
    return [
        ("no token", send(batch(replies=3), None), 401, "unauthorized", None),
        ("bad token", send(batch(replies=3), "A" * 43), 401, "unauthorized", None),
        ("garbage token", send(batch(replies=3), "not a token!"), 401, "unauthorized", None),
        ("viewer role", send(batch(replies=3), viewer), 403, "forbidden_role", None),
        (
            "botnet not allowed",
            send(batch(replies=3), only_other),
            403,
            "forbidden_botnet",
            "botnet",
        ),
        ("unknown botnet", send(batch("nosuch", replies=3)), 422, "unknown_botnet", "botnet"),
        (
            "bad ip",
            send(batch(replies=[reply(0), reply(1, ip="300.1.2.3")])),
            422,
            "invalid_record",
            "ip",
        ),
        (
            "port 70000",
            send(batch(replies=[reply(0), reply(1, port=70000)])),
            422,
            "invalid_record",
            "port",
        ),
        (
            "future timestamp",
            send(batch(replies=[reply(0, timestamp=now + 3600)])),
            422,
            "invalid_record",
            "timestamp",
        ),
        (
            "before 2000",
            send(batch(replies=[reply(0, timestamp=946684799.0)])),
            422,
            "invalid_record",
            "timestamp",
        ),
        (
            "data not an object",
            send(batch(replies=[reply(0, data=[1, 2])])),
            422,
            "invalid_record",
            "data",
        ),
        (
            "edge bad dst",
            send(
                batch(
                    edges=[
                        {
                            "timestamp": now,
                            "src_ip": "127.0.0.1",
                            "src_port": 1,
                            "dst_ip": "x",
                            "dst_port": 2,
                        }
                    ]
                )
            ),
            422,
            "invalid_record",
            "dst_ip",
        ),
        ("10,001 records", send(big), 422, "too_many_records", None),
        ("over the size limit", send(huge), 413, "body_too_large", None),
        (
            "malformed json",
            send(b'{"botnet": "hns", "batch_id": "x", "replies": [}'),
            400,
            "malformed_json",
            None,
        ),
        ("not json at all", send(b"\xff\xfe\x00"), 400, "malformed_json", None),
        ("bad botnet name", send(batch("Bad Name!", replies=1)), 422, "invalid_batch", "botnet"),
    ]


def test_every_rejection_stores_nothing(live_server: LiveServer) -> None:
    _check_every_rejection(live_server)


@pytest.mark.parametrize("workers", [0, 1])
def test_every_rejection_is_the_same_with_and_without_ingest_workers(
    tmp_path: Path, workers: int
) -> None:
    """The default server (``live_server``) runs as many workers as this machine's cores
    suggest; both ways of preparing a batch must refuse alike."""
    server = start_live_server(
        str(tmp_path / "r.duckdb"), tmp_path, ["--ingest-workers", str(workers)]
    )
    try:
        _check_every_rejection(server)
    finally:
        server.stop()


def _check_every_rejection(live_server: LiveServer) -> None:
    cases = _rejections(live_server)
    token = live_server.token("crawler")
    seed = post_batch(live_server, token, batch(replies=5, edges=2, batch_id="seed"))
    assert seed.status_code == 200
    before = live_server.counts()
    for case, request, status, reason, field in cases:
        response = request()
        assert response.status_code == status, f"{case}: {response.status_code} {response.text}"
        body = response.json()
        assert body["reason"] == reason, f"{case}: {body}"
        assert body["error"], case
        if field is not None:
            assert body["field"] == field, f"{case}: {body}"
        if status == 401:
            assert response.headers["www-authenticate"].startswith("Bearer"), case
        assert live_server.counts() == before, f"{case} changed the stored counts"
    again = post_batch(live_server, token, batch(replies=5, edges=2, batch_id="seed"))
    assert again.json()["duplicate"] is True
    assert live_server.counts() == before


def test_the_first_bad_record_is_named_by_kind_and_index(live_server: LiveServer) -> None:
    live_server.create_botnet("hns")
    token = live_server.token("crawler")
    records = [reply(i) for i in range(100)]
    records[57] = reply(57, port=-1)
    records[80] = reply(80, ip="nope")
    r = post_batch(live_server, token, batch(replies=records, edges=3))
    assert r.status_code == 422
    assert (r.json()["kind"], r.json()["index"], r.json()["field"]) == ("replies", 57, "port")


def test_concurrent_senders_all_get_stored(live_server: LiveServer) -> None:
    live_server.create_botnet("hns")
    token = live_server.token("crawler")
    bodies = [batch(replies=500, edges=50, batch_id=f"c-{n}") for n in range(12)]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda b: post_batch(live_server, token, b), bodies))
    assert [r.status_code for r in results] == [200] * 12
    counts = live_server.counts("hns")
    assert (counts["replies"], counts["edges"], counts["batches"]) == (6000, 600, 12)


def test_revoking_a_token_locks_it_out_within_seconds(live_server: LiveServer) -> None:
    live_server.create_botnet("hns")
    token = live_server.token("crawler", name="to-revoke")
    assert post_batch(live_server, token, batch(replies=1)).status_code == 200
    with client(live_server, live_server.admin_token) as c:
        assert c.delete("/api/v1/admin/tokens/to-revoke").status_code == 200
        assert c.delete("/api/v1/admin/tokens/to-revoke").status_code == 404
    deadline = time.monotonic() + 3.0
    status = 200
    while time.monotonic() < deadline and status == 200:
        status = post_batch(live_server, token, batch(replies=1)).status_code
        time.sleep(0.2)
    assert status == 401


def test_a_malformed_authorization_header_is_401(duckdb_server: LiveServer) -> None:
    for bad in ["Basic abc", "Bearer", "Bearer a b c", "token abc", "Bearer " + "x" * 5000]:
        with client(duckdb_server) as c:
            r = c.post("/api/v1/ingest", content=b"{}", headers={"Authorization": bad})
        assert r.status_code == 401, bad
        assert r.json()["reason"] == "unauthorized"
