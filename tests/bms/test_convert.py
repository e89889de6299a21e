"""BMS batches become the ingest body botmon's validation takes: values, names, hostile bytes."""

from __future__ import annotations

import random

import msgspec
import pytest

from botmon.bms import bms_storage_pb2 as pb
from botmon.bms.convert import bms_rejection, request_batch_id, wire_body
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
    decoded: dict[str, object] = msgspec.json.decode(wire_body(kind, "hns", raw))
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
    assert str(body["batch_id"]).startswith("bms-hns-replies-")
    assert request_batch_id("replies", request.SerializeToString()) == 4_294_967_295
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


def _edges(batch_id: int, port: int = 1) -> pb.StoreDatedEdgeBatchRequest:
    stamp = pb.Timestamp(unix_seconds=1_700_000_000, unix_nano_seconds=5_000)
    address = pb.IPAddress(v4=pb.IPv4Address(address=0x7F000001))
    edge = pb.DatedEdge(
        timestamp=stamp, src_ip=address, src_port=pb.Port(port=port), dst_ip=address
    )
    return pb.StoreDatedEdgeBatchRequest(batch_id=batch_id, edges=[edge, edge])


@pytest.mark.parametrize("first_id", [0, 1, 127, 128, 300_000, 4_294_967_295])
def test_a_batch_is_known_by_its_items_not_its_bms_id(first_id: int) -> None:
    """A re-sent batch (same items) is the same botmon batch whatever BMS id it carries now
    (a monitor that registered anew may number again from 0); other items, another batch."""
    ids = {
        str(_body("edges", _edges(batch_id))["batch_id"])
        for batch_id in (first_id, 0, 1, 2**21, 4_294_967_295)
    }
    assert len(ids) == 1 and ids.pop().startswith("bms-hns-edges-")
    assert (
        _body("edges", _edges(first_id))["batch_id"]
        != _body("edges", _edges(first_id, 2))["batch_id"]
    )
    assert request_batch_id("edges", _edges(first_id).SerializeToString()) == first_id


def test_a_batch_id_written_after_the_items_is_read_too() -> None:
    """Protobuf allows fields in any order: the id after the items still counts, and the
    batch is still the same botmon batch."""
    items = _edges(0).SerializeToString()
    reordered = items + _edges(77, port=0).SerializeToString()[:2]  # field 1: 0x08 0x4d
    assert request_batch_id("edges", reordered) == 77
    assert (
        _body("edges", _edges(77))["batch_id"]
        == (msgspec.json.decode(wire_body("edges", "hns", reordered))["batch_id"])
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
            body = wire_body(kind, "hns", bytes(raw))
        except BatchRejected as exc:
            assert exc.message
            outcomes["refused"] += 1
            continue
        msgspec.json.decode(body)  # always a JSON document
        outcomes["converted"] += 1
    assert outcomes["converted"] and outcomes["refused"]
