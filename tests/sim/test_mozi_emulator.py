"""The emulated Mozi botnet: bots asked by a hand-written KRPC client, blobs verified with the
keys the emulator wrote, plain nodes answering normally, NAT, pushes and stop orders."""

from __future__ import annotations

import asyncio
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

from botmon.protocols import krpc, mozi_config
from botmon.sim.mozi import MoziBotnet, MoziSimConfig, load_or_create_keys, sibling
from botmon.sim.mozi_core import ConfigBook, MoziBot
from botmon.sim.process import SimulatorProcess
from botmon.sim.truth import read_truth
from tests.sim.helpers import Address, ask_udp, free_port, run

PREFIX = b"88888888"
MOZI_V = bytes.fromhex("44421f71")
NOW = 1_800_000_000.0


def _mozi_find_node(tid: bytes = b"mz") -> bytes:
    """What the Mozi crawler recipe sends (PROTOCOLS.md §2.5)."""
    own = PREFIX + os.urandom(12)
    return krpc.find_node(tid, own, PREFIX + os.urandom(12), version=MOZI_V)


def _keys(path: Path) -> tuple[object, object]:
    one, two = path.read_text().split()
    return mozi_config.load_public_key(one), mozi_config.load_public_key(two)


def _blobs(got: dict[Address, list[bytes]]) -> dict[Address, bytes]:
    out = {}
    for address, datagrams in got.items():
        for data in datagrams:
            msg = krpc.decode(data)
            nodes = msg.body.get(b"nodes") if msg.kind == "r" and msg.body else None
            if isinstance(nodes, bytes) and mozi_config.looks_like_config(nodes):
                out[address] = nodes
    return out


