"""The Mozi plugin on real KRPC bytes and real configuration blobs signed with test keys."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest

from botmon.cli.plugin_options import configure_plugin
from botmon.protocols import dht_sweep, krpc, mozi, mozi_config
from botmon.protocols.contract import Peer, Request, RequestContext, SensorContext, Status
from botmon.protocols.registry import default_registry
from botmon.wire import Edge, Reply

NOW = 1_700_000_000.0
BOT = Peer("127.0.3.4", 6881)
ME = Peer("127.0.0.9", 6881)
MOZI_V = bytes.fromhex("44421f71")
BOT_ID = b"88888888" + bytes(range(12))
PLAIN_ID = bytes(range(100, 120))
KEYS = mozi_config.new_signing_keys()
TAGS = [("ss", "bot"), ("cpu", "arm7"), ("hp", "88888888"), ("ver", "DB\x1fq")]


@pytest.fixture(autouse=True)
def _defaults(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(mozi, "NODE_IDS", dht_sweep.NodeIds())
    mozi.configure(mozi.MoziSettings())
    yield
    mozi.configure(mozi.MoziSettings())


def _keyed(**extra: object) -> mozi.MoziSettings:
    return mozi.MoziSettings(
        public_key_1=mozi_config.public_key_hex(KEYS[0]),
        public_key_2=mozi_config.public_key_hex(KEYS[1]),
        **extra,  # type: ignore[arg-type]
    )


def _ctx(purpose: str = "crawl", attempt: int = 0) -> RequestContext:
    ctx = RequestContext()
    ctx.now, ctx.round, ctx.attempt = NOW, 1, attempt
    ctx.purpose = purpose  # type: ignore[assignment]
    return ctx


def _blob_answer(blob: bytes, tid: bytes = b"mz\x00", node_id: bytes = BOT_ID) -> bytes:
    return krpc.response(tid, {b"id": node_id, b"nodes": blob}, version=MOZI_V)


def test_the_crawl_request_is_a_mozi_find_node() -> None:
    request = mozi.peer_request(BOT, _ctx())
    assert isinstance(request, Request)
    msg = krpc.decode(request.data)
    assert msg.method == "find_node" and msg.version == MOZI_V
    assert msg.node_id.startswith(b"88888888")
    assert msg.bytes_arg(b"target", 20).startswith(b"88888888")
    assert request.key == msg.tid == mozi.reply_key(request.data)


def test_a_blob_is_a_bot_with_its_verified_configuration() -> None:
    mozi.configure(_keyed())
    blob = mozi_config.encode(TAGS, 7, KEYS)
    res = mozi.read_reply(_blob_answer(blob), BOT, NOW, _ctx())
    assert res.status is Status.BOT_REPLY
    assert res.bot_id == BOT_ID.hex()
    (reply,) = res.replies
    assert (reply.ip, reply.port, reply.bot_id) == (BOT.ip, BOT.port, BOT_ID.hex())
    assert reply.data is not None
    assert reply.data["node_id"] == BOT_ID.hex()
    assert reply.data["v"] == "44421f71" and reply.data["client"] == "DB"
    assert reply.data["client_version"] == 0x1F71 and reply.data["bep42"] is None
    assert reply.data["arch"] == "arm7"
    config = reply.data["config"]
    assert config["version"] == 7 and config["signatures"] == "valid"
    assert config["tags"]["cpu"] == "arm7" and config["stop"] is False
    assert config["digest"] == mozi_config.decode(blob).digest
    assert res.peers == () and res.edges == ()


def test_signatures_read_invalid_with_other_keys_and_unchecked_without() -> None:
    blob = mozi_config.encode(TAGS, 1, mozi_config.new_signing_keys())
    for settings, verdict in ((_keyed(), "invalid"), (mozi.MoziSettings(), "unchecked")):
        mozi.configure(settings)
        res = mozi.read_reply(_blob_answer(blob), BOT, NOW, _ctx())
        assert res.replies[0].data["config"]["signatures"] == verdict  # type: ignore[index]


def test_a_stop_order_is_flagged() -> None:
    blob = mozi_config.encode([*TAGS, ("rn", "halt")], 9, KEYS)
    res = mozi.read_reply(_blob_answer(blob), BOT, NOW, _ctx())
    assert res.replies[0].data["config"]["stop"] is True  # type: ignore[index]


def test_each_distinct_blob_is_verified_once_and_the_cache_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mozi.configure(_keyed(config_cache=2))
    calls: list[bytes] = []
    real = mozi_config.decode

    def counting(blob: bytes, keys: object = None) -> mozi_config.MoziConfig:
        calls.append(blob)
        return real(blob, keys)  # type: ignore[arg-type]

    monkeypatch.setattr(mozi_config, "decode", counting)
    blobs = [mozi_config.encode(TAGS, version, KEYS) for version in (1, 2, 3)]
    for _ in range(5):
        mozi.read_reply(_blob_answer(blobs[0]), BOT, NOW, _ctx())
    assert len(calls) == 1
    for blob in blobs:
        mozi.read_reply(_blob_answer(blob), BOT, NOW, _ctx())
    assert len(calls) == 3 and len(mozi._blobs) == 2
    mozi.read_reply(_blob_answer(blobs[0]), BOT, NOW, _ctx())  # evicted: verified again
    assert len(calls) == 4


def test_a_plain_dht_node_is_benign_and_walked() -> None:
    listed = [(bytes([i]) * 20, f"127.0.9.{i}", 7000 + i) for i in range(1, 4)]
    nodes, _ = krpc.encode_nodes(listed)
    answer = krpc.response(b"mz\x00", {b"id": PLAIN_ID, b"nodes": nodes}, version=b"LT\x02\x01")
    crawl = mozi.read_reply(answer, BOT, NOW, _ctx())
    assert crawl.status is Status.BENIGN_REPLY
    assert crawl.replies == () and crawl.bot_id is None
    assert crawl.nodes == tuple(Peer(ip, port) for _, ip, port in listed)
    find = mozi.read_reply(answer, BOT, NOW, _ctx("find"))
    assert find.status is Status.BENIGN_REPLY and find.replies == ()
    assert find.peers == find.nodes == crawl.nodes
    assert find.edges == tuple(
        Edge(NOW, BOT.ip, BOT.port, ip, port, PLAIN_ID.hex(), nid.hex()) for nid, ip, port in listed
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (krpc.response(b"aa", {b"id": b"abc"}), "bad_id"),
        (krpc.response(b"aa", {b"id": PLAIN_ID, b"nodes": b"abcde"}), "bad_nodes"),
        (krpc.ping(b"aa", PLAIN_ID), "not_response"),
        (krpc.error(b"aa", 201, "no"), "not_response"),
        (b"d1:t2:aa1:y1:r1:rd2:id20:" + b"x" * 20, "not_bencode"),
        (_blob_answer(mozi_config.MAGIC + bytes(620)), "config_no_tags"),
    ],
)
def test_malformed_answers_are_no_reply(data: bytes, reason: str) -> None:
    res = mozi.read_reply(data, BOT, NOW, _ctx())
    assert res.status is Status.NO_REPLY and res.reason == reason


def test_lookups_cover_the_key_space_from_a_mozi_looking_id() -> None:
    lookups = mozi.find_peers(BOT, _ctx("find"))
    assert len(lookups) == mozi.DEFAULTS.lookups_per_node
    msgs = [krpc.decode(lookup.data) for lookup in lookups]
    assert len({lookup.key for lookup in lookups}) == len(lookups)
    firsts = [m.bytes_arg(b"target", 20)[0] for m in msgs]  # unknown ID: spread evenly
    assert firsts == sorted(firsts) and firsts[0] < 0x10 and firsts[-1] >= 0xF0
    assert len(set(firsts)) >= len(firsts) // 2  # neighbouring slices may share a first byte
    assert all(m.node_id.startswith(b"88888888") and m.version == MOZI_V for m in msgs)
    assert all(m.read_only and not m.bytes_arg(b"target").startswith(b"8888") for m in msgs)


def test_a_bots_routing_table_is_dumped_bucket_by_bucket_once_its_id_is_known() -> None:
    bot = Peer("127.0.3.99", 6881)
    mozi.read_reply(_blob_answer(mozi_config.encode(TAGS, 1, KEYS)), bot, NOW, _ctx())
    own = int.from_bytes(BOT_ID, "big")
    lookups = mozi.find_peers(bot, _ctx("find"))
    plan = dht_sweep.cover_plan(dht_sweep.SweepConfig().buckets)[: len(lookups)]
    assert len(lookups) == mozi.DEFAULTS.lookups_per_node == 16  # one per bucket
    for lookup, (bucket, _slice, _bits) in zip(lookups, plan, strict=True):
        target = int.from_bytes(krpc.decode(lookup.data).bytes_arg(b"target", 20), "big")
        assert (target ^ own) >> (159 - bucket) == 1, f"a lookup is not in bucket {bucket}"


# -- sensor ----------------------------------------------------------------------------------


def _sensor() -> SensorContext:
    ctx = SensorContext(ME, "0123456789abcdef")
    ctx.now = NOW
    return ctx


def test_the_sensor_answers_a_bot_and_records_it() -> None:
    ctx = _sensor()
    answer, records = mozi.handle_request(krpc.ping(b"p1", BOT_ID, version=MOZI_V), BOT, NOW, ctx)
    assert answer is not None
    msg = krpc.decode(answer)
    assert msg.kind == "r" and msg.tid == b"p1" and msg.node_id.startswith(b"88888888")
    reply, edge = records
    assert isinstance(reply, Reply) and isinstance(edge, Edge)
    assert reply.bot_id == BOT_ID.hex() and reply.data is not None
    assert reply.data["node_id"] == BOT_ID.hex() and reply.data["v"] == "44421f71"
    assert reply.data["client"] == "DB" and reply.data["message"] == "request"
    assert reply.data["method"] == "ping"
    assert (edge.src_ip, edge.dst_ip, edge.dst_id) == (BOT.ip, ME.ip, msg.node_id.hex())


def test_plain_nodes_are_answered_not_recorded_and_only_they_are_named() -> None:
    ctx = _sensor()
    plain = Peer("127.0.5.5", 6000)
    answer, records = mozi.handle_request(
        krpc.ping(b"p1", PLAIN_ID, version=b"LT\x02\x01"), plain, NOW, ctx
    )
    assert answer is not None and records == []
    # Only the prefix and v together make a bot: a prefixed ID without v is a plain node.
    _, records = mozi.handle_request(krpc.ping(b"p2", BOT_ID), BOT, NOW, ctx)
    assert records == []
    mozi.handle_request(krpc.ping(b"p3", BOT_ID, version=MOZI_V), Peer("127.0.3.5", 1), NOW, ctx)
    query = krpc.find_node(b"f1", BOT_ID, bytes(20), version=MOZI_V)
    answer, records = mozi.handle_request(query, BOT, NOW, ctx)
    assert answer is not None and len(records) == 2
    named = {(n.ip, n.port) for n in krpc.decode(answer).nodes}
    assert (plain.ip, plain.port) in named and ("127.0.3.5", 1) not in named


def test_a_read_only_querier_is_a_crawler_never_a_bot_nor_named() -> None:
    ctx = _sensor()
    crawler = Peer("127.0.0.1", 40000)
    query = krpc.find_node(b"f1", BOT_ID, bytes(20), version=MOZI_V, read_only=True)
    answer, records = mozi.handle_request(query, crawler, NOW, ctx)
    assert answer is not None and krpc.decode(answer).kind == "r" and records == []
    query = krpc.find_node(b"f2", PLAIN_ID, bytes(20), version=b"LT\x02\x01")
    named = {
        (n.ip, n.port)
        for n in krpc.decode(mozi.handle_request(query, BOT, NOW, ctx)[0] or b"").nodes
    }
    assert (crawler.ip, crawler.port) not in named


def test_tokens_from_get_peers_are_taken_by_announce_peer() -> None:
    ctx = _sensor()
    info_hash = bytes(range(20))
    answer, _ = mozi.handle_request(krpc.get_peers(b"g1", PLAIN_ID, info_hash), BOT, NOW, ctx)
    assert answer is not None
    token = krpc.decode(answer).bytes_arg(b"token")
    good = krpc.announce_peer(b"a1", PLAIN_ID, info_hash, 6881, token)
    later = NOW + mozi.TOKEN_PERIOD_S
    assert krpc.decode(mozi.handle_request(good, BOT, later, ctx)[0] or b"").kind == "r"
    other = Peer("127.0.7.7", 6881)
    wrong = krpc.decode(mozi.handle_request(good, other, NOW, ctx)[0] or b"")
    assert wrong.kind == "e" and wrong.error is not None and wrong.error[0] == 203
    stale = NOW + 3 * mozi.TOKEN_PERIOD_S
    assert krpc.decode(mozi.handle_request(good, BOT, stale, ctx)[0] or b"").kind == "e"


def test_a_bots_answer_to_the_announcement_is_recorded_unanswered() -> None:
    ctx = _sensor()
    ping = krpc.decode(mozi.announce(BOT, ctx))
    assert ping.method == "ping" and ping.version == MOZI_V
    assert ping.node_id == mozi._sensor_id(ctx)
    pong = krpc.response(ping.tid, {b"id": BOT_ID}, version=MOZI_V)
    answer, records = mozi.handle_request(pong, BOT, NOW, ctx)
    assert answer is None
    (reply,) = records
    assert isinstance(reply, Reply) and reply.data is not None
    assert reply.data["message"] == "reply" and reply.bot_id == BOT_ID.hex()


# -- settings --------------------------------------------------------------------------------


def test_protocol_options_and_environment_reach_the_plugin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plugin = default_registry().get("mozi")
    monkeypatch.setenv("BOTMON_PROTOCOL_MOZI_V", "abcd0102")
    configure_plugin(plugin, ("id_prefix=ZZZZ", "target_prefix=TT"))
    msg = krpc.decode(mozi.peer_request(BOT, _ctx()).data)
    assert msg.node_id.startswith(b"ZZZZ") and msg.version == bytes.fromhex("abcd0102")
    assert msg.bytes_arg(b"target", 20).startswith(b"TT")
    _, records = mozi.handle_request(
        krpc.ping(b"p1", b"ZZZZ" + bytes(16), version=bytes.fromhex("abcd0102")),
        BOT,
        NOW,
        _sensor(),
    )
    assert records, "the sensor recognises bots by the configured prefix and v"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (("v=xyz",), "protocol.mozi.v"),
        (("public_key_1=02ab",), "P-384"),
        ((f"public_key_1={mozi_config.public_key_hex(KEYS[0])}",), "both public keys"),
        (("id_prefix=é",), "ASCII"),
    ],
)
def test_bad_settings_are_usage_errors(given: tuple[str, ...], message: str) -> None:
    with pytest.raises(click.UsageError, match=message):
        configure_plugin(default_registry().get("mozi"), given)
