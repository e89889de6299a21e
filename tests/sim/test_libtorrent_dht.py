"""Real libtorrent DHT nodes on loopback: they start, join, answer KRPC and free their ports.

The KRPC client is a plain UDP socket speaking through botmon's codec (krpc.py), so the
codec is checked against what the reference implementation really sends too.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from botmon.protocols import krpc
from botmon.protocols.contract import Peer
from botmon.sim.libtorrent_dht import EXTRA_FANOUT, LibtorrentDht
from botmon.sim.process import SimulatorProcess
from botmon.sim.truth import read_truth
from tests.sim.helpers import free_port

COUNT = 20
CLIENT_ID = b"botmon-test-client-1"


def _ask(sock: socket.socket, peer: Peer, message: bytes) -> krpc.Message:
    sock.sendto(message, peer)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        data, source = sock.recvfrom(4096)
        if source == tuple(peer):
            return krpc.decode(data)
    raise AssertionError(f"no answer from {peer}")


@pytest.fixture
def client() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    yield sock
    sock.close()


def _bindable(peer: Peer) -> bool:
    try:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(socket.AF_INET, kind) as sock:
                sock.bind(peer)
    except OSError:
        return False
    return True


def test_twenty_nodes_join_fast_answer_krpc_report_tables_and_free_ports(
    client: socket.socket,
) -> None:
    first_id = bytes.fromhex("8000000000000000000000000000000000000001")
    ids = [first_id] + [bytes([i + 1]) * 20 for i in range(1, COUNT)]
    dht = LibtorrentDht(COUNT, port=free_port(), node_ids=ids)
    began = time.monotonic()
    with dht:
        assert dht.wait_joined(min_table=COUNT - 1, timeout=15)
        joined_s = time.monotonic() - began
        peers = [node.peer for node in dht.nodes]
        assert len({p.ip.rsplit(".", 1)[0] for p in peers}) == COUNT  # one /24 each
        assert dht.nodes[0].node_id == first_id.hex()
        for node in dht.nodes:  # the ID and v each node says it has are what it sends
            answer = _ask(client, node.peer, krpc.ping(b"pi", CLIENT_ID))
            assert answer.kind == "r" and answer.tid == b"pi"
            assert answer.node_id.hex() == node.node_id
            assert answer.version is not None and answer.version.hex() == node.v
            assert krpc.client_version(answer.version) == ("LT", node.client_version)
        target = dht.nodes[5]
        answer = _ask(client, target.peer, krpc.find_node(b"fn", CLIENT_ID, b"\xff" * 20))
        named = [(n.node_id.hex(), Peer(n.ip, n.port)) for n in answer.nodes]
        tables = dht.routing_tables()
        assert set(tables) == set(peers)
        ids = {node.peer: node.node_id for node in dht.nodes}
        asker = Peer(*client.getsockname())
        ids[asker] = CLIENT_ID.hex()  # a node that asks may be taken in
        for owner, entries in tables.items():  # the full mesh, with the right IDs
            assert {peer for _, peer in entries} - {asker} == set(peers) - {owner}
            assert all(ids[peer] == nid for nid, peer in entries)
        assert named and set(named) <= set(tables[target.peer])
    assert joined_s < 10, f"20 nodes took {joined_s:.1f} s to start and join"
    assert all(_bindable(p) for p in peers)


def test_outside_nodes_are_pinged_enter_tables_and_only_on_loopback() -> None:
    outside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    outside.bind(("127.33.0.7", 0))
    outside.settimeout(0.2)
    me = Peer("127.33.0.7", outside.getsockname()[1])
    my_id = b"outside-node-id-0001"
    askers: set[tuple[str, int]] = set()
    with outside, LibtorrentDht(COUNT, port=free_port(), seed=5, join=[me]) as dht:
        assert dht.joined == {me}
        assert not dht.add_node(Peer("192.0.2.1", 6881)) and dht.refused == 1
        assert not dht.add_node(me)  # named once
        deadline = time.monotonic() + 10
        while len(askers) < EXTRA_FANOUT and time.monotonic() < deadline:
            try:
                data, source = outside.recvfrom(4096)
            except TimeoutError:
                continue
            message = krpc.decode(data)
            if message.kind != "q":
                continue
            askers.add(source)
            outside.sendto(krpc.response(message.tid, {b"id": my_id, b"nodes": b""}), source)
        assert len(askers) == EXTRA_FANOUT
        deadline = time.monotonic() + 10
        holding: set[Peer] = set()
        while time.monotonic() < deadline:
            tables = dht.routing_tables()
            holding = {owner for owner, t in tables.items() if (my_id.hex(), me) in t}
            if askers <= holding:
                break
            time.sleep(0.1)
        assert askers <= holding  # then others learn it from them


def test_a_taken_address_fails_the_start_and_leaves_nothing_open() -> None:
    port = free_port()
    dht = LibtorrentDht(3, port=port, seed=1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind((dht.nodes[2].ip, port))
        with pytest.raises(OSError):
            dht.start()
    assert all(_bindable(node.peer) for node in dht.nodes)


def test_botmon_simulate_btdht_joins_a_peer_list_written_later_and_stops_on_ctrl_c(
    tmp_path: Path,
) -> None:
    truth, join = tmp_path / "truth.jsonl", tmp_path / "join.txt"
    outside = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    outside.bind(("127.254.1.9", 0))
    outside.settimeout(0.1)
    me = f"127.254.1.9:{outside.getsockname()[1]}"
    my_id = b"outside-node-id-0002"
    args = ["--nodes", "6", "--port", str(free_port()), "--seed-rng", "2", "--seeds", "6"]
    args += ["--truth", str(truth), "--join", str(join), "--truth-interval", "0.2"]
    join.write_text("# the emulated bots' seeds, none yet\n")
    askers: set[str] = set()
    with outside, SimulatorProcess("btdht", *args, workdir=tmp_path) as sim:
        assert len(sim.seeds) == 6
        # The emulated bots' seeds change after the DHT started (either may start first).
        join.write_text(f"{me}\n# a comment\nnot an address\n")
        deadline = time.monotonic() + 15
        taken_in = False
        while not taken_in and time.monotonic() < deadline:
            try:
                data, source = outside.recvfrom(4096)
            except TimeoutError:
                holding = {r["ip"] for r in read_truth(truth) if me in r["peers"]}
                taken_in = bool(askers) and askers <= holding
                continue
            message = krpc.decode(data)
            if message.kind == "q":
                askers.add(source[0])
                outside.sendto(krpc.response(message.tid, {b"id": my_id, b"nodes": b""}), source)
        assert taken_in, f"{me} not in the truth's routing tables: {sim.output()}"
        assert sim.stop() == 0, sim.output()
    records = read_truth(truth)
    assert [(r["ip"], r["port"]) for r in records] == sim.seeds
    for record in records:
        assert len(record["node_id"]) == 40 and record["v"] == "4c540211"
        assert (record["client"], record["bot_id"], record["nat"]) == ("LT", None, False)
        others = {f"{ip}:{port}" for ip, port in sim.seeds} - {f"{record['ip']}:{record['port']}"}
        assert others <= set(record["peers"]) <= others | {me}  # the DHT's edges
        [(start, end)] = record["sessions"]
        assert end is not None and end > start
    assert "outside nodes joined 1" in sim.output()
