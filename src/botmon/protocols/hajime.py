"""Hajime: IoT bots that meet under daily keys in the BitTorrent DHT and trade files over uTP.

Hajime has no peer lists to ask for: a bot announces each file it holds (``config`` and its
own architecture's modules) under that file's key of the day (:mod:`hajime_keys`) and finds
others with ``get_peers`` for the same keys (PROTOCOLS.md §3.3). So does botmon:

- **Lookups** (``find_peers``, the engine's find-peers loop): every DHT node the crawl
  reaches is asked ``get_peers`` for each of the current UTC day's keys (:class:`Settings`
  names the files; 15 by default). An answer's ``nodes`` (closest to the key) go back to the
  finder, so the walk converges on each key's neighbourhood as an iterative lookup does;
  its ``values`` are the bots announced there: peers for the crawl queue, and edges from the
  node that stores them (the record of "announced under this key"). The transaction id
  carries the key's index and day, so an answer says which file it was for; what a peer was
  found under (the most telling file: an architecture's module before ``config``) is kept in
  :data:`FOUND`, bounded, and copied into the peer's ``state`` when it is crawled.
- **Crawl** (``peer_request`` / ``read_reply`` on the crawl queue): a found peer is confirmed
  over uTP as far as §3.4 states: attempt 0 an ST_SYN, the ST_STATE answer (no record yet)
  lets attempt 1 send an ST_DATA with the framed file request ``config``; an ST_DATA answer
  with file content whose payload header names the file makes the BOT_REPLY: ``bot_id``
  null (a DHT node ID is no bot identity), ``data`` = ``arch``, ``day_key``, ``file``,
  ``utp: confirmed`` and what the header says (``served``, ``file_type``, ``created``).
  A peer announced under a key but silent on uTP is not recorded as a reply: announcements
  outlive bots in the DHT, and a reply says the bot was there; its edges record it.
  Match keys: KRPC transaction ids for lookups; ``u`` + connection id + the acked sequence
  number for uTP, so a late answer to a previous round's SYN completes nothing.
- **Sensor** (``announce`` / ``handle_request``): ``announce`` sends a DHT node ``get_peers``
  for one key; each answer's token is used at once for ``announce_peer`` (the sensor's own
  port) if the node is near the key (it lists fewer than K nodes nearer), and the answer
  (or the skip) brings the next key's ``get_peers``: one announcement chain per node and
  pass through every key, at most 2 datagrams per key, starting at a key that rotates each
  minute (a per-source rate limit that cuts a chain still lets every key through over a few
  passes). A bot that wants a file finds the sensor under its key and opens uTP: the ST_SYN
  is answered with ST_STATE and recorded (``message: syn``, ``utp: unconfirmed``); its file
  request is recorded with the file and its architecture (``message: file_request``,
  ``utp: confirmed``: only a Hajime bot asks for a Hajime file). DHT queries get plain
  answers (no nodes), so the sensor stays in tables without helping anyone route.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import random
import struct
from collections import OrderedDict
from collections.abc import Hashable, Iterator
from typing import Annotated, Any, ClassVar

from botmon.protocols import hajime_keys, hajime_wire, krpc, utp
from botmon.protocols.contract import (
    CrawlResult,
    Facet,
    Peer,
    ProtocolDefaults,
    Request,
    RequestContext,
    SensorContext,
    Status,
    no_reply,
)
from botmon.settings import Settings, setting
from botmon.wire import Edge, JsonObject, Reply

DESCRIPTION = "Hajime IoT botnet: daily DHT keys per architecture, confirmed over uTP"
TRANSPORT = "udp"
FACETS = (
    Facet("arch", "CPU architecture", "The architecture whose module the bot announced or asked "
          "for: which devices the botnet lives on."),
    Facet("day_key", "Daily key", "The UTC day whose info-hash the bot was found under: "
          "bots that miss a day's keys fall out of the botnet."),
    Facet("utp", "uTP confirmed", "Whether the bot spoke Hajime over uTP (served or asked for "
          "a Hajime file) or was only seen announced or connecting."),
)  # fmt: skip
MAX_FILES = 32
DEFAULTS = ProtocolDefaults(
    port=6881,
    timeouts=(3.0, 6.0, 12.0),
    max_reply_bytes=krpc.MAX_MESSAGE,
    peers_per_reply=krpc.MAX_VALUES,
    requests_per_round=2,
    stale_replies=2,
    lookups_per_node=MAX_FILES,
    max_in_flight_per_peer=MAX_FILES,
    per_target_rate=2.0,
)
"""Two crawl requests a round (SYN, then the file request); a node's lookups need not wait
for each other's answers (one at a time, a silent node, a NATed bot others list, would hold
the round for 15 timeouts); 2 queries/s per node keeps under libtorrent's ban."""
MAX_FOUND = 200_000
"""Peers whose key is remembered between the lookup that found them and their crawl (about
250 bytes each: 50 MB at the cap; beyond it the oldest are forgotten, and such a peer's
reply says ``file: config``, ``arch: unknown`` until a lookup finds it again)."""
UNKNOWN = "unknown"
_LOOKUP, _SENSOR = ord("h"), ord("s")
_EPOCH = dt.date(1970, 1, 1)
_rng = random.Random()
K = 8
"""Nodes a DHT answer lists (BEP 5); an announcement goes to the K nodes nearest a key."""


