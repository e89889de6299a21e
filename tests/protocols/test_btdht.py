"""The btdht plugin: crawl requests and lookups, their answers as records, hostile answers."""

from __future__ import annotations

from typing import Any

import fastbencode
from hypothesis import given, settings
from hypothesis import strategies as st

from botmon.protocols import btdht, dht_sweep, krpc
from botmon.protocols.contract import Peer, RequestContext, Status
from botmon.protocols.registry import get_plugin
from botmon.settings import CrawlSettings

SRC = Peer("127.0.0.1", 6881)
NODE_ID = bytes(range(1, 21))
LISTED = [krpc.NodeInfo(bytes([i]) * 20, f"127.0.0.{i}", 6800 + i) for i in range(2, 10)]


def _ctx(state: bytes | None = None) -> RequestContext:
    ctx = RequestContext()
    ctx.state, ctx.round = state, 1
    return ctx


def _answer(tid: bytes) -> bytes:
    nodes, _ = krpc.encode_nodes(LISTED)
    return krpc.response(tid, {b"id": NODE_ID, b"nodes": nodes}, version=b"UT\x01\x02")


def test_defaults_keep_to_two_queries_a_second_per_node_and_walk_43_steps_at_most() -> None:
    plugin = get_plugin("btdht")
    settings = CrawlSettings.for_protocol(plugin.defaults)
    assert settings.rate.per_target_rate == 2.0
    assert settings.rounds.requests_per_round == 43 and settings.rounds.max_in_flight_per_peer == 1
    assert plugin.reply_key is not None and plugin.find_peers is None


def test_the_probe_answer_is_the_nodes_record_its_edges_and_starts_the_walk() -> None:
    req = btdht.peer_request(SRC, _ctx())
    query = krpc.decode(req.data)
    assert query.method == "find_node" and query.read_only
    data = _answer(query.tid)
    assert btdht.reply_key(data) == req.key
    res = btdht.read_reply(data, SRC, 10.0, _ctx())
    assert res.status is Status.BOT_REPLY and res.bot_id == NODE_ID.hex() and res.more
    (reply,) = res.replies
    assert (reply.ip, reply.port, reply.bot_id, reply.timestamp) == (
        "127.0.0.1",
        6881,
        NODE_ID.hex(),
        10.0,
    )
    assert reply.data == {
        "node_id": NODE_ID.hex(),
        "client": "UT",
        "client_version": 0x0102,
        "v": "55540102",
        "bep42": None,
    }
    assert [(e.dst_ip, e.dst_port, e.dst_id) for e in res.edges] == [
        (n.ip, n.port, n.node_id.hex()) for n in LISTED
    ]
    assert {(e.src_ip, e.src_port, e.src_id) for e in res.edges} == {
        ("127.0.0.1", 6881, NODE_ID.hex())
    }
    assert res.peers == tuple(Peer(n.ip, n.port) for n in LISTED) and res.nodes == ()
    assert dht_sweep.unpack_state(res.state) == dht_sweep.Walk(NODE_ID, 0, 0)
    # the next request is the walk's first step: bucket 0 of that node
    ctx = _ctx(state=res.state)
    ctx.attempt = 1
    step = krpc.decode(btdht.peer_request(SRC, ctx).data)
    assert krpc.distance(step.bytes_arg(b"target", 20), NODE_ID) >> 159 == 1


def test_later_answers_give_edges_but_no_second_record() -> None:
    state = dht_sweep.pack_state(dht_sweep.Walk(NODE_ID, 0, 10))  # bucket 10 asked
    ctx = _ctx(state=state)
    ctx.attempt = 1
    res = btdht.read_reply(_answer(b"\x00\x01\x00\x01"), SRC, 10.0, ctx)
    assert res.status is Status.BOT_REPLY and res.replies == ()
    assert len(res.edges) == len(res.peers) == 8
    # the listed nodes share fewer than 10 bits with NODE_ID: nothing deeper, the walk ends
    assert not res.more


def test_a_hostile_node_listing_64_nodes_costs_no_more_than_a_normal_one() -> None:
    many = [krpc.NodeInfo(bytes([i]) * 20, "127.0.0.5", 1000 + i) for i in range(64)]
    nodes, _ = krpc.encode_nodes(many)
    res = btdht.read_reply(
        krpc.response(b"aa", {b"id": NODE_ID, b"nodes": nodes}), SRC, 1.0, _ctx()
    )
    assert len(res.peers) == len(res.edges) == dht_sweep.MAX_LISTED


_values: Any = st.recursive(
    st.one_of(st.integers(-(2**70), 2**70), st.binary(max_size=60)),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.binary(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
_fields = st.fixed_dictionaries(
    {},
    optional={
        b"id": st.one_of(st.binary(min_size=20, max_size=20), _values),
        b"nodes": st.one_of(st.binary(max_size=26 * 70).map(bytes), _values),
        b"nodes6": st.one_of(st.binary(max_size=38 * 4), _values),
        b"values": _values,
        b"token": _values,
    },
)


@settings(max_examples=150, deadline=None)
@given(
    body=_fields,
    t=st.one_of(st.binary(min_size=1, max_size=20), _values),
    y=st.sampled_from([b"r", b"q", b"e", b"x", 1]),
    v=st.one_of(st.none(), st.binary(max_size=20), _values),
    attempt=st.integers(0, 50),
    state=st.one_of(st.none(), st.binary(min_size=22, max_size=22)),
)
def test_hostile_krpc_answers_are_no_reply_or_well_formed(
    body: dict[bytes, Any], t: Any, y: Any, v: Any, attempt: int, state: bytes | None
) -> None:
    message: dict[bytes, Any] = {b"t": t, b"y": y, b"r": body}
    if v is not None:
        message[b"v"] = v
    data = fastbencode.bencode(message)  # type: ignore[attr-defined]
    ctx = _ctx(state=state)
    ctx.attempt = attempt
    res = btdht.read_reply(data, SRC, 1.0, ctx)
    assert krpc.decode(btdht.peer_request(SRC, ctx).data).method == "find_node"
    if res.status is Status.NO_REPLY:
        assert res.reason and not res.replies and not res.edges and not res.peers
        return
    assert len(res.peers) <= dht_sweep.MAX_LISTED
    assert all(0 < p.port < 65536 for p in res.peers)
    assert len(res.replies) == (attempt == 0)
    walk = dht_sweep.unpack_state(res.state)
    assert walk is not None and (res.more or walk.step == 0xFF)
    for reply in res.replies:
        assert reply.data is not None and len(reply.data["node_id"]) == 40
