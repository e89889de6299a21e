"""Sality v3: the published packets (PROTOCOLS.md Appendix A) decode exactly as the table says,
the primitives match their vectors, everything built parses back, and the plugin's crawler
and sensor sides read and answer real wire bytes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botmon.protocols import sality
from botmon.protocols import sality_wire as wire
from botmon.protocols.contract import Peer, RequestContext, SensorContext, Status
from botmon.wire import Edge, Reply

PEER_EXCHANGE_REPLY = bytes.fromhex("390c17005d4d18a0c6950925e043f28e84d2145f7704e06e6f9a24")
HELLO_FROM_CLIENT = bytes.fromhex(
    "458b1f0042f0581cf4123909367ba172c0288a93b44ed9e59c1c17b20ae67d0abc861e"
)
SRC = Peer("127.3.4.5", 5990)
ME = Peer("127.0.0.1", 7001)
NOW = 1_700_000_000.0


def test_rc4_and_crc_primitives_match_the_published_vectors() -> None:
    assert wire.rc4(bytes.fromhex("1111"), bytes.fromhex("aabbccdd")).hex() == "2630c3ca"
    assert wire.crc16_modbus(bytes.fromhex("aabbccdd")) == 0x80C4
    assert wire.crc16_modbus(bytes.fromhex("aabbccdd")).to_bytes(2, "little") == b"\xc4\x80"


def test_the_real_peer_exchange_reply_decodes_as_published() -> None:
    packet = wire.decode(PEER_EXCHANGE_REPLY)
    assert int.from_bytes(PEER_EXCHANGE_REPLY[2:4], "little") == 23
    assert (packet.version, packet.url_pack, packet.command) == (3, 390, wire.PEER_EXCHANGE)
    assert len(packet.body) == 10 + 7 and packet.body[10:] == bytes(7)
    peer = wire.read_peer_reply(packet.body)
    assert peer == wire.PeerEntry("200.84.139.52", 8361, 18_420_792)
    assert wire.peer_class(peer.server_id) == "superpeer"
    # Built again from its fields it is byte for byte the captured packet.
    assert wire.encode(390, 2, wire.peer_reply(peer), padding=7) == PEER_EXCHANGE_REPLY


def test_the_real_hello_from_a_client_decodes_as_published() -> None:
    packet = wire.decode(HELLO_FROM_CLIENT)
    assert int.from_bytes(HELLO_FROM_CLIENT[2:4], "little") == 31
    assert (packet.version, packet.url_pack, packet.command) == (3, 215, wire.HELLO)
    hello = wire.read_hello(packet.body)
    assert hello == wire.Hello(server_id=0x003B1931)
    assert hello.server_id == 3_873_073 and wire.peer_class(3_873_073) == "client"
    assert packet.body[4:] == bytes(21)
    assert wire.encode(215, 3, wire.hello_request(3_873_073), padding=21) == HELLO_FROM_CLIENT


def test_a_518_byte_hello_carrying_a_url_pack_round_trips() -> None:
    # Seven URLs of 49 characters (350 bytes with their NULs) fill it up to 10 bytes of padding.
    pack = wire.UrlPack(
        version=391,
        urls=tuple(f"http://example.test/{'a' * 24}{i}.gif" for i in range(7)),
        signature=bytes(range(128)),
        list_type=1,
        recipients=2,
        frequency_min=40,
        installed=1,
    )
    payload = wire.hello_push(pack)
    padding = 514 - wire.FIXED_BYTES - len(payload)
    assert padding == 10
    data = wire.encode(390, wire.HELLO, payload, padding=padding)
    assert len(data) == 518 and data[2:4] == b"\x02\x02"
    hello = wire.read_hello(wire.decode(data).body)
    assert hello.ok and hello.server_id is None and hello.pack == pack


def test_every_packet_built_parses_back() -> None:
    cases = [
        (wire.SERVER_TEST, wire.server_test_request(17_000_000, 5990),
         wire.read_server_test_request, (17_000_000, 5990)),
        (wire.SERVER_TEST, wire.server_test_reply(12_345), wire.read_server_test_reply, 12_345),
        (wire.PEER_EXCHANGE, wire.peer_request(3), wire.read_peer_request, 3),
        (wire.PEER_EXCHANGE, wire.peer_reply(None), wire.read_peer_reply, None),
        (wire.HELLO, wire.hello_ok(), wire.read_hello, wire.Hello(ok=True)),
        (wire.HELLO, wire.hello_request(18_000_000), wire.read_hello,
         wire.Hello(server_id=18_000_000)),
    ]  # fmt: skip
    for command, payload, read, expected in cases:
        for padding in (3, 17, 32):
            packet = wire.decode(wire.encode(77, command, payload, padding))
            assert (packet.url_pack, packet.command) == (77, command)
            assert read(packet.body) == expected  # type: ignore[operator]


@settings(max_examples=200, deadline=None)
@given(
    ip=st.tuples(*[st.integers(0, 255)] * 4),
    port=st.integers(0, 65535),
    server_id=st.integers(0, 2**32 - 1),
    url_pack=st.integers(0, 2**32 - 1),
    padding=st.integers(3, 32),
)
def test_peer_replies_round_trip(
    ip: tuple[int, ...], port: int, server_id: int, url_pack: int, padding: int
) -> None:
    peer = wire.PeerEntry(".".join(map(str, ip)), port, server_id)
    packet = wire.decode(wire.encode(url_pack, 2, wire.peer_reply(peer), padding))
    named = wire.read_peer_reply(packet.body)
    assert packet.url_pack == url_pack
    assert named == (None if ip == (0, 0, 0, 0) and port == 0 and server_id == 0 else peer)


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda d: d[:12], "short"),
        (lambda d: b"", "empty"),
        (lambda d: d + b"\x00", "bad_length"),
        (lambda d: d[:5] + bytes([d[5] ^ 1]) + d[6:], "bad_checksum"),
        (lambda d: d + bytes(2000), "oversized"),
    ],
)
def test_broken_frames_say_why(mangle: object, reason: str) -> None:
    with pytest.raises(wire.SalityError) as err:
        wire.decode(mangle(PEER_EXCHANGE_REPLY))  # type: ignore[operator]
    assert err.value.reason == reason


def test_caps_are_checked() -> None:
    with pytest.raises(wire.SalityError, match="padding_length"):
        wire.encode(1, 2, b"", padding=33)
    with pytest.raises(wire.SalityError, match="bad_version"):
        body = bytes((4,)) + bytes(4) + bytes((2,)) + bytes(3)
        header = wire.crc16_modbus(body).to_bytes(2, "little") + len(body).to_bytes(2, "little")
        wire.decode(header + wire.rc4(header, body))
    with pytest.raises(wire.SalityError, match="too_many_urls"):
        wire.UrlPack(1, urls=("u",) * 31).to_bytes()
    raw = wire.UrlPack(1).to_bytes()
    with pytest.raises(wire.SalityError, match="url_list_too_long"):
        wire.read_url_pack(raw[:136] + (1025).to_bytes(4, "little") + raw[140:])
    with pytest.raises(wire.SalityError, match="bad_padding"):
        wire.read_peer_request(b"\x01\x00\x00\x00\x00\x01\x00")


def test_the_crawler_reads_the_real_reply_as_one_superpeer_and_an_edge() -> None:
    res = sality.read_reply(PEER_EXCHANGE_REPLY, SRC, NOW, RequestContext())
    assert res.status is Status.BOT_REPLY and res.reason is None
    assert res.peers == (Peer("200.84.139.52", 8361),)
    assert res.replies[0].data == {"url_pack": "390"}
    edge = res.edges[0]
    assert (edge.dst_ip, edge.dst_port, edge.dst_id) == ("200.84.139.52", 8361, "18420792")
    request = wire.decode(sality.peer_request(SRC, RequestContext()))
    assert request.command == wire.PEER_EXCHANGE
    assert wire.peer_class(wire.read_peer_request(request.body)) == "client"


def test_the_sensor_answers_and_records_a_real_client_hello() -> None:
    ctx = SensorContext(ME, "00000000000000ff")
    answer, records = sality.handle_request(HELLO_FROM_CLIENT, SRC, NOW, ctx)
    assert answer is not None
    packet = wire.decode(answer)
    assert packet.url_pack == 215 and wire.read_hello(packet.body) == wire.Hello(ok=True)
    reply, edge = records
    assert isinstance(reply, Reply) and isinstance(edge, Edge)
    assert reply.bot_id == "3873073"
    assert reply.data == {
        "url_pack": "215",
        "message": "hello",
        "server_id": "3873073",
        "peer_class": "client",
    }
    own = sality.sensor_server_id(ctx)
    assert wire.peer_class(own) == "superpeer" and edge.dst_id == str(own)


def test_the_sensor_names_only_itself_in_peer_exchange() -> None:
    ctx = SensorContext(ME, "0123456789abcdef")
    request = wire.encode(400, wire.PEER_EXCHANGE, wire.peer_request(17_500_000), 5)
    answer, records = sality.handle_request(request, SRC, NOW, ctx)
    assert answer is not None
    res = sality.read_reply(answer, ME, NOW, RequestContext())
    assert res.peers == (ME,)
    assert res.edges[0].dst_id == str(sality.sensor_server_id(ctx))
    assert records[0].data is not None and records[0].data["peer_class"] == "superpeer"


def test_the_sensor_announces_with_a_superpeer_hello_and_records_pushed_packs() -> None:
    ctx = SensorContext(ME, "0123456789abcdef")
    hello = wire.read_hello(wire.decode(sality.announce(SRC, ctx)).body)
    assert hello.server_id == sality.sensor_server_id(ctx)
    push = wire.encode(391, wire.HELLO, wire.hello_push(wire.UrlPack(391, ("http://x.test/",))))
    answer, records = sality.handle_request(push, SRC, NOW, ctx)
    assert answer is None
    assert records[0].data == {"url_pack": "391", "pushed_pack": "391", "message": "reply"}


def test_server_test_is_answered_with_the_testers_own_id() -> None:
    ctx = SensorContext(ME, "0123456789abcdef")
    request = wire.encode(1, wire.SERVER_TEST, wire.server_test_request(1, 4444), 3)
    answer, records = sality.handle_request(request, SRC, NOW, ctx)
    assert answer is not None
    assert wire.read_server_test_reply(wire.decode(answer).body) == 1
    assert records[0].data is not None and records[0].data["peer_class"] == "undecided"


@settings(max_examples=100, deadline=None)
@given(key=st.binary(min_size=1, max_size=40), data=st.binary(max_size=200))
def test_the_openssl_rc4_path_equals_plain_rc4(key: bytes, data: bytes) -> None:
    # 4-byte keys go through OpenSSL as the key repeated to 16 bytes; the schedule is the same.
    assert wire.rc4(key, data) == wire._rc4_python(key, data)
