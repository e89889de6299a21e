"""The DHT sweep: bucket targets dump a routing table, state and keys, answers as records."""

from __future__ import annotations

import random

import pytest

from botmon.protocols import dht_sweep, krpc
from botmon.protocols.contract import KEEP, MAX_PEER_STATE, Peer, RequestContext

K = 8


def _bits(a: bytes) -> str:
    return bin(int.from_bytes(a, "big"))[2:].zfill(160)


def _common_prefix(a: bytes, b: bytes) -> int:
    d = krpc.distance(a, b)
    return 160 - d.bit_length()


def _table(own: bytes, others: list[bytes], wide: bool = True) -> list[bytes]:
    """A routing table of ``own``, first come first kept: K nodes per bucket (BEP 5); with
    ``wide`` (libtorrent's extended routing table) the top four hold 16/8/4/2 K, spread over
    their sub-prefixes (at most K per slice: libtorrent keeps a wide bucket's prefixes
    diverse)."""
    slices: dict[tuple[int, int], list[bytes]] = {}
    for other in others:
        i = _common_prefix(own, other)
        bits = max(0, 4 - i) if wide else 0
        sub = (int.from_bytes(other, "big") >> (159 - i - bits)) & ((1 << bits) - 1)
        b = slices.setdefault((i, sub), [])
        if len(b) < K:
            b.append(other)
    return [n for b in slices.values() for n in b]


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
    assert len(table) > 280  # 240 in the wide top buckets, 8 in each of the next few
    targets = dht_sweep.cover_targets(own, 16)
    assert len(targets) == dht_sweep.SweepConfig(buckets=16).lookups == 42
    found = {n for t in targets for n in _closest(table, t)}
    assert found == set(table)
    # As many targets spread over the key space (a node whose ID is unknown) dump the top
    # buckets but none of the deep ones, the neighbours nobody far away lists.
    spread = {n for t in dht_sweep.cover_targets(None, 16) for n in _closest(table, t)}
    deep = {n for n in table if _common_prefix(own, n) >= 6}
    assert len(deep) >= 25 and len(spread & deep) <= 8  # one slice may fall near the node


def test_unknown_ids_get_targets_spread_over_the_key_space() -> None:
    targets = dht_sweep.cover_targets(None, 4)  # 4 buckets: 30 lookups
    assert len(targets) == 30
    assert sorted(int.from_bytes(t, "big") * 30 >> 160 for t in targets) == list(range(30))


def test_wide_buckets_are_asked_slice_by_slice() -> None:
    own = bytes(20)
    plan = dht_sweep.cover_plan(6)
    assert plan[:6] == ((0, 0, 4), (1, 0, 3), (2, 0, 2), (3, 0, 1), (4, 0, 0), (5, 0, 0))
    assert len(plan) == 6 + 15 + 7 + 3 + 1
    slices = {dht_sweep.bucket_target(own, 0, j, 4)[0] >> 3 for j in range(16)}
    assert slices == {0x10 + j for j in range(16)}  # bit 0 flipped, bits 1-4 = the slice
    with pytest.raises(ValueError):
        dht_sweep.bucket_target(own, 1, 8, 3)


def test_the_walk_state_packs_within_the_contract_cap() -> None:
    walk = dht_sweep.Walk(bytes(range(20)), dht_sweep.WIDE | 0x3, 17)
    state = dht_sweep.pack_state(walk)
    assert len(state) == 22 <= MAX_PEER_STATE
    assert dht_sweep.unpack_state(state) == walk
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
    req = dht_sweep.crawl_request(cfg, _ctx())  # the probe: the node's ID is not known yet
    msg = krpc.decode(req.data)
    assert msg.method == "find_node" and msg.version == b"DB\x1fq" and msg.read_only
    assert msg.node_id.startswith(b"88888888")
    assert msg.bytes_arg(b"target", 20).startswith(b"88888888")
    assert dht_sweep.reply_key(krpc.response(msg.tid, {b"id": bytes(20)})) == req.key == msg.tid


