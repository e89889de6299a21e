"""``botmon simulate hajime``: emulated Hajime bots and plain DHT nodes on loopback, one process.

Every bot is a :class:`~botmon.sim.hajime_core.HajimeBot`: a DHT node with a CPU architecture
(``--architectures``, drawn evenly) that serves DHT and uTP on one port. Reachable bots seed:
they announce ``config`` and their architecture's two modules under the current UTC day's
keys (again at midnight and every ``--reannounce``) and serve them over uTP. NATed bots
(``--nat``) answer nobody; every ``--fetch-interval`` they look up a key and open uTP to the
peers found, so a sensor announced under the keys sees them. ``--benign N`` adds N plain DHT
nodes (``127.A.B.C``, A in ``plain_first_octets``). Tables, ``--bootstrap`` (join another DHT,
e.g. ``botmon simulate btdht``'s seeds) and churn work as in ``botmon simulate mozi``; bots
that come back online announce again. uTP SYNs and file requests pass the emulator's
defences (``--budget`` and the rest), DHT queries too.

Files: ``--peerlist`` (every reachable node, ``ip:port`` a line) and ``--truth``: one bot a
line with ``node_id`` (its DHT ID; not a bot ID: Hajime bots have none), ``arch``, ``files``,
``seeder``, ``announced_at`` (when it last finished announcing its files), ``fetched``
(``ip:port`` -> first time the bot opened uTP there), ``contacted`` (the same for anything
it sent outside the swarm: sensors, crawlers, libtorrent nodes), ``served`` (files served),
``peers`` (nodes that were in its routing table or announced to it) and the defences'
``blacklisted``. Beside it ``<stem>.plain<suffix>`` lists the plain nodes. ``--preload``
(on by default) starts the DHT with the day's announcements already stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from botmon.crawl.peerlist import PeerListError, read_peerlist
from botmon.protocols import hajime_keys
from botmon.settings.sim_hajime import HajimeConfig
from botmon.sim.dht_node import DhtNode, fill_tables, random_tables
from botmon.sim.dht_swarm import DhtSwarm
from botmon.sim.hajime_core import HajimeBot, preload
from botmon.sim.population import Bot
from botmon.sim.runtime import Emulator

PROTOCOL = "hajime"
DESCRIPTION = "Hajime (daily keys in a BitTorrent DHT, files over uTP)"
CAPABILITIES = (
    "nat",
    "churn",
    "peer_exchange",
    "anti_monitoring",
    "blacklisting",
    "ignore_unknown",
)
DEMO = {"bots": 300, "nat": 0.3, "benign": 100, "churn": "light"}
"""The demo's Hajime botnet: 300 bots (a third NATed) among 100 plain DHT nodes."""
SETTINGS = HajimeConfig
BOOTSTRAP_PER_NODE = 2
MAX_BOOTSTRAP = 1000
FILES_CHECK_S = 0.25
MAX_CONTACTED = 64
"""Outside addresses recorded per bot in ``contacted``."""
PLAIN_V = bytes.fromhex("424d0001")


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class HajimeBotnet(Emulator):
    """The emulated Hajime botnet; see :class:`HajimeConfig`."""

    protocol = PROTOCOL

    def __init__(self, cfg: HajimeConfig, *, clock: Callable[[], float] = time.time) -> None:
        cfg.validate()
        super().__init__(cfg, clock=clock)
        self.hajime_cfg = cfg
        rng = random.Random(self.seed ^ 0x4A1E)
        self.node_ids = [rng.randbytes(20) for _ in self.bots]
        self.archs = [rng.choice(cfg.architectures) for _ in self.bots]
        used = {b.ip for b in self.bots}
        self.plain: list[tuple[str, bytes]] = []
        low, high = cfg.plain_first_octets
        while len(self.plain) < cfg.benign:
            ip = f"127.{rng.randint(low, high)}.{rng.randint(1, 254)}.{rng.randint(1, 254)}"
            if ip not in used:
                used.add(ip)
                self.plain.append((ip, rng.randbytes(20)))
        self._rng = rng
        self.contacted: list[dict[str, float] | None] = [None] * len(self.bots)
        self.swarm: DhtSwarm | None = None
        self._files_task: asyncio.Task[None] | None = None
        self._bootstrap_seen: tuple[float, int] | None = None
        self.bootstrap_errors: list[str] = []

    def hajime_bot(self, index: int) -> HajimeBot:
        """The node of bot ``index`` (after start)."""
        assert self.swarm is not None
        node = self.swarm.nodes[index]
        assert isinstance(node, HajimeBot)
        return node

    def reachable(self) -> list[tuple[str, int]]:
        """Every node that answers unsolicited queries: bots not behind NAT, plain nodes."""
        port = self.cfg.port
        return [(b.ip, b.port) for b in self.bots if not b.nat] + [
            (ip, port) for ip, _ in self.plain
        ]

    def status_line(self) -> str:
        """Bots online, datagrams, files served and fetches."""
        c = self.stats.counters
        line = (
            f"{PROTOCOL}: {self.online_count()}/{len(self.bots)} bots online, "
            f"{len(self.plain)} plain nodes | received {c['requests']} answered {c['answers']} "
            f"sent {c['sent']} dropped {self.stats.dropped_total()}"
        )
        if self.swarm is None:
            return line
        served = sum(self.hajime_bot(i).served for i in range(len(self.bots)))
        fetched = sum(len(self.hajime_bot(i).fetched) for i in range(len(self.bots)))
        return f"{line} | files served {served}, uTP contacts by NATed bots {fetched}"

    async def _open(self) -> None:
        cfg = self.hajime_cfg
        now = self.clock()
        swarm = DhtSwarm(
            cfg.host, cfg.port, self.stats, clock=self.clock, on_outside=self._outside,
            admit=self._admit,
        )  # fmt: skip
        secret = os.urandom(16)
        modules = hajime_keys.file_names(cfg.architectures)[1:]
        for bot, node_id, arch in zip(self.bots, self.node_ids, self.archs, strict=True):
            node = HajimeBot(
                node_id,
                bot.ip,
                bot.port,
                arch=arch,
                modules=modules,
                seeder=not bot.nat,
                interval=cfg.exchange_interval_s,
                fetch_interval=cfg.fetch_interval_s,
                reannounce_s=cfg.reannounce_s,
                secret=secret,
                rng=self._rng,
                start=now,
            )
            index = bot.index
            node.admit = lambda ip, t, i=index: self.defences.check(i, ip, t)
            swarm.add(node, nat=bot.nat, online=bool(self.churn.online[index]))
        for ip, node_id in self.plain:
            swarm.add(
                DhtNode(
                    node_id,
                    ip,
                    cfg.port,
                    version=PLAIN_V,
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
        if cfg.preload:
            online = [n for i, n in enumerate(swarm.nodes) if swarm.online[i]]
            preload(online, hajime_keys.utc_day(now))
        self.swarm = swarm
        await swarm.open()
        try:
            self._bootstrap()
            self._write_peerlist()
        except BaseException:
            await swarm.close()
            raise
        self._files_task = asyncio.create_task(self._watch_files(), name="sim-hajime-files")

    async def _close(self) -> None:
        if self._files_task is not None:
            self._files_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._files_task
            self._files_task = None
        if self.swarm is not None:
            await self.swarm.close()

    def _admit(self, index: int, src: str, now: float, query: bool) -> str | None:
        """Bots' defences per source on DHT datagrams (plain nodes answer everyone): a query
        counts against its source's budget and may be refused; an answer to the bot's own
        query passes, and the bot has heard from that node (``--ignore-unknown`` then
        answers it)."""
        if index >= len(self.bots):
            return None
        if not query:
            self.defences.heard(index, src, now)
            return None
        return self.defences.check(index, src, now)

    def _outside(self, index: int, ip: str, port: int, now: float) -> None:
        """A bot sent to an address outside the swarm (a sensor, a crawler, a libtorrent
        node): the first time, per address, goes into its truth's ``contacted``."""
        if index >= len(self.bots):
            return
        self.stats.counters["exchange/outside_contacts"] += 1
        seen = self.contacted[index]
        if seen is None:
            seen = self.contacted[index] = {}
        text = f"{ip}:{port}"
        if text not in seen and len(seen) < MAX_CONTACTED:
            seen[text] = now
            self._truth_dirty = True
            if self._truth is not None:
                self._truth.touch({index})

    def _on_flips(self, flipped: list[int]) -> None:
        swarm = self.swarm
        if swarm is None:
            return
        for i in flipped:
            online = bool(self.churn.online[i])
            swarm.online[i] = online
            if online:
                self.hajime_bot(i).back_online()

    async def _watch_files(self) -> None:
        """The bootstrap file when it changes; the truth when bots fetched or served."""
        seen: list[tuple[int, int, float | None]] = [(0, 0, None)] * len(self.bots)
        while True:
            await asyncio.sleep(min(FILES_CHECK_S, self.cfg.truth_interval_s or FILES_CHECK_S))
            self._bootstrap()
            changed = set()
            for i in range(len(self.bots)):
                node = self.hajime_bot(i)
                now_seen = (len(node.fetched), len(node.history or ()), node.announced_at)
                if now_seen != seen[i]:
                    seen[i] = now_seen
                    changed.add(i)
            if changed:
                self._truth_dirty = True
                if self._truth is not None:
                    self._truth.touch(changed)

    def _bootstrap(self) -> None:
        """Ask the bootstrap file's nodes for nodes near each node's ID, when it changed."""
        path, swarm = self.hajime_cfg.bootstrap, self.swarm
        if path is None or swarm is None:
            return
        try:
            stat = path.stat()
        except OSError:
            return
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
        for node in swarm.nodes if known else ():
            for address in self._rng.sample(known, min(BOOTSTRAP_PER_NODE, len(known))):
                node.add_candidate(address)

    def _write_peerlist(self) -> None:
        path = self.hajime_cfg.peerlist
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
            {"ip": n.ip, "port": n.port, "node_id": n.node_id.hex()}
            for n in self.swarm.nodes[len(self.bots) :]
        ]
        path = truth.with_name(f"{truth.stem}.plain{truth.suffix}")
        _write_atomically(path, b"".join(encode(r) + b"\n" for r in plain))

    def _truth_extras(self, bot: Bot) -> dict[str, Any]:
        extras: dict[str, Any] = {"node_id": self.node_ids[bot.index].hex(),
                                  "arch": self.archs[bot.index],
                                  "contacted": dict(self.contacted[bot.index] or {})}  # fmt: skip
        extras = self._defence_extras(bot, extras)
        if self.swarm is not None:
            node = self.hajime_bot(bot.index)
            extras.update(node.truth())
            extras["served"] = node.served
            extras["peers"] = [f"{ip}:{port}" for ip, port in node.history or ()]
        return extras


def build(cfg: HajimeConfig) -> HajimeBotnet:
    """The emulator for loaded settings (the ``botmon.emulators`` entry point's factory)."""
    return HajimeBotnet(cfg)
