"""ZeroAccess v2 datagrams (``getL``/``retL``/``newL``): build and parse, bytes only.

Layout (PROTOCOLS.md §6.2-6.3, Appendix A)::

    wire = obfuscate(plain)          every 4-byte little-endian word XORed with a key that
                                     rotates left 1 bit per word (the same operation undoes it)
    plain[0:4]  CRC32 (zlib) of plain with these 4 bytes zeroed, little-endian
    plain[4:8]  command, ASCII reversed: b"Lteg" getL, b"Lter" retL, b"Lwen" newL

    2013 variant (key "ftp2" = 0x66747032)
      getL  [8:12] flags (0)  [12:16] sender's nonce                       16 bytes
      retL  [8:12] flags  [12:16] peer count (<= 16)
            count x (IPv4, network order; u32 word the bots call a timestamp)
            u32 file count, then 140 bytes per file (name, time, size, 128-byte signature)
      newL  [8:12] flags  [12:16] one IPv4 advertised
    2015 variant (key '1234' = 0x31323334)
      header [8:12] session ID  [12:14] Opt1  [14:16] Opt2 (request counter & 0x3FF,
             0x8000 = asks for the file list); getL is the header alone
      retL  header (Opt1 = file count) + always 16 x (IPv4; u32 bitfield: low 14 bits
            port offset, high 18 bits hours) + Opt1 x 140-byte file headers

Every count is checked against a cap before anything is sliced, and a datagram must be
exactly as long as its counts say: hostile bytes raise :class:`WireError` with a short
reason, never anything else.
"""

from __future__ import annotations

import socket
import struct
import zlib
from dataclasses import dataclass
from typing import Literal

Variant = Literal["2013", "2015"]
VARIANTS: tuple[Variant, ...] = ("2013", "2015")

KEY_2013 = 0x66747032
"""ASCII "ftp2" read big-endian; on the wire the first word's key bytes are 32 70 74 66."""
KEY_2015 = 0x31323334
"""The MSVC multi-character constant '1234' of the later variant."""
KEYS: dict[Variant, int] = {"2013": KEY_2013, "2015": KEY_2015}

GETL = b"Lteg"
RETL = b"Lter"
NEWL = b"Lwen"
COMMANDS = {GETL: "getL", RETL: "retL", NEWL: "newL"}

HEADER_BYTES = 16
PEER_BYTES = 8
FILE_BYTES = 140
"""Name, time and size (u32 each) and a 128-byte RSA signature."""
SIGNATURE_BYTES = 128
PEERS = 16
"""A retL names 16 peers: always in the 2015 variant, at most in the 2013 one."""
MAX_FILES = 32
"""Most file headers a retL may carry (the 2015 tool keeps 32); more is hostile."""
MAX_DATAGRAM = HEADER_BYTES + 4 + PEERS * PEER_BYTES + MAX_FILES * FILE_BYTES
"""4628 bytes: the largest well-formed retL of either variant."""
RETL_2013_EMPTY = HEADER_BYTES + PEERS * PEER_BYTES + 4
"""148 bytes: a 2013 retL with 16 peers and no file."""
RETL_2015_EMPTY = HEADER_BYTES + PEERS * PEER_BYTES
"""144 bytes: a 2015 retL with no file."""

FILE_LIST_FLAG = 0x8000
"""2015 Opt2 bit: the getL asks for the file list (bots then do not answer with peers)."""
COUNTER_MASK = 0x03FF
PORT_BITS = 14
PORT_MASK = (1 << PORT_BITS) - 1
HOURS_MAX = (1 << (32 - PORT_BITS)) - 1
PORT_BASE_32 = 0x4000
PORT_BASE_64 = 0x8000
"""2015 bots listen on base + a 14-bit offset: 0x4000-0x7FFF (32-bit), 0x8000-0xBFFF (64-bit)."""
HOURS_EPOCH = 1_406_051_840
"""Unix time of hour 0 of the 2015 peer timestamp (2014-07-22 17:57:20 UTC). The public tool
turns hours into seconds since 1980 as ``hours * 3600 - 0xBF000000`` in 32-bit arithmetic,
which is ``hours * 3600 + 0x41000000``; 1980-01-01 is Unix 315532800."""

_U32 = struct.Struct("<I")
_HEAD_2013 = struct.Struct("<4sII")
_HEAD_2015 = struct.Struct("<4sIHH")
_PEER = struct.Struct("<4sI")
_MASK32 = 0xFFFFFFFF


