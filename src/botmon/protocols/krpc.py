"""KRPC, the BitTorrent DHT's message layer (BEP 5, 32, 42, 51), sans-I/O.

One bencoded dictionary per UDP datagram: a query (``y=q``: method ``q`` and arguments ``a``),
a response (``y=r``: dictionary ``r``) or an error (``y=e``: ``[code, message]``), each with a
transaction id ``t`` that the answer echoes, and optionally the sender's client version ``v``.
Every DHT-based part of botmon (the ``btdht`` and ``mozi`` plugins, the Mozi sensor, the
emulated DHT nodes, the tests against real libtorrent nodes) encodes and decodes here.

Bencode itself comes from ``fastbencode`` (strict: sorted keys, no leading zeros, no junk).
What this module adds is the distrust: a datagram larger than :data:`MAX_MESSAGE` is not even
decoded, only the keys KRPC defines are read and each is type- and size-checked, node lists are
capped at :data:`MAX_NODES` entries and peer lists at :data:`MAX_VALUES`, and every way a
datagram can be wrong is one :class:`KrpcError` with a stable ``reason`` (``oversized``,
``not_bencode``, ``bad_tid``, ``bad_nodes``, ...) that a plugin turns into a NO_REPLY.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import crc32c
from fastbencode import (  # type: ignore[attr-defined]  # chosen at import: C or Python
    bdecode,
    bencode,
)

MAX_MESSAGE = 4096
"""Largest datagram decoded. libtorrent's answers stay under 1.5 KB; 4 KB leaves room for
``values`` lists and BEP 51 samples without letting one datagram cost much to decode."""
MAX_NODES = 64
"""Most node infos read from one ``nodes``/``nodes6`` string (a normal answer has 8)."""
MAX_VALUES = 128
"""Most compact peers read from one ``values`` list."""
MAX_SAMPLES = 128
"""Most info hashes read from one BEP 51 ``samples`` string."""
MAX_TID = 16
"""Longest transaction id accepted (2 bytes is usual; some clients use 4 or 8)."""
MAX_TOKEN = 64
"""Longest ``get_peers`` token accepted."""
ID_LENGTH = 20
NODE4 = 26
NODE6 = 38

Kind = Literal["q", "r", "e"]
METHODS = ("ping", "find_node", "get_peers", "announce_peer", "sample_infohashes")
"""The methods botmon reads and writes; a query for another method decodes with ``method``
set to its name, so a node can answer 204 (method unknown)."""

GENERIC_ERROR = 201
SERVER_ERROR = 202
PROTOCOL_ERROR = 203
METHOD_UNKNOWN = 204


class KrpcError(ValueError):
    """A datagram that is not a usable KRPC message; ``reason`` is a short stable key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class NodeInfo(NamedTuple):
    """One entry of a ``nodes``/``nodes6`` list: a node ID and where the node listens."""

    node_id: bytes
    ip: str
    port: int


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded KRPC message; only checked fields are kept.

    ``body`` is the query's ``a`` or the response's ``r`` dictionary with byte-string keys as
    bencode gives them; read it through the accessors, which check what they return.
    """

    kind: Kind
    tid: bytes
    version: bytes | None
    method: str | None = None
    body: Mapping[bytes, Any] | None = None
    error: tuple[int, str] | None = None
    ip: tuple[str, int] | None = None
    """BEP 42 ``ip``: the address the sender saw this message's recipient at."""
    read_only: bool = False
    """BEP 43 ``ro=1`` on a query: do not put the sender into a routing table."""

    @property
    def node_id(self) -> bytes:
        """The sender's node ID (``id`` in ``a`` or ``r``); ``KrpcError`` if absent or wrong."""
        value = self.body.get(b"id") if self.body is not None else None
        if not isinstance(value, bytes) or len(value) != ID_LENGTH:
            raise KrpcError("bad_id")
        return value

    def bytes_arg(self, key: bytes, length: int | None = None, max_length: int = 64) -> bytes:
        """A byte-string argument (``target``, ``info_hash``, ``token``), checked."""
        value = self.body.get(key) if self.body is not None else None
        if not isinstance(value, bytes):
            raise KrpcError(f"bad_{key.decode()}", "missing")
        if (length is not None and len(value) != length) or len(value) > max_length:
            raise KrpcError(f"bad_{key.decode()}", f"{len(value)} bytes")
        return value

    def int_arg(self, key: bytes, default: int | None = None) -> int:
        """An integer argument (``port``, ``implied_port``), checked to be a plain int."""
        value = self.body.get(key, default) if self.body is not None else default
        if not isinstance(value, int) or isinstance(value, bool):
            raise KrpcError(f"bad_{key.decode()}")
        return value

    @property
    def nodes(self) -> list[NodeInfo]:
        """``nodes`` (IPv4) then ``nodes6`` (IPv6) of a response, at most MAX_NODES each."""
        out: list[NodeInfo] = []
        if self.body is None:
            return out
        for key, size in ((b"nodes", NODE4), (b"nodes6", NODE6)):
            raw = self.body.get(key)
            if raw is None:
                continue
            if not isinstance(raw, bytes):
                raise KrpcError("bad_nodes", f"{key.decode()} is not a string")
            out.extend(decode_nodes(raw, size))
        return out

    @property
    def values(self) -> list[tuple[str, int]]:
        """The compact peers of a ``get_peers`` answer (``values``), at most MAX_VALUES."""
        raw = self.body.get(b"values") if self.body is not None else None
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise KrpcError("bad_values", "not a list")
        peers = []
        for item in raw[:MAX_VALUES]:
            if not isinstance(item, bytes) or len(item) not in (6, 18):
                raise KrpcError("bad_values", "not a compact peer")
            peers.append(decode_peer(item))
        return peers

    @property
    def samples(self) -> list[bytes]:
        """BEP 51 ``samples``: 20-byte info hashes, at most MAX_SAMPLES."""
        raw = self.body.get(b"samples") if self.body is not None else None
        if raw is None:
            return []
        if not isinstance(raw, bytes) or len(raw) % ID_LENGTH:
            raise KrpcError("bad_samples")
        count = min(len(raw) // ID_LENGTH, MAX_SAMPLES)
        return [raw[i * ID_LENGTH : (i + 1) * ID_LENGTH] for i in range(count)]


def decode(data: bytes) -> Message:
    """Decode and check one datagram; ``KrpcError`` names what is wrong with it."""
    if not data:
        raise KrpcError("empty")
    if len(data) > MAX_MESSAGE:
        raise KrpcError("oversized", f"{len(data)} bytes")
    if data[:1] != b"d":
        raise KrpcError("not_dict")
    try:
        raw = bdecode(data)
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise KrpcError("not_bencode", str(exc)[:60]) from None
    if not isinstance(raw, dict):
        raise KrpcError("not_dict")
    tid = raw.get(b"t")
    if not isinstance(tid, bytes) or not 0 < len(tid) <= MAX_TID:
        raise KrpcError("bad_tid")
    version = raw.get(b"v")
    if version is not None and (not isinstance(version, bytes) or len(version) > 16):
        version = None  # a malformed version is ignored, as libtorrent does
    ip = _ip_field(raw.get(b"ip"))
    kind = raw.get(b"y")
    if kind == b"q":
        method = raw.get(b"q")
        body = raw.get(b"a")
        if not isinstance(method, bytes) or not 0 < len(method) <= 32:
            raise KrpcError("bad_method")
        if not isinstance(body, dict):
            raise KrpcError("bad_args")
        read_only = raw.get(b"ro") == 1
        name = method.decode("ascii", "replace")
        return Message("q", tid, version, name, body, ip=ip, read_only=read_only)
    if kind == b"r":
        body = raw.get(b"r")
        if not isinstance(body, dict):
            raise KrpcError("bad_response")
        return Message("r", tid, version, body=body, ip=ip)
    if kind == b"e":
        error = raw.get(b"e")
        if (
            not isinstance(error, list)
            or len(error) < 2
            or not isinstance(error[0], int)
            or not isinstance(error[1], bytes)
        ):
            raise KrpcError("bad_error")
        text = error[1][:200].decode("utf-8", "replace")
        return Message("e", tid, version, error=(error[0], text), ip=ip)
    raise KrpcError("bad_type")


def transaction_id(data: bytes) -> bytes | None:
    """The ``t`` of a datagram, or None: the crawl engine's match key, so cheap and total."""
    try:
        return decode(data).tid
    except KrpcError:
        return None


def _ip_field(value: object) -> tuple[str, int] | None:
    if isinstance(value, bytes) and len(value) in (6, 18):
        return decode_peer(value)
    return None


# -- encoding ----------------------------------------------------------------------------


def _message(fields: dict[bytes, Any], version: bytes | None) -> bytes:
    if version is not None:
        fields[b"v"] = version
    return bytes(bencode(fields))


def query(
    tid: bytes,
    method: str,
    args: Mapping[bytes, Any],
    *,
    version: bytes | None = None,
    read_only: bool = False,
) -> bytes:
    """Any query; the helpers below build the usual ones."""
    fields: dict[bytes, Any] = {b"t": tid, b"y": b"q", b"q": method.encode(), b"a": dict(args)}
    if read_only:
        fields[b"ro"] = 1
    return _message(fields, version)


def ping(tid: bytes, node_id: bytes, *, version: bytes | None = None) -> bytes:
    """``ping``: is the node there, and what is its ID."""
    return query(tid, "ping", {b"id": node_id}, version=version)


def find_node(
    tid: bytes,
    node_id: bytes,
    target: bytes,
    *,
    version: bytes | None = None,
    want: Sequence[str] = (),
    read_only: bool = False,
) -> bytes:
    """``find_node``: the K nodes the recipient knows closest to ``target``."""
    args: dict[bytes, Any] = {b"id": node_id, b"target": target}
    if want:
        args[b"want"] = [w.encode() for w in want]
    return query(tid, "find_node", args, version=version, read_only=read_only)


def get_peers(
    tid: bytes, node_id: bytes, info_hash: bytes, *, version: bytes | None = None
) -> bytes:
    """``get_peers``: peers announced under ``info_hash`` (or closer nodes, and a token)."""
    return query(tid, "get_peers", {b"id": node_id, b"info_hash": info_hash}, version=version)


def announce_peer(
    tid: bytes,
    node_id: bytes,
    info_hash: bytes,
    port: int,
    token: bytes,
    *,
    implied_port: bool = False,
    version: bytes | None = None,
) -> bytes:
    """``announce_peer``: tell the node we hold ``info_hash`` on ``port``."""
    args: dict[bytes, Any] = {
        b"id": node_id,
        b"info_hash": info_hash,
        b"port": port,
        b"token": token,
    }
    if implied_port:
        args[b"implied_port"] = 1
    return query(tid, "announce_peer", args, version=version)


def sample_infohashes(
    tid: bytes, node_id: bytes, target: bytes, *, version: bytes | None = None
) -> bytes:
    """BEP 51 ``sample_infohashes``: a sample of the info hashes the node stores."""
    return query(tid, "sample_infohashes", {b"id": node_id, b"target": target}, version=version)


def response(
    tid: bytes,
    body: Mapping[bytes, Any],
    *,
    version: bytes | None = None,
    ip: tuple[str, int] | None = None,
) -> bytes:
    """A response with dictionary ``body`` (which must hold the responder's ``id``)."""
    fields: dict[bytes, Any] = {b"t": tid, b"y": b"r", b"r": dict(body)}
    if ip is not None:
        fields[b"ip"] = encode_peer(*ip)
    return _message(fields, version)


def error(tid: bytes, code: int, text: str, *, version: bytes | None = None) -> bytes:
    """An error answer: ``code`` (201 generic, 202 server, 203 protocol, 204 method unknown)."""
    return _message({b"t": tid, b"y": b"e", b"e": [code, text.encode()]}, version)


# -- compact addresses ---------------------------------------------------------------------


def encode_peer(ip: str, port: int) -> bytes:
    """Compact peer info: 4 (IPv4) or 16 (IPv6) address bytes, then the port, big-endian."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    return socket.inet_pton(family, ip) + struct.pack(">H", port)


def decode_peer(raw: bytes) -> tuple[str, int]:
    """The inverse of :func:`encode_peer` for a 6- or 18-byte string."""
    family = socket.AF_INET if len(raw) == 6 else socket.AF_INET6
    return socket.inet_ntop(family, raw[:-2]), (raw[-2] << 8) | raw[-1]


def encode_nodes(nodes: Iterable[NodeInfo | tuple[bytes, str, int]]) -> tuple[bytes, bytes]:
    """Compact node infos split by family: (``nodes`` for IPv4, ``nodes6`` for IPv6)."""
    v4, v6 = bytearray(), bytearray()
    for node_id, ip, port in nodes:
        (v6 if ":" in ip else v4).extend(node_id + encode_peer(ip, port))
    return bytes(v4), bytes(v6)


def decode_nodes(raw: bytes, size: int = NODE4) -> list[NodeInfo]:
    """Node infos of one ``nodes`` (26-byte entries) or ``nodes6`` (38-byte) string.

    A length that is not a multiple of the entry size is ``bad_nodes`` (crawlers check this:
    it is how a Mozi configuration blob differs from a node list). Entries beyond
    :data:`MAX_NODES` are ignored; port 0 entries are dropped (nobody listens there).
    """
    if len(raw) % size:
        raise KrpcError("bad_nodes", f"{len(raw)} bytes is not a multiple of {size}")
    out = []
    for i in range(min(len(raw) // size, MAX_NODES)):
        entry = raw[i * size : (i + 1) * size]
        ip, port = decode_peer(entry[ID_LENGTH:])
        if port:
            out.append(NodeInfo(entry[:ID_LENGTH], ip, port))
    return out


# -- node IDs (BEP 42) ---------------------------------------------------------------------

_V4_MASK = 0x030F3FFF
_V6_MASK = 0x0103070F1F3F7FFF


def _exempt(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_unspecified


def _id_prefix(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, r: int) -> int:
    """The top 21 bits BEP 42 requires of a node ID on ``ip`` with random value ``r``."""
    if ip.version == 4:
        masked = (int(ip) & _V4_MASK) | ((r & 7) << 29)
        crc = crc32c.crc32c(masked.to_bytes(4, "big"))
    else:
        top = ((int(ip) >> 64) & _V6_MASK) | ((r & 7) << 61)
        crc = crc32c.crc32c(top.to_bytes(8, "big"))
    return crc >> 11


def bep42_valid(ip: str, node_id: bytes) -> bool | None:
    """Whether ``node_id`` obeys BEP 42 for ``ip``; None when the address is exempt
    (private, loopback, link-local: every loopback test network is)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if _exempt(addr):
        return None
    if len(node_id) != ID_LENGTH:
        return False
    r = node_id[-1] & 7
    return int.from_bytes(node_id[:3], "big") >> 3 == _id_prefix(addr, r)


def bep42_node_id(ip: str, rand: int, rest: bytes = bytes(16)) -> bytes:
    """A node ID valid for ``ip`` under BEP 42: 21 prefix bits from the CRC, then 3 bits and
    ``rest`` (16 bytes) free, and ``rand`` as the last byte (its low 3 bits are ``r``)."""
    addr = ipaddress.ip_address(ip)
    prefix = _id_prefix(addr, rand & 7)
    head = (prefix << 3).to_bytes(3, "big")
    return head + rest[:16].ljust(16, b"\0") + bytes([rand & 0xFF])


def client_version(v: bytes | None) -> tuple[str | None, int | None]:
    """The client code and version of a ``v`` value (2 letters + 2 bytes, e.g. ``LT`` 0x0201);
    (None, None) when ``v`` is absent or not of that shape."""
    if v is None or len(v) != 4:
        return None, None
    code = v[:2]
    if not all(0x20 < b < 0x7F for b in code):
        return None, None
    return code.decode("ascii"), int.from_bytes(v[2:], "big")


def distance(a: bytes, b: bytes) -> int:
    """The XOR metric between two node IDs or an ID and a target."""
    return int.from_bytes(a, "big") ^ int.from_bytes(b, "big")
