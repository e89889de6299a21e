"""What the threat-intel formats (STIX, MISP, X-ARF) say alike about a bot.

One place for the words and numbers the three share, so a bot reads the same in a STIX
indicator, a MISP attribute comment and an abuse mail: its UTC times, the sentence that
describes it, the TLP 1.0 label older tools know, and deterministic UUIDs (a re-fetch of the
same bot names the same object, so consumers update instead of piling up copies).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address

from botmon.feeds.common import iso_utc
from botmon.feeds.model import FeedContext, FeedRow, Tlp

BOTMON_NAMESPACE = uuid.UUID("5d1f4c3e-8b8a-5b0e-9a61-6f3b2c1d0e7a")
"""The UUIDv5 namespace of every identifier botmon derives (fixed: changing it would give
every bot a new STIX and MISP identity)."""

DEFAULT_CONTACT = "botmon@localhost"
"""Reported-From and sender when the deployment names no contact address."""

TLP1: dict[Tlp, str] = {
    "clear": "white",
    "green": "green",
    "amber": "amber",
    "amber+strict": "amber",
    "red": "red",
}
"""TLP 2.0 → TLP 1.0 for formats that only know the older four colours (STIX 2.1's marking
definitions, X-ARF's TLP key): ``clear`` was called white, and ``amber+strict`` is shared as
amber, the wider of the two, so the recipient must read the feed's own label too."""

CHUNK_BYTES = 64 * 1024
"""Streamed formats hand the server chunks of about this size (one per bot would mean one
write per row; one per answer would hold the whole answer)."""


def derived_uuid(*parts: str) -> uuid.UUID:
    """A UUIDv5 of the parts: the same parts always give the same identifier.

    Parts are joined with a separator no botnet name or address contains, and each part is
    length-prefixed, so ("ab", "c") and ("a", "bc") differ."""
    key = "\x1f".join(f"{len(p)}:{p}" for p in parts)
    return uuid.uuid5(BOTMON_NAMESPACE, key)


def utc(ts: float) -> datetime:
    """An epoch second as an aware UTC datetime (whole seconds: the precision feeds promise)."""
    return datetime.fromtimestamp(int(ts), tz=UTC)


def one_line(text: str, limit: int = 200) -> str:
    """``text`` with control characters (newlines, tabs, escapes) as spaces, cut to
    ``limit`` characters: for mail headers and free-text lines, where a newline would start
    a new header or a forged line."""
    flat = "".join(" " if (ord(c) < 32 or 0x7F <= ord(c) < 0xA0) else c for c in text)
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat


def ports_text(ports: Iterable[int]) -> str:
    return ", ".join(str(p) for p in ports) or "none recorded"


def describe(row: FeedRow) -> str:
    """One sentence (no newlines) that says what botmon saw of the bot and how sure it is."""
    where = []
    if row.asn is not None:
        where.append(f"AS{row.asn}" + (f" ({one_line(row.as_name)})" if row.as_name else ""))
    if row.country:
        where.append(f"country {one_line(row.country, 8)}")
    parts = [
        f"{row.ip} answered the {one_line(row.botnet, 64)} P2P botnet protocol",
        f"first seen {iso_utc(row.first_seen)}, last seen {iso_utc(row.last_seen)}",
        f"{row.observations} observations on {row.days} day(s) by "
        f"{row.vantage_points} vantage point(s)",
        f"ports {ports_text(row.ports)}",
        "origin " + (", ".join(row.origins) or "unknown"),
        f"confidence {row.confidence}",
    ]
    if row.bot_ids:
        parts.append("bot IDs " + ", ".join(one_line(b, 80) for b in row.bot_ids))
    if where:
        parts.append(", ".join(where))
    return "; ".join(parts)


def ip_version(ip: str) -> int:
    """4 or 6: feed rows carry normalised addresses, so a colon means IPv6."""
    return 6 if ":" in ip else 4


def contact_of(context: FeedContext) -> str:
    """The contact address, or :data:`DEFAULT_CONTACT` when none is set or it is not a plain
    ``user@domain`` address (a mail header and X-ARF's Reported-From need one)."""
    contact = context.contact or DEFAULT_CONTACT
    try:
        address = Address(addr_spec=contact)
    except (ValueError, IndexError, HeaderParseError):
        return DEFAULT_CONTACT
    if not address.username or not address.domain or address.addr_spec != contact:
        return DEFAULT_CONTACT
    return contact


def contact_domain(context: FeedContext) -> str:
    """The domain part of the contact address, for Message-ID and Report-ID."""
    _, _, domain = contact_of(context).rpartition("@")
    return domain or "localhost"


def html_safe_json(text: str) -> str:
    """JSON text with ``<``, ``>`` and ``&`` as ``\\u`` escapes.

    In JSON these characters only occur inside strings, where the escape means the same
    character, so the document is unchanged for a JSON reader; but a browser or a mail
    client that sniffs the feed as HTML never meets a ``</script>`` a hostile bot ID or AS
    name carried."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def chunked_text(pieces: Iterable[str], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The pieces, UTF-8 encoded, gathered into chunks of about ``size`` bytes."""
    return chunked_bytes((piece.encode() for piece in pieces), size)


def chunked_bytes(pieces: Iterable[bytes], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The pieces gathered into chunks of about ``size`` bytes (the last may be smaller)."""
    buf: list[bytes] = []
    held = 0
    for data in pieces:
        buf.append(data)
        held += len(data)
        if held >= size:
            yield b"".join(buf)
            buf.clear()
            held = 0
    if buf:
        yield b"".join(buf)
