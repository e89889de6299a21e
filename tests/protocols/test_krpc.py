"""The KRPC codec: BEP 5's examples, BEP 42's vectors, compact addresses, and hostile bytes."""

from __future__ import annotations

import contextlib

import fastbencode
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botmon.protocols import krpc

NODE = b"abcdefghij0123456789"
OTHER = b"mnopqrstuvwxyz123456"

# BEP 5's canonical messages (PROTOCOLS.md §1.2).
PING = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"
PONG = b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re"
FIND_NODE = (
    b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe"
)
GET_PEERS = (
    b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e"
    b"1:q9:get_peers1:t2:aa1:y1:qe"
)
ERROR = b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee"


def test_bep5_examples_encode_byte_for_byte() -> None:
    assert krpc.ping(b"aa", NODE) == PING
    assert krpc.response(b"aa", {b"id": OTHER}) == PONG
    assert krpc.find_node(b"aa", NODE, OTHER) == FIND_NODE
    assert krpc.get_peers(b"aa", NODE, OTHER) == GET_PEERS
    assert krpc.error(b"aa", 201, "A Generic Error Ocurred") == ERROR


def test_bep5_examples_decode() -> None:
    ping = krpc.decode(PING)
    assert (ping.kind, ping.tid, ping.method, ping.node_id) == ("q", b"aa", "ping", NODE)
    assert krpc.decode(PONG).node_id == OTHER
    find = krpc.decode(FIND_NODE)
    assert find.method == "find_node" and find.bytes_arg(b"target", 20) == OTHER
    assert krpc.decode(GET_PEERS).bytes_arg(b"info_hash", 20) == OTHER
    assert krpc.decode(ERROR).error == (201, "A Generic Error Ocurred")
    assert krpc.transaction_id(PONG) == b"aa"


# BEP 42 (PROTOCOLS.md §1.3 and Appendix A): IP, random byte, first 21 bits of the ID.
BEP42 = [
    ("124.31.75.21", 1, "5fbfbf"),
    ("21.75.31.124", 86, "5a3ce9"),
    ("65.23.51.170", 22, "a5d432"),
    ("84.124.73.14", 65, "1b0321"),
    ("43.213.53.83", 90, "e56f6c"),
]


@pytest.mark.parametrize(("ip", "rand", "prefix"), BEP42)
def test_bep42_vectors(ip: str, rand: int, prefix: str) -> None:
    node_id = krpc.bep42_node_id(ip, rand, b"\x11" * 16)
    assert int.from_bytes(node_id[:3], "big") >> 3 == int(prefix, 16) >> 3
    assert node_id[-1] == rand
    assert krpc.bep42_valid(ip, node_id) is True
    flipped = bytes([node_id[0] ^ 0x80]) + node_id[1:]
    assert krpc.bep42_valid(ip, flipped) is False


def test_bep42_exempts_local_addresses_and_checks_ipv6() -> None:
    assert krpc.bep42_valid("127.0.0.1", b"\0" * 20) is None
    assert krpc.bep42_valid("192.168.1.1", b"\0" * 20) is None
    v6 = krpc.bep42_node_id("2a00:1450:4001::1", 3)
    assert krpc.bep42_valid("2a00:1450:4001::1", v6) is True
    assert krpc.bep42_valid("2a00:1450:4001::1", bytes([v6[0] ^ 1]) + v6[1:]) is False


def test_compact_nodes_round_trip_v4_and_v6() -> None:
    nodes = [
        krpc.NodeInfo(NODE, "127.0.0.5", 6881),
        krpc.NodeInfo(OTHER, "::1", 51413),
        krpc.NodeInfo(b"\xff" * 20, "127.9.8.7", 65535),
    ]
    v4, v6 = krpc.encode_nodes(nodes)
    assert len(v4) == 2 * krpc.NODE4 and len(v6) == krpc.NODE6
    answer = krpc.decode(krpc.response(b"t1", {b"id": NODE, b"nodes": v4, b"nodes6": v6}))
    assert answer.nodes == [nodes[0], nodes[2], nodes[1]]


