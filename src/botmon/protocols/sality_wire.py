"""Sality v3 packets: build and parse, sans-I/O (PROTOCOLS.md §5, Appendix A vectors).

On the wire::

    off  size  field                                   encrypted
    0    2     CRC-16/MODBUS of bytes 4.. (plain), LE  no
    2    2     length = bytes from offset 4 on, LE     no
    4    1     version (3)                             RC4
    5    4     URL-pack version / sequence, LE         RC4
    9    1     command (1 server test, 2 peer exchange, 3 hello)
    10   n     command payload                         RC4
    ..   3-32  zero padding                            RC4

The RC4 key is the four header bytes as sent, so the keystream is known once the header is:
nothing secret, but every byte must be decrypted before anything can be read. Zero padding
makes lengths ambiguous (an ID may end in zero bytes), so a payload is read knowing which
command and direction it is; :func:`decode` only checks the frame.

Every cap is checked here and every malformed input is a :class:`SalityError` with a short
stable reason (the plugin turns it into ``no_reply(reason)``).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from cryptography.hazmat.decrepit.ciphers.algorithms import ARC4
from cryptography.hazmat.primitives.ciphers import Cipher

VERSION = 3
HEADER_BYTES = 4
"""Checksum and length: sent in clear, and the RC4 key."""
FIXED_BYTES = 6
"""Version, URL-pack ID and command: the encrypted part every packet has."""
MIN_PADDING = 3
MAX_PADDING = 32
MAX_PACKET = 1500
"""Largest packet read or built: a full URL pack (142 + 1,024 bytes) with every field fits."""

SERVER_TEST = 1
PEER_EXCHANGE = 2
HELLO = 3
COMMANDS = {SERVER_TEST: "server_test", PEER_EXCHANGE: "peer_exchange", HELLO: "hello"}

PUSH_MARK = b"\xfe\xfe\xfe\xfe"
"""After ``OK``: a URL pack follows (a hello answer, or a bot pushing its pack)."""
OK = b"OK"

SIGNATURE_BYTES = 128
URL_PACK_HEAD = SIGNATURE_BYTES + 14
"""Signature, version u32, list type u8, recipients u8, frequency u16, URL-list size u32,
entries u8, installed u8: 142 bytes before the URLs."""
MAX_URL_BYTES = 1024
MAX_URLS = 30

SUPERPEER_MIN = 16_000_000
SUPERPEER_MAX = 20_000_000
UNDECIDED = 1

PEER_ENTRY_BYTES = 10
"""IPv4 (network order), port u16 LE, server ID u32 LE."""


class SalityError(ValueError):
    """A packet that is not well-formed Sality v3; ``reason`` is a short stable key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def crc16_modbus(data: bytes) -> int:
    """CRC-16/MODBUS (reflected polynomial 0xA001, init 0xFFFF, no final XOR)."""
    crc = 0xFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def _crc_table() -> tuple[int, ...]:
    out = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        out.append(crc)
    return tuple(out)


_CRC_TABLE = _crc_table()


def _rc4_python(key: bytes, data: bytes) -> bytes:
    """RC4 in plain Python (~40 µs a packet): for keys OpenSSL cannot take as they are."""
    s = list(range(256))
    j = 0
    size = len(key)
    for i in range(256):
        j = (j + s[i] + key[i % size]) & 0xFF
        s[i], s[j] = s[j], s[i]
    out = bytearray(data)
    i = j = 0
    for k in range(len(out)):
        i = (i + 1) & 0xFF
        j = (j + s[i]) & 0xFF
        s[i], s[j] = s[j], s[i]
        out[k] ^= s[(s[i] + s[j]) & 0xFF]
    return bytes(out)