class HajimeSettings(Settings, frozen=True, kw_only=True):
    """Which Hajime files botmon looks for and asks for (section protocol.hajime)."""

    section: ClassVar[str] = "protocol.hajime"
    architectures: Annotated[
        tuple[str, ...],
        setting("CPU architectures whose modules are looked up (comma-separated).",
                min_length=1, max_length=12),
    ] = hajime_keys.ARCHITECTURES  # fmt: skip
    atk_timestamp: Annotated[
        int, setting("Timestamp of the attack modules' names (atk.<arch>.<ts>).", ge=0)
    ] = hajime_keys.ATK_TIMESTAMP
    i_timestamp: Annotated[
        int, setting("Timestamp of the stage-2 modules' names (.i.<arch>.<ts>).", ge=0)
    ] = hajime_keys.I_TIMESTAMP
    extra_files: Annotated[
        tuple[str, ...],
        setting("More file names to look up (the newest config's [modules]).", max_length=16),
    ] = ()
    probe_file: Annotated[
        str,
        setting("The file a found peer is asked for over uTP (config: every bot has it).",
                min_length=1, max_length=hajime_keys.MAX_NAME),
    ] = hajime_keys.CONFIG  # fmt: skip

    def files(self) -> tuple[str, ...]:
        """Every file name looked up, ``config`` first."""
        return hajime_keys.file_names(
            self.architectures, self.atk_timestamp, self.i_timestamp, self.extra_files
        )

    def problems(self) -> Iterator[tuple[str, str]]:
        """Names that fit the payload header, and not too many keys."""
        for name in (*self.files(), self.probe_file):
            if not 0 < len(name) <= hajime_keys.MAX_NAME or not name.isascii() or " " in name:
                yield "extra_files", f"{name!r}: a file name is 1-31 printable ASCII characters"
        if len(self.files()) > MAX_FILES:
            yield "architectures", f"at most {MAX_FILES} files in all"


SETTINGS = HajimeSettings
_settings = HajimeSettings()
_files = _settings.files()
_keys: dict[dt.date, tuple[hajime_keys.Key, ...]] = {}
FOUND: OrderedDict[Peer, tuple[str, str]] = OrderedDict()
"""Peer -> (file, day) it was found under (the most telling one), bounded by MAX_FOUND."""


def configure(settings: Settings) -> None:
    """Take the ``protocol.hajime`` settings (crawl and sensor call this once, at start)."""
    global _settings, _files
    assert isinstance(settings, HajimeSettings)
    _settings, _files = settings, settings.files()
    _keys.clear()


def keys_for(day: dt.date) -> tuple[hajime_keys.Key, ...]:
    """The configured files' keys on ``day`` (the last few days cached)."""
    keys = _keys.get(day)
    if keys is None:
        if len(_keys) > 4:
            _keys.clear()
        keys = _keys[day] = hajime_keys.day_keys(_files, day)
    return keys


def _day_number(day: dt.date) -> int:
    return (day - _EPOCH).days & 0xFFFF


def _day_of(number: int, now: float) -> dt.date:
    """The date of a 16-bit day number, the one nearest ``now``."""
    today = hajime_keys.utc_day(now)
    delta = (number - _day_number(today) + 0x8000) % 0x10000 - 0x8000
    return today + dt.timedelta(days=delta)


def _random_id() -> bytes:
    return _rng.randbytes(krpc.ID_LENGTH)


def _get_peers(tid: bytes, node_id: bytes, info_hash: bytes, read_only: bool) -> bytes:
    args = {b"id": node_id, b"info_hash": info_hash}
    return krpc.query(tid, "get_peers", args, read_only=read_only)


# -- lookups ---------------------------------------------------------------------------------


