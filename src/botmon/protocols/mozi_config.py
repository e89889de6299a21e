"""Mozi's signed configuration blob (PROTOCOLS.md §2.4), sans-I/O.

A Mozi bot answers a Mozi-flavoured ``find_node`` with this 624-byte blob in ``r.nodes``
instead of node infos::

    offset  size  field
    0       428   configuration text, XOR-encrypted with a 16-byte repeating key
    428     96    signature 1 (ECDSA P-384, r || s), over the encrypted text
    524     4     configuration version, uint32 little-endian
    528     96    signature 2 (ECDSA P-384, r || s), over the decrypted text

The text is ``[tag]value[/tag]`` pairs, zero-padded. The key and layout are public facts;
which hash the signatures use is not stated anywhere botmon's authors could check, so botmon
signs and verifies with SHA-384 (P-384's natural pair), and its emulator signs the same way
with its own test keys: a blob signed otherwise reads ``"invalid"``, never crashes.
:func:`decode` reads and, given public keys, verifies; :func:`encode` builds a blob for the
emulator. What counts as a **stop order** is botmon's rule, :func:`stop_order`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

BLOB_SIZE = 624
TEXT_SIZE = 428
SIGNATURE_SIZE = 96
XOR_KEY = bytes.fromhex("4E665A8F80C8AC238DAC4706D54F6F7E")
MAGIC = bytes.fromhex("151529D2")
"""The first four bytes of every blob: ``[ss]`` encrypted with the key's first four bytes."""
MAX_TAGS = 48
"""Most tags read from one text (428 bytes hold at most ~60 empty ones)."""

_TAG = re.compile(rb"\[([a-z0-9_]{1,16})\](.*?)\[/\1\]", re.DOTALL)
_CURVE = ec.SECP384R1()
_HASH = hashes.SHA384()

Signatures = Literal["valid", "invalid", "unchecked"]
STOP_TAGS = ("ud", "dr", "rn")
"""Tags that order a bot to replace itself, fetch and run a program, or run a command:
the 2023 kill switch reached the bots as such an update. See :func:`stop_order`."""


class ConfigError(ValueError):
    """Bytes that are not a Mozi configuration blob; ``reason`` is a short stable key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MoziConfig:
    """One decoded configuration."""

    version: int
    tags: tuple[tuple[str, str], ...]
    """``(tag, value)`` in the order the text has them; a tag may repeat."""
    digest: str
    """SHA-256 of the whole 624-byte blob (hex): names a distinct configuration."""
    signatures: Signatures

    def tag(self, name: str) -> str | None:
        """The first value of tag ``name``, or None."""
        return next((value for tag, value in self.tags if tag == name), None)

    @property
    def arch(self) -> str | None:
        """The bot's CPU architecture (``[cpu]``), botmon's device-type dimension."""
        return self.tag("cpu") or None

    @property
    def stop(self) -> bool:
        """Whether this configuration orders the bots to stop (see :func:`stop_order`)."""
        return stop_order(self.tags)

    def as_data(self) -> dict[str, object]:
        """The ``config`` object of a Mozi bot reply's ``data`` (the records' contract)."""
        tags: dict[str, str] = {}
        for tag, value in self.tags:
            tags.setdefault(tag, value)
        return {
            "version": self.version,
            "digest": self.digest,
            "tags": tags,
            "signatures": self.signatures,
            "stop": self.stop,
        }


def stop_order(tags: Sequence[tuple[str, str]]) -> bool:
    """botmon's rule: a configuration is a stop order when it tells the bots to replace
    themselves (``[ud]``), to download and run something (``[dr]``) or to run a command
    (``[rn]``) with a non-empty value. Operators push such orders rarely, and a takedown
    (the 2023 kill switch) must use one of them, so each raises the highest alert."""
    return any(tag in STOP_TAGS and value.strip() for tag, value in tags)


def looks_like_config(nodes: bytes) -> bool:
    """The crawlers' test: 624 bytes starting with the encrypted ``[ss]`` (PROTOCOLS.md §2.3)."""
    return len(nodes) == BLOB_SIZE and nodes[:4] == MAGIC


