"""uTP (BEP 29) packets, sans-I/O: the 20-byte header and its extensions, encoded and decoded.

Hajime moves its files over uTP (PROTOCOLS.md §3.1), so confirming that a peer found under a
Hajime key is a bot takes a short uTP exchange: ST_SYN, the peer's ST_STATE, an ST_DATA with
a file request, the peer's ST_DATA with the file. botmon needs no congestion control or
reassembly for that (one request, one answer that fits a datagram), only exact packets::

    0       4       8               16              24              32
    | type  | ver   | extension     | connection_id                 |
    | timestamp_microseconds                                        |
    | timestamp_difference_microseconds                             |
    | wnd_size                                                      |
    | seq_nr                        | ack_nr                        |

Then the extension chain (each: next type, length, bytes; type 0 ends it; 1 = selective
ack), then the payload. Every field is big-endian. Connection IDs follow BEP 29: the
initiator picks ``recv_id``, sends its SYN with ``connection_id = recv_id`` and everything
after with ``recv_id + 1``; the answering side sends with ``recv_id``.

:func:`decode` reads any datagram and raises :class:`UtpError` (``reason`` a short stable
key) for anything that is not a uTP packet; at most :data:`MAX_EXTENSIONS` extensions.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

ST_DATA, ST_FIN, ST_STATE, ST_RESET, ST_SYN = 0, 1, 2, 3, 4
TYPE_NAMES = ("data", "fin", "state", "reset", "syn")
VERSION = 1
HEADER = 20
MAX_EXTENSIONS = 8
"""Extensions read from one packet (libutp sends at most two)."""
DEFAULT_WINDOW = 1 << 20
_HEAD = struct.Struct(">BBHIIIHH")


class UtpError(ValueError):
    """A datagram that is not a usable uTP packet; ``reason`` is a short stable key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Packet(NamedTuple):
    """One uTP packet."""

    type: int
    connection_id: int
    seq_nr: int
    ack_nr: int
    payload: bytes = b""
    timestamp_us: int = 0
    timestamp_diff_us: int = 0
    wnd_size: int = DEFAULT_WINDOW
    extensions: tuple[tuple[int, bytes], ...] = ()
    """``(type, bytes)`` of each extension, in order."""

    @property
    def type_name(self) -> str:
        """``syn``, ``state``, ``data``, ``fin`` or ``reset``."""
        return TYPE_NAMES[self.type]


def encode(p: Packet) -> bytes:
    """The wire bytes of ``p``."""
    first_ext = p.extensions[0][0] if p.extensions else 0
    head = _HEAD.pack(
        (p.type << 4) | VERSION,
        first_ext,
        p.connection_id & 0xFFFF,
        p.timestamp_us & 0xFFFFFFFF,
        p.timestamp_diff_us & 0xFFFFFFFF,
        p.wnd_size & 0xFFFFFFFF,
        p.seq_nr & 0xFFFF,
        p.ack_nr & 0xFFFF,
    )
    chain = bytearray()
    for i, (_, data) in enumerate(p.extensions):
        nxt = p.extensions[i + 1][0] if i + 1 < len(p.extensions) else 0
        chain += bytes((nxt, len(data))) + data
    return head + bytes(chain) + p.payload


def looks_like_utp(data: bytes) -> bool:
    """Cheap test (first byte: a known type, version 1, and a whole header): how a port that
    serves DHT and uTP tells them apart (KRPC starts with ``d``, 0x64, which is no type)."""
    return len(data) >= HEADER and data[0] & 0x0F == VERSION and data[0] >> 4 <= ST_SYN


def decode(data: bytes) -> Packet:
    """Decode one datagram; :class:`UtpError` says what is wrong with it."""
    if len(data) < HEADER:
        raise UtpError("short")
    first, ext, conn, ts, diff, wnd, seq, ack = _HEAD.unpack_from(data)
    if first & 0x0F != VERSION:
        raise UtpError("bad_version")
    kind = first >> 4
    if kind > ST_SYN:
        raise UtpError("bad_type")
    at = HEADER
    extensions: list[tuple[int, bytes]] = []
    while ext:
        if len(extensions) >= MAX_EXTENSIONS:
            raise UtpError("too_many_extensions")
        if at + 2 > len(data):
            raise UtpError("bad_extension")
        nxt, length = data[at], data[at + 1]
        if at + 2 + length > len(data):
            raise UtpError("bad_extension")
        extensions.append((ext, data[at + 2 : at + 2 + length]))
        ext, at = nxt, at + 2 + length
    return Packet(kind, conn, seq, ack, data[at:], ts, diff, wnd, tuple(extensions))


def syn(recv_id: int, seq_nr: int, now: float) -> bytes:
    """The initiator's ST_SYN (``connection_id`` = its ``recv_id``)."""
    return encode(Packet(ST_SYN, recv_id, seq_nr, 0, timestamp_us=_us(now)))


def state(connection_id: int, seq_nr: int, ack_nr: int, now: float) -> bytes:
    """An ST_STATE (an ack; the answer to a SYN)."""
    return encode(Packet(ST_STATE, connection_id, seq_nr, ack_nr, timestamp_us=_us(now)))


def data_packet(connection_id: int, seq_nr: int, ack_nr: int, payload: bytes, now: float) -> bytes:
    """An ST_DATA carrying ``payload``."""
    return encode(Packet(ST_DATA, connection_id, seq_nr, ack_nr, payload, _us(now)))


def reset(connection_id: int, seq_nr: int, ack_nr: int, now: float) -> bytes:
    """An ST_RESET: no such connection (here)."""
    return encode(Packet(ST_RESET, connection_id, seq_nr, ack_nr, timestamp_us=_us(now)))


def fin(connection_id: int, seq_nr: int, ack_nr: int, now: float) -> bytes:
    """An ST_FIN: the sender closes the connection."""
    return encode(Packet(ST_FIN, connection_id, seq_nr, ack_nr, timestamp_us=_us(now)))


def _us(now: float) -> int:
    return int(now * 1_000_000) & 0xFFFFFFFF