def reply_key(data: bytes) -> Hashable | None:
    """KRPC: the transaction id; uTP: ``u`` + connection id + ack_nr (the answered packet)."""
    if data[:1] == b"d":
        return krpc.transaction_id(data)
    if not utp.looks_like_utp(data):
        return None
    return b"u" + data[2:4] + data[18:20]


def find_peers(node: Peer, ctx: RequestContext) -> list[Request]:
    """``get_peers`` for each of today's keys, keyed by a transaction id naming the key."""
    day = hajime_keys.utc_day(ctx.now)
    tail = struct.pack(">HH", _day_number(day), ctx.round & 0xFFFF)
    out = []
    for i, key in enumerate(keys_for(day)[ctx.attempt :]):
        tid = bytes((_LOOKUP, ctx.attempt + i)) + tail
        out.append(Request(_get_peers(tid, _random_id(), key.info_hash, True), key=tid))
    return out


def _remember(peer: Peer, file: str, day: str) -> None:
    old = FOUND.get(peer)
    if old is not None:
        FOUND.move_to_end(peer)
        if old[1] > day or (old[1] == day and hajime_keys.arch_of(old[0]) is not None):
            return  # keep the newer day, and a module's architecture over config
    elif len(FOUND) >= MAX_FOUND:
        FOUND.popitem(last=False)
    FOUND[peer] = (file, day)


def _read_lookup(data: bytes, src: Peer, now: float) -> CrawlResult:
    try:
        msg = krpc.decode(data)
        if msg.kind != "r":
            return no_reply("not_response")
        node_id = msg.node_id
        nodes = msg.nodes[:16]
        values = msg.values
    except krpc.KrpcError as exc:
        return no_reply(exc.reason)
    tid = msg.tid
    key = None
    if len(tid) == 6 and tid[0] == _LOOKUP:
        keys = keys_for(_day_of(int.from_bytes(tid[2:4], "big"), now))
        key = keys[tid[1]] if tid[1] < len(keys) else None
    peers = []
    edges = []
    for ip, port in values:
        if not 0 < port < 65536:
            continue
        peer = Peer(ip, port)
        peers.append(peer)
        edges.append(Edge(now, src.ip, src.port, ip, port, node_id.hex(), None))
        if key is not None:
            _remember(peer, key.file, key.day)
    listed = tuple(Peer(n.ip, n.port) for n in nodes)
    return CrawlResult(Status.BENIGN_REPLY, peers=tuple(peers), edges=tuple(edges), nodes=listed)


# -- the uTP confirmation (crawl queue) ------------------------------------------------------

_STATE = struct.Struct(">cHHHH")
"""Phase (``S`` SYN sent, ``A`` SYN acked, ``D`` done), connection id, our SYN's seq_nr,
the peer's seq_nr, day number; then the file the peer was found under."""


def _pack(phase: bytes, conn: int, seq: int, theirs: int, day: int, file: str) -> bytes:
    return _STATE.pack(phase, conn, seq, theirs, day) + file.encode("latin-1")[:32]


def _unpack(state: bytes | None) -> tuple[bytes, int, int, int, int, str] | None:
    if state is None or len(state) < _STATE.size:
        return None
    phase, conn, seq, theirs, day = _STATE.unpack_from(state)
    return phase, conn, seq, theirs, day, state[_STATE.size :].decode("latin-1")


def _found_under(peer: Peer, now: float) -> tuple[str, int]:
    file, day = FOUND.get(peer, (hajime_keys.CONFIG, ""))
    number = (
        _day_number(dt.date.fromisoformat(day)) if day else _day_number(hajime_keys.utc_day(now))
    )
    return file, number


def peer_request(peer: Peer, ctx: RequestContext) -> Request:
    """Attempt 0 (or after a lost handshake): ST_SYN; then ST_DATA with the file request."""
    st = _unpack(ctx.state)
    now = ctx.now
    if ctx.attempt > 0 and st is not None and st[0] in (b"A", b"S"):
        # After the SYN's answer (phase A) the file request acks the bot's seq_nr. A tracked
        # bot gets its round's requests back to back (the engine does not wait for the
        # answer: find-peers lookups need several in flight per address), so the file
        # request may leave before the SYN is answered: it then acks 0. libutp drops such
        # a packet; its retry, after the answer came, carries the right ack.
        _, conn, seq, theirs, day, file = st
        payload = hajime_wire.file_request(_settings.probe_file)
        ack = theirs if st[0] == b"A" else 0
        data = utp.data_packet(conn + 1, seq + 1, ack, payload, now)
        return Request(data, key=b"u" + struct.pack(">HH", conn, (seq + 1) & 0xFFFF))
    if ctx.try_ > 0 and st is not None and st[0] == b"S":
        _, conn, seq, _, day, file = st  # a retry: the same SYN
    else:
        conn, seq = _rng.getrandbits(16), _rng.getrandbits(16)
        file, day = _found_under(peer, now)
    state = _pack(b"S", conn, seq, 0, day, file)
    return Request(utp.syn(conn, seq, now), key=b"u" + struct.pack(">HH", conn, seq), state=state)


