"""What an emulated Hajime bot is and does, sans-I/O: a DHT node that seeds and fetches files.

A :class:`HajimeBot` is a :class:`~botmon.sim.dht_node.DhtNode` (it routes like any node)
with an architecture and three files (``config`` and its architecture's two modules,
:func:`botmon.protocols.hajime_keys.files_of`), and one UDP port for both DHT and uTP (as
BitTorrent clients do: KRPC starts with ``d``, a uTP header with a type/version byte):

- **Seeding** (reachable bots): for each own file, an iterative ``get_peers`` lookup for the
  file's key of the current UTC day, then ``announce_peer`` to the closest nodes that gave a
  token; again at UTC midnight (new keys), after coming back online, and every
  ``reannounce_s``. Over uTP it answers ST_SYN with ST_STATE and a file request (framed as
  PROTOCOLS.md §3.4) for a file it holds with an ST_DATA carrying a type-3 message: the
  payload header (name, type, creation time, size) and a short body. Unknown connections
  get ST_RESET; files of other architectures an ST_STATE only (not served).
- **Fetching** (NATed bots): every ``fetch_interval`` a lookup for ``config`` or the bot's
  stage-2 module (alternately), then uTP to the peers found: ST_SYN, and on ST_STATE the file
  request. That is how a sensor announced under the keys sees bots nobody can reach.

Every uTP SYN or file request a bot receives passes ``admit`` (the emulator's defences) first.
Lookups are bounded (:data:`MAX_LOOKUP_QUERIES`, candidates capped), connections are kept in
small LRU tables; nothing a peer sends can grow a bot beyond them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import heapq
import random
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from botmon.protocols import hajime_keys, hajime_wire, krpc, utp
from botmon.protocols.krpc import Message
from botmon.sim.dht_node import MAX_HISTORY, Address, Datagram, DhtNode, K

ALPHA = 3
"""get_peers queries of one lookup in flight."""
MAX_LOOKUP_QUERIES = 16
MAX_CANDIDATES = 48
LOOKUP_TIMEOUT_S = 20.0
LOOKUP_QUERY_TIMEOUT_S = 3.0
"""A lookup's query unanswered this long no longer holds the lookup (nodes behind NAT are
in tables too; the base node waits QUERY_TIMEOUT_S before it counts a failure)."""
FETCH_PEERS = 8
"""Peers found under a key that a fetching bot opens uTP to."""
MAX_CONNECTIONS = 128
MAX_FETCHED = 64
"""Addresses per bot recorded in ``fetched`` (the truth's first uTP contacts)."""
FILE_CREATED = 1_506_215_619
CONFIG_BODY = (
    "[modules]\n{modules}\n[peers]\nrouter.utorrent.com:6881\nrouter.bittorrent.com:6881\n"
    "[info]\nJust a white hat, securing some systems (emulated by botmon).\n"
)

Admit = Callable[[str, float], "str | None"]


def file_content(name: str, modules: tuple[str, ...]) -> bytes:
    """The bytes a bot serves for ``name``: payload header, then a short body."""
    if name == hajime_keys.CONFIG:
        body, kind = CONFIG_BODY.format(modules="\n".join(modules)).encode(), 0
    else:
        body, kind = b"\x7fELF" + name.encode() + bytes(64), 2 if name.startswith("atk.") else 1
    header = hajime_wire.FileHeader(name, False, kind, FILE_CREATED, len(body), b"\xa5" * 128)
    return hajime_wire.frame(hajime_wire.FILE_CONTENT, hajime_wire.encode_file(header, body))


def preload(nodes: Sequence[DhtNode], day: dt.date) -> int:
    """Store every seeding bot's announcements of ``day`` at the K nodes nearest each key, as
    a DHT that has run since midnight holds them (what :func:`fill_tables` is for routing):
    a crawl may start at once. Nearest by XOR among the 4K nodes around the key in ID order
    (the K nearest share its longest prefixes, so they sit there): 50,000 bots take about a
    second. Returns the announcements stored."""
    order = sorted(nodes, key=lambda n: n.node_id)
    ids = [n.node_id for n in order]
    stored = 0
    for bot in nodes:
        if not isinstance(bot, HajimeBot) or not bot.seeder:
            continue
        peer = krpc.encode_peer(bot.ip, bot.port)
        for key in hajime_keys.day_keys(bot.files, day):
            at = bisect.bisect_left(ids, key.info_hash)
            window = order[max(0, at - 2 * K) : at + 2 * K]
            target = int.from_bytes(key.info_hash, "big")
            near = heapq.nsmallest(
                K, window, key=lambda n: int.from_bytes(n.node_id, "big") ^ target
            )
            for node in near:
                node._store(key.info_hash, peer)
                stored += 1
    return stored


class Lookup:
    """One iterative get_peers lookup for a key: candidates by distance, tokens, values."""

    __slots__ = ("announce", "asked", "candidates", "done", "key", "started", "tokens", "values")

    def __init__(self, key: hajime_keys.Key, announce: bool, now: float) -> None:
        self.key = key
        self.announce = announce
        self.started = now
        self.candidates: dict[bytes, Address] = {}
        self.asked: dict[bytes, bool] = {}
        """Node ID -> answered (False while the query is out or if it failed)."""
        self.tokens: dict[bytes, tuple[Address, bytes]] = {}
        self.values: dict[Address, None] = {}
        self.done = False

    def add(self, node_id: bytes, address: Address) -> None:
        if node_id in self.candidates or len(self.candidates) >= MAX_CANDIDATES:
            return
        self.candidates[node_id] = address

    def closest(self, k: int, only_unasked: bool = False) -> list[bytes]:
        target = int.from_bytes(self.key.info_hash, "big")
        ids = [n for n in self.candidates if not (only_unasked and n in self.asked)]
        ids.sort(key=lambda n: int.from_bytes(n, "big") ^ target)
        return ids[:k]


class HajimeBot(DhtNode):
    """One emulated Hajime bot (see the module docstring)."""

    __slots__ = (
        "_announcing",
        "_check_at",
        "_clients",
        "_day_ends",
        "_fetch_turn",
        "_gp",
        "_lookups",
        "_out",
        "_servers",
        "_today",
        "_weak",
        "admit",
        "announced_at",
        "announced_day",
        "arch",
        "fetch_interval",
        "fetched",
        "files",
        "modules",
        "next_announce",
        "next_fetch",
        "reannounce_s",
        "seeder",
        "served",
    )

    def __init__(
        self,
        node_id: bytes,
        ip: str,
        port: int,
        *,
        arch: str,
        modules: tuple[str, ...],
        seeder: bool,
        interval: float,
        fetch_interval: float,
        reannounce_s: float,
        secret: bytes,
        rng: random.Random,
        start: float,
        version: bytes | None = None,
    ) -> None:
        super().__init__(
            node_id,
            ip,
            port,
            version=version,
            interval=interval,
            secret=secret,
            rng=rng,
            start=start,
            record_history=True,
        )
        self.arch = arch
        self.files = hajime_keys.files_of(arch)
        self.modules = modules
        self.seeder = seeder
        self.fetch_interval = fetch_interval
        self.reannounce_s = reannounce_s
        self.admit: Admit | None = None
        self.announced_day: dt.date | None = None
        self.next_announce = start + rng.random() * (interval or 1.0)
        self.announced_at: float | None = None
        """When the bot last finished announcing all its files (truth: ``announced_at``)."""
        self._announcing = 0
        self._weak = False
        self.next_fetch = start + rng.random() * (fetch_interval or 1.0)
        self.fetched: dict[str, float] = {}
        """``ip:port`` -> when this bot first opened uTP to it (its leecher contacts)."""
        self.served = 0
        self._fetch_turn = False
        self._check_at = float("inf")
        self._today = hajime_keys.utc_day(start)
        self._day_ends = 0.0
        self._out: list[Datagram] = []
        self._gp: dict[bytes, bytes] = {}
        """Own get_peers transaction id -> info-hash of its lookup."""
        self._lookups: dict[bytes, Lookup] = {}
        self._servers: OrderedDict[tuple[Address, int], tuple[int, int]] = OrderedDict()
        """(peer, connection id it sends with) -> (our seq_nr, its seq_nr)."""
        self._clients: OrderedDict[tuple[Address, int], tuple[int, str]] = OrderedDict()
        """(peer, our recv_id) -> (our SYN seq_nr, the file asked for)."""

    def back_online(self) -> None:
        """Announce again on the next tick (a bot that was away lost nothing, but its
        announcements may have expired)."""
        self.announced_day = None
        self.next_announce = 0.0

    # -- the schedule ------------------------------------------------------------------------

    def next_at(self) -> float:
        due = super().next_at()
        if self.seeder:
            due = min(due, self.next_announce)
        elif self.fetch_interval > 0:
            due = min(due, self.next_fetch)
        return min(due, self._check_at)

    def tick(self, now: float) -> list[Datagram]:
        out = super().tick(now)
        if now >= self._day_ends:
            self._today = hajime_keys.utc_day(now)
            self._day_ends = (now // hajime_keys.DAY_S + 1) * hajime_keys.DAY_S
        today = self._today
        if self.seeder and (now >= self.next_announce or today != self.announced_day):
            if self.table:
                self.announced_day = today
                self.next_announce = now + self.reannounce_s
                self._announcing = len(self.files)
                self._weak = False
                for key in hajime_keys.day_keys(self.files, today):
                    self._start(key, True, now)
            else:
                self.next_announce = now + 1.0
        if not self.seeder and self.fetch_interval > 0 and now >= self.next_fetch:
            self.next_fetch = now + self.fetch_interval
            self._fetch_turn = not self._fetch_turn
            wanted = self.files[0] if self._fetch_turn else self.files[2]
            self._start(hajime_keys.day_keys((wanted,), today)[0], False, now)
        if self._gp:
            late = now - LOOKUP_QUERY_TIMEOUT_S
            for tid in [t for t in self._gp if self._outstanding.get(t, (0, 0, 0.0))[2] <= late]:
                del self._gp[tid]  # the lookup goes on without it (a late answer still helps)
        for lookup in list(self._lookups.values()):
            self._progress(lookup, now)
        # Lookups move on with their answers; the tick only catches the ones whose queries
        # all went unanswered (the base expires queries after QUERY_TIMEOUT_S).
        self._check_at = now + LOOKUP_QUERY_TIMEOUT_S / 2 if self._lookups else float("inf")
        return self._flush(out)

    def _flush(self, out: list[Datagram]) -> list[Datagram]:
        if self._out:
            out.extend(self._out)
            self._out = []
        return out

    # -- lookups -----------------------------------------------------------------------------

    def _start(self, key: hajime_keys.Key, announce: bool, now: float) -> None:
        lookup = Lookup(key, announce, now)
        for entry in self.table.closest(key.info_hash, 2 * K):
            lookup.add(entry.node_id, entry.address)
        self._lookups[key.info_hash] = lookup
        self._check_at = min(self._check_at, now + 1.0)
        self._progress(lookup, now)

    def _progress(self, lookup: Lookup, now: float) -> None:
        """Send what the lookup needs next, or finish it."""
        if lookup.done:
            return
        out_now = sum(1 for t, h in self._gp.items() if h == lookup.key.info_hash)
        closest = lookup.closest(K)
        settled = all(lookup.asked.get(n) is not None for n in closest) and not out_now
        exhausted = len(lookup.asked) >= MAX_LOOKUP_QUERIES
        if settled or (exhausted and not out_now) or now - lookup.started > LOOKUP_TIMEOUT_S:
            self._finish(lookup, now)
            return
        for node_id in lookup.closest(max(0, ALPHA - out_now), only_unasked=True):
            if len(lookup.asked) >= MAX_LOOKUP_QUERIES:
                break
            lookup.asked[node_id] = False
            self._tid = (self._tid + 1) & 0xFFFF
            tid = b"g" + self._tid.to_bytes(2, "big")
            address = lookup.candidates[node_id]
            data = krpc.get_peers(tid, self.node_id, lookup.key.info_hash, version=self.version)
            self._outstanding[tid] = (address, lookup.key.info_hash, now, node_id)
            self._gp[tid] = lookup.key.info_hash
            self._out.append((data, address))

    def _finish(self, lookup: Lookup, now: float) -> None:
        lookup.done = True
        self._lookups.pop(lookup.key.info_hash, None)
        for tid in [t for t, h in self._gp.items() if h == lookup.key.info_hash]:
            del self._gp[tid]
        if lookup.announce:
            with_token = [n for n in lookup.closest(len(lookup.candidates)) if n in lookup.tokens]
            self._weak = self._weak or len(with_token) < K // 2
            self._announcing -= 1
            if self._announcing <= 0:
                self.announced_at = now
                if self._weak:  # few nodes answered (a loaded or young DHT): again soon
                    self.next_announce = min(self.next_announce, now + max(self.interval, 2.0))
            for node_id in with_token[:K]:
                address, token = lookup.tokens[node_id]
                self._tid = (self._tid + 1) & 0xFFFF
                tid = b"a" + self._tid.to_bytes(2, "big")
                data = krpc.announce_peer(
                    tid, self.node_id, lookup.key.info_hash, self.port, token, version=self.version
                )
                self._out.append((data, address))
            return
        found = [a for a in lookup.values if a != (self.ip, self.port)]
        for address in self.rng.sample(found, min(FETCH_PEERS, len(found))):
            self._connect(address, lookup.key.file, now)

    def _expire(self, now: float) -> None:
        super()._expire(now)
        for tid in [t for t in self._gp if t not in self._outstanding]:
            del self._gp[tid]

    def _on_answer(self, msg: Message, src: Address, target: bytes | None, now: float) -> None:
        info_hash = self._gp.pop(msg.tid, None)
        if info_hash is None:
            super()._on_answer(msg, src, target, now)
            return
        lookup = self._lookups.get(info_hash)
        if lookup is None:
            return
        try:
            node_id = msg.node_id
            lookup.asked[node_id] = True
            token = msg.body.get(b"token") if msg.body is not None else None
            if isinstance(token, bytes) and 0 < len(token) <= krpc.MAX_TOKEN:
                lookup.tokens[node_id] = (src, token)
            for info in msg.nodes:
                if info.node_id != self.node_id:
                    lookup.add(info.node_id, (info.ip, info.port))
            for address in msg.values:
                if len(lookup.values) < krpc.MAX_VALUES:
                    lookup.values[address] = None
        except krpc.KrpcError:
            return
        self._progress(lookup, now)

    # -- datagrams -----------------------------------------------------------------------------

    def handle(
        self, data: bytes, src: Address, now: float, *, unsolicited: bool = True
    ) -> list[Datagram]:
        if data[:1] == b"d" or not utp.looks_like_utp(data):
            return self._flush(super().handle(data, src, now, unsolicited=unsolicited))
        try:
            packet = utp.decode(data)
        except utp.UtpError:
            self.malformed += 1
            return []
        answer = self._client(packet, src, now)
        if answer is None and unsolicited:
            answer = self._server(packet, src, now)
        return self._flush([(answer, src)] if answer else [])

    def _client(self, p: utp.Packet, src: Address, now: float) -> bytes | None:
        """Our own connection to a seeder: send the file request once it accepted."""
        key = (src, p.connection_id)
        conn = self._clients.get(key)
        if conn is None:
            return None
        seq, file = conn
        if p.type == utp.ST_STATE and p.ack_nr == seq:
            request = hajime_wire.file_request(file)
            return utp.data_packet(p.connection_id + 1, seq + 1, p.seq_nr, request, now)
        del self._clients[key]
        if p.type == utp.ST_DATA:
            return utp.fin(p.connection_id + 1, seq + 2, p.seq_nr, now)
        return b""

    def _connect(self, address: Address, file: str, now: float) -> None:
        recv_id, seq = self.rng.getrandbits(16), self.rng.getrandbits(16)
        self._clients[(address, recv_id)] = (seq, file)
        if len(self._clients) > MAX_CONNECTIONS:
            self._clients.popitem(last=False)
        text = f"{address[0]}:{address[1]}"
        if text not in self.fetched and len(self.fetched) < MAX_FETCHED:
            self.fetched[text] = now
        self._out.append((utp.syn(recv_id, seq, now), address))

    def _server(self, p: utp.Packet, src: Address, now: float) -> bytes | None:
        """A peer's connection to us: accept, serve our files, reset what we do not know."""
        admit = self.admit
        if p.type in (utp.ST_SYN, utp.ST_DATA) and admit is not None and admit(src[0], now):
            return None
        if p.type == utp.ST_SYN:
            ours = self.rng.getrandbits(16)
            self._servers[(src, (p.connection_id + 1) & 0xFFFF)] = (ours, p.seq_nr)
            if len(self._servers) > MAX_CONNECTIONS:
                self._servers.popitem(last=False)
            return utp.state(p.connection_id, ours, p.seq_nr, now)
        conn = self._servers.get((src, p.connection_id))
        back = (p.connection_id - 1) & 0xFFFF
        if conn is None:
            if p.type in (utp.ST_DATA, utp.ST_FIN):
                return utp.reset(back, 0, p.seq_nr, now)
            return None
        ours, _ = conn
        if p.type == utp.ST_FIN or p.type == utp.ST_RESET:
            del self._servers[(src, p.connection_id)]
            return utp.state(back, ours, p.seq_nr, now) if p.type == utp.ST_FIN else None
        if p.type != utp.ST_DATA:
            return None
        try:
            framed = hajime_wire.unframe(p.payload)
            if framed is None or framed[0].type != hajime_wire.FILE_REQUEST:
                return utp.state(back, ours, p.seq_nr, now)
            name = hajime_keys.serves(self.files, hajime_wire.request_name(framed[0].payload))
        except hajime_wire.WireError:
            return utp.reset(back, ours, p.seq_nr, now)
        if name is None:
            return utp.state(back, ours, p.seq_nr, now)
        self.served += 1
        return utp.data_packet(back, ours + 1, p.seq_nr, file_content(name, self.modules), now)

    def _store(self, info_hash: bytes, peer: bytes) -> None:
        super()._store(info_hash, peer)
        history = self.history  # a peer announced here is one this node may name
        if history is not None and len(history) < MAX_HISTORY:
            history[krpc.decode_peer(peer)] = None

    def truth(self) -> dict[str, Any]:
        """What the bot adds to its truth line."""
        return {
            "files": list(self.files),
            "seeder": self.seeder,
            "announced_at": self.announced_at,
            "fetched": dict(self.fetched),
        }
