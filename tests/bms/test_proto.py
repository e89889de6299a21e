"""The generated BMS modules in the repository are what the ``.proto`` gives today."""

from __future__ import annotations

from pathlib import Path

from botmon.bms import bms_storage_pb2
from botmon.bms.generate import PROTO, generate


def test_generated_modules_match_the_proto(tmp_path: Path) -> None:
    assert generate(tmp_path) == 0
    produced = tmp_path / "botmon" / "bms"
    for name in ("bms_storage_pb2.py", "bms_storage_pb2.pyi", "bms_storage_pb2_grpc.py"):
        kept = PROTO.with_name(name).read_text()
        assert (produced / name).read_text() == kept, f"{name} is stale: run botmon.bms.generate"


def test_field_numbers_are_the_bms_wire_contract() -> None:
    reply = bms_storage_pb2.DatedBotReply.DESCRIPTOR.fields_by_name
    assert {name: f.number for name, f in reply.items()} == {
        "timestamp": 1,
        "bot_id": 2,
        "ip": 3,
        "port": 4,
        "other_data": 5,
    }
    edge = bms_storage_pb2.DatedEdge.DESCRIPTOR.fields_by_name
    assert edge["dst_port"].number == 7 and edge["src_ip"].number == 3
    reason = bms_storage_pb2.DisconnectReason
    assert reason.Value("DISCONNECT_REASON_BE_RIGHT_BACK_WITH_NEW_CONFIG") == 3
    v4 = bms_storage_pb2.IPv4Address(address=0x7F000001).SerializeToString()
    assert v4 == b"\x0d\x01\x00\x00\x7f"  # fixed32, little-endian on the wire