def test_bots_answer_signed_blobs_plain_nodes_answer_nodes_nat_bots_stay_silent(
    tmp_path: Path,
) -> None:
    port = free_port()
    truth, peerlist = tmp_path / "truth.jsonl", tmp_path / "reachable.txt"
    public, key_file = tmp_path / "public.txt", tmp_path / "keys.pem"
    args = ["--bots", "60", "--benign", "30", "--nat", "0.25", "--port", str(port)]
    args += ["--seed-rng", "7", "--exchange-interval", "0.5", "--truth", str(truth)]
    args += ["--peerlist", str(peerlist), "--public-keys", str(public)]
    args += ["--key-file", str(key_file), "--push-config-at", "6"]
    with SimulatorProcess("mozi", *args, workdir=tmp_path) as sim:
        started = time.monotonic()
        assert sim.seeds
        keys = _keys(public)
        bots = {(r["ip"], r["port"]): r for r in read_truth(truth)}
        plain = {(r["ip"], r["port"]): r for r in read_truth(sibling(truth, "plain"))}
        assert len(bots) == 60 and len(plain) == 30
        natted = {a for a, r in bots.items() if r["nat"]}
        assert len(natted) == 15
        reachable = {
            (ip, int(p)) for ip, _, p in (x.rpartition(":") for x in peerlist.read_text().split())
        }
        assert reachable == (set(bots) - natted) | set(plain)

        got = ask_udp([*bots, *plain], payload=_mozi_find_node(), timeout=4.0, idle=0.5)
        assert time.monotonic() - started < 6, "too slow to see version 1 before the push"
        blobs = _blobs(got)
        assert set(blobs) == set(bots) - natted  # every answering bot, no plain node
        # NATed bots answer nothing (they may query the client: it is a DHT node to them).
        answered = {a for a, ds in got.items() if any(krpc.decode(d).kind != "q" for d in ds)}
        assert not natted & answered and answered == reachable
        for address, blob in blobs.items():
            config = mozi_config.decode(blob, keys)  # type: ignore[arg-type]
            assert config.signatures == "valid" and config.version == 1 and not config.stop
            assert config.arch == bots[address]["arch"]
            assert config.tag("hp") == "88888888" and config.tag("ver") == "44421f71"
            assert bots[address]["configs"][-1][1:] == [1, config.digest]
            assert bots[address]["bot_id"] == bots[address]["node_id"]
            assert bots[address]["node_id"].startswith(PREFIX.hex())
        for address in plain:
            (answer,) = [m for m in map(krpc.decode, got[address]) if m.kind == "r"]
            assert answer.kind == "r" and answer.node_id.hex() == plain[address]["node_id"]
            assert answer.version == bytes.fromhex(plain[address]["v"])
            assert answer.nodes and len(answer.body[b"nodes"]) % 26 == 0  # type: ignore[index]

        # A normal find_node (no Mozi v) gets a normal answer from a bot too.
        one_bot = sorted(set(bots) - natted)[0]
        plain_query = krpc.find_node(b"pl", os.urandom(20), PREFIX + os.urandom(12))
        got = ask_udp([one_bot], payload=plain_query, timeout=2.0)
        (normal,) = [m for m in map(krpc.decode, got[one_bot]) if m.kind == "r"]
        assert normal.nodes and not _blobs(got)

        # The push (6 s after start): every answering bot then carries version 2.
        time.sleep(max(0.0, 7.0 - (time.monotonic() - started)))
        got = ask_udp(sorted(set(bots) - natted), payload=_mozi_find_node(), timeout=4.0)
        versions = {mozi_config.decode(b, keys).version for b in _blobs(got).values()}  # type: ignore[arg-type]
        assert versions == {2}

        # A bare blob signed with other keys is ignored; one signed with the emulator's own
        # keys (the key file) and newer is adopted.
        forged = mozi_config.encode(
            [("ss", "bot"), ("cpu", "x")], 9, mozi_config.new_signing_keys()
        )
        signed = mozi_config.encode([("ss", "bot"), ("cpu", "x")], 7, load_or_create_keys(key_file))
        target = sorted(set(bots) - natted)[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
            raw.sendto(forged, target)
            time.sleep(0.3)
            (after_forged,) = _blobs(ask_udp([target], payload=_mozi_find_node())).values()
            assert mozi_config.decode(after_forged).version == 2
            raw.sendto(signed, target)
            time.sleep(0.3)
            (after_signed,) = _blobs(ask_udp([target], payload=_mozi_find_node())).values()
            assert after_signed == signed
    final = {(r["ip"], r["port"]): r for r in read_truth(truth)}
    assert [c[1] for c in final[target]["configs"]] == [1, 2, 7]
    assert all(end is not None for r in final.values() for _, end in r["sessions"])
    configs = read_truth(sibling(truth, "configs"))
    assert {c["version"] for c in configs} == {1, 2}
    assert {c["arch"] for c in configs} >= {r["arch"] for r in final.values()}


class _Sensor:
    """A hand-written DHT node with a Mozi ID: announces itself, answers, notes who asks."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.77", 0))
        self.sock.setblocking(False)
        self.node_id = PREFIX + os.urandom(12)
        self.askers: dict[str, float] = {}

    @property
    def address(self) -> Address:
        ip, port = self.sock.getsockname()
        return str(ip), int(port)

    def announce(self, peers: list[Address]) -> None:
        for peer in peers:
            self.sock.sendto(krpc.ping(b"an", self.node_id, version=MOZI_V), peer)

    def serve(self) -> None:
        while True:
            try:
                data, src = self.sock.recvfrom(4096)
            except BlockingIOError:
                return
            try:
                msg = krpc.decode(data)
            except krpc.KrpcError:
                continue
            if msg.kind != "q":
                continue
            self.askers.setdefault(src[0], time.time())
            body: dict[bytes, object] = {b"id": self.node_id, b"nodes": b"", b"token": b"tk"}
            self.sock.sendto(krpc.response(msg.tid, body), src)


def test_a_peer_spread_stop_order_reaches_every_bot_and_nat_bots_query_a_sensor(
    tmp_path: Path,
) -> None:
    """NATed bots hear of the sensor only from other nodes' answers (then ping it): in a
    Kademlia DHT that is a share of them, not all; the crawler reaches none of them."""
    cfg = MoziSimConfig(
        bots=120,
        benign=60,
        nat=0.2,
        port=free_port(),
        seed_rng=5,
        exchange_interval_s=0.3,
        push_spread="peers",
        truth=tmp_path / "truth.jsonl",
    )
    sensor = _Sensor()

    async def scenario() -> None:
        async with MoziBotnet(cfg) as net:
            sensor.announce(net.reachable())
            version = net.push_config(stop=True)
            assert version == 2
            first = sum(net.mozi_bot(i).version_number == 2 for i in range(len(net.bots)))
            assert 1 <= first <= 10  # a few bots get it first
            deadline = time.monotonic() + 25  # ~3 s when the machine is idle
            natted = {b.ip for b in net.bots if b.nat}
            while time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                sensor.serve()
                spread = all(net.mozi_bot(i).version_number == 2 for i in range(len(net.bots)))
                if spread and len(natted & set(sensor.askers)) >= 0.5 * len(natted):
                    break
            carried = [net.mozi_bot(i).version_number for i in range(len(net.bots))]
            assert carried == [2] * len(net.bots), f"{carried.count(2)} bots carry v2"
            seen = len(natted & set(sensor.askers))
            assert seen >= 0.5 * len(natted), f"{seen}/{len(natted)} NATed bots asked the sensor"
            stop_blob = net.mozi_bot(0).blob
            assert mozi_config.decode(stop_blob).stop
        records = net.truth()
        where = f"{sensor.address[0]}:{sensor.address[1]}"
        assert sum(where in r["contacted"] for r in records if r["nat"]) >= 0.5 * len(natted)

    run(scenario(), timeout=60)
    sensor.sock.close()


def _bot(book: ConfigBook) -> MoziBot:
    bot = MoziBot(
        PREFIX + b"\x01" * 12,
        "127.3.0.1",
        6890,
        book=book,
        arch="mips",
        prefix=PREFIX,
        mozi_v=MOZI_V,
        interval=1.0,
        secret=b"s" * 16,
        rng=random.Random(1),
        start=NOW,
    )
    book.sign(NOW)
    bot.adopt(1, NOW)
    return bot


def test_only_a_mozi_flavoured_find_node_gets_the_blob() -> None:
    book = ConfigBook(mozi_config.new_signing_keys(), ["mips"], [("ss", "bot")])
    bot = _bot(book)
    asker = ("127.0.0.1", 5000)

    def answer(query: bytes) -> bytes:
        ((data, _),) = bot.handle(query, asker, NOW)
        nodes = krpc.decode(data).body[b"nodes"]  # type: ignore[index]
        assert isinstance(nodes, bytes)
        return nodes

    mozi_id, other_id = PREFIX + b"\x02" * 12, b"\x02" * 20
    target = PREFIX + b"\x03" * 12
    assert answer(krpc.find_node(b"a", mozi_id, target, version=MOZI_V)) == bot.blob
    for query in (
        krpc.find_node(b"b", mozi_id, target),  # no v
        krpc.find_node(b"c", other_id, target, version=MOZI_V),  # not a Mozi ID
        krpc.find_node(b"d", mozi_id, b"\x03" * 20, version=MOZI_V),  # target not prefixed
    ):
        assert not mozi_config.looks_like_config(answer(query))


def test_bare_blobs_older_or_badly_signed_are_ignored_newer_signed_adopted() -> None:
    signers = mozi_config.new_signing_keys()
    book = ConfigBook(signers, ["mips"], [("ss", "bot")])
    bot = _bot(book)
    src = ("127.0.0.1", 5000)
    newer_forged = mozi_config.encode([("ss", "bot")], 5, mozi_config.new_signing_keys())
    older = mozi_config.encode([("ss", "bot")], 1, signers)
    newer = mozi_config.encode([("ss", "bot"), ("cpu", "mips")], 3, signers)
    for blob in (newer_forged, older, b"\x15\x15\x29\xd2" + b"\0" * 10):
        assert bot.handle(blob, src, NOW) == []
        assert bot.version_number == 1
    assert bot.handle(newer, src, NOW, unsolicited=False) == []  # behind NAT: never reached
    assert bot.version_number == 1
    bot.handle(newer, src, NOW + 1)
    assert bot.version_number == 3 and bot.blob == newer
    assert [c[1] for c in bot.configs] == [1, 3]


def test_churning_bots_take_new_addresses_and_answer_only_there() -> None:
    cfg = MoziSimConfig(
        bots=80,
        port=free_port(),
        seed_rng=11,
        churn="heavy",
        churn_scale=0.005,  # sessions of ~3 s
        ip_change=1.0,
        exchange_interval_s=0.5,
        tables="converged",
        known=2,
    )

    async def scenario() -> None:
        async with MoziBotnet(cfg) as net:
            first = {b.index: (b.ip, b.port) for b in net.bots}
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and net.counters.get("ip_changes", 0) < 5:
                await asyncio.sleep(0.1)
            moved = [b for b in net.bots if (b.ip, b.port) != first[b.index] and net.is_online(b)]
            assert moved, net.counters
            now_at = {(b.ip, b.port): b for b in moved}
            olds = [first[b.index] for b in moved]
            got = await asyncio.to_thread(ask_udp, [*olds, *now_at], payload=_mozi_find_node())
            answered = set(_blobs(got))
            # Moved bots are found only where they are now (some went offline meanwhile).
            assert answered and answered <= set(now_at), (answered, olds)
            bot = now_at[sorted(answered)[0]]
            assert net.mozi_bot(bot.index).ip == bot.ip
            old, new = first[bot.index], (bot.ip, bot.port)
            record = next(r for r in net.truth() if r["bot_id"] == bot.bot_id)
            assert record["ip_change"] and record["addresses"][0][1] == f"{old[0]}:{old[1]}"
            (since,) = [t for t, a in record["addresses"] if a == f"{new[0]}:{new[1]}"]
            assert since in [start for start, _ in record["sessions"]]  # since it came back

    run(scenario(), timeout=40)


def test_a_key_file_that_holds_no_keys_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    bad = tmp_path / "keys.pem"
    bad.write_text("not a key\n")
    done = subprocess.run(
        [sys.executable, "-m", "botmon", "simulate", "mozi", "--key-file", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert "sim.mozi.key_file: expected two EC private keys in PEM" in done.stderr
    good = tmp_path / "new.pem"
    first = load_or_create_keys(good)  # created there, then read back the same
    again = load_or_create_keys(good)
    assert [mozi_config.public_key_hex(k) for k in first] == [
        mozi_config.public_key_hex(k) for k in again
    ]
