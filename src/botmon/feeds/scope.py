"""Reading network scopes from people: ASNs, CIDRs and countries, checked and normalised.

The CLI (``botmon token create --asn/--cidr/--country``), the admin API and the feed
route's ``asn=``/``cidr=``/``country=`` filters all go through :func:`parse_scope`, so a
network one of them accepts is accepted, and spelled, the same by the others and the store.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from botmon.feeds.model import FeedScope
from botmon.ipaddr import V4_MAPPED_PREFIX

MAX_ASN = 4_294_967_295
"""The largest 32-bit AS number (RFC 6793)."""
MAX_SCOPE_ENTRIES = 256
"""Most networks one token or request names: a national CERT lists hundreds of ASes at most,
and each entry is a term of the feed query's WHERE clause."""

_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_ASN = re.compile(r"^(?:AS)?([0-9]{1,10})$", re.IGNORECASE)


class ScopeError(ValueError):
    """A network a person named is not one botmon can filter on; ``field`` says which kind
    (``asn``, ``cidr`` or ``country``) so API answers can name the parameter."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def parse_asn(text: str | int) -> int:
    """An AS number 1..4294967295 from ``64500``, ``AS64500`` or an int."""
    if isinstance(text, bool):
        raise ScopeError("asn must be a number", "asn")
    if isinstance(text, int):
        value = text
    else:
        match = _ASN.match(text.strip())
        if match is None:
            raise ScopeError(f"asn {text[:40]!r} is not an AS number (64500 or AS64500)", "asn")
        value = int(match.group(1))
    if not 1 <= value <= MAX_ASN:
        raise ScopeError(f"asn {value} is out of range 1..{MAX_ASN}", "asn")
    return value


def parse_cidr(text: str) -> str:
    """A network in normalised CIDR text (host bits refused: ``198.51.100.7/24`` is likely a
    typing mistake, and silently widening a token's networks is worse than asking)."""
    try:
        net = ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise ScopeError(f"cidr {text[:60]!r} is not a network: {exc}", "cidr") from None
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped is not None:
        mapped = net.network_address.ipv4_mapped
        net = ipaddress.ip_network(f"{mapped}/{max(0, net.prefixlen - 96)}", strict=False)
    return str(net)


def parse_country(text: str) -> str:
    """An ISO 3166-1 alpha-2 code, upper case."""
    if not _COUNTRY.match(text.strip()):
        raise ScopeError(
            f"country {text[:20]!r} is not an ISO 3166-1 alpha-2 code (DE, PL, US)", "country"
        )
    return text.strip().upper()


def parse_scope(
    asns: Iterable[str | int] = (), cidrs: Iterable[str] = (), countries: Iterable[str] = ()
) -> FeedScope:
    """A :class:`FeedScope` from what a person typed, each kind sorted and without repeats."""
    scope = FeedScope(
        asns=tuple(sorted({parse_asn(a) for a in asns})),
        cidrs=tuple(sorted({parse_cidr(c) for c in cidrs}, key=_network_key)),
        countries=tuple(sorted({parse_country(c) for c in countries})),
    )
    total = len(scope.asns) + len(scope.cidrs) + len(scope.countries)
    if total > MAX_SCOPE_ENTRIES:
        raise ScopeError(f"at most {MAX_SCOPE_ENTRIES} networks, not {total}", "scope")
    return scope


def _network_key(cidr: str) -> tuple[int, int, int]:
    net = ipaddress.ip_network(cidr)
    return (net.version, int(net.network_address), net.prefixlen)


def describe_scope(scope: FeedScope) -> str:
    """One line naming a scope's networks, for listings (``*`` for everything)."""
    parts = [f"AS{a}" for a in scope.asns] + list(scope.cidrs) + list(scope.countries)
    return ",".join(parts) or "*"


def network_range(cidr: str) -> tuple[int, int]:
    """First and last address of a normalised CIDR as botmon's 128-bit integers (IPv4 in the
    IPv4-mapped range, as :mod:`botmon.ipaddr` stores them)."""
    net = ipaddress.ip_network(cidr)
    first, last = int(net.network_address), int(net.broadcast_address)
    if net.version == 4:
        return V4_MAPPED_PREFIX | first, V4_MAPPED_PREFIX | last
    return first, last