class WireError(ValueError):
    """Bytes that are no well-formed ZeroAccess datagram; ``reason`` is a short stable key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- obfuscation and CRC -------------------------------------------------------------------

_streams: dict[tuple[int, int], int] = {}


def _keystream(key: int, words: int) -> int:
    """The key words for a ``words``-long datagram as one little-endian integer (cached:
    lengths are few, and one big-integer XOR is ~50 times faster than a loop per word)."""
    found = _streams.get((key, words))
    if found is None:
        out = bytearray()
        k = key & _MASK32
        for _ in range(words):
            out += _U32.pack(k)
            k = ((k << 1) | (k >> 31)) & _MASK32
        found = int.from_bytes(out, "little")
        if len(_streams) < 256:
            _streams[(key, words)] = found
    return found


def obfuscate(data: bytes, key: int) -> bytes:
    """XOR every 32-bit LE word with ``key`` rotated left once per word (its own inverse)."""
    n = len(data)
    if n % 4:
        raise WireError("bad_length")
    value = int.from_bytes(data, "little") ^ _keystream(key, n // 4)
    return value.to_bytes(n, "little")


def seal(plain: bytes, key: int) -> bytes:
    """The wire bytes of ``plain`` (its first 4 bytes are replaced by the CRC)."""
    body = b"\x00\x00\x00\x00" + plain[4:]
    return obfuscate(_U32.pack(zlib.crc32(body)) + plain[4:], key)


def unseal(data: bytes, key: int) -> bytes:
    """The plain bytes of a datagram whose CRC checks; :class:`WireError` otherwise."""
    n = len(data)
    if n == 0:
        raise WireError("empty")
    if n < HEADER_BYTES:
        raise WireError("short")
    if n > MAX_DATAGRAM:
        raise WireError("oversized")
    plain = obfuscate(data, key)
    if _U32.unpack_from(plain)[0] != zlib.crc32(b"\x00\x00\x00\x00" + plain[4:]):
        raise WireError("bad_crc")
    return plain


# -- messages ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileHeader:
    """One file a retL offers: a name word, a time word, a size and its RSA signature."""

    name: int
    time: int
    size: int
    signature: bytes


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded datagram of either variant.

    ``word`` is the 2013 flags word or the 2015 session ID; ``nonce`` the 2013 getL's nonce
    (or a newL's advertised address as an integer), ``opt1``/``opt2`` the 2015 options.
    ``peers`` are ``(ipv4, word)`` with the raw 32-bit second word of each record.
    """

    variant: Variant
    command: str
    word: int = 0
    nonce: int = 0
    opt1: int = 0
    opt2: int = 0
    peers: tuple[tuple[str, int], ...] = ()
    files: tuple[FileHeader, ...] = ()
    advertised: str | None = None


def _files(plain: bytes, pos: int, count: int) -> tuple[FileHeader, ...]:
    out = []
    for _ in range(count):
        name, time, size = struct.unpack_from("<III", plain, pos)
        out.append(FileHeader(name, time, size, plain[pos + 12 : pos + FILE_BYTES]))
        pos += FILE_BYTES
    return tuple(out)


def _peers(plain: bytes, pos: int, count: int) -> tuple[tuple[str, int], ...]:
    unpack, ntoa = _PEER.unpack_from, socket.inet_ntoa
    out = []
    for i in range(count):
        ip, word = unpack(plain, pos + i * PEER_BYTES)
        out.append((ntoa(ip), word))
    return tuple(out)


def decode(data: bytes, variant: Variant, key: int | None = None) -> Message:
    """Check and decode one datagram; :class:`WireError` with a reason if it is not one."""
    plain = unseal(data, KEYS[variant] if key is None else key)
    n = len(plain)
    if variant == "2013":
        command, word, fourth = _HEAD_2013.unpack_from(plain, 4)
        name = COMMANDS.get(command)
        if name is None:
            raise WireError("unknown_command")
        if name == "getL":
            if n != HEADER_BYTES:
                raise WireError("bad_length")
            return Message(variant, name, word, fourth)
        if name == "newL":
            if n != HEADER_BYTES:
                raise WireError("bad_length")
            return Message(variant, name, word, fourth, advertised=socket.inet_ntoa(plain[12:16]))
        count = fourth
        if count > PEERS:
            raise WireError("too_many_peers")
        at_files = HEADER_BYTES + count * PEER_BYTES
        if n < at_files + 4:
            raise WireError("short")
        files = _U32.unpack_from(plain, at_files)[0]
        if files > MAX_FILES:
            raise WireError("too_many_files")
        if n != at_files + 4 + files * FILE_BYTES:
            raise WireError("bad_length")
        peers = _peers(plain, HEADER_BYTES, count)
        return Message(variant, name, word, peers=peers, files=_files(plain, at_files + 4, files))
    command, session, opt1, opt2 = _HEAD_2015.unpack_from(plain, 4)
    name = COMMANDS.get(command)
    if name is None or name == "newL":
        raise WireError("unknown_command")
    if name == "getL":
        if n != HEADER_BYTES:
            raise WireError("bad_length")
        return Message(variant, name, session, opt1=opt1, opt2=opt2)
    if opt1 > MAX_FILES:
        raise WireError("too_many_files")
    if n != RETL_2015_EMPTY + opt1 * FILE_BYTES:
        raise WireError("short" if n < RETL_2015_EMPTY else "bad_length")
    peers = _peers(plain, HEADER_BYTES, PEERS)
    files = _files(plain, RETL_2015_EMPTY, opt1)
    return Message(variant, name, session, opt1=opt1, opt2=opt2, peers=peers, files=files)


