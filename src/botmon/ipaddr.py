"""IP addresses as 128-bit integers: the one form botmon stores, compares and counts.

IPv4 addresses live in the IPv4-mapped range ``::ffff:0:0/96`` so one column holds both
families and ``::ffff:1.2.3.4`` and ``1.2.3.4`` are the same bot. ``socket.inet_pton`` is the
parser because it is strict (no leading zeros, no short forms, no zone ids) and about ten
times faster than :mod:`ipaddress` on the ingest path (NOTES.md).
"""

from __future__ import annotations

import socket

V4_MAPPED_PREFIX = 0xFFFF_0000_0000
"""The integer of ``::ffff:0.0.0.0``; IPv4 address ``a`` is stored as ``V4_MAPPED_PREFIX | a``."""

_V4_MASK_HIGH = ~0xFFFF_FFFF & ((1 << 128) - 1)


def ip_to_int(text: str) -> int:
    """Parse an IPv4 or IPv6 address; raise ``ValueError`` for anything else."""
    try:
        if ":" in text:
            return int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
        return V4_MAPPED_PREFIX | int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, TypeError) as exc:
        raise ValueError(f"not an IPv4 or IPv6 address: {text[:64]!r}") from exc


def is_v4(value: int) -> bool:
    """True when ``value`` is an IPv4 address in the mapped range."""
    return value & _V4_MASK_HIGH == V4_MAPPED_PREFIX


def int_to_ip(value: int) -> str:
    """The canonical text of a stored address (dotted quad for IPv4)."""
    if is_v4(value):
        return socket.inet_ntop(socket.AF_INET, (value & 0xFFFF_FFFF).to_bytes(4, "big"))
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16, "big"))


def normalise_ip(text: str) -> str:
    """The canonical text of an address given as text; ``ValueError`` when it is not one."""
    return int_to_ip(ip_to_int(text))


def is_loopback(value: int) -> bool:
    """True for 127.0.0.0/8 and ::1, the only destinations tests and demos may use."""
    if is_v4(value):
        return (value >> 24) & 0xFF == 127
    return value == 1


def parse_address(text: str) -> tuple[str, int | None]:
    """``ip``, ``ip:port``, ``[v6]:port`` or a bare IPv6 address as (canonical ip, port or
    None); ValueError naming the text otherwise. How users name a monitor's address in
    settings and options (``analysis.own_monitors``)."""
    text = text.strip()
    host, port = text, ""
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else rest
        if rest and not rest.startswith(":"):
            raise ValueError(text)
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
        if not port:
            raise ValueError(text)
    try:
        ip = normalise_ip(host)
        number = int(port) if port else None
    except ValueError:
        raise ValueError(text) from None
    if number is not None and not 0 <= number <= 65535:
        raise ValueError(text)
    return ip, number
