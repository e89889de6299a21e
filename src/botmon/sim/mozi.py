"""``botmon simulate mozi``: emulated Mozi bots and plain DHT nodes on loopback, in one process.

Every bot is a :class:`~botmon.sim.mozi_core.MoziBot` (a DHT node with the Mozi ID prefix and
a signed configuration); ``--benign N`` adds N plain :class:`~botmon.sim.dht_node.DhtNode`
nodes on addresses of their own (``127.A.B.C`` with A in ``plain_first_octets``). All of them
sit behind one socket (:class:`~botmon.sim.dht_swarm.DhtSwarm`) and route like DHT nodes:
at start each knows ``--known`` others (``--tables random``, a young DHT) or ``--known`` per
bucket (``--tables converged``, a DHT that has run for long); it pings and looks up on its own
schedule (``--exchange-interval``), and answers everyone. Bots churn,
sit behind NAT (``--nat``: they query out, take answers, answer nobody) and may take a new
address with each new session (``--ip-change``).

``--bootstrap FILE`` (``ip:port`` lines, e.g. the seeds of ``botmon simulate btdht``) joins
an existing DHT: each node asks two of its nodes for the nodes near its own ID; the file is
re-read when it changes. The emulator signs its configurations with its own P-384 test keys
(``--key-file``: read if it exists, else created there; without it, fresh keys per run) and
writes the public keys (``--public-keys``: key 1 then key 2, hex, one a line) for
``botmon crawl mozi``. ``--push-config-at S`` signs a new version S seconds after start,
``--stop-at S`` a stop order (:func:`botmon.protocols.mozi_config.stop_order`); bots adopt it
all at once or from each other (``--push-spread``). Tests call :meth:`MoziBotnet.push_config`.

Files: ``--peerlist`` (every reachable node, bots and plain, ``ip:port`` a line; rewritten on
address changes) and ``--truth``: the emulators' JSON lines, one bot a line, with
``node_id`` (= ``bot_id``, hex), ``arch``, ``configs`` (``[[since, version, digest], ...]``),
``peers`` (every node that was in its routing table), ``contacted`` (outside nodes it sent
to: sensors, crawlers, libtorrent nodes; first time), and ``addresses`` for bots that move.
Beside it, ``<stem>.plain<suffix>`` lists the plain nodes (``ip``, ``port``, ``node_id``,
``v``) and ``<stem>.configs<suffix>`` every configuration signed (``since``: when it became
current, ``version``, ``arch``, ``digest``, ``stop``, ``tags``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from botmon.crawl.peerlist import PeerListError, read_peerlist
from botmon.protocols import mozi_config
from botmon.settings.loader import setting
from botmon.settings.sim import MAX_BOTS, CommonConfig, PopulationTraits
from botmon.sim.dht_node import DhtNode, K, fill_tables, random_tables
from botmon.sim.dht_swarm import DhtSwarm
from botmon.sim.mozi_core import ConfigBook, MoziBot
from botmon.sim.population import Bot, new_address
from botmon.sim.runtime import Emulator

PROTOCOL = "mozi"
DESCRIPTION = "Mozi (inside a BitTorrent DHT)"
CAPABILITIES = (
    "bot_ids",
    "nat",
    "churn",
    "address_changes",
    "anti_monitoring",
    "peer_exchange",
    "blacklisting",
    "ignore_unknown",
)
DEMO = {"bots": 300, "nat": 0.2, "benign": 200, "churn": "light"}
"""The demo's Mozi botnet: 300 bots among 200 plain DHT nodes."""

DHT_PORT = 6890
"""Not 6881: ``botmon simulate btdht`` binds 127.x:6881, which a wildcard socket would clash
with; the Mozi crawler and sensor take seeds with their ports anyway."""
ARCHITECTURES = (
    ("mips", 0.35),
    ("mipsel", 0.2),
    ("arm7", 0.2),
    ("arm", 0.1),
    ("aarch64", 0.1),
    ("x86_64", 0.05),
)
"""Bots' CPU architectures (``[cpu]``) and their shares: IoT devices, MIPS and ARM first."""
BOOTSTRAP_PER_NODE = 2
MAX_BOOTSTRAP = 1000
MAX_CONTACTED = 64
"""Outside nodes recorded per bot in ``contacted``."""
FILES_CHECK_S = 0.25
_MOVE_SALT = 0x3D1A7E55
_HEX = "^([0-9a-fA-F]{2}){1,8}$"
_UNUSED = "Not used by DHT nodes, which keep routing tables instead of peer lists."


