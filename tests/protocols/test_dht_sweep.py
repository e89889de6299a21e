"""The DHT sweep: bucket targets dump a routing table, state and keys, answers as records."""

from __future__ import annotations

import random

import pytest

from botmon.protocols import dht_sweep, krpc
from botmon.protocols.contract import MAX_PEER_STATE, Peer, RequestContext

K = 8


def _bits(a: bytes) -> str:
    return bin(int.from_bytes(a, "big"))[2:].zfill(160)


def _common_prefix(a: bytes, b: bytes) -> int:
    d = krpc.distance(a, b)
    return 160 - d.bit_length()


def _table(own: bytes, others: list[bytes]) -> list[bytes]:
    """A BEP 5 routing table of ``own``: at most K nodes per bucket, first come first kept."""
    buckets: dict[int, list[bytes]] = {}
    for other in others:
        b = buckets.setdefault(_common_prefix(own, other), [])
        if len(b) < K:
            b.append(other)
    return [n for b in buckets.values() for n in b]


def _closest(table: list[bytes], target: bytes) -> list[bytes]:
    return sorted(table, key=lambda n: krpc.distance(n, target))[:K]


def test_bucket_target_shares_the_prefix_and_differs_at_the_bucket_bit() -> None:
    own = bytes(range(20))
    for i in (0, 1, 7, 8, 15, 100, 159):
        target = dht_sweep.bucket_target(own, i)
        assert _bits(target)[:i] == _bits(own)[:i]
        assert _bits(target)[i] != _bits(own)[i]
        assert _common_prefix(own, target) == i
    with pytest.raises(ValueError):
        dht_sweep.bucket_target(own, 160)


def test_the_cover_dumps_a_whole_routing_table_where_random_targets_do_not() -> None:
    rng = random.Random(7)
    ids = [rng.randbytes(20) for _ in range(5000)]
    own, table = ids[0], _table(ids[0], ids[1:])
    assert len(table) > 60  # about log2(5000) full buckets plus the partly filled deep ones
    found = {n for t in dht_sweep.cover_targets(own, 16) for n in _closest(table, t)}
    assert found == set(table)
    naive = {n for t in dht_sweep.cover_targets(None, 16) for n in _closest(table, t)}
    assert len(naive) < len(table) * 0.6  # spread targets reach only the top buckets


def test_unknown_ids_get_targets_spread_over_the_key_space() -> None:
    targets = dht_sweep.cover_targets(None, 16)
    assert sorted(t[0] >> 4 for t in targets) == list(range(16))
    assert dht_sweep.cover_targets(None, 500) and len(dht_sweep.cover_targets(None, 500)) == 160


def test_state_is_the_node_id_within_the_contract_cap() -> None:
    node_id = bytes(range(20))
    state = dht_sweep.pack_state(node_id)
    assert len(state) <= MAX_PEER_STATE
    assert dht_sweep.unpack_state(state) == node_id
    assert dht_sweep.unpack_state(None) is None
    assert dht_sweep.unpack_state(b"short") is None


def _ctx(attempt: int = 0, round_no: int = 1, state: bytes | None = None) -> RequestContext:
    ctx = RequestContext()
    ctx.attempt, ctx.round, ctx.state = attempt, round_no, state
    return ctx


def test_requests_carry_the_callers_id_prefix_v_and_target_prefix() -> None:
    cfg = dht_sweep.SweepConfig(
        id_prefix=b"88888888", target_prefix=b"88888888", version=b"DB\x1fq", read_only=True
    )
    req = dht_sweep.crawl_request(cfg, _ctx(state=bytes(20)))
    msg = krpc.decode(req.data)
    assert msg.method == "find_node" and msg.version == b"DB\x1fq" and msg.read_only
    assert msg.node_id.startswith(b"88888888")
    assert msg.bytes_arg(b"target", 20).startswith(b"88888888")
    assert dht_sweep.reply_key(krpc.response(msg.tid, {b"id": bytes(20)})) == req.key == msg.tid


