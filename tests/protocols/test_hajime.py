"""The Hajime plugin against emulated Hajime bots and DHT nodes, datagrams moved in memory.

Lookups for the day's keys find the bots announced there (with what they were announced
for), the uTP confirmation runs SYN -> STATE -> file request -> file content against a real
emulated bot, and the sensor's announcement chain and uTP contacts are checked against the
nodes and bots that produced them.
"""

from __future__ import annotations

import random

import pytest

from botmon.protocols import hajime, hajime_keys, hajime_wire, krpc, utp
from botmon.protocols.contract import Peer, Request, RequestContext, SensorContext, Status
from botmon.sim.dht_node import DhtNode
from botmon.sim.hajime_core import HajimeBot

NOW = 1_551_000_000.0  # 2019-02-24 09:20 UTC
DAY = hajime_keys.utc_day(NOW)
ME = ("127.0.0.1", 40000)


def _ctx(attempt: int = 0, purpose: str = "crawl", state: bytes | None = None) -> RequestContext:
    ctx = RequestContext()
    ctx.attempt, ctx.now, ctx.round, ctx.state = attempt, NOW, 1, state
    ctx.purpose = purpose  # type: ignore[assignment]
    return ctx


def _bot(arch: str = "mipseb", seeder: bool = True, ip: str = "127.3.0.1") -> HajimeBot:
    return HajimeBot(
        random.randbytes(20), ip, 6891, arch=arch, modules=hajime_keys.file_names()[1:],
        seeder=seeder, interval=0.0, fetch_interval=0.0, reannounce_s=900.0, secret=b"s",
        rng=random.Random(1), start=NOW,
    )  # fmt: skip


def _node() -> DhtNode:
    return DhtNode(random.randbytes(20), "127.50.0.1", 6891, version=None, interval=0.0,
                   secret=b"s", rng=random.Random(2), start=NOW)  # fmt: skip


@pytest.fixture(autouse=True)
def _fresh() -> None:
    hajime.configure(hajime.HajimeSettings())
    hajime.FOUND.clear()


def test_lookups_ask_for_each_of_todays_keys_and_name_the_key_in_the_tid() -> None:
    lookups = hajime.find_peers(Peer("127.50.0.1", 6891), _ctx(purpose="find"))
    keys = hajime.keys_for(DAY)
    assert len(lookups) == len(keys) == 15
    for i, (req, key) in enumerate(zip(lookups, keys, strict=True)):
        msg = krpc.decode(req.data)
        assert msg.method == "get_peers" and msg.read_only
        assert msg.bytes_arg(b"info_hash", 20) == key.info_hash
        assert req.key == msg.tid and msg.tid[1] == i


def test_a_lookup_answer_yields_the_announced_bots_as_peers_with_their_key() -> None:
    node, bot = _node(), _bot("arm7")
    keys = hajime.keys_for(DAY)
    atk = next(k for k in keys if k.file == "atk.arm7.1506215619")
    node._store(atk.info_hash, krpc.encode_peer(bot.ip, bot.port))
    node._store(keys[0].info_hash, krpc.encode_peer(bot.ip, bot.port))
    index = keys.index(atk)
    req = hajime.find_peers(Peer(node.ip, node.port), _ctx(purpose="find"))[index]
    ((answer, _),) = node.handle(req.data, ME, NOW)
    assert hajime.reply_key(answer) == req.key
    res = hajime.read_reply(answer, Peer(node.ip, node.port), NOW, _ctx(index, "find"))
    assert res.status is Status.BENIGN_REPLY and res.peers == (Peer(bot.ip, bot.port),)
    assert [(e.src_ip, e.dst_ip) for e in res.edges] == [(node.ip, bot.ip)]
    assert hajime.FOUND[Peer(bot.ip, bot.port)] == (atk.file, DAY.isoformat())
    # found again under config: the module's architecture is kept
    req0 = hajime.find_peers(Peer(node.ip, node.port), _ctx(purpose="find"))[0]
    ((answer0, _),) = node.handle(req0.data, ME, NOW)
    hajime.read_reply(answer0, Peer(node.ip, node.port), NOW, _ctx(0, "find"))
    assert hajime.FOUND[Peer(bot.ip, bot.port)][0] == atk.file


def _exchange(bot: HajimeBot, req: Request) -> bytes:
    ((answer, to),) = bot.handle(req.data, ME, NOW)
    assert to == ME and hajime.reply_key(answer) == req.key
    return answer


