"""uTP packets (BEP 29) and Hajime's message framing and payload header (PROTOCOLS.md §3.4)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botmon.protocols import hajime_wire as hw
from botmon.protocols import utp


def test_file_request_matches_the_published_example() -> None:
    assert hw.file_request("config") == bytes.fromhex("0000000702") + b"config\0"
    msg, used = hw.unframe(hw.file_request("config") + b"more") or (None, 0)
    assert msg == hw.Message(hw.FILE_REQUEST, b"config\0") and used == 12
    assert hw.request_name(msg.payload) == "config"


def test_unframe_waits_for_the_whole_message_and_refuses_caps() -> None:
    framed = hw.frame(hw.FILE_CONTENT, b"x" * 10)
    assert hw.unframe(framed[:-1]) is None
    assert hw.unframe(framed[:3]) is None
    with pytest.raises(hw.WireError, match="oversized"):
        hw.unframe((hw.MAX_MESSAGE + 1).to_bytes(4, "big") + b"\x03")
    with pytest.raises(hw.WireError, match="bad_type"):
        hw.unframe(b"\0\0\0\0\x09")
    for bad in (b"config", b"\0", b"a" * 32 + b"\0", b"con\x01fig\0"):
        with pytest.raises(hw.WireError):
            hw.request_name(bad)


def test_payload_header_round_trip_at_the_published_offsets() -> None:
    header = hw.FileHeader("config", False, 0, 1_506_000_000, 0, b"\x55" * 128)
    content = hw.encode_file(header, b"[modules]\n")
    assert content[:7] == b"config\0" and content[0x22] == 0
    assert int.from_bytes(content[0x24:0x28], "big") == 1_506_000_000
    assert int.from_bytes(content[0x28:0x2C], "big") == 10
    assert content[0xAC:] == b"[modules]\n"
    got = hw.decode_header(content)
    assert got.name == "config" and got.type_name == "config" and got.body_size == 10
    lz4 = hw.FileHeader("atk.arm7.1", True, 2, 1, 0, decompressed_size=99, compressed_size=4)
    back = hw.decode_header(hw.encode_file(lz4, b"abcd"))
    assert back.lz4 and back.compressed_size == 4 and back.type_name == "module"
    with pytest.raises(hw.WireError, match="short_header"):
        hw.decode_header(content[:100])
    framed = hw.frame(hw.FILE_CONTENT, content)
    assert hw.peek_file(framed[:200]) == (hw.FILE_CONTENT, got)  # the body may follow later
    assert hw.peek_file(hw.file_request("config")) == (hw.FILE_REQUEST, None)


def test_utp_header_layout() -> None:
    raw = utp.syn(0x1234, 7, 1.5)
    assert len(raw) == 20 and raw[0] == 0x41 and raw[2:4] == b"\x12\x34"
    assert raw[4:8] == (1_500_000).to_bytes(4, "big") and raw[16:18] == b"\x00\x07"
    p = utp.decode(raw)
    assert (p.type_name, p.connection_id, p.seq_nr, p.ack_nr) == ("syn", 0x1234, 7, 0)
    assert utp.decode(utp.state(5, 9, 7, 0.0)).type == utp.ST_STATE
    d = utp.decode(utp.data_packet(5, 10, 8, b"hi", 0.0))
    assert (d.type, d.payload, d.ack_nr) == (utp.ST_DATA, b"hi", 8)
    assert utp.decode(utp.reset(1, 1, 1, 0.0)).type_name == "reset"
    assert utp.decode(utp.fin(1, 1, 1, 0.0)).type_name == "fin"


def test_utp_extensions_are_chained_and_capped() -> None:
    p = utp.Packet(utp.ST_STATE, 1, 2, 3, b"tail", extensions=((1, b"\xff\x00\x00\x00"), (2, b"")))
    raw = utp.encode(p)
    assert raw[1] == 1 and utp.decode(raw) == p
    assert utp.looks_like_utp(raw) and not utp.looks_like_utp(b"d1:t2:aa1:y1:qe" + bytes(10))
    endless = bytearray(utp.state(1, 1, 1, 0.0))
    endless[1] = 1
    endless += b"\x01\x00" * 20
    with pytest.raises(utp.UtpError, match="too_many_extensions"):
        utp.decode(bytes(endless))
    for bad, reason in ((b"\x41" * 5, "short"), (b"\x42" + bytes(19), "bad_version"),
                        (b"\x51" + bytes(19), "bad_type")):  # fmt: skip
        with pytest.raises(utp.UtpError, match=reason):
            utp.decode(bad)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_parsers_raise_only_their_own_errors(data: bytes) -> None:
    for parse in (utp.decode, hw.unframe, hw.decode_header, hw.request_name):
        with contextlib.suppress(utp.UtpError, hw.WireError):
            parse(data)  # type: ignore[operator]
