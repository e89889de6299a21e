"""ZeroAccess v2: the published vectors decode exactly, both variants round-trip, the plugin
reads what its own sensor and the emulator's bots send, and hostile bytes are refused."""

from __future__ import annotations

import socket
import struct
import zlib
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botmon.protocols import zeroaccess as za
from botmon.protocols import zeroaccess_wire as wire
from botmon.protocols.contract import Peer, RequestContext, SensorContext, Status
from botmon.wire import Edge, Reply

NOW = 1_790_000_000.0
SRC = Peer("127.1.2.3", 16471)

# PROTOCOLS.md Appendix A (S1 example.py, S5 masscan): wire bytes and what they decode to.
GETL_VECTORS = [
    ("cc3a060828948dabc9c0d199a548bf8c", 0x6E724AFE, bytes.fromhex("36c91cbf")),
    ("465d499e28948dabc9c0d199e0f2c25e", None, bytes.fromhex("7373616d")),
    ("dabe6ece28948dabc9c0d199ecd6a93c", None, bytes.fromhex("7f570a0f")),
]
RETL_VECTOR = (
    "8561d771 28948dbe c9c0d199 8381a333 6a6dcfe2 23558fce d5bbe7e3 434a393a ddce06b9 "
    "bd37e1e8 fb616987 41c080a3 34f52c63 bd1f078e e84d3cde 4e601838 c298cf8e 9d9f65e0 "
    "6567343e d5609281 e199dbfd f99d4d06 9b6364f2 40693219 f68a9bcc 99bbcd64 b72f6437 "
    "fbf03293 76b99ad8 7dddcf4c 7fe26067 656b3b33 438e8998 19b3e9cc 953e2c67 edd2a233 "
    "26034767"
)
RETL_PEERS = [
    "76.110.136.133",
    "76.183.251.126",
    "187.252.118.205",
    "98.168.169.86",
    "83.211.47.36",
    "117.212.48.194",
    *(f"{a}.254.253.254" for a in (182, 180, 166, 135, 134, 119, 117, 115, 113, 92)),
]


@pytest.fixture(autouse=True)
def _variant_2013() -> Iterator[None]:
    za.configure(za.ZeroAccessSettings())
    yield
    za.configure(za.ZeroAccessSettings())


def _ctx(round_: int = 1) -> RequestContext:
    ctx = RequestContext()
    ctx.now, ctx.round = NOW, round_
    return ctx


@pytest.mark.parametrize(("hex_", "crc", "nonce"), GETL_VECTORS)
def test_published_getl_vectors_decode(hex_: str, crc: int | None, nonce: bytes) -> None:
    data = bytes.fromhex(hex_)
    plain = wire.unseal(data, wire.KEY_2013)
    assert plain[4:8] == b"Lteg" and plain[8:12] == b"\x00" * 4 and plain[12:16] == nonce
    if crc is not None:
        assert struct.unpack("<I", plain[:4])[0] == crc
    msg = wire.decode(data, "2013")
    assert (msg.command, msg.word, msg.nonce) == ("getL", 0, int.from_bytes(nonce, "little"))
    # And botmon builds the very same bytes for that nonce.
    assert wire.getl_2013(int.from_bytes(nonce, "little")) == data


def test_the_first_key_word_is_ftp2_backwards_on_the_wire() -> None:
    assert wire.obfuscate(b"\x00" * 4, wire.KEY_2013) == bytes.fromhex("32707466")


def test_published_148_byte_retl_decodes_as_the_table_says() -> None:
    data = bytes.fromhex(RETL_VECTOR.replace(" ", ""))
    assert len(data) == 148
    msg = wire.decode(data, "2013")
    assert msg.command == "retL" and msg.word == 0 and msg.files == ()
    assert [ip for ip, _ in msg.peers] == RETL_PEERS
    assert [w for _, w in msg.peers] == list(range(0x0001536F, 0x0001537F))
    # Re-encoding what was read gives the published bytes back.
    assert wire.retl_2013(msg.peers) == data
    res = za.read_reply(data, SRC, NOW, _ctx())
    assert res.status is Status.BOT_REPLY and res.bot_id is None
    assert [p.ip for p in res.peers] == RETL_PEERS
    assert {p.port for p in res.peers} == {SRC.port}  # 2013 records have no port
    (reply,) = res.replies
    assert reply.data == {
        "variant": "2013",
        "network": "16471",
        "list_age": "opaque",
        "peer_ts": list(range(0x0001536F, 0x0001537F)),
    }
    assert [(e.src_ip, e.dst_ip, e.dst_port) for e in res.edges] == [
        (SRC.ip, ip, SRC.port) for ip in RETL_PEERS
    ]


