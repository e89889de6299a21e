"""BMS batches become the ingest body botmon's validation takes: values, names, hostile bytes."""

from __future__ import annotations

import random

import msgspec
import pytest

from botmon.bms import bms_storage_pb2 as pb
from botmon.bms.convert import batch_id_for, bms_batch_id, bms_rejection, wire_body
from botmon.validation import BatchRejected, validate_batch


def _reply(**fields: object) -> pb.DatedBotReply:
    values: dict[str, object] = {
        "timestamp": pb.Timestamp(unix_seconds=1_700_000_000, unix_nano_seconds=999_999_999),
        "ip": pb.IPAddress(v4=pb.IPv4Address(address=0xFFFFFFFF)),
        "port": pb.Port(port=65535),
    }
    values.update(fields)
    return pb.DatedBotReply(**values)  # type: ignore[arg-type]


def _body(kind: str, request: object) -> dict[str, object]:
    raw = request.SerializeToString()  # type: ignore[attr-defined]
    decoded: dict[str, object] = msgspec.json.decode(wire_body(kind, "hns", "bms-1-0a0b0c0d-", raw))
    return decoded


def test_values_at_the_edges_of_their_ranges() -> None:
    v6 = pb.IPAddress(v6=pb.IPv6Address(address=bytes(10) + b"\xff\xff\x7f\x00\x00\x01"))
    request = pb.StoreDatedBotReplyBatchRequest(
        batch_id=4_294_967_295,
        replies=[
            _reply(),
            _reply(
                ip=v6, port=pb.Port(port=0), bot_id="", other_data=pb.JSON(json_string=" null ")
            ),
            _reply(other_data=pb.JSON(json_string='\n{"a": [1, {"b": null}]}\t')),
        ],
    )
    body = _body("replies", request)
    assert body["batch_id"] == "bms-1-0a0b0c0d-replies-4294967295"
    assert bms_batch_id(str(body["batch_id"])) == 4_294_967_295
    first, second, third = body["replies"]  # type: ignore[misc]
    # Microseconds kept, nanoseconds below them dropped (BMS keeps microseconds).
    assert first == {"timestamp": 1_700_000_000.999999, "ip": "255.255.255.255", "port": 65535}
    assert second == {
        "timestamp": 1_700_000_000.999999,
        "ip": "::ffff:127.0.0.1",
        "port": 0,
        "bot_id": "",
    }
    assert third["data"] == {"a": [1, {"b": None}]}
    checked = validate_batch(msgspec.json.encode(body), now=1_700_000_100)
    assert len(checked.replies) == 3


def test_a_batch_id_names_its_session_and_kind() -> None:
    assert batch_id_for("bms-3-01020304-", "edges", 7) == "bms-3-01020304-edges-7"
    assert batch_id_for("bms-3-01020304-", "edges", 7) != batch_id_for(
        "bms-3-01020305-", "edges", 7
    )


def test_botmon_names_become_bms_names() -> None:
    failed = BatchRejected(
        "failed_tries[3].data: data must be a JSON object or null",
        reason="invalid_record",
        kind="failed_tries",
        index=3,
        field="data",
    )
    assert bms_rejection(failed, "failed_tries") == (
        "tries[3].other_data: data must be a JSON object or null"
    )
    edge = BatchRejected(
        "edges[0].src_id: contains a NUL character",
        reason="invalid_record",
        kind="edges",
        index=0,
        field="src_id",
    )
    assert bms_rejection(edge, "edges") == "edges[0].src_bot_id: contains a NUL character"


@pytest.mark.parametrize("kind", ["replies", "failed_tries", "edges"])
def test_hostile_bytes_are_refused_or_converted_never_a_crash(kind: str) -> None:
    rng = random.Random(16)
    good = {
        "replies": pb.StoreDatedBotReplyBatchRequest(batch_id=1, replies=[_reply()] * 3),
        "failed_tries": pb.StoreDatedFailedTryBatchRequest(
            batch_id=1,
            tries=[pb.DatedFailedTry(timestamp=pb.Timestamp(unix_seconds=1_700_000_000))],
        ),
        "edges": pb.StoreDatedEdgeBatchRequest(batch_id=1, edges=[pb.DatedEdge()]),
    }[kind].SerializeToString()
    outcomes = {"converted": 0, "refused": 0}
    for _ in range(2000):
        raw = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            raw[rng.randrange(len(raw))] = rng.randrange(256)
        if rng.random() < 0.2:
            raw = bytearray(rng.randbytes(rng.randint(0, 64)))
        try:
            body = wire_body(kind, "hns", "p-", bytes(raw))
        except BatchRejected as exc:
            assert exc.message
            outcomes["refused"] += 1
            continue
        msgspec.json.decode(body)  # always a JSON document
        outcomes["converted"] += 1
    assert outcomes["converted"] and outcomes["refused"]