# -- builders ------------------------------------------------------------------------------


def _ip4(ip: str) -> bytes:
    try:
        return socket.inet_aton(ip)
    except OSError:
        raise WireError("bad_address") from None


def _file_bytes(files: tuple[FileHeader, ...]) -> bytes:
    out = bytearray()
    for f in files:
        sig = f.signature[:SIGNATURE_BYTES].ljust(SIGNATURE_BYTES, b"\x00")
        out += struct.pack("<III", f.name & _MASK32, f.time & _MASK32, f.size & _MASK32) + sig
    return bytes(out)


def getl_2013(nonce: int, *, flags: int = 0, key: int = KEY_2013) -> bytes:
    """A 16-byte 2013 getL from a sender whose random ID is ``nonce``."""
    return seal(b"\x00\x00\x00\x00" + _HEAD_2013.pack(GETL, flags & _MASK32, nonce & _MASK32), key)


def newl_2013(ip: str, *, flags: int = 0, key: int = KEY_2013) -> bytes:
    """A 2013 newL advertising ``ip``."""
    plain = b"\x00\x00\x00\x00" + NEWL + _U32.pack(flags & _MASK32) + _ip4(ip)
    return seal(plain, key)


def retl_2013(
    peers: list[tuple[str, int]] | tuple[tuple[str, int], ...],
    *,
    files: tuple[FileHeader, ...] = (),
    flags: int = 0,
    key: int = KEY_2013,
) -> bytes:
    """A 2013 retL naming ``peers`` (``(ipv4, word)``, at most 16) and offering ``files``."""
    if len(peers) > PEERS or len(files) > MAX_FILES:
        raise WireError("too_many_peers" if len(peers) > PEERS else "too_many_files")
    out = bytearray(b"\x00\x00\x00\x00")
    out += _HEAD_2013.pack(RETL, flags & _MASK32, len(peers))
    for ip, word in peers:
        out += _PEER.pack(_ip4(ip), word & _MASK32)
    out += _U32.pack(len(files)) + _file_bytes(files)
    return seal(bytes(out), key)


def getl_2015(session: int, counter: int, *, file_list: bool = False, key: int = KEY_2015) -> bytes:
    """A 16-byte 2015 getL: the sender's session ID and its request counter (10 bits)."""
    opt2 = (counter & COUNTER_MASK) | (FILE_LIST_FLAG if file_list else 0)
    return seal(b"\x00\x00\x00\x00" + _HEAD_2015.pack(GETL, session & _MASK32, 0, opt2), key)


def peer_word(port_offset: int, hours: int) -> int:
    """The 2015 record's second word: 14-bit port offset low, 18-bit hours high."""
    return (port_offset & PORT_MASK) | (min(max(hours, 0), HOURS_MAX) << PORT_BITS)


def split_word(word: int) -> tuple[int, int]:
    """``(port_offset, hours)`` of a 2015 record's second word."""
    return word & PORT_MASK, word >> PORT_BITS


def port_base(port: int) -> int:
    """The 2015 port range base a port belongs to (the 32-bit range for anything else)."""
    return PORT_BASE_64 if PORT_BASE_64 <= port < PORT_BASE_64 + PORT_BASE_32 else PORT_BASE_32


def retl_2015(
    session: int,
    opt2: int,
    peers: list[tuple[str, int]] | tuple[tuple[str, int], ...],
    *,
    files: tuple[FileHeader, ...] = (),
    key: int = KEY_2015,
) -> bytes:
    """A 2015 retL: exactly 16 records (``(ipv4, word)``; missing ones are zero), the
    counter of the getL it answers (``opt2 & 0x3FF``) and ``files`` (counted in Opt1)."""
    if len(peers) > PEERS or len(files) > MAX_FILES:
        raise WireError("too_many_peers" if len(peers) > PEERS else "too_many_files")
    out = bytearray(b"\x00\x00\x00\x00")
    out += _HEAD_2015.pack(RETL, session & _MASK32, len(files), opt2 & COUNTER_MASK)
    for ip, word in peers:
        out += _PEER.pack(_ip4(ip), word & _MASK32)
    out += b"\x00" * (PEER_BYTES * (PEERS - len(peers)))
    out += _file_bytes(files)
    return seal(bytes(out), key)
