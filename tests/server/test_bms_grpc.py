"""botmon as a BMS server: a monitor written for BMS registers, streams its three kinds of
records and disconnects, with the client stubs generated from botmon's ``.proto``, against
the real gRPC server on loopback and a real store (DuckDB and PostgreSQL)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pyarrow as pa
import pytest

from botmon.bms import bms_storage_pb2 as pb
from botmon.store.base import Store
from tests.server.bms_helpers import (
    NOW,
    BmsServer,
    auth,
    edge,
    failed_try,
    port,
    replies_batch,
    reply,
    running_bms,
    session,
    ts,
    v4,
    v6,
)
from tests.server.test_pg_outage import Cluster


@pytest.fixture
def bms(store: Store) -> Iterator[BmsServer]:
    store.create_botnet("hns")
    with running_bms(store) as server:
        yield server


def _rows(store: Store, kind: str, botnet: str = "hns") -> list[dict[str, Any]]:
    rows = pa.Table.from_batches(list(store.export(kind, botnet))).to_pylist()  # type: ignore[arg-type]
    return sorted(rows, key=lambda r: (r["timestamp"], str(r.get("ip") or r.get("src_ip"))))


def _refused(call: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def test_a_monitor_registers_streams_all_three_kinds_and_finishes(bms: BmsServer) -> None:
    answer = bms.register(
        campaign_id="c-17",
        frequency=300,
        public_ip=v4("192.0.2.7"),
        monitor_port=port(4444),
        config_json=pb.JSON(json_string='{"seeds": 12}'),
    )
    assert len(answer.session_token.token) == 4
    assert answer.session_timeout == 600
    assert not answer.HasField("last_inserted_bot_reply")  # nothing stored yet
    meta = session(answer)

    sent = [replies_batch(b, [reply(b * 100 + i) for i in range(100)]) for b in range(3)]
    acks = [r.batch_id for r in bms.stub.StoreDatedBotReplyBatch(iter(sent), metadata=meta)]
    tries = pb.StoreDatedFailedTryBatchRequest(batch_id=5, tries=[failed_try(i) for i in range(7)])
    assert [
        r.batch_id for r in bms.stub.StoreDatedFailedTryBatch(iter([tries]), metadata=meta)
    ] == [5]
    edges = pb.StoreDatedEdgeBatchRequest(batch_id=9, edges=[edge(i) for i in range(4)])
    assert [r.batch_id for r in bms.stub.StoreDatedEdgeBatch(iter([edges]), metadata=meta)] == [9]
    assert acks == [0, 1, 2]

    counts = bms.store.count_records("hns")
    assert (counts["replies"], counts["failed_tries"], counts["edges"]) == (300, 7, 4)
    first = _rows(bms.store, "replies")[0]
    assert first["ip"] == "10.0.0.0" and first["port"] == 6000 and first["bot_id"] == "bot-0"
    assert first["source"] == "vantage"  # the monitor ID is the records' source
    assert first["timestamp"].timestamp() == NOW + 0.123456  # BMS keeps microseconds
    assert json.loads(first["data"]) == {"round": 0, "version": "1.2"}
    tried = _rows(bms.store, "failed_tries")[3]
    assert (tried["ip"], tried["port"], tried["reason"]) == ("10.1.0.3", 7000, "timeout")
    link = _rows(bms.store, "edges")[2]
    assert (link["src_ip"], link["src_id"], link["dst_ip"]) == ("10.0.0.2", "bot-2", "::2")

    (campaign,) = [c for c in bms.store.latest_campaigns() if c.source == "vantage"]
    assert campaign.botnet == "hns" and campaign.ended_at is None
    assert campaign.settings["bms"] == {
        "campaign_id": "c-17",
        "frequency": 300,
        "public_ip": "192.0.2.7",
        "monitor_port": 4444,
        "config": {"seeds": 12},
    }
    from botmon.analysis.overview import monitors

    (row,) = [r for r in monitors(bms.store, NOW + 3600, 7200).dicts() if r["source"] == "vantage"]
    assert row["replies"] == 300 and row["failed_tries"] == 7  # the health table
    assert (
        row["campaign_settings"] == "BMS monitor: campaign c-17, from 192.0.2.7:4444, frequency 300"
    )
    bms.stub.Disconnect(pb.DisconnectRequest(reason=pb.DISCONNECT_REASON_FINISHED), metadata=meta)
    (ended,) = [c for c in bms.store.latest_campaigns() if c.source == "vantage"]
    assert ended.id == campaign.id and ended.ended_at is not None
    gone = _refused(lambda: list(bms.stub.StoreDatedEdgeBatch(iter([edges]), metadata=meta)))
    assert gone.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_restarted_monitor_learns_where_it_stopped(bms: BmsServer) -> None:
    meta = session(bms.register())
    batch = replies_batch(1, [reply(i) for i in (3, 40, 12)])
    list(bms.stub.StoreDatedBotReplyBatch(iter([batch]), metadata=meta))
    tries = pb.StoreDatedFailedTryBatchRequest(
        batch_id=1, tries=[failed_try(2, timestamp=ts(NOW + 2, 5_000))]
    )
    list(bms.stub.StoreDatedFailedTryBatch(iter([tries]), metadata=meta))
    again = bms.register()
    assert (
        again.last_inserted_bot_reply.unix_seconds,
        again.last_inserted_bot_reply.unix_nano_seconds,
    ) == (
        NOW + 40,
        123_456_000,
    )
    assert (
        again.last_inserted_failed_try.unix_seconds,
        again.last_inserted_failed_try.unix_nano_seconds,
    ) == (
        NOW + 2,
        5_000,
    )
    assert not again.HasField("last_inserted_edge")
    other = bms.register(name="someone-else")  # another monitor's records are not its own
    assert not other.HasField("last_inserted_bot_reply")


def test_a_batch_resent_after_a_lost_acknowledgement_is_stored_once(bms: BmsServer) -> None:
    meta = session(bms.register())
    batch = replies_batch(42, [reply(i) for i in range(50)])
    # The acknowledgement is lost: the stream breaks before the monitor reads it.
    call = bms.stub.StoreDatedBotReplyBatch(iter([batch]), metadata=meta)
    call.cancel()
    # The monitor kept the batch and sends it again, on a new stream and twice on one.
    acks = list(bms.stub.StoreDatedBotReplyBatch(iter([batch]), metadata=meta))
    acks += list(bms.stub.StoreDatedBotReplyBatch(iter([batch, batch]), metadata=meta))
    assert [a.batch_id for a in acks] == [42, 42, 42]
    assert bms.store.count_records("hns")["replies"] == 50
    # A server that forgot the session (restarted) makes the monitor register anew, and it
    # re-sends the batch, numbered again: still the same batch, stored once.
    fresh = session(bms.register())
    renumbered = replies_batch(0, [reply(i) for i in range(50)])
    acks = list(bms.stub.StoreDatedBotReplyBatch(iter([batch, renumbered]), metadata=fresh))
    assert [a.batch_id for a in acks] == [42, 0]
    assert bms.store.count_records("hns")["replies"] == 50
    # BMS numbers batches per session: id 42 again, with other items, is a new batch.
    later = replies_batch(42, [reply(i) for i in range(50, 80)])
    list(bms.stub.StoreDatedBotReplyBatch(iter([later]), metadata=fresh))
    assert bms.store.count_records("hns")["replies"] == 80


REASONS = [
    (pb.DISCONNECT_REASON_UNSPECIFIED, True),
    (pb.DISCONNECT_REASON_FINISHED, True),
    (pb.DISCONNECT_REASON_BE_RIGHT_BACK, False),
    (pb.DISCONNECT_REASON_BE_RIGHT_BACK_WITH_NEW_CONFIG, False),
    (pb.DISCONNECT_REASON_CLIENT_ERROR, True),
    (pb.DISCONNECT_REASON_OTHER, True),
]
"""Each disconnect reason and whether it ends the campaign (BE_RIGHT_BACK* keep it open)."""


def test_disconnect_with_each_reason(bms: BmsServer) -> None:
    def campaigns(name: str) -> list[Any]:
        return [c for c in bms.store.latest_campaigns() if c.source == name]

    for reason, ends in REASONS:
        name = f"monitor-{reason}"
        meta = session(bms.register(name=name, campaign_id="run-1"))
        bms.stub.Disconnect(pb.DisconnectRequest(reason=reason), metadata=meta)  # type: ignore[arg-type]
        (campaign,) = campaigns(name)
        assert (campaign.ended_at is not None) == ends, reason
        # The session is over whatever the reason.
        gone = _refused(
            lambda meta=meta: bms.stub.Disconnect(pb.DisconnectRequest(), metadata=meta)
        )  # type: ignore[misc]
        assert gone.code() == grpc.StatusCode.UNAUTHENTICATED
        # Back with the same parameters: an open campaign resumes, an ended one is not reused.
        bms.register(name=name, campaign_id="run-1")
        (latest,) = campaigns(name)
        assert (latest.id == campaign.id) == (not ends) and latest.ended_at is None, reason
        # New parameters: the open campaign ends and a new one starts.
        bms.register(name=name, campaign_id="run-2")
        (newest,) = campaigns(name)
        assert newest.id != latest.id and newest.settings["bms"] == {"campaign_id": "run-2"}


def _count(bms: BmsServer) -> dict[str, int]:
    return bms.store.count_records("hns")


BAD_REPLIES = {
    "bad IPv6 length": (
        reply(3, ip=v6(bytes(15))),
        "replies[17].ip: an IPv6 address is 16 bytes, not 15",
    ),
    "port 65536": (reply(3, port=port(65536)), "replies[17].port: 65536 is not a port"),
    "invalid JSON": (
        reply(3, other_data=pb.JSON(json_string='{"a": ')),
        "replies[17].other_data: not valid JSON",
    ),
    "JSON that is no object": (
        reply(3, other_data=pb.JSON(json_string="[1, 2]")),
        "replies[17].other_data: must be a JSON object",
    ),
    "negative time": (reply(3, timestamp=ts(-5)), "replies[17].timestamp: negative time"),
    "nanoseconds of a second or more": (
        reply(3, timestamp=ts(NOW, 1_000_000_000)),
        "replies[17].timestamp: 1000000000 ns is not below one second",
    ),
    "time before 2000": (
        reply(3, timestamp=ts(5)),
        "replies[17].timestamp: timestamp is before 2000",
    ),
    "no address": (reply(3, ip=pb.IPAddress()), "replies[17].ip: no address"),
    "bot ID too long": (reply(3, bot_id="x" * 300), "replies[17].bot_id"),
    "bot ID with a NUL": (reply(3, bot_id="a\x00b"), "replies[17].bot_id: contains a NUL"),
}


def test_a_bad_reply_refuses_the_whole_batch(bms: BmsServer) -> None:
    for n, (case, (bad, message)) in enumerate(BAD_REPLIES.items()):
        meta = session(bms.register())
        good = replies_batch(1, [reply(i) for i in range(5 * n, 5 * n + 5)])
        items = [reply(i) for i in range(40)]
        items[17] = bad
        before = _count(bms)
        refused = _refused(
            lambda meta=meta, items=items, good=good: list(  # type: ignore[misc]
                bms.stub.StoreDatedBotReplyBatch(
                    iter([good, replies_batch(2, items)]), metadata=meta
                )
            )
        )
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, case
        assert message in (refused.details() or ""), case
        after = _count(bms)
        assert after["replies"] == before["replies"] + 5, case  # the good batch, none of it
        assert after["batches"] == before["batches"] + 1, case


def test_bad_failed_tries_and_edges_are_named_in_bms_words(bms: BmsServer) -> None:
    meta = session(bms.register())
    tries = [failed_try(i) for i in range(4)]
    tries[2] = failed_try(2, other_data=pb.JSON(json_string="nope"))
    refused = _refused(
        lambda: list(
            bms.stub.StoreDatedFailedTryBatch(
                iter([pb.StoreDatedFailedTryBatchRequest(batch_id=1, tries=tries)]), metadata=meta
            )
        )
    )
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.details() or "").startswith("tries[2].other_data: not valid JSON")
    edges = [edge(i) for i in range(4)]
    edges[1] = edge(1, dst_bot_id="bad\x00id")
    refused = _refused(
        lambda: list(
            bms.stub.StoreDatedEdgeBatch(
                iter([pb.StoreDatedEdgeBatchRequest(batch_id=1, edges=edges)]), metadata=meta
            )
        )
    )
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (refused.details() or "").startswith("edges[1].dst_bot_id: contains a NUL")
    assert _count(bms) == {"replies": 0, "failed_tries": 0, "edges": 0, "batches": 0}


def test_more_than_10000_items_are_refused(bms: BmsServer) -> None:
    meta = session(bms.register())
    one = reply(1)
    refused = _refused(
        lambda: list(
            bms.stub.StoreDatedBotReplyBatch(
                iter([replies_batch(1, [one] * 10_001)]), metadata=meta
            )
        )
    )
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "10001 items; a batch holds at most 10000" in (refused.details() or "")
    assert _count(bms)["replies"] == 0
    acks = list(
        bms.stub.StoreDatedBotReplyBatch(iter([replies_batch(2, [one] * 10_000)]), metadata=meta)
    )
    assert [a.batch_id for a in acks] == [2] and _count(bms)["replies"] == 10_000


def test_registration_needs_a_known_botnet_and_a_valid_token(bms: BmsServer) -> None:
    token = bms.token("vantage")
    request = pb.RegisterSessionRequest(botnet_id="hns")

    unknown = _refused(
        lambda: bms.stub.RegisterSession(
            pb.RegisterSessionRequest(botnet_id="nope"), metadata=auth("vantage", token)
        )
    )
    assert unknown.code() == grpc.StatusCode.NOT_FOUND
    assert "botmon botnet create nope" in (unknown.details() or "")

    other = bms.token("other")
    for meta, expected in [
        (auth("vantage", other), "no valid token of monitor 'vantage'"),  # another's token
        (auth("nobody", token), "no valid token of monitor 'nobody'"),
        ([("auth-monitor-id", "vantage"), ("auth-token-bin", b"\x01" * 31)], "31 bytes"),
        ([("auth-monitor-id", "vantage")], "auth-token-bin"),
        ([("auth-token-bin", b"\x01" * 32)], "auth-monitor-id is missing"),
    ]:
        refused = _refused(lambda meta=meta: bms.stub.RegisterSession(request, metadata=meta))  # type: ignore[misc]
        assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
        assert expected in (refused.details() or "")
    # The last value of a key counts (as in BMS).
    twice = [("auth-monitor-id", "other"), *auth("vantage", token)]
    assert len(bms.stub.RegisterSession(request, metadata=twice).session_token.token) == 4

    # Only crawler and admin tokens report, a botnet-limited one only on its botnets.
    bms.token("reader", role="viewer")
    bms.store.create_botnet("mozi")
    bms.token("mozi-only", botnets=["mozi"])
    for name in ("reader", "mozi-only"):
        refused = _refused(
            lambda name=name: bms.stub.RegisterSession(
                request, metadata=auth(name, bms.tokens[name])
            )  # type: ignore[misc]
        )
        assert refused.code() == grpc.StatusCode.PERMISSION_DENIED, name
    assert bms.register("mozi", name="mozi-only").session_token.token
    assert bms.register(name="boss") and bms.token("root", role="admin")
    assert {c.source for c in bms.store.latest_campaigns()} == {"vantage", "mozi-only", "boss"}


def test_every_other_call_needs_a_live_session(bms: BmsServer) -> None:
    batch = replies_batch(1, [reply(1)])
    for meta in ([], [("session-token-bin", b"\x00\x01\x02\x03")]):
        refused = _refused(
            lambda meta=meta: list(bms.stub.StoreDatedBotReplyBatch(iter([batch]), metadata=meta))
        )  # type: ignore[misc]
        assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
        refused = _refused(
            lambda meta=meta: bms.stub.Disconnect(pb.DisconnectRequest(), metadata=meta)
        )  # type: ignore[misc]
        assert refused.code() == grpc.StatusCode.UNAUTHENTICATED
    meta = session(bms.register())
    bms.clock.now += 599  # used within the timeout: still open, and its timeout starts again
    list(bms.stub.StoreDatedBotReplyBatch(iter([batch]), metadata=meta))
    bms.clock.now += 599
    list(bms.stub.StoreDatedBotReplyBatch(iter([batch]), metadata=meta))
    bms.clock.now += 601
    expired = _refused(lambda: list(bms.stub.StoreDatedBotReplyBatch(iter([batch]), metadata=meta)))
    assert expired.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in (expired.details() or "")
    assert _count(bms)["replies"] == 1


def test_a_registration_with_a_bad_address_port_or_config_is_refused(bms: BmsServer) -> None:
    for fields, message in [
        ({"public_ip": v6(b"\x01" * 4)}, "public_ip: an IPv6 address is 16 bytes, not 4"),
        ({"monitor_port": port(70000)}, "monitor_port: 70000 is not a port"),
        ({"config_json": pb.JSON(json_string="{")}, "config_json: not valid JSON"),
    ]:
        refused = _refused(lambda fields=fields: bms.register(**fields))  # type: ignore[misc]
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert message in (refused.details() or "")
    assert bms.store.latest_campaigns() == []


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    """A PostgreSQL cluster of this test alone, so it can crash it."""
    import shutil
    import tempfile
    from pathlib import Path

    from tests.fixtures.server import free_port

    root = Path(tempfile.mkdtemp(prefix="botmon-bms-outage-"))
    cluster = Cluster(root, free_port())
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.pg("stop", str(root), "immediate")
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.postgres
def test_store_away_answers_unavailable_and_the_resent_batch_is_stored_once(
    own_cluster: Cluster,
) -> None:
    """PostgreSQL crashes while a monitor streams: the batch gets UNAVAILABLE (the monitor
    keeps it), and once the database is back its re-send is stored, once."""
    from botmon.store import open_store

    cluster = own_cluster
    store = open_store(cluster.url)
    try:
        store.migrate()
        store.create_botnet("hns")
        with running_bms(store) as bms:
            meta = session(bms.register())
            first = replies_batch(1, [reply(i) for i in range(20)])
            list(bms.stub.StoreDatedBotReplyBatch(iter([first]), metadata=meta))
            cluster.crash()
            during = replies_batch(2, [reply(i) for i in range(30)])
            away = _refused(
                lambda: list(
                    bms.stub.StoreDatedBotReplyBatch(iter([during]), metadata=meta, timeout=30)
                )
            )
            assert away.code() == grpc.StatusCode.UNAVAILABLE, away.details()
            cluster.start()
            deadline = time.monotonic() + 30
            while True:  # the store's breaker probes every second
                try:
                    acks = list(
                        bms.stub.StoreDatedBotReplyBatch(iter([during, during]), metadata=meta)
                    )
                    break
                except grpc.RpcError as exc:
                    assert exc.code() == grpc.StatusCode.UNAVAILABLE and time.monotonic() < deadline
                    time.sleep(0.3)
            assert [a.batch_id for a in acks] == [2, 2]
            assert store.count_records("hns")["replies"] == 50
    finally:
        store.close()


def test_bms_records_are_stored_as_the_same_records_sent_over_http(store: Store) -> None:
    """The records of a BMS batch, written by hand as botmon's wire records and posted to
    ``/api/v1/ingest`` by the same monitor, export exactly as the gRPC ones do."""
    from starlette.testclient import TestClient

    from botmon.server.app import create_app
    from botmon.server.state import ServerState
    from botmon.settings import AnalysisSettings, ServerSettings

    store.create_botnet("hns")
    store.create_botnet("hns-http")
    v6_bot = bytes.fromhex("20010db8000000000000000000000042")
    replies = [reply(i) for i in range(30)] + [
        reply(30, ip=v6(v6_bot), bot_id="", other_data=pb.JSON(json_string=" {} ")),
        pb.DatedBotReply(timestamp=ts(NOW + 31, 999_999_999), ip=v4("0.0.0.1"), port=port(0)),
    ]
    tries = [failed_try(i) for i in range(5)] + [failed_try(5, bot_id="b", reason=None)]
    edges = [edge(i) for i in range(6)]
    with running_bms(store) as bms:
        meta = session(bms.register())
        list(bms.stub.StoreDatedBotReplyBatch(iter([replies_batch(1, replies)]), metadata=meta))
        list(
            bms.stub.StoreDatedFailedTryBatch(
                iter([pb.StoreDatedFailedTryBatchRequest(batch_id=1, tries=tries)]), metadata=meta
            )
        )
        list(
            bms.stub.StoreDatedEdgeBatch(
                iter([pb.StoreDatedEdgeBatchRequest(batch_id=1, edges=edges)]), metadata=meta
            )
        )
        token = bms.tokens["vantage"]

    def when(t: pb.Timestamp) -> float:
        return t.unix_seconds + t.unix_nano_seconds // 1000 / 1e6

    def address(a: pb.IPAddress) -> str:
        if a.WhichOneof("address") == "v6":
            return "2001:db8::42"
        n = a.v4.address
        return ".".join(str(n >> s & 255) for s in (24, 16, 8, 0))

    def extra(item: Any, name: str) -> Any:
        return json.loads(getattr(item, name).json_string) if item.HasField(name) else None

    body = {
        "botnet": "hns-http",
        "batch_id": "http-1",
        "replies": [
            {
                "timestamp": when(r.timestamp),
                "ip": address(r.ip),
                "port": r.port.port,
                "bot_id": r.bot_id if r.HasField("bot_id") else None,
                "data": extra(r, "other_data"),
            }
            for r in replies
        ],
        "failed_tries": [
            {
                "timestamp": when(f.timestamp),
                "ip": address(f.ip),
                "port": f.port.port,
                "bot_id": f.bot_id if f.HasField("bot_id") else None,
                "reason": f.reason if f.HasField("reason") else None,
            }
            for f in tries
        ],
        "edges": [
            {
                "timestamp": when(e.timestamp),
                "src_ip": address(e.src_ip),
                "src_port": e.src_port.port,
                "src_id": e.src_bot_id if e.HasField("src_bot_id") else None,
                "dst_ip": f"::{e.dst_ip.v6.address[-1]:x}",
                "dst_port": e.dst_port.port,
            }
            for e in edges
        ],
    }
    state = ServerState(
        store=store,
        settings=ServerSettings(db="unused", ingest_workers=0),
        analysis=AnalysisSettings(schedule_s=0),
    )
    with TestClient(create_app(state)) as http:
        answer = http.post(
            "/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.text
    for kind in ("replies", "failed_tries", "edges"):
        over_grpc = _rows(store, kind, "hns")
        over_http = _rows(store, kind, "hns-http")
        assert len(over_grpc) == len(body[kind]) > 0  # type: ignore[arg-type]
        for row in over_grpc + over_http:
            del row["botnet"]
            if row.get("data") is not None:  # JSON as sent (DuckDB) or as jsonb (PostgreSQL)
                row["data"] = json.loads(row["data"])
        assert over_grpc == over_http, kind


def test_revoking_the_token_ends_its_sessions(store: Store) -> None:
    store.create_botnet("hns")
    with running_bms(store, token_cache_s=0.0) as bms:
        meta = session(bms.register())
        batch = replies_batch(1, [reply(1)])
        list(bms.stub.StoreDatedBotReplyBatch(iter([batch]), metadata=meta))
        assert store.revoke_monitor("vantage")
        revoked = _refused(
            lambda: list(
                bms.stub.StoreDatedBotReplyBatch(
                    iter([replies_batch(2, [reply(2)])]), metadata=meta
                )
            )
        )
        assert revoked.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "was revoked" in (revoked.details() or "")
        assert store.count_records("hns")["replies"] == 1
