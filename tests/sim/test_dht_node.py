"""The emulated DHT node, sans-I/O: real KRPC bytes (built and read with krpc.py) in and out."""

from __future__ import annotations

import random

from fastbencode import bencode  # type: ignore[attr-defined]
from hypothesis import given, settings
from hypothesis import strategies as st

from botmon.protocols import krpc
from botmon.sim.dht_node import (
    MAX_FAILS,
    QUERY_TIMEOUT_S,
    DhtNode,
    K,
    RoutingTable,
    fill_tables,
    random_tables,
)

NOW = 1_800_000_000.0
ASKER = ("127.0.0.1", 40000)
ASKER_ID = b"\xaa" * 20


def _node(node_id: bytes = b"\x00" * 20, interval: float = 10.0, **kw: object) -> DhtNode:
    return DhtNode(
        node_id,
        "127.9.0.1",
        6890,
        version=b"BM\x00\x01",
        interval=interval,
        secret=b"s" * 16,
        rng=random.Random(1),
        start=NOW,
        **kw,  # type: ignore[arg-type]
    )


def _id(first: int, rest: int = 0) -> bytes:
    return bytes([first]) + rest.to_bytes(19, "big")


def _ask(node: DhtNode, data: bytes, src: tuple[str, int] = ASKER) -> krpc.Message:
    out = node.handle(data, src, NOW)
    assert len(out) == 1 and out[0][1] == src
    return krpc.decode(out[0][0])


def test_ping_is_answered_with_the_node_id_the_version_and_the_askers_address() -> None:
    node = _node()
    answer = _ask(node, krpc.ping(b"aa", ASKER_ID))
    assert answer.kind == "r" and answer.tid == b"aa"
    assert answer.node_id == node.node_id and answer.version == b"BM\x00\x01"
    assert answer.ip == ASKER
    assert ASKER_ID in node.table  # it learned who asked


def test_find_node_answers_the_k_closest_nodes_by_xor_distance() -> None:
    node = _node()
    known = [(_id(0x80 >> (i % 7), i), f"127.1.0.{i + 1}", 7000 + i) for i in range(40)]
    for node_id, ip, port in known:
        node.table.heard(node_id, ip, port, NOW, answered=True)
    target = _id(0x11, 5)
    answer = _ask(node, krpc.find_node(b"fn", ASKER_ID, target))
    got = answer.nodes
    assert len(got) == K
    in_table = [(e.node_id, e.ip, e.port) for e in node.table.entries()]
    best = sorted(in_table, key=lambda n: krpc.distance(n[0], target))[:K]
    assert [tuple(n) for n in got] == best


def test_get_peers_gives_a_token_that_announce_peer_needs_then_values() -> None:
    node = _node()
    info_hash = b"\x42" * 20
    first = _ask(node, krpc.get_peers(b"g1", ASKER_ID, info_hash))
    token = first.bytes_arg(b"token", max_length=64)
    assert first.values == [] and isinstance(first.body, dict) and b"nodes" in first.body
    bad = _ask(node, krpc.announce_peer(b"a0", ASKER_ID, info_hash, 6000, b"wrong"))
    assert bad.kind == "e" and bad.error is not None and bad.error[0] == krpc.PROTOCOL_ERROR
    other_ip = _ask(
        node, krpc.announce_peer(b"a1", ASKER_ID, info_hash, 6000, token), ("127.0.0.2", 1)
    )
    assert other_ip.kind == "e"  # a token is good for the address it was given to only
    ok = _ask(node, krpc.announce_peer(b"a2", ASKER_ID, info_hash, 6000, token))
    assert ok.kind == "r" and ok.node_id == node.node_id
    implied = krpc.announce_peer(b"a3", ASKER_ID, info_hash, 1, token, implied_port=True)
    assert _ask(node, implied).kind == "r"
    second = _ask(node, krpc.get_peers(b"g2", ASKER_ID, info_hash))
    assert second.values == [("127.0.0.1", 6000), ASKER]


def test_unknown_methods_and_bad_arguments_get_krpc_errors() -> None:
    node = _node()
    unknown = _ask(node, krpc.query(b"u1", "vote", {b"id": ASKER_ID}))
    assert unknown.error is not None and unknown.error[0] == krpc.METHOD_UNKNOWN
    short = _ask(node, krpc.find_node(b"u2", ASKER_ID, b"short"))
    assert short.error is not None and short.error[0] == krpc.PROTOCOL_ERROR
    assert node.handle(b"d1:t2:aae", ASKER, NOW) == [] and node.malformed >= 1


def test_read_only_askers_are_answered_but_not_put_in_the_table() -> None:
    node = _node()
    answer = _ask(node, krpc.find_node(b"ro", ASKER_ID, ASKER_ID, read_only=True))
    assert answer.kind == "r" and ASKER_ID not in node.table


def test_a_node_behind_nat_answers_no_query_but_takes_answers_to_its_own() -> None:
    node = _node(interval=1.0)
    node.add_candidate(("127.0.0.5", 6881))  # a bootstrap node: asked for nodes near us
    (query, to), *_ = node.tick(NOW + 2)
    assert to == ("127.0.0.5", 6881)
    sent = krpc.decode(query)
    assert sent.method == "find_node" and sent.bytes_arg(b"target", 20) == node.node_id
    assert node.handle(krpc.ping(b"zz", ASKER_ID), ASKER, NOW + 2, unsolicited=False) == []
    named = krpc.encode_nodes([(_id(0x40), "127.0.0.6", 6881)])[0]
    answer = krpc.response(sent.tid, {b"id": _id(0x20), b"nodes": named})
    node.handle(answer, ("127.0.0.5", 6881), NOW + 2.1, unsolicited=False)
    assert _id(0x20) in node.table
    # The node it was told of is pinged on the next round.
    pinged = [krpc.decode(d) for d, to in node.tick(NOW + 3.1) if to == ("127.0.0.6", 6881)]
    assert [m.method for m in pinged] == ["ping"]