class MoziSimConfig(CommonConfig, frozen=True, kw_only=True):
    """Emulated Mozi bots among plain DHT nodes (``sim.mozi``)."""

    section: ClassVar[str] = "sim.mozi"

    port: Annotated[
        int, setting("UDP port every node listens on.", option="--port", ge=1, le=65535)
    ] = DHT_PORT
    ports: Annotated[int, setting("One socket plays every node.", ge=1, le=1)] = 1
    peers_min: Annotated[int, setting(_UNUSED, ge=0, le=0)] = 0
    peers_max: Annotated[int, setting(_UNUSED, ge=0, le=0)] = 0
    exchange_interval_s: Annotated[
        float,
        setting(
            "Seconds between two rounds of one node (each at its own phase): pings to its "
            "table, candidates, one lookup hop; 0: nodes only answer.",
            option="--exchange-interval",
            ge=0,
        ),
    ] = 30.0
    exchange_fanout: Annotated[int, setting(_UNUSED, ge=1, le=64)] = 8
    news_share: Annotated[int, setting(_UNUSED, ge=1, le=1000)] = 8
    list_cap: Annotated[int, setting(_UNUSED, ge=1, le=10_000)] = 64
    tables: Annotated[
        Literal["random", "converged"],
        setting(
            "Routing tables at start: random (each node knows --known random others, a young "
            "DHT: answers hand out most of a table, so a sensor spreads fast) or converged "
            "(--known nodes per bucket, as a DHT that has run for long: what a key-space "
            "sweep is built for).",
            option="--tables",
        ),
    ] = "random"
    known: Annotated[
        int,
        setting(
            "Nodes each node knows at start: in all (random tables) or per bucket "
            "(converged tables, at most K = 8); 0: empty tables, join through --bootstrap.",
            option="--known",
            ge=0,
            le=64,
        ),
    ] = K
    benign: Annotated[
        int,
        setting(
            "Plain DHT nodes (not bots) in the same process.",
            option="--benign",
            ge=0,
            le=MAX_BOTS,
        ),
    ] = 0
    plain_first_octets: Annotated[
        tuple[int, int],
        setting("Plain nodes get 127.A.B.C with A in this range (apart from the bots)."),
    ] = (41, 63)
    ip_change: Annotated[
        float,
        setting(
            "Fraction of bots that take a new address (same first octet) with each new session.",
            option="--ip-change",
            ge=0.0,
            le=1.0,
        ),
    ] = 0.0
    bootstrap: (
        Annotated[
            Path,
            setting(
                "Peer list (ip:port a line) of DHT nodes to join, e.g. botmon simulate btdht's "
                "seeds; re-read when it changes.",
                option="--bootstrap",
            ),
        ]
        | None
    ) = None
    peerlist: (
        Annotated[
            Path,
            setting(
                "Write every reachable node (bots and plain) here, ip:port a line.",
                option="--peerlist",
            ),
        ]
        | None
    ) = None
    key_file: (
        Annotated[
            Path,
            setting(
                "The emulator's two P-384 signing keys (PEM): read if the file exists, else "
                "created there; none: fresh keys each run.",
                option="--key-file",
            ),
        ]
        | None
    ) = None
    public_keys: (
        Annotated[
            Path,
            setting(
                "Write the public keys here (key 1, key 2; hex, one a line) for the crawler.",
                option="--public-keys",
            ),
        ]
        | None
    ) = None
    push_config_at: (
        Annotated[
            float,
            setting(
                "Sign a new configuration version this many seconds after start.",
                option="--push-config-at",
                ge=0,
            ),
        ]
        | None
    ) = None
    stop_at: (
        Annotated[
            float,
            setting(
                "Sign a configuration that is a stop order this many seconds after start.",
                option="--stop-at",
                ge=0,
            ),
        ]
        | None
    ) = None
    push_spread: Annotated[
        Literal["all", "peers"],
        setting(
            "How a pushed configuration spreads: all bots at once, or from a few bots to "
            "the bots that ask them (the Mozi-flavoured lookups).",
            option="--push-spread",
        ),
    ] = "all"
    push_seeds: Annotated[
        float,
        setting("Share of online bots that get a peer-spread push first.", gt=0.0, le=1.0),
    ] = 0.05
    id_prefix: Annotated[
        str,
        setting("Bots' node-ID prefix (ASCII; the [hp] tag).", min_length=1, max_length=16),
    ] = "88888888"
    mozi_v: Annotated[str, setting("Bots' KRPC v value in hex (the [ver] tag).", pattern=_HEX)] = (
        "44421f71"
    )
    plain_v: Annotated[
        str, setting("Plain nodes' v in hex (client code BM, botmon).", pattern=_HEX)
    ] = "424d0001"

    def traits(self) -> PopulationTraits:
        """Address changes; node IDs are the emulator's own (20 bytes, set after)."""
        return PopulationTraits(ip_change=self.ip_change)

    def problems(self) -> Iterator[tuple[str, str]]:
        """The common rules; plain nodes' addresses apart from the bots' and enough of them."""
        yield from super().problems()
        if not self.id_prefix.isascii():
            yield "id_prefix", "must be ASCII"
        low, high = self.plain_first_octets
        if not 1 <= low <= high <= 250:
            yield "plain_first_octets", "must lie in 1..250, low first"
        elif not (high < self.first_octets[0] or low > self.first_octets[1]):
            yield "plain_first_octets", f"must not overlap first_octets {self.first_octets}"
        elif (high - low + 1) * 254 * 254 < self.benign:
            yield "plain_first_octets", f"too few addresses for {self.benign} plain nodes"
        if self.key_file is not None and self.key_file.exists():
            try:
                load_or_create_keys(self.key_file)
            except OSError as exc:
                yield "key_file", f"cannot read it: {exc.strerror or exc}"
            except ValueError as exc:
                yield "key_file", str(exc)


