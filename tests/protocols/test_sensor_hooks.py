"""The sensor hooks of HNS and linenet with plain bytes: answers, records, refusals."""

from __future__ import annotations

import socket

import pytest

from botmon.protocols import hns, linenet
from botmon.protocols.contract import Peer, RequestContext, SensorContext, Status
from botmon.wire import Edge, Reply

BOT = Peer("127.1.2.3", 41000)
NOW = 1_700_000_000.0
ME = Peer("127.0.0.9", 6000)
SENSOR = SensorContext(ME, "0123456789abcdef")


# ----- Hide'n'Seek ---------------------------------------------------------------------------


def test_hns_request_is_answered_with_the_sensor_itself() -> None:
    answer, records = hns.handle_request(b"~", BOT, NOW, SENSOR)
    assert answer == b"^\x00" + (6000).to_bytes(2, "big") + socket.inet_aton("127.0.0.9")
    assert records == [
        Reply(NOW, BOT.ip, BOT.port, data={"message": "request"}),
        Edge(NOW, BOT.ip, BOT.port, ME.ip, ME.port),
    ]
    # What a crawler reads from that answer is the sensor, never a bot.
    read = hns.read_reply(answer, ME, NOW, RequestContext())
    assert read.status is Status.BOT_REPLY and read.peers == (ME,)


def test_hns_answer_to_an_announcement_is_recorded_with_the_peer_it_named() -> None:
    named = b"^\x00" + (6001).to_bytes(2, "big") + socket.inet_aton("127.5.6.7")
    answer, records = hns.handle_request(named, BOT, NOW, SENSOR)
    assert answer is None
    assert records == [
        Reply(NOW, BOT.ip, BOT.port, data={"message": "reply"}),
        Edge(NOW, BOT.ip, BOT.port, "127.5.6.7", 6001),
    ]
    unusable = b"^\x00\x00\x00\x7f\x00\x00\x01"  # port 0: the bot counts, the peer does not
    assert hns.handle_request(unusable, BOT, NOW, SENSOR) == (
        None,
        [Reply(NOW, BOT.ip, BOT.port, data={"message": "reply"})],
    )


@pytest.mark.parametrize(
    "data", [b"", b"~~", b"garbage", b"^\x00\x17", b"~" + b"\x00" * 2000, b"^" * 1501]
)
def test_hns_anything_else_is_nothing(data: bytes) -> None:
    assert hns.handle_request(data, BOT, NOW, SENSOR) == (None, [])


@pytest.mark.parametrize("listen", ["0.0.0.0", "::1", "239.1.1.1"])
def test_hns_sensor_without_a_nameable_ipv4_records_but_stays_silent(listen: str) -> None:
    answer, records = hns.handle_request(b"~", BOT, NOW, SensorContext(Peer(listen, 6000)))
    assert answer is None and len(records) == 2


def test_hns_announce_is_a_tilde() -> None:
    assert hns.announce(BOT, SENSOR) == b"~"


# ----- linenet -------------------------------------------------------------------------------


def test_linenet_peers_gets_the_sensor_and_nothing_else() -> None:
    answer, records = linenet.handle_request(b"PEERS\n", BOT, NOW, SENSOR)
    assert answer == b"BOT 0123456789abcdef\nPEER 127.0.0.9 6000\nEND\n"
    assert records == [
        Reply(timestamp=NOW, ip=BOT.ip, port=BOT.port, data={"message": "peers"}),
        Edge(timestamp=NOW, src_ip=BOT.ip, src_port=BOT.port, dst_ip=ME.ip, dst_port=ME.port),
    ]
    # The crawler's own parser reads the sensor's answer as a bot naming only the sensor.
    read = linenet.read_reply(answer, ME, NOW, RequestContext())
    assert read.status is Status.BOT_REPLY and read.peers == (ME,)
    assert read.bot_id == "0123456789abcdef"


def test_linenet_hello_records_the_port_the_bot_listens_on() -> None:
    answer, records = linenet.handle_request(b"HELLO 7071\n", BOT, NOW, SENSOR)
    assert answer == b"BOT 0123456789abcdef\nEND\n"
    assert records == [
        Reply(timestamp=NOW, ip=BOT.ip, port=7071, data={"message": "hello"}),
        Edge(timestamp=NOW, src_ip=BOT.ip, src_port=7071, dst_ip=ME.ip, dst_port=ME.port),
    ]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"PEERS",
        b"PEERS\nPEERS\n",
        b"HELLO 0\n",
        b"HELLO 70000\n",
        b"HELLO x\n",
        b"HELLO \xff\n",
        b"HELLO 1 2\n",
        b"peers\n",
        b"A" * 200 + b"\n",
    ],
)
def test_linenet_anything_else_is_nothing(data: bytes) -> None:
    assert linenet.handle_request(data, BOT, NOW, SENSOR) == (None, [])


def test_linenet_request_frame_is_one_line_of_at_most_128_bytes() -> None:
    assert linenet.request_frame(b"") == 0
    assert linenet.request_frame(b"PEER") == 0
    assert linenet.request_frame(b"PEERS\nrest") == 6
    assert linenet.request_frame(b"A" * 128 + b"\n") == 129
    assert linenet.request_frame(b"A" * 128) == 0
    assert linenet.request_frame(b"A" * 129) < 0


def test_linenet_announce_says_hello_with_the_listen_port() -> None:
    assert linenet.announce(BOT, SENSOR) == b"HELLO 6000\n"