def test_a_flipped_bit_fails_the_crc_and_a_ragged_length_is_refused() -> None:
    data = bytearray(bytes.fromhex(RETL_VECTOR.replace(" ", "")))
    data[40] ^= 1
    assert za.read_reply(bytes(data), SRC, NOW, _ctx()).reason == "bad_crc"
    assert za.read_reply(bytes(data[:-1]), SRC, NOW, _ctx()).reason == "bad_length"
    assert za.read_reply(b"", SRC, NOW, _ctx()).reason == "empty"
    assert za.read_reply(b"\x00" * 8, SRC, NOW, _ctx()).reason == "short"


def _sealed_2013(count: int, files: int, extra: bytes = b"") -> bytes:
    body = b"Lter" + struct.pack("<II", 0, count) + b"\x7f\x00\x00\x01" * 2 * min(count, 16)
    body += struct.pack("<I", files) + extra
    plain = struct.pack("<I", zlib.crc32(b"\x00" * 4 + body)) + body
    return wire.obfuscate(plain, wire.KEY_2013)


def test_counts_are_capped_and_must_match_the_length() -> None:
    assert za.read_reply(_sealed_2013(17, 0), SRC, NOW, _ctx()).reason == "too_many_peers"
    assert za.read_reply(_sealed_2013(2, 33), SRC, NOW, _ctx()).reason == "too_many_files"
    assert za.read_reply(_sealed_2013(2, 1), SRC, NOW, _ctx()).reason == "bad_length"
    one_file = _sealed_2013(2, 1, b"\x01" * wire.FILE_BYTES)
    msg = wire.decode(one_file, "2013")
    assert len(msg.files) == 1 and msg.files[0].name == 0x01010101
    assert za.read_reply(one_file, SRC, NOW, _ctx()).replies[0].data["files"] == 1  # type: ignore[index]


def test_2013_round_trip_with_files_and_newl() -> None:
    files = (wire.FileHeader(0x1234, 0x5678, 999, bytes(range(128))),)
    peers = [(f"127.0.{i}.1", 1000 + i) for i in range(16)]
    data = wire.retl_2013(peers, files=files, flags=7)
    assert len(data) == 148 + 140
    msg = wire.decode(data, "2013")
    assert (msg.word, list(msg.peers), msg.files) == (7, peers, files)
    newl = wire.decode(wire.newl_2013("127.9.8.7"), "2013")
    assert (newl.command, newl.advertised) == ("newL", "127.9.8.7")


