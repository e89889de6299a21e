"""linenet: botmon's small line-based TCP test-net protocol, proving the engine's TCP path.

The crawler connects and sends ``PEERS\\n``. A bot answers at most 64 ASCII lines of at most
128 bytes, each ending in ``\\n``: ``BOT <16 lowercase hex>``, zero or more
``PEER <ipv4> <port>``, then ``END``, and closes. A first line that is not ``BOT ...`` is
another service on that port (a benign reply); empty, truncated or garbage input is no reply.

Sensor extension (linenet is botmon's own test protocol, so botmon defines it): a peer may
send ``HELLO <port>\n`` to say it listens on ``<port>`` at the address the connection comes
from; the answer is ``BOT <16 hex>\nEND\n`` and the receiver adds that peer to its list.
A sensor announces itself with ``HELLO <its listen port>``; to a bot's ``PEERS`` it
answers ``BOT <sensor id>``, one ``PEER`` line naming the sensor itself (never a bot) and
``END``. Every request is one line of at most 128 bytes before its ``\n``.
"""

from __future__ import annotations

import socket

from botmon.digits import is_ascii_number
from botmon.protocols.contract import (
    CrawlResult,
    Peer,
    ProtocolDefaults,
    RequestContext,
    SensorContext,
    Status,
    no_reply,
)
from botmon.wire import Edge, Reply

DESCRIPTION = "linenet test net (TCP): PEERS request, BOT/PEER/END line answer"
TRANSPORT = "tcp"
MAX_LINES = 64
MAX_LINE = 128
DEFAULTS = ProtocolDefaults(
    port=7070,
    timeouts=(20.0,),
    connect_timeout=5.0,
    read_timeout=10.0,
    max_reply_bytes=MAX_LINES * (MAX_LINE + 1),
    peers_per_reply=MAX_LINES - 2,
    requests_per_round=1,
    stale_replies=1,
)

REQUEST = b"PEERS\n"
_HEX = frozenset(b"0123456789abcdef")


def peer_request(peer: Peer, ctx: RequestContext) -> bytes:
    """Every linenet request is ``PEERS\\n``."""
    return REQUEST


def _ipv4(text: str) -> str | None:
    try:
        packed = socket.inet_pton(socket.AF_INET, text)
    except (OSError, ValueError):
        return None
    return text if 0 < packed[0] < 224 else None


def _port(text: str) -> int | None:
    if not is_ascii_number(text) or len(text) > 5:
        return None
    value = int(text)
    return value if 0 < value <= 65535 else None


def read_reply(data: bytes, src: Peer, now: float, ctx: RequestContext) -> CrawlResult:
    """Parse a whole answer (the engine reads until the bot closes, up to the size cap)."""
    if not data:
        return no_reply("empty")
    if len(data) > DEFAULTS.max_reply_bytes:
        return no_reply("oversized")
    lines = data.split(b"\n")
    tail = lines.pop()  # bytes after the last newline: empty in a complete answer
    if len(lines) > MAX_LINES:
        return no_reply("too_many_lines")
    first = lines[0] if lines else tail
    if not first.startswith(b"BOT"):
        # Another service on the port answered something readable: not a bot, not nothing.
        if first.strip() and all(32 <= b < 127 for b in first[:MAX_LINE]):
            return CrawlResult(Status.BENIGN_REPLY, "not_a_bot")
        return no_reply("garbage")
    if not lines:
        return no_reply("truncated")
    if len(first) > MAX_LINE:
        return no_reply("long_line")
    bot_id_raw = first[4:]
    if first[3:4] != b" " or len(bot_id_raw) != 16 or not set(bot_id_raw) <= _HEX:
        return no_reply("bad_bot_id")
    bot_id = bot_id_raw.decode()
    peers: list[Peer] = []
    seen: set[Peer] = set()
    ended = False
    for line in lines[1:]:
        if ended:
            return no_reply("data_after_end")
        if len(line) > MAX_LINE:
            return no_reply("long_line")
        if line == b"END":
            ended = True
            continue
        parts = line.split(b" ")
        if len(parts) != 3 or parts[0] != b"PEER":
            return no_reply("garbage")
        try:
            ip = _ipv4(parts[1].decode("ascii"))
            port = _port(parts[2].decode("ascii"))
        except UnicodeDecodeError:
            return no_reply("garbage")
        if ip is None or port is None:
            return no_reply("bad_peer")
        peer = Peer(ip, port)
        if peer not in seen:
            seen.add(peer)
            peers.append(peer)
    if not ended:
        return no_reply("truncated")
    if tail:
        return no_reply("data_after_end")
    reply = Reply(timestamp=now, ip=src.ip, port=src.port, bot_id=bot_id)
    edges = tuple(
        Edge(
            timestamp=now,
            src_ip=src.ip,
            src_port=src.port,
            dst_ip=p.ip,
            dst_port=p.port,
            src_id=bot_id,
        )
        for p in peers
    )
    return CrawlResult(Status.BOT_REPLY, None, tuple(peers), (reply,), edges, bot_id)


HELLO = b"HELLO "


def request_frame(buffer: bytes) -> int:
    """A request is one line: its length with the ``\\n``, 0 for more, -1 past 128 bytes."""
    end = buffer.find(b"\n", 0, MAX_LINE + 1)
    if end >= 0:
        return end + 1
    return -1 if len(buffer) > MAX_LINE else 0


def _sensor_lines(ctx: SensorContext, peer_line: bool) -> bytes | None:
    sid = ctx.sensor_id
    if sid is None or len(sid) != 16 or not set(sid.encode()) <= _HEX:
        return None
    lines = [b"BOT " + sid.encode()]
    ip, port = ctx.listen
    if peer_line and _ipv4(ip) is not None:
        lines.append(f"PEER {ip} {port}".encode())
    lines.append(b"END")
    return b"\n".join(lines) + b"\n"


def handle_request(
    data: bytes, src: Peer, now: float, ctx: SensorContext
) -> tuple[bytes | None, list[Reply | Edge]]:
    """Sensor side: ``PEERS`` gets the sensor's own answer, ``HELLO <port>`` is recorded.

    Records: a contact (``data.message`` ``peers`` or ``hello``) and an edge bot -> sensor.
    A ``HELLO`` names the bot's listening port, so its records carry that port rather than
    the connection's. Anything else is ``(None, [])``: the runtime counts it as malformed.
    """
    if request_frame(data) != len(data):
        return None, []
    line = data[:-1]
    me = ctx.listen
    if line == b"PEERS":
        port = src.port
        kind = "peers"
        answer = _sensor_lines(ctx, peer_line=True)
    elif line.startswith(HELLO):
        try:
            hello_port = _port(line[len(HELLO) :].decode("ascii"))
        except UnicodeDecodeError:
            return None, []
        if hello_port is None:
            return None, []
        port = hello_port
        kind = "hello"
        answer = _sensor_lines(ctx, peer_line=False)
    else:
        return None, []
    return answer, [
        Reply(timestamp=now, ip=src.ip, port=port, data={"message": kind}),
        Edge(timestamp=now, src_ip=src.ip, src_port=port, dst_ip=me.ip, dst_port=me.port),
    ]


def announce(peer: Peer, ctx: SensorContext) -> bytes:
    """A sensor announces itself with ``HELLO <its listen port>``."""
    return f"HELLO {ctx.listen.port}\n".encode()