@pytest.mark.parametrize("pipelined", [False, True])
def test_utp_confirmation_against_an_emulated_bot(pipelined: bool) -> None:
    bot = _bot("mipsel")
    peer = Peer(bot.ip, bot.port)
    hajime.FOUND[peer] = (".i.mipsel.1506551478", DAY.isoformat())
    syn = hajime.peer_request(peer, _ctx(0))
    assert utp.decode(syn.data).type == utp.ST_SYN
    if pipelined:  # a tracked bot's file request may leave before the SYN is answered
        data = hajime.peer_request(peer, _ctx(1, state=syn.state))
        syn_answer = _exchange(bot, syn)
        content = _exchange(bot, data)
        first = hajime.read_reply(syn_answer, peer, NOW, _ctx(0, state=syn.state))
        assert first.status is Status.BOT_REPLY and not first.replies
        res = hajime.read_reply(content, peer, NOW, _ctx(1, state=first.state))
    else:
        first = hajime.read_reply(_exchange(bot, syn), peer, NOW, _ctx(0, state=syn.state))
        assert first.status is Status.BOT_REPLY and not first.replies and first.more
        data = hajime.peer_request(peer, _ctx(1, state=first.state))
        framed = hajime_wire.unframe(utp.decode(data.data).payload)
        assert framed is not None and framed[0] == hajime_wire.Message(2, b"config\0")
        res = hajime.read_reply(_exchange(bot, data), peer, NOW, _ctx(1, state=first.state))
    assert res.status is Status.BOT_REPLY and not res.more and res.bot_id is None
    (reply,) = res.replies
    assert reply.data is not None
    assert reply.data["arch"] == "mipsel" and reply.data["utp"] == "confirmed"
    assert reply.data["day_key"] == "2019-02-24" and reply.data["served"] == "config"
    assert reply.data["file"] == ".i.mipsel.1506551478" and bot.served == 1


def test_what_is_not_a_confirmation_is_no_reply() -> None:
    bot = _bot()
    peer = Peer(bot.ip, bot.port)
    syn = hajime.peer_request(peer, _ctx(0))
    first = hajime.read_reply(_exchange(bot, syn), peer, NOW, _ctx(0, state=syn.state))
    conn = utp.decode(syn.data).connection_id
    reset = utp.reset(conn, 1, 1, NOW)
    assert hajime.read_reply(reset, peer, NOW, _ctx(1, state=first.state)).reason == "utp_reset"
    other = utp.data_packet(conn ^ 1, 1, 1, b"", NOW)
    res = hajime.read_reply(other, peer, NOW, _ctx(1, state=first.state))
    assert res.reason == "utp_unknown_connection"
    header = hajime_wire.FileHeader("passwd", False, 0, 0, 0)
    wrong = hajime_wire.frame(3, hajime_wire.encode_file(header, b""))
    res = hajime.read_reply(utp.data_packet(conn, 1, 1, wrong, NOW), peer, NOW,
                            _ctx(1, state=first.state))  # fmt: skip
    assert res.reason == "hajime_wrong_file"
    res = hajime.read_reply(utp.data_packet(conn, 1, 1, b"\0\0", NOW), peer, NOW,
                            _ctx(1, state=first.state))  # fmt: skip
    assert res.status is Status.NO_REPLY


def test_sensor_announces_under_every_key_and_records_a_fetching_bot() -> None:
    node = _node()
    sensor = SensorContext(Peer(*ME), "00112233445566ff")
    sensor.now = NOW
    data = hajime.announce(Peer(node.ip, node.port), sensor)
    announced, sent = set(), 0
    while data is not None and sent < 100:
        sent += 1
        ((answer, _),) = node.handle(data, ME, NOW)
        msg = krpc.decode(data)
        if msg.method == "announce_peer":
            announced.add(msg.bytes_arg(b"info_hash", 20))
        data, records = hajime.handle_request(answer, Peer(node.ip, node.port), NOW, sensor)
        assert records == []
    keys = {k.info_hash for k in hajime.keys_for(DAY)}
    assert announced == keys, "a lone node is near every key"
    assert set(node._peers or {}) == keys and sent == 2 * len(keys)

    # a NATed bot wants its module; the sensor answers its SYN and records its request
    bot = _bot("arm5", seeder=False)
    bot._connect(ME, ".i.arm5.1506551478", NOW)
    ((syn, _),) = bot._flush([])
    answer, records = hajime.handle_request(syn, Peer(bot.ip, bot.port), NOW, sensor)
    assert answer is not None and utp.decode(answer).type == utp.ST_STATE
    assert [r.data["message"] for r in records if r.data] == ["syn"]
    ((request, _),) = bot.handle(answer, ME, NOW, unsolicited=False)
    ack, records = hajime.handle_request(request, Peer(bot.ip, bot.port), NOW, sensor)
    (record,) = records
    assert record.data is not None and record.bot_id is None
    assert record.data["message"] == "file_request" and record.data["arch"] == "arm5"
    assert record.data["utp"] == "confirmed" and record.data["file"] == ".i.arm5.1506551478"
    assert ack is not None and utp.decode(ack).ack_nr == utp.decode(request).seq_nr
    assert bot.fetched == {f"{ME[0]}:{ME[1]}": NOW}