def test_2015_round_trip_ports_hours_and_counter() -> None:
    za.configure(za.ZeroAccessSettings(variant="2015"))
    getl = wire.decode(wire.getl_2015(0xDEADBEEF, 0x7FF), "2015")
    assert (getl.command, getl.word, getl.opt1, getl.opt2) == ("getL", 0xDEADBEEF, 0, 0x3FF)
    assert wire.decode(wire.getl_2015(1, 2, file_list=True), "2015").opt2 == 0x8002
    hours = int((NOW - 3 * 3600 - wire.HOURS_EPOCH) // 3600)
    records = [(f"127.5.{i}.9", wire.peer_word(0x0123 + i, hours - i)) for i in range(10)]
    data = wire.retl_2015(0xCAFE, 0x8123, records)
    assert len(data) == wire.RETL_2015_EMPTY  # 16 records whatever the list holds
    msg = wire.decode(data, "2015")
    assert (msg.word, msg.opt1, msg.opt2) == (0xCAFE, 0, 0x123)
    assert list(msg.peers[:10]) == records and msg.peers[10:] == (("0.0.0.0", 0),) * 6
    src = Peer("127.1.1.1", 0x4000 + 77)
    res = za.read_reply(data, src, NOW, _ctx())
    assert res.status is Status.BOT_REPLY
    assert [(p.ip, p.port) for p in res.peers] == [
        (f"127.5.{i}.9", 0x4000 + 0x0123 + i) for i in range(10)
    ]
    data_of = res.replies[0].data
    assert data_of is not None
    assert data_of["list_age"] == "1-6 h" and data_of["arch"] == "32-bit"
    assert data_of["variant"] == "2015" and data_of["session_id"] == "0000cafe"
    high = za.read_reply(data, Peer("127.1.1.1", 0x8000 + 5), NOW, _ctx())
    assert {p.port for p in high.peers} == {0x8000 + 0x0123 + i for i in range(10)}
    assert high.replies[0].data["arch"] == "64-bit"  # type: ignore[index]
    # A 2013 reader refuses 2015 bytes (another key): they never pass as a bot reply.
    za.configure(za.ZeroAccessSettings())
    assert za.read_reply(data, src, NOW, _ctx()).status is Status.NO_REPLY


def test_a_custom_key_is_used_both_ways() -> None:
    za.configure(za.ZeroAccessSettings(key="01020304"))
    request = za.peer_request(SRC, _ctx())
    assert wire.decode(request, "2013", 0x01020304).command == "getL"
    with pytest.raises(wire.WireError):
        wire.decode(request, "2013")


@pytest.mark.parametrize(
    ("age", "label"),
    [(-5, "<1 h"), (0, "<1 h"), (3599, "<1 h"), (3600, "1-6 h"), (7 * 3600, "6-24 h"),
     (2 * 86400, "1-7 d"), (30 * 86400, ">7 d")],
)  # fmt: skip
def test_list_age_buckets(age: float, label: str) -> None:
    assert za.age_bucket(age) == label


def test_requests_look_random_and_differ_per_peer_and_round() -> None:
    a = za.peer_request(SRC, _ctx(1))
    b = za.peer_request(SRC, _ctx(2))
    c = za.peer_request(Peer("127.1.2.4", 16471), _ctx(1))
    assert len({a, b, c}) == 3 and len(a) == 16
    assert len({wire.decode(x, "2013").nonce for x in (a, b, c)}) == 3


@pytest.mark.parametrize("variant", ["2013", "2015"])
def test_sensor_answers_a_getl_naming_itself_and_records_the_contact(variant: str) -> None:
    za.configure(za.ZeroAccessSettings(variant=variant))  # type: ignore[arg-type]
    listen = Peer("127.0.0.1", 0x4000 + 900)
    ctx = SensorContext(listen, "s1")
    bot = Peer("127.3.3.3", 0x4000 + 12)
    getl = wire.getl_2013(0xABCD) if variant == "2013" else wire.getl_2015(0xABCD, 9)
    answer, records = za.handle_request(getl, bot, NOW, ctx)
    assert answer is not None
    reply, edge = records
    assert isinstance(reply, Reply) and isinstance(edge, Edge)
    assert reply.data is not None and reply.data["message"] == "request"
    assert reply.data["variant"] == variant
    assert (edge.src_ip, edge.src_port, edge.dst_ip, edge.dst_port) == (*bot, *listen)
    # What the bot reads: the sensor, named freshest and first.
    seen = za.read_reply(answer, listen, NOW, _ctx())
    assert seen.status is Status.BOT_REPLY
    assert seen.peers[0] == listen if variant == "2015" else seen.peers[0].ip == listen.ip
    if variant == "2015":
        assert wire.decode(answer, "2015").opt2 == 9
        assert seen.replies[0].data["list_age"] == "<1 h"  # type: ignore[index]
    # A bot's retL (its answer to the sensor's announcement) is a reply contact with edges.
    retl = (
        wire.retl_2013([("127.8.8.8", 1)])
        if variant == "2013"
        else wire.retl_2015(1, 0, [("127.8.8.8", wire.peer_word(3, 1))])
    )
    none, records = za.handle_request(retl, bot, NOW, ctx)
    assert none is None
    assert records[0].data["message"] == "reply"  # type: ignore[union-attr]
    assert [(e.dst_ip) for e in records[1:]] == ["127.8.8.8"]  # type: ignore[union-attr]
    assert za.handle_request(b"\x00" * 16, bot, NOW, ctx) == (None, [])
    announce = za.announce(bot, ctx)
    assert wire.decode(announce, variant).command == "getL"  # type: ignore[arg-type]


def test_sensor_on_a_wildcard_address_names_nobody() -> None:
    ctx = SensorContext(Peer("0.0.0.0", 16471), "s")
    answer, _ = za.handle_request(wire.getl_2013(1), SRC, NOW, ctx)
    assert answer is not None and wire.decode(answer, "2013").peers == ()


def test_newl_from_a_bot_is_a_contact_and_an_edge() -> None:
    ctx = SensorContext(Peer("127.0.0.1", 16471), "s")
    answer, records = za.handle_request(wire.newl_2013("127.6.6.6"), SRC, NOW, ctx)
    assert answer is None and len(records) == 2
    assert records[1] == Edge(NOW, SRC.ip, SRC.port, "127.6.6.6", SRC.port)


@settings(max_examples=200, deadline=None)
@given(
    variant=st.sampled_from(["2013", "2015"]),
    peers=st.lists(st.tuples(st.ip_addresses(v=4), st.integers(0, 2**32 - 1)), max_size=16),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=3),
)
def test_valid_and_damaged_retls_never_raise(
    variant: str, peers: list[tuple[object, int]], flips: list[tuple[int, int]]
) -> None:
    za.configure(za.ZeroAccessSettings(variant=variant))  # type: ignore[arg-type]
    records = [(str(ip), w) for ip, w in peers]
    data = bytearray(
        wire.retl_2013(records) if variant == "2013" else wire.retl_2015(5, 5, records)
    )
    res = za.read_reply(bytes(data), SRC, NOW, _ctx())
    assert res.status is Status.BOT_REPLY and len(res.peers) <= 16
    for p in res.peers:
        assert socket.inet_aton(p.ip) and 0 < p.port <= 65535
    for pos, value in flips:
        data[pos % len(data)] = value
    res = za.read_reply(bytes(data), SRC, NOW, _ctx())
    assert res.status in (Status.BOT_REPLY, Status.NO_REPLY) and len(res.peers) <= 16