def test_keys_are_unique_per_node_round_and_queue() -> None:
    cfg = dht_sweep.SweepConfig(buckets=16)
    ids = dht_sweep.NodeIds()
    node = Peer("127.0.0.1", 6881)
    ids.add(node.ip, node.port, bytes(range(20)))
    keys = [r.key for r in dht_sweep.lookups(cfg, node, _ctx(round_no=3), ids)]
    keys.append(dht_sweep.crawl_request(cfg, _ctx(round_no=3)).key)
    keys += [r.key for r in dht_sweep.lookups(cfg, node, _ctx(round_no=4), ids)]
    assert len(set(keys)) == len(keys) == 2 * 42 + 1
    targets = [
        krpc.decode(r.data).bytes_arg(b"target", 20)
        for r in dht_sweep.lookups(cfg, node, _ctx(), ids)
    ]
    depths = [_common_prefix(bytes(range(20)), t) for t in targets]
    assert depths[:16] == list(range(16)) and sorted(set(depths)) == list(range(16))


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


def _walk(own: bytes, table: list[bytes], v: bytes) -> tuple[set[bytes], int]:
    """Walk a node with ``table`` as the crawl engine would: requests until ``more`` is
    False; the nodes listed and the requests sent."""
    cfg = dht_sweep.SweepConfig()
    src = Peer("127.0.0.1", 6881)
    state: bytes | None = None
    found: set[bytes] = set()
    for attempt in range(cfg.lookups + 1):
        ctx = _ctx(attempt=attempt, state=state)
        req = dht_sweep.crawl_request(cfg, ctx)
        if req.state is not KEEP:
            ctx.state = state = req.state
        target = krpc.decode(req.data).bytes_arg(b"target", 20)
        listed = [
            krpc.NodeInfo(n, "127.0.0.2", 1 + i) for i, n in enumerate(_closest(table, target))
        ]
        nodes, _ = krpc.encode_nodes(listed)
        answer = dht_sweep.read_answer(
            krpc.response(req.key, {b"id": own, b"nodes": nodes}, version=v), src
        )
        found.update(n.node_id for n in answer.listed)
        state, more = dht_sweep.walk_on(cfg, ctx, answer)
        if not more:
            return found, attempt + 1
    raise AssertionError("the walk did not end")


def _node_of_a_dht(seed: int, wide: bool) -> tuple[bytes, list[bytes]]:
    """One node of a 5,000-node DHT and its routing table."""
    rng = random.Random(seed)
    ids = [rng.randbytes(20) for _ in range(5000)]
    return ids[0], _table(ids[0], ids[1:], wide=wide)


def test_the_walk_dumps_a_bep5_table_and_stops_below_its_deepest_bucket() -> None:
    own, table = _node_of_a_dht(3, wide=False)
    found, sent = _walk(own, table, b"BM\x00\x01")
    assert found == set(table)
    deepest = max(_common_prefix(own, n) for n in table)
    assert sent <= deepest + 3 < 1 + dht_sweep.SweepConfig().lookups  # probe, buckets, end


def test_the_walk_slices_the_wide_buckets_of_libtorrent_nodes() -> None:
    own, table = _node_of_a_dht(4, wide=True)
    found, sent = _walk(own, table, b"LT\x02\x01")
    assert found == set(table) and len(table) > 280
    assert sent <= 1 + dht_sweep.SweepConfig().lookups
    # the same table asked as if it were a BEP 5 node misses most of the wide buckets
    found_plain, _ = _walk(own, table, b"UT\x01\x00")
    assert len(found_plain) < len(table) / 2


def test_a_small_table_is_listed_by_one_answer_and_ends_the_walk() -> None:
    own = bytes(20)
    table = [bytes([i]) * 20 for i in range(1, 6)]
    found, sent = _walk(own, table, b"LT\x02\x01")
    assert found == set(table) and sent == 2  # the probe, then one lookup listing all 5