def xor(data: bytes) -> bytes:
    """Encrypt or decrypt (XOR is its own inverse) the configuration text."""
    key = (XOR_KEY * (len(data) // len(XOR_KEY) + 1))[: len(data)]
    return bytes(a ^ b for a, b in zip(data, key, strict=True))


def parse_tags(text: bytes) -> tuple[tuple[str, str], ...]:
    """The ``[tag]value[/tag]`` pairs of a decrypted text, up to the zero padding."""
    text = text.split(b"\0", 1)[0]
    pairs = []
    for match in _TAG.finditer(text):
        pairs.append((match.group(1).decode("ascii"), match.group(2).decode("latin-1")))
        if len(pairs) >= MAX_TAGS:
            break
    return tuple(pairs)


def load_public_key(text: str) -> ec.EllipticCurvePublicKey:
    """A P-384 public key from hex: compressed (49 bytes) or uncompressed (97 bytes) point.
    ``ValueError`` with a one-line reason when it is not one."""
    try:
        raw = bytes.fromhex(text.strip())
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, raw)
    except ValueError as exc:
        raise ValueError(f"not a P-384 public key in hex: {exc}") from None


def _verify(key: ec.EllipticCurvePublicKey, signature: bytes, message: bytes) -> bool:
    r = int.from_bytes(signature[:48], "big")
    s = int.from_bytes(signature[48:], "big")
    if not (r > 0 and s > 0):
        return False
    try:
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(_HASH))
    except InvalidSignature:
        return False
    return True


def decode(
    blob: bytes,
    keys: tuple[ec.EllipticCurvePublicKey, ec.EllipticCurvePublicKey] | None = None,
) -> MoziConfig:
    """Read one blob; with ``keys`` (key 1 for the encrypted text, key 2 for the decrypted
    one) also check both signatures. ``ConfigError`` when the bytes are not a blob."""
    if len(blob) != BLOB_SIZE:
        raise ConfigError("bad_length")
    if blob[:4] != MAGIC:
        raise ConfigError("bad_magic")
    encrypted = blob[:TEXT_SIZE]
    plain = xor(encrypted)
    tags = parse_tags(plain)
    if not tags:
        raise ConfigError("no_tags")
    version = int.from_bytes(blob[524:528], "little")
    signatures: Signatures = "unchecked"
    if keys is not None:
        ok = _verify(keys[0], blob[428:524], encrypted) and _verify(keys[1], blob[528:], plain)
        signatures = "valid" if ok else "invalid"
    digest = hashlib.sha256(blob).hexdigest()
    return MoziConfig(version, tags, digest, signatures)


def encode(
    tags: Sequence[tuple[str, str]] | Mapping[str, str],
    version: int,
    signers: tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey],
) -> bytes:
    """A signed blob (for the emulator; botmon itself never sends one). ``[ss]`` must come
    first, as in real configurations, and the text must fit 428 bytes."""
    pairs = list(tags.items()) if isinstance(tags, Mapping) else list(tags)
    if not pairs or pairs[0][0] != "ss":
        raise ValueError("a Mozi configuration starts with [ss]")
    text = b"".join(f"[{t}]{v}[/{t}]".encode("latin-1") for t, v in pairs)
    if len(text) > TEXT_SIZE:
        raise ValueError(f"configuration text is {len(text)} bytes; at most {TEXT_SIZE} fit")
    plain = text.ljust(TEXT_SIZE, b"\0")
    encrypted = xor(plain)
    return (
        encrypted
        + _sign(signers[0], encrypted)
        + version.to_bytes(4, "little")
        + _sign(signers[1], plain)
    )


def _sign(key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(message, ec.ECDSA(_HASH)))
    return r.to_bytes(48, "big") + s.to_bytes(48, "big")


def new_signing_keys() -> tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey]:
    """Two fresh P-384 keys: an emulator's own test keys (never real key material)."""
    return ec.generate_private_key(_CURVE), ec.generate_private_key(_CURVE)


def public_key_hex(key: ec.EllipticCurvePrivateKey) -> str:
    """The compressed public point of ``key`` in hex, as settings take it."""
    raw = key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
    return raw.hex()