def read_reply(data: bytes, src: Peer, now: float, ctx: RequestContext) -> CrawlResult:
    """A lookup's answer (``ctx.purpose == "find"``) or a uTP answer of a found peer."""
    if ctx.purpose == "find" or data[:1] == b"d":
        return _read_lookup(data, src, now)
    try:
        packet = utp.decode(data)
    except utp.UtpError as exc:
        return no_reply(f"utp_{exc.reason}")
    st = _unpack(ctx.state)
    if st is None or packet.connection_id != st[1]:
        return no_reply("utp_unknown_connection")
    _, conn, seq, _, day, file = st
    if packet.type == utp.ST_RESET:
        return no_reply("utp_reset")
    if st[0] == b"S" and packet.type == utp.ST_STATE:
        state = _pack(b"A", conn, seq, packet.seq_nr, day, file)
        return CrawlResult(Status.BOT_REPLY, state=state, more=True)
    if st[0] not in (b"A", b"S") or packet.type != utp.ST_DATA:
        return no_reply(f"utp_unexpected_{packet.type_name}")
    try:
        kind, header = hajime_wire.peek_file(packet.payload)
    except hajime_wire.WireError as exc:
        return no_reply(f"hajime_{exc.reason}")
    if header is None:
        return no_reply("hajime_no_file" if kind != hajime_wire.FILE_CONTENT else "hajime_short")
    if hajime_keys.serves((header.name,), _settings.probe_file) is None:
        return no_reply("hajime_wrong_file")
    better, _ = _found_under(src, now)  # lookups that answered since the SYN may know more
    if hajime_keys.arch_of(file) is None:
        file = better
    out: JsonObject = {
        "arch": hajime_keys.arch_of(file) or UNKNOWN,
        "day_key": _day_of(day, now).isoformat(),
        "file": file,
        "utp": "confirmed",
        "served": header.name,
        "file_type": header.type_name,
        "created": header.created,
    }
    reply = Reply(now, src.ip, src.port, None, out)
    state = _pack(b"D", conn, seq, packet.seq_nr, day, file)
    return CrawlResult(Status.BOT_REPLY, replies=(reply,), state=state, more=False)


# -- sensor ----------------------------------------------------------------------------------

CHAIN_PERIOD_S = 60.0
"""The first key of an announcement chain moves on every minute."""


def _sensor_id(ctx: SensorContext) -> bytes:
    own = ctx.state.get("hajime_id")
    if not isinstance(own, bytes):
        seed = f"botmon-hajime-sensor/{ctx.sensor_id}/{ctx.listen.ip}/{ctx.listen.port}"
        own = ctx.state["hajime_id"] = hashlib.sha1(seed.encode()).digest()
    return own


def _secret(ctx: SensorContext) -> bytes:
    secret = ctx.state.get("hajime_secret")
    if not isinstance(secret, bytes):
        secret = ctx.state["hajime_secret"] = hashlib.sha256(b"s" + _sensor_id(ctx)).digest()
    return secret


def _chain_tid(step: int, index: int, left: int, day: dt.date) -> bytes:
    return bytes((_SENSOR, step, index, left)) + _day_number(day).to_bytes(2, "big")


def announce(peer: Peer, ctx: SensorContext) -> bytes:
    """Start the announcement chain at ``peer``: ``get_peers`` for the first key."""
    day = hajime_keys.utc_day(ctx.now)
    keys = keys_for(day)
    digest = hashlib.sha1(f"{peer.ip}:{peer.port}/{int(ctx.now // CHAIN_PERIOD_S)}".encode())
    first = digest.digest()[0] % len(keys)
    tid = _chain_tid(0, first, len(keys) - 1, day)
    return _get_peers(tid, _sensor_id(ctx), keys[first].info_hash, False)