SETTINGS = MoziSimConfig


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def sibling(truth: Path, kind: str) -> Path:
    """``truth.jsonl`` -> ``truth.<kind>.jsonl``: the plain nodes' and configurations' files."""
    return truth.with_name(f"{truth.stem}.{kind}{truth.suffix}")


def load_or_create_keys(
    path: Path | None,
) -> tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey]:
    """The two signing keys of ``path`` (two PEM blocks), or new ones written there."""
    if path is not None and path.exists():
        text = path.read_bytes()
        end = b"-----END PRIVATE KEY-----"
        blocks = [part + end for part in text.split(end) if part.strip()]
        try:
            keys = [serialization.load_pem_private_key(block, None) for block in blocks]
        except (ValueError, TypeError, UnsupportedAlgorithm):
            keys = []
        if len(keys) != 2 or not all(isinstance(k, ec.EllipticCurvePrivateKey) for k in keys):
            raise ValueError("expected two EC private keys in PEM")
        return keys[0], keys[1]  # type: ignore[return-value]
    signers = mozi_config.new_signing_keys()
    if path is not None:
        pem = b"".join(
            k.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            for k in signers
        )
        _write_atomically(path, pem)
    return signers


class MoziBotnet(Emulator):
    """The emulated Mozi botnet; see :class:`MoziSimConfig`."""

    protocol = PROTOCOL

    def __init__(self, cfg: MoziSimConfig, *, clock: Callable[[], float] = time.time) -> None:
        cfg.validate()
        super().__init__(cfg, clock=clock)
        self.mozi_cfg = cfg
        rng = random.Random(self.seed ^ 0xD47)
        prefix = cfg.id_prefix.encode("latin-1")
        self.node_ids = [prefix + rng.randbytes(20 - len(prefix)) for _ in self.bots]
        for bot, node_id in zip(self.bots, self.node_ids, strict=True):
            bot.bot_id = node_id.hex()
        names = [a for a, _ in ARCHITECTURES]
        weights = [w for _, w in ARCHITECTURES]
        self.archs = rng.choices(names, weights, k=len(self.bots))
        used = {b.ip for b in self.bots}
        self.plain: list[tuple[str, bytes]] = []
        """Plain nodes: (ip, node ID)."""
        low, high = cfg.plain_first_octets
        while len(self.plain) < cfg.benign:
            ip = f"127.{rng.randint(low, high)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
            if ip not in used:
                used.add(ip)
                self.plain.append((ip, rng.randbytes(20)))
        self._used_ips = used
        self._rng = rng
        self.signers = load_or_create_keys(cfg.key_file)
        base = (
            ("ss", "bot"),
            ("hp", cfg.id_prefix),
            ("ver", cfg.mozi_v.lower()),
            ("count", "127.0.0.1"),
        )
        self.book = ConfigBook(self.signers, names, base)
        self.swarm: DhtSwarm | None = None
        self.address_history: dict[int, list[list[Any]]] = {}
        self.contacted: list[dict[str, float] | None] = [None] * len(self.bots)
        self._moves = [0] * len(self.bots)
        self._pending: list[tuple[float, bool]] = []
        self._files_task: asyncio.Task[None] | None = None
        self._bootstrap_seen: tuple[float, int] | None = None
        self.bootstrap_errors: list[str] = []

    # -- what tests and the CLI read ---------------------------------------------------------

    def mozi_bot(self, index: int) -> MoziBot:
        """The DHT node of bot ``index`` (after start)."""
        assert self.swarm is not None
        node = self.swarm.nodes[index]
        assert isinstance(node, MoziBot)
        return node

    def plain_nodes(self) -> list[DhtNode]:
        """The plain DHT nodes (after start)."""
        assert self.swarm is not None
        return self.swarm.nodes[len(self.bots) :]

    def reachable(self) -> list[tuple[str, int]]:
        """Every node that answers unsolicited queries: bots not behind NAT, plain nodes."""
        port = self.cfg.port
        bots = [(b.ip, b.port) for b in self.bots if not b.nat]
        return bots + [(ip, port) for ip, _ in self.plain]

    def public_keys_hex(self) -> tuple[str, str]:
        """The public keys the crawler verifies blobs with (key 1, key 2)."""
        return mozi_config.public_key_hex(self.signers[0]), mozi_config.public_key_hex(
            self.signers[1]
        )

    def status_line(self) -> str:
        """Bots online, datagrams in and out, contacts outside, and who carries the newest
        configuration."""
        c = self.stats.counters
        state = f"{self.online_count()}/{len(self.bots)} bots online"
        if self.stopped_at is not None:
            state = f"stopped, {len(self.bots)} bots"
        line = (
            f"{PROTOCOL}: {state}, {len(self.plain)} plain nodes | received {c['requests']} "
            f"answered {c['answers']} sent {c['sent']} dropped {self.stats.dropped_total()} | "
            f"outside contacts {c['exchange/outside_contacts']}"
        )
        if self.swarm is None:
            return line
        latest = self.book.latest
        share = sum(self.mozi_bot(i).version_number == latest for i in range(len(self.bots)))
        return f"{line} | config v{latest} on {share}/{len(self.bots)} bots"

    # -- configuration pushes -----------------------------------------------------------------

    def push_config(self, *, stop: bool = False) -> int:
        """Sign a new version (a stop order with ``stop``) and start spreading it; its number."""
        cfg = self.mozi_cfg
        now = self.clock()
        version = self.book.sign(now, stop=stop)
        self.stats.counters["config_pushes"] += 1
        indexes = list(range(len(self.bots)))
        if cfg.push_spread == "peers":
            online = [i for i in indexes if self.churn.online[i]] or indexes
            count = max(1, round(cfg.push_seeds * len(online)))
            indexes = self._rng.sample(online, min(count, len(online)))
        for i in indexes:
            self.mozi_bot(i).adopt(version, now)
        self._changed()
        return version

    def _changed(self) -> None:
        self._truth_stale()
        self._truth_dirty = True

    # -- life cycle -------------------------------------------------------------------------

    async def _open(self) -> None:
        cfg = self.mozi_cfg
        now = self.clock()
        self.book.sign(now)
        swarm = DhtSwarm(
            cfg.host,
            cfg.port,
            self.stats,
            clock=self.clock,
            on_outside=self._outside,
            admit=self._admit,
        )
        secret = os.urandom(16)
        prefix = cfg.id_prefix.encode("latin-1")
        mozi_v = bytes.fromhex(cfg.mozi_v)
        for bot, node_id, arch in zip(self.bots, self.node_ids, self.archs, strict=True):
            node = MoziBot(
                node_id,
                bot.ip,
                bot.port,
                book=self.book,
                arch=arch,
                prefix=prefix,
                mozi_v=mozi_v,
                interval=cfg.exchange_interval_s,
                secret=secret,
                rng=self._rng,
                start=now,
            )
            node.adopt(1, now)
            swarm.add(node, nat=bot.nat, online=bool(self.churn.online[bot.index]))
        plain_v = bytes.fromhex(cfg.plain_v)
        for ip, node_id in self.plain:
            swarm.add(
                DhtNode(
                    node_id,
                    ip,
                    cfg.port,
                    version=plain_v,
                    interval=cfg.exchange_interval_s,
                    secret=secret,
                    rng=self._rng,
                    start=now,
                )
            )
        if cfg.tables == "converged":
            fill_tables(swarm.nodes, cfg.known, self._rng)
        else:
            random_tables(swarm.nodes, cfg.known, self._rng)
        self.address_history = {
            b.index: [[now, f"{b.ip}:{b.port}"]] for b in self.bots if b.ip_change
        }
        for delay, stop in ((cfg.push_config_at, False), (cfg.stop_at, True)):
            if delay is not None:
                self._pending.append((now + delay, stop))
        self._pending.sort()
        self.swarm = swarm
        await swarm.open()
        try:
            self._bootstrap()
            self._write_files()
        except BaseException:
            await swarm.close()
            raise
        self._files_task = asyncio.create_task(self._watch_files(), name="sim-mozi-files")

    async def _close(self) -> None:
        if self._files_task is not None:
            self._files_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._files_task
            self._files_task = None
        if self.swarm is not None:
            await self.swarm.close()

    def _admit(self, index: int, src: str, now: float, query: bool) -> str | None:
        """Bots' defences per source (plain nodes answer everyone): a query counts against
        its source's budget and may be refused (a stranger's, with ``ignore_unknown``); an
        answer to the bot's own query is taken. Either way the bot has heard from ``src``."""
        if index >= len(self.bots):
            return None
        defences = self.defences
        if query:
            verdict = defences.check(index, src, now)
            if verdict is not None:
                return verdict
        defences.heard(index, src, now)
        return None

    def _outside(self, index: int, ip: str, port: int, now: float) -> None:
        if index >= len(self.bots):
            return
        self.stats.counters["exchange/outside_contacts"] += 1
        seen = self.contacted[index]
        if seen is None:
            seen = self.contacted[index] = {}
        text = f"{ip}:{port}"
        if text not in seen and len(seen) < MAX_CONTACTED:
            seen[text] = now
            self.exchange.totals[text] = self.exchange.totals.get(text, 0) + 1
            self._truth_dirty = True
            if self._truth is not None:
                self._truth.touch({index})

    def _on_flips(self, flipped: list[int]) -> None:
        swarm = self.swarm
        if swarm is None:
            return
        moved = False
        for i in flipped:
            online = self.churn.online[i]
            swarm.online[i] = online
            if online and self.bots[i].ip_change:
                moved = self._move(self.bots[i]) or moved
        if moved:
            self._truth_stale()
            self._write_peerlist()

    def _move(self, bot: Bot) -> bool:
        """Give ``bot`` a fresh 127.A.x.y (same A); deterministic from the seed."""
        assert self.swarm is not None
        self._moves[bot.index] += 1
        ip = new_address(
            self.seed ^ _MOVE_SALT, bot.index, self._moves[bot.index], bot.ip, self._used_ips
        )
        if ip is None:
            return False
        bot.ip, bot.ip4 = ip, socket.inet_aton(ip)
        self.swarm.move(bot.index, ip)
        text = f"{ip}:{bot.port}"
        self.population.entry_texts[bot.index] = text
        self.defences.addresses_changed()
        since = self.churn.sessions[bot.index][-1][0]
        self.address_history.setdefault(bot.index, []).append([since, text])
        self.stats.counters["ip_changes"] += 1
        return True

    # -- files --------------------------------------------------------------------------------

    async def _watch_files(self) -> None:
        """Pushes when due, the bootstrap file when it changes, truth when bots changed."""
        versions = [0] * len(self.bots)
        tables = [0] * len(self.bots)
        while True:
            await asyncio.sleep(min(FILES_CHECK_S, self.cfg.truth_interval_s or FILES_CHECK_S))
            now = self.clock()
            while self._pending and self._pending[0][0] <= now:
                _, stop = self._pending.pop(0)
                self.push_config(stop=stop)
            self._bootstrap()
            changed = set()
            for i in range(len(self.bots)):
                node = self.mozi_bot(i)
                seen = len(node.history or ())
                if node.version_number != versions[i] or seen != tables[i]:
                    versions[i], tables[i] = node.version_number, seen
                    changed.add(i)
            if changed:
                self._truth_dirty = True
                if self._truth is not None:
                    self._truth.touch(changed)

    def _bootstrap(self) -> None:
        """Ask the bootstrap file's nodes for nodes near each node's ID, when it changed."""
        path, swarm = self.mozi_cfg.bootstrap, self.swarm
        if path is None or swarm is None:
            return
        try:
            stat = path.stat()
        except OSError:
            return  # not written yet: the other DHT may start later
        if (stat.st_mtime, stat.st_size) == self._bootstrap_seen:
            return
        self._bootstrap_seen = (stat.st_mtime, stat.st_size)
        try:
            peers, bad = read_peerlist(path)
        except PeerListError as exc:
            self.bootstrap_errors.append(str(exc))
            return
        self.bootstrap_errors.extend(f"{path}:{line}: {problem}" for line, problem in bad)
        del self.bootstrap_errors[:-100]
        ours = set(swarm.by_address)
        known = [(p.ip, p.port) for p in peers if p.ip.startswith("127.")]
        known = [a for a in known if a not in ours][:MAX_BOOTSTRAP]
        if not known:
            return
        for node in swarm.nodes:
            for address in self._rng.sample(known, min(BOOTSTRAP_PER_NODE, len(known))):
                node.add_candidate(address)

    def _write_files(self) -> None:
        cfg = self.mozi_cfg
        if cfg.public_keys is not None:
            one, two = self.public_keys_hex()
            _write_atomically(cfg.public_keys, f"{one}\n{two}\n".encode())
        self._write_peerlist()

    def _write_peerlist(self) -> None:
        path = self.mozi_cfg.peerlist
        if path is not None:
            text = "".join(f"{ip}:{port}\n" for ip, port in self.reachable())
            _write_atomically(path, text.encode())

    def _write_truth(self) -> None:
        super()._write_truth()
        truth = self.cfg.truth
        if truth is None or self.swarm is None:
            return
        encode = msgspec.json.Encoder().encode
        plain = [
            {"ip": n.ip, "port": n.port, "node_id": n.node_id.hex(), "v": (n.version or b"").hex()}
            for n in self.plain_nodes()
        ]
        _write_atomically(sibling(truth, "plain"), b"".join(encode(r) + b"\n" for r in plain))
        configs = b"".join(encode(r) + b"\n" for r in self.book.history)
        _write_atomically(sibling(truth, "configs"), configs)

    def _truth_extras(self, bot: Bot) -> dict[str, Any]:
        extras: dict[str, Any] = {
            "node_id": self.node_ids[bot.index].hex(),
            "arch": self.archs[bot.index],
            "contacted": dict(self.contacted[bot.index] or {}),
        }
        extras = self._defence_extras(bot, extras)
        if self.swarm is not None:
            node = self.mozi_bot(bot.index)
            extras["configs"] = [list(c) for c in node.configs]
            extras["peers"] = [f"{ip}:{port}" for ip, port in node.history or ()]
        if bot.ip_change:
            extras["ip_change"] = True
            extras["addresses"] = self.address_history.get(bot.index, [])
        return extras


def build(cfg: MoziSimConfig) -> MoziBotnet:
    """The emulator for loaded settings (the ``botmon.emulators`` entry point's factory)."""
    return MoziBotnet(cfg)