def test_node_lists_are_capped_and_checked() -> None:
    many = b"".join(NODE + krpc.encode_peer("127.0.0.1", 1000 + i) for i in range(100))
    answer = krpc.decode(krpc.response(b"t1", {b"id": NODE, b"nodes": many[: 26 * 100]}))
    assert len(answer.nodes) == krpc.MAX_NODES
    broken = krpc.decode(krpc.response(b"t1", {b"id": NODE, b"nodes": b"x" * 27}))
    with pytest.raises(krpc.KrpcError) as info:
        _ = broken.nodes
    assert info.value.reason == "bad_nodes"


def test_values_and_samples() -> None:
    peers = [krpc.encode_peer("127.0.0.2", 7000), krpc.encode_peer("::1", 7001)]
    got = krpc.decode(krpc.response(b"t", {b"id": NODE, b"values": peers, b"token": b"tok"}))
    assert got.values == [("127.0.0.2", 7000), ("::1", 7001)]
    assert got.bytes_arg(b"token", max_length=krpc.MAX_TOKEN) == b"tok"
    sampled = krpc.decode(krpc.response(b"t", {b"id": NODE, b"samples": NODE + OTHER}))
    assert sampled.samples == [NODE, OTHER]


def test_client_version() -> None:
    assert krpc.client_version(b"LT\x02\x01") == ("LT", 0x0201)
    assert krpc.client_version(b"\x00\x01\x02\x03") == (None, None)
    assert krpc.client_version(None) == (None, None)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"l1:ae", "not_dict"),
        (b"d1:t2:aa", "not_bencode"),
        (b"d1:ti1e1:y1:qe", "bad_tid"),
        (b"d1:t2:aa1:y1:xe", "bad_type"),
        (b"d1:t2:aa1:y1:qe", "bad_method"),
        (b"d1:q4:ping1:t2:aa1:y1:qe", "bad_args"),
        (b"d1:t2:aa1:y1:re", "bad_response"),
        (b"d1:eli201ee1:t2:aa1:y1:ee", "bad_error"),
        (b"d" + b"x" * krpc.MAX_MESSAGE + b"e", "oversized"),
    ],
)
def test_malformed_datagrams_are_classified(data: bytes, reason: str) -> None:
    with pytest.raises(krpc.KrpcError) as info:
        krpc.decode(data)
    assert info.value.reason == reason
    assert krpc.transaction_id(data) is None


def _bencodable() -> st.SearchStrategy[object]:
    leaves = st.one_of(st.binary(max_size=40), st.integers(-(2**70), 2**70))
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=5), st.dictionaries(st.binary(max_size=8), inner, max_size=5)
        ),
        max_leaves=30,
    )


KEYS = st.sampled_from([b"t", b"y", b"q", b"a", b"r", b"e", b"v", b"ip", b"ro"])
VALUES = st.one_of(st.sampled_from([b"q", b"r", b"e", b"aa", b"ping"]), _bencodable())


def _read_everything(message: krpc.Message) -> None:
    for read in (
        lambda: message.node_id,
        lambda: message.nodes,
        lambda: message.values,
        lambda: message.samples,
        lambda: message.bytes_arg(b"target", 20),
        lambda: message.int_arg(b"port"),
    ):
        with contextlib.suppress(krpc.KrpcError):
            read()


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=8))
def test_fuzz_structured_messages_never_raise_anything_else(fields: dict[bytes, object]) -> None:
    data = bytes(fastbencode.bencode(fields))
    try:
        message = krpc.decode(data)
    except krpc.KrpcError:
        return
    _read_everything(message)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes(data: bytes) -> None:
    with contextlib.suppress(krpc.KrpcError):
        _read_everything(krpc.decode(data))
    mutated = bytearray(FIND_NODE)
    for i, b in enumerate(data[:8]):
        mutated[(b * 7 + i) % len(mutated)] = data[-1 - i]
    with contextlib.suppress(krpc.KrpcError):
        _read_everything(krpc.decode(bytes(mutated)))


def test_deep_nesting_is_cheap_and_rejected_cleanly() -> None:
    deep = b"d1:t2:aa1:y1:r1:r" + b"l" * 1900 + b"e" * 1900 + b"e"
    with pytest.raises(krpc.KrpcError):
        krpc.decode(deep)