def test_crawl_request_asks_for_the_nodes_own_id_once_known() -> None:
    cfg = dht_sweep.SweepConfig()
    node_id = bytes(range(20))
    req = dht_sweep.crawl_request(cfg, _ctx(state=dht_sweep.pack_state(node_id)))
    assert krpc.decode(req.data).bytes_arg(b"target", 20) == node_id


def test_keys_are_unique_per_node_round_and_queue() -> None:
    cfg = dht_sweep.SweepConfig(buckets=16)
    ids = dht_sweep.NodeIds()
    node = Peer("127.0.0.1", 6881)
    ids.add(node.ip, node.port, bytes(range(20)))
    keys = [r.key for r in dht_sweep.lookups(cfg, node, _ctx(round_no=3), ids)]
    keys.append(dht_sweep.crawl_request(cfg, _ctx(round_no=3)).key)
    keys += [r.key for r in dht_sweep.lookups(cfg, node, _ctx(round_no=4), ids)]
    assert len(set(keys)) == len(keys) == 33
    targets = [
        krpc.decode(r.data).bytes_arg(b"target", 20)
        for r in dht_sweep.lookups(cfg, node, _ctx(), ids)
    ]
    assert [_common_prefix(bytes(range(20)), t) for t in targets] == list(range(16))


def test_answers_become_records_and_edges_and_teach_node_ids() -> None:
    src = Peer("127.0.0.1", 7000)
    me = bytes.fromhex("11" * 20)
    listed = [krpc.NodeInfo(bytes([i]) * 20, "127.0.0.2", 7000 + i) for i in range(1, 4)] + [
        krpc.NodeInfo(b"\x09" * 20, "::1", 7009)
    ]
    nodes, nodes6 = krpc.encode_nodes(listed)
    body = {b"id": me, b"nodes": nodes, b"nodes6": nodes6}
    data = krpc.response(b"ab", body, version=b"LT\x02\x01")
    ids = dht_sweep.NodeIds()
    answer = dht_sweep.read_answer(data, src, ids)
    assert answer.data(src.ip) == {
        "node_id": "11" * 20,
        "client": "LT",
        "client_version": 0x0201,
        "v": "4c540201",
        "bep42": None,
    }
    edges = answer.edges(src, 5.0)
    assert [(e.dst_ip, e.dst_port, e.dst_id) for e in edges] == [
        (n.ip, n.port, n.node_id.hex()) for n in listed
    ]
    assert {(e.src_ip, e.src_port, e.src_id, e.timestamp) for e in edges} == {
        ("127.0.0.1", 7000, "11" * 20, 5.0)
    }
    assert answer.peers() == tuple(Peer(n.ip, n.port) for n in listed)
    assert len(ids) == 5
    assert ids.get(src) == me and ids.get(Peer("::1", 7009)) == b"\x09" * 20
    public = dht_sweep.node_data("124.31.75.21", krpc.bep42_node_id("124.31.75.21", 1), None)
    assert public["bep42"] is True and "v" not in public and public["client"] is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"junk", "not_dict"),
        (krpc.find_node(b"ab", bytes(20), bytes(20)), "not_response"),
        (krpc.error(b"ab", 201, "no"), "not_response"),
        (krpc.response(b"ab", {b"id": b"short"}), "bad_id"),
        (krpc.response(b"ab", {b"id": bytes(20), b"nodes": b"x" * 25}), "bad_nodes"),
    ],
)
def test_bad_answers_raise_the_codecs_reason(data: bytes, reason: str) -> None:
    with pytest.raises(krpc.KrpcError) as exc:
        dht_sweep.read_answer(data, Peer("127.0.0.1", 1))
    assert exc.value.reason == reason


def test_node_ids_stay_within_their_cap() -> None:
    ids = dht_sweep.NodeIds(cap=10)
    for port in range(1, 21):
        ids.add("127.0.0.1", port, bytes(20))
    assert len(ids) == 10 and ids.refused == 10
    ids.add("127.0.0.1", 1, b"\x01" * 20)  # an update of a known address still lands
    assert ids.get(Peer("127.0.0.1", 1)) == b"\x01" * 20
    assert ids.get(Peer("127.0.0.1", 20)) is None
    ids.add("not an ip", 1, bytes(20))
    assert len(ids) == 10