def rc4(key: bytes, data: bytes) -> bytes:
    """RC4 of ``data`` under ``key`` (the same call encrypts and decrypts).

    OpenSSL (through ``cryptography``) refuses keys under 40 bits, but RC4's key schedule
    reads ``key[i % len(key)]`` for i < 256, so a key whose length divides 256 (Sality's 4
    header bytes) schedules exactly as itself repeated to 16 bytes: ~6 µs a packet instead of
    ~40 µs in Python, which matters when every one of millions of replies is decrypted.
    """
    size = len(key)
    if size == 0:
        raise SalityError("empty_key")
    if not data:
        return b""
    if 256 % size == 0 and size <= 16:
        cipher = Cipher(ARC4(bytes(key) * (16 // size)), mode=None)
        return cipher.encryptor().update(data)
    return _rc4_python(bytes(key), data)


@dataclass(frozen=True, slots=True)
class Packet:
    """One decrypted, checked packet; ``body`` is the payload with its padding."""

    url_pack: int
    command: int
    body: bytes
    version: int = VERSION


def encode(url_pack: int, command: int, payload: bytes, padding: int = MIN_PADDING) -> bytes:
    """The wire bytes of a packet: plaintext, CRC and length, then RC4 under the header."""
    if not MIN_PADDING <= padding <= MAX_PADDING:
        raise SalityError("padding_length")
    if not 0 <= url_pack <= 0xFFFFFFFF or not 0 <= command <= 0xFF:
        raise SalityError("field_range")
    plain = (
        bytes((VERSION,))
        + url_pack.to_bytes(4, "little")
        + bytes((command,))
        + payload
        + bytes(padding)
    )
    if HEADER_BYTES + len(plain) > MAX_PACKET:
        raise SalityError("oversized")
    header = crc16_modbus(plain).to_bytes(2, "little") + len(plain).to_bytes(2, "little")
    return header + rc4(header, plain)


def decode(data: bytes) -> Packet:
    """Check the frame (size, length field, CRC, version, command) and decrypt it."""
    n = len(data)
    if n > MAX_PACKET:
        raise SalityError("oversized")
    if n < HEADER_BYTES + FIXED_BYTES + MIN_PADDING:
        raise SalityError("empty" if n == 0 else "short")
    if int.from_bytes(data[2:4], "little") != n - HEADER_BYTES:
        raise SalityError("bad_length")
    plain = rc4(data[:HEADER_BYTES], data[HEADER_BYTES:])
    if crc16_modbus(plain) != int.from_bytes(data[0:2], "little"):
        raise SalityError("bad_checksum")
    if plain[0] != VERSION:
        raise SalityError("bad_version")
    command = plain[5]
    if command not in COMMANDS:
        raise SalityError("unknown_command")
    return Packet(int.from_bytes(plain[1:5], "little"), command, plain[6:], plain[0])


def _split(body: bytes, size: int) -> bytes:
    """The first ``size`` bytes of ``body``; the rest must be 3..32 zero bytes."""
    pad = len(body) - size
    if pad < MIN_PADDING:
        raise SalityError("short_payload")
    if pad > MAX_PADDING:
        raise SalityError("padding_length")
    if body[size:].count(0) != pad:
        raise SalityError("bad_padding")
    return body[:size]


def peer_class(server_id: int) -> str:
    """What a server ID says of its bot (PROTOCOLS.md §5.2): ``undecided`` (1), ``client``
    (below 16,000,000: behind NAT), ``superpeer`` (16,000,000-20,000,000), else ``invalid``."""
    if server_id == UNDECIDED:
        return "undecided"
    if server_id < SUPERPEER_MIN:
        return "client"
    if server_id <= SUPERPEER_MAX:
        return "superpeer"
    return "invalid"


# -- server test (1) ------------------------------------------------------------------------


def server_test_request(server_id: int, port: int) -> bytes:
    """Payload: the sender's server ID and the port it serves on."""
    return server_id.to_bytes(4, "little") + port.to_bytes(2, "little")


def read_server_test_request(body: bytes) -> tuple[int, int]:
    """``(server_id, port)`` of a server-test request."""
    raw = _split(body, 6)
    return int.from_bytes(raw[0:4], "little"), int.from_bytes(raw[4:6], "little")


def server_test_reply(new_id: int) -> bytes:
    """Payload: the server ID the tested node is to take."""
    return new_id.to_bytes(4, "little")


def read_server_test_reply(body: bytes) -> int:
    """The new server ID a server-test reply assigns."""
    return int.from_bytes(_split(body, 4), "little")


# -- peer exchange (2) ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerEntry:
    """One peer a peer-exchange reply names."""

    ip: str
    port: int
    server_id: int


def peer_request(server_id: int) -> bytes:
    """Payload of a peer-exchange request: the sender's server ID."""
    return server_id.to_bytes(4, "little")


def read_peer_request(body: bytes) -> int:
    """The sender's server ID in a peer-exchange request."""
    return int.from_bytes(_split(body, 4), "little")


def pack_peer(ip4: bytes, port: int, server_id: int) -> bytes:
    """The 10 payload bytes naming one peer (address in network order, the rest LE)."""
    return ip4 + port.to_bytes(2, "little") + server_id.to_bytes(4, "little")


def peer_reply(peer: PeerEntry | None) -> bytes:
    """Payload of a peer-exchange reply: one peer, or nothing (an empty reply)."""
    if peer is None:
        return b""
    return pack_peer(socket.inet_aton(peer.ip), peer.port, peer.server_id)


def read_peer_reply(body: bytes) -> PeerEntry | None:
    """The peer a reply names, or None for an empty reply (only padding)."""
    if len(body) <= MAX_PADDING and body.count(0) == len(body):
        _split(body, 0)  # an empty reply: its padding must still be 3..32 bytes
        return None
    raw = _split(body, PEER_ENTRY_BYTES)
    return PeerEntry(
        socket.inet_ntoa(raw[0:4]),
        int.from_bytes(raw[4:6], "little"),
        int.from_bytes(raw[6:10], "little"),
    )


# -- hello / URL-pack exchange (3) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UrlPack:
    """A signed list of download URLs (PROTOCOLS.md §5.2); ``version`` orders packs."""

    version: int
    urls: tuple[str, ...] = ()
    signature: bytes = bytes(SIGNATURE_BYTES)
    list_type: int = 0
    """0 direct, 1 indirect."""
    recipients: int = 0
    """0 all, 1 servers, 2 clients."""
    frequency_min: int = 40
    installed: int = 0

    def to_bytes(self) -> bytes:
        """The pack as it follows ``OK`` + ``FE FE FE FE``."""
        if len(self.signature) != SIGNATURE_BYTES:
            raise SalityError("bad_signature_size")
        if len(self.urls) > MAX_URLS:
            raise SalityError("too_many_urls")
        urls = b"".join(u.encode("ascii") + b"\x00" for u in self.urls)
        if len(urls) > MAX_URL_BYTES:
            raise SalityError("url_list_too_long")
        return (
            self.signature
            + self.version.to_bytes(4, "little")
            + bytes((self.list_type, self.recipients))
            + self.frequency_min.to_bytes(2, "little")
            + len(urls).to_bytes(4, "little")
            + bytes((len(self.urls), self.installed))
            + urls
        )


def read_url_pack(raw: bytes) -> tuple[UrlPack, int]:
    """A URL pack at the start of ``raw`` and the bytes it took (the rest is padding)."""
    if len(raw) < URL_PACK_HEAD:
        raise SalityError("short_url_pack")
    size = int.from_bytes(raw[136:140], "little")
    if size > MAX_URL_BYTES:
        raise SalityError("url_list_too_long")
    count = raw[140]
    if count > MAX_URLS:
        raise SalityError("too_many_urls")
    end = URL_PACK_HEAD + size
    if len(raw) < end:
        raise SalityError("short_url_pack")
    names = raw[URL_PACK_HEAD:end].rstrip(b"\x00")
    urls = tuple(u.decode("ascii", "replace") for u in names.split(b"\x00")) if names else ()
    if len(urls) > MAX_URLS:
        raise SalityError("too_many_urls")
    pack = UrlPack(
        version=int.from_bytes(raw[128:132], "little"),
        urls=urls,
        signature=raw[:SIGNATURE_BYTES],
        list_type=raw[132],
        recipients=raw[133],
        frequency_min=int.from_bytes(raw[134:136], "little"),
        installed=raw[141],
    )
    return pack, end


def hello_request(server_id: int) -> bytes:
    """Payload of a hello: the sender's server ID (its pack version is in the header)."""
    return server_id.to_bytes(4, "little")


def hello_ok() -> bytes:
    """Payload of a hello answer that pushes nothing: ``OK\\0``."""
    return OK + b"\x00"


def hello_push(pack: UrlPack) -> bytes:
    """Payload pushing a URL pack: ``OK`` + ``FE FE FE FE`` + the pack (either direction)."""
    return OK + PUSH_MARK + pack.to_bytes()


@dataclass(frozen=True, slots=True)
class Hello:
    """A hello read: a request names its sender's ``server_id``; an answer is ``ok``; either
    may carry a ``pack``."""

    server_id: int | None = None
    ok: bool = False
    pack: UrlPack | None = None


def read_hello(body: bytes) -> Hello:
    """A hello request (server ID), an ``OK`` answer, or a URL-pack push.

    A request whose server ID reads ``OK\\0`` in its first three bytes (ID 19,279 and
    another 255 IDs) is read as an answer: the wire format cannot tell them apart.
    """
    if body[:6] == OK + PUSH_MARK:
        pack, used = read_url_pack(body[6:])
        _split(body, 6 + used)
        return Hello(ok=True, pack=pack)
    if body[:3] == OK + b"\x00":
        _split(body, 3)
        return Hello(ok=True)
    return Hello(server_id=int.from_bytes(_split(body, 4), "little"))
