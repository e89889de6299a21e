"""Hajime's messages inside a uTP stream and the header of the files they carry (sans-I/O).

Framing (PROTOCOLS.md §3.4, from libhajime): a u32 big-endian payload length (the type byte
not counted), one type byte, the payload. Types: 0 key exchange (a flag byte and a 32-byte
public key), 2 file request (the file name and a NUL), 3 file content (the file). A file
starts with a payload header::

    0x00  32  file name, NUL-terminated
    0x20   1  LZ4 flag
    0x22   1  type: 0 config, 1 stage-2 update, 2 executable module
    0x24   4  creation time (BE)
    0x28   4  body size (BE)
    0x2C 128  key / signature
    0xAC   4  decompressed size (BE, only if LZ4)
    0xB0   4  compressed size (BE, only if LZ4)
    then the body (0xAC without LZ4, 0xB4 with)

Everything is capped: a message at :data:`MAX_MESSAGE`, names at 31 bytes, sizes against
what is there; a message that breaks a rule is a :class:`WireError` with a stable ``reason``.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

KEY_EXCHANGE, FILE_REQUEST, FILE_CONTENT = 0, 2, 3
TYPES = (KEY_EXCHANGE, 1, FILE_REQUEST, FILE_CONTENT)
MAX_MESSAGE = 1 << 20
"""Largest message payload accepted (a module is some hundred KB; botmon reads only
headers, but a length field says how much may follow)."""
NAME_FIELD = 32
HEADER = 0xAC
LZ4_HEADER = 0xB4
SIGNATURE = 128
FILE_TYPES = ("config", "update", "module")
_TIMES = struct.Struct(">II")


class WireError(ValueError):
    """Bytes that are not a usable Hajime message; ``reason`` is a short stable key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Message(NamedTuple):
    """One framed message: its type and payload."""

    type: int
    payload: bytes


def frame(kind: int, payload: bytes) -> bytes:
    """``payload`` framed as message type ``kind``."""
    return struct.pack(">IB", len(payload), kind) + payload


def file_request(name: str) -> bytes:
    """A framed file request (type 2): ``00 00 00 07 02 'config' 00`` for ``config``."""
    return frame(FILE_REQUEST, name.encode("latin-1") + b"\0")


def unframe(buffer: bytes) -> tuple[Message, int] | None:
    """The first whole message in ``buffer`` and its length on the wire; None when more
    bytes are needed. :class:`WireError` for a length over the cap or an unknown type."""
    if len(buffer) < 5:
        return None
    length, kind = struct.unpack_from(">IB", buffer)
    if length > MAX_MESSAGE:
        raise WireError("oversized")
    if kind not in TYPES:
        raise WireError("bad_type")
    if len(buffer) < 5 + length:
        return None
    return Message(kind, buffer[5 : 5 + length]), 5 + length


def request_name(payload: bytes) -> str:
    """The file name of a file request's payload (NUL-terminated, printable, at most 31)."""
    if not payload.endswith(b"\0"):
        raise WireError("unterminated_name")
    return _name(payload[:-1])


def _name(raw: bytes) -> str:
    if not 0 < len(raw) < NAME_FIELD or not all(0x20 < b < 0x7F for b in raw):
        raise WireError("bad_name")
    return raw.decode("ascii")


class FileHeader(NamedTuple):
    """The payload header of a file (what botmon reads of file content)."""

    name: str
    lz4: bool
    file_type: int
    created: int
    """Creation time (epoch seconds)."""
    body_size: int
    signature: bytes = bytes(SIGNATURE)
    decompressed_size: int = 0
    compressed_size: int = 0

    @property
    def type_name(self) -> str:
        """``config``, ``update``, ``module`` or ``type-N``."""
        t = self.file_type
        return FILE_TYPES[t] if t < len(FILE_TYPES) else f"type-{t}"


def encode_file(header: FileHeader, body: bytes) -> bytes:
    """A file: its payload header, then ``body``."""
    raw = header.name.encode("ascii")
    if not 0 < len(raw) < NAME_FIELD:
        raise WireError("bad_name")
    out = bytearray(HEADER)
    out[: len(raw)] = raw
    out[0x20] = 1 if header.lz4 else 0
    out[0x22] = header.file_type & 0xFF
    _TIMES.pack_into(out, 0x24, header.created & 0xFFFFFFFF, len(body))
    out[0x2C:HEADER] = header.signature[:SIGNATURE].ljust(SIGNATURE, b"\0")
    if header.lz4:
        out += _TIMES.pack(header.decompressed_size, header.compressed_size)
    return bytes(out) + body


def decode_header(content: bytes) -> FileHeader:
    """The payload header at the start of file ``content`` (its body may be cut off)."""
    if len(content) < HEADER:
        raise WireError("short_header")
    name = _name(content[:NAME_FIELD].split(b"\0", 1)[0])
    lz4 = content[0x20]
    if lz4 > 1:
        raise WireError("bad_lz4_flag")
    created, size = _TIMES.unpack_from(content, 0x24)
    if size > MAX_MESSAGE:
        raise WireError("bad_size")
    dec = comp = 0
    if lz4:
        if len(content) < LZ4_HEADER:
            raise WireError("short_header")
        dec, comp = _TIMES.unpack_from(content, HEADER)
        if comp > size or dec > 64 * MAX_MESSAGE:
            raise WireError("bad_size")
    return FileHeader(
        name, bool(lz4), content[0x22], created, size, content[0x2C:HEADER], dec, comp
    )


def peek_file(buffer: bytes) -> tuple[int, FileHeader | None]:
    """The type of the message starting ``buffer`` and, for file content whose payload
    header is all there, that header. The message may go on in later packets: botmon reads
    only the header, so it needs neither the rest nor reassembly."""
    if len(buffer) < 5:
        raise WireError("short")
    length, kind = struct.unpack_from(">IB", buffer)
    if length > MAX_MESSAGE:
        raise WireError("oversized")
    if kind not in TYPES:
        raise WireError("bad_type")
    if kind != FILE_CONTENT or length < HEADER:
        return kind, None
    body = buffer[5 : 5 + length]
    if len(body) < HEADER:
        return kind, None
    return kind, decode_header(body)