def test_a_sensor_that_queried_the_node_is_queried_back_on_the_next_round() -> None:
    node = _node(interval=5.0)
    sensor, sensor_id = ("127.0.0.9", 7777), b"88888888" + b"\x01" * 12
    _ask(node, krpc.ping(b"s1", sensor_id), sensor)
    out = node.tick(NOW + 5.0)
    assert any(to == sensor and krpc.decode(d).method == "ping" for d, to in out)


def test_answers_that_are_not_to_our_queries_are_ignored() -> None:
    node = _node()
    stray = krpc.response(b"xx", {b"id": _id(0x33)})
    assert node.handle(stray, ASKER, NOW) == []
    assert _id(0x33) not in node.table


def test_a_full_bucket_keeps_its_good_nodes_and_replaces_failed_ones() -> None:
    table = RoutingTable(b"\x00" * 20)
    first = [_id(0x80, i) for i in range(K)]  # all in bucket 0
    for i, node_id in enumerate(first):
        assert table.heard(node_id, "127.0.0.1", 1000 + i, NOW, answered=True) is not None
    newcomer = _id(0x81, 1)
    assert table.heard(newcomer, "127.0.0.2", 2000, NOW, answered=True) is None
    assert newcomer not in table and len(table) == K
    for _ in range(MAX_FAILS - 1):
        assert not table.failed(first[3])
    assert table.failed(first[3])
    assert first[3] not in table and newcomer in table  # the replacement moved up
    assert len(table) == K
    assert table.heard(b"\x00" * 20, "127.0.0.3", 1, NOW, answered=True) is None  # own ID


def test_the_table_stays_bounded_whatever_it_hears() -> None:
    table = RoutingTable(b"\x00" * 20)
    rng = random.Random(3)
    for i in range(5_000):
        table.heard(rng.randbytes(20), "127.0.0.1", i % 60000 + 1, NOW, answered=True)
    assert len(table) <= 160 * K
    assert all(len(b) <= K for b in table.buckets.values())
    assert all(len(b) <= K for b in table.replacements.values())
    assert all(table.bucket_of(e.node_id) == b for b, es in table.buckets.items() for e in es)
    assert len(table) == sum(len(b) for b in table.buckets.values())


def test_unanswered_queries_evict_the_entry_after_max_fails() -> None:
    node = _node(interval=1.0)
    silent = _id(0x70)
    node.table.heard(silent, "127.0.0.7", 7000, NOW, answered=False)
    for round_ in range(1, 2 * MAX_FAILS + 2):  # within one timeout: no failure yet
        node.tick(NOW + round_ * 0.5)
    assert silent in node.table
    for round_ in range(1, int(MAX_FAILS * (QUERY_TIMEOUT_S + 1)) + 2):
        node.tick(NOW + round_)
    assert silent not in node.table


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_never_raise(data: bytes) -> None:
    node = _node()
    for payload, _ in node.handle(data, ASKER, NOW):
        krpc.decode(payload)


_values = st.recursive(
    st.integers(-(2**70), 2**70) | st.binary(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.binary(max_size=8), inner),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from([b"ping", b"find_node", b"get_peers", b"announce_peer", b"x"]),
    st.dictionaries(
        st.sampled_from([b"id", b"target", b"info_hash", b"token", b"port", b"implied_port"]),
        _values,
    ),
    st.sampled_from([b"q", b"r", b"e", b"z"]),
)
def test_hostile_krpc_messages_never_raise(
    method: bytes, args: dict[bytes, object], y: bytes
) -> None:
    node = _node()
    for tid in (b"aa", node._tid.to_bytes(2, "big")):
        data = bytes(bencode({b"t": tid, b"y": y, b"q": method, b"a": args, b"r": args}))
        for payload, _ in node.handle(data, ASKER, NOW):
            krpc.decode(payload)


def _swarm(count: int, rng: random.Random) -> list[DhtNode]:
    return [
        DhtNode(
            rng.randbytes(20),
            f"127.2.{i // 250}.{i % 250 + 1}",
            6890,
            version=None,
            interval=0.0,
            secret=b"s",
            rng=rng,
            start=NOW,
        )
        for i in range(count)
    ]


def test_converged_tables_hold_k_nodes_per_bucket_from_the_right_part_of_the_key_space() -> None:
    rng = random.Random(9)
    nodes = _swarm(300, rng)
    fill_tables(nodes, K, rng)
    ids = [n.node_id for n in nodes]
    named: set[bytes] = set()
    for node in nodes:
        table = node.table
        assert len(table) == sum(len(b) for b in table.buckets.values())
        for depth, bucket in table.buckets.items():
            assert 1 <= len(bucket) <= K
            assert all(table.bucket_of(e.node_id) == depth for e in bucket)
            # A bucket is full unless fewer nodes than K share exactly `depth` bits.
            share = sum(table.bucket_of(other) == depth for other in ids)
            assert len(bucket) == min(K, share)
            named.update(e.node_id for e in bucket)
        # Every node has the closest other node in its table (the deepest bucket).
        closest = min(
            (x for x in ids if x != node.node_id), key=lambda x: krpc.distance(x, node.node_id)
        )
        assert closest in table
    assert named == set(ids)


def test_random_tables_give_each_node_known_others() -> None:
    rng = random.Random(4)
    nodes = _swarm(50, rng)
    random_tables(nodes, 8, rng)
    for node in nodes:
        assert len(node.table) == 8 and node.node_id not in node.table
        assert all(not e.answered_at for e in node.table.entries())  # pinged before trusted