def _chain(msg: krpc.Message, ctx: SensorContext) -> bytes | None:
    """The next message of an announcement chain, given a node's answer to the last one."""
    tid = msg.tid
    if len(tid) != 6 or tid[0] != _SENSOR:
        return None
    step, index, left = tid[1], tid[2], tid[3]
    day = _day_of(int.from_bytes(tid[4:6], "big"), ctx.now)
    keys = keys_for(day)
    if index >= len(keys):
        return None
    own = _sensor_id(ctx)
    if step == 0:
        token = msg.body.get(b"token") if msg.body is not None else None
        if not isinstance(token, bytes) or not 0 < len(token) <= krpc.MAX_TOKEN:
            return None
        if _near(msg, keys[index].info_hash):
            tid = _chain_tid(1, index, left, day)
            port = ctx.listen.port
            return krpc.announce_peer(tid, own, keys[index].info_hash, port, token)
    if not left:
        return None
    nxt = (index + 1) % len(keys)
    return _get_peers(_chain_tid(0, nxt, left - 1, day), own, keys[nxt].info_hash, False)


def _near(msg: krpc.Message, info_hash: bytes) -> bool:
    """Whether the answering node may be among the K nodes closest to ``info_hash``: it
    lists fewer than K nodes closer to the key than itself. Lookups for the key end at such
    nodes; an announcement anywhere else is never found, so it is not sent."""
    own = krpc.distance(msg.node_id, info_hash)
    try:
        closer = sum(krpc.distance(n.node_id, info_hash) < own for n in msg.nodes)
    except krpc.KrpcError:
        return True
    return closer < K


def _token(ctx: SensorContext, ip: str, now: float) -> bytes:
    window = int(now // 300)
    return hmac.new(_secret(ctx), f"{ip}/{window}".encode(), hashlib.sha256).digest()[:8]


def _answer_query(msg: krpc.Message, src: Peer, now: float, ctx: SensorContext) -> bytes:
    body: dict[bytes, Any] = {b"id": _sensor_id(ctx)}
    if msg.method == "ping":
        pass
    elif msg.method == "find_node":
        body[b"nodes"] = b""
    elif msg.method == "get_peers":
        body[b"token"] = _token(ctx, src.ip, now)
        body[b"nodes"] = b""
    else:
        return krpc.error(msg.tid, krpc.METHOD_UNKNOWN, "method unknown")
    return krpc.response(msg.tid, body)


def _seq(ctx: SensorContext, src: Peer, conn: int) -> int:
    """The sensor's seq_nr on a connection, from a keyed hash (no per-connection state)."""
    mac = hmac.new(_secret(ctx), f"{src.ip}:{src.port}/{conn}".encode(), hashlib.sha256)
    return int.from_bytes(mac.digest()[:2], "big")


def _contact(src: Peer, now: float, message: str, utp_state: str, extra: JsonObject) -> Reply:
    data: JsonObject = {
        "message": message,
        "utp": utp_state,
        "day_key": hajime_keys.utc_day(now).isoformat(),
    }
    data.update(extra)
    return Reply(now, src.ip, src.port, None, data)


def handle_request(
    data: bytes, src: Peer, now: float, ctx: SensorContext
) -> tuple[bytes | None, list[Reply]]:
    """uTP from a bot: answered and recorded; DHT answers carry the announcement chain on;
    DHT queries get a plain answer. Anything else is ``(None, [])`` (counted malformed)."""
    if data[:1] == b"d":
        try:
            msg = krpc.decode(data)
            if msg.kind == "r":
                return _chain(msg, ctx), []
            if msg.kind == "q":
                msg.node_id  # noqa: B018  # a query without a proper ID is malformed
                return _answer_query(msg, src, now, ctx), []
        except krpc.KrpcError:
            pass
        return None, []
    try:
        packet = utp.decode(data)
    except utp.UtpError:
        return None, []
    if packet.type == utp.ST_SYN:
        answer = utp.state(packet.connection_id, _seq(ctx, src, packet.connection_id),
                           packet.seq_nr, now)  # fmt: skip
        return answer, [_contact(src, now, "syn", "unconfirmed", {})]
    if packet.type != utp.ST_DATA:
        return None, []
    conn = (packet.connection_id - 1) & 0xFFFF
    ack = utp.state(conn, _seq(ctx, src, conn), packet.seq_nr, now)
    try:
        framed = hajime_wire.unframe(packet.payload)
        if framed is None or framed[0].type != hajime_wire.FILE_REQUEST:
            return ack, []
        name = hajime_wire.request_name(framed[0].payload)
    except hajime_wire.WireError:
        return None, []
    extra: JsonObject = {"file": name, "arch": hajime_keys.arch_of(name) or UNKNOWN}
    return ack, [_contact(src, now, "file_request", "confirmed", extra)]
