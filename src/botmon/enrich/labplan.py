"""The lab network plan: which country and AS each test-bed 127.A.0.0/16 stands for.

Emulated bots live on 127.A.B.C (A in 1..250, never 127.0.0.x). Each 127.A.0.0/16 gets a
country and an AS so a demo's map and AS tables look like a real botnet's: 28 countries on
every inhabited continent, weighted roughly like real P2P botnet populations (many in CN, US,
IN, BR, RU), and interleaved so that even the first ten octets an emulator uses cover several
countries. ASes use the private-use range 64512-65534 (RFC 6996), so no lab AS can be mistaken
for a real network, and are named "Lab Net <city>". :mod:`botmon.enrich.lab` writes the plan
as the lab database.
"""

from __future__ import annotations

from typing import Any

import msgspec

FIRST_OCTET = 1
LAST_OCTET = 250
FIRST_LAB_ASN = 64512
"""Start of RFC 6996's 16-bit private-use AS range."""

# (country, /16 networks out of 250, cities: one lab AS each)
_COUNTRIES: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    ("CN", 32, ("Beijing", "Shanghai", "Guangzhou", "Chengdu", "Wuhan")),
    ("US", 28, ("New York", "Chicago", "Dallas", "Los Angeles")),
    ("IN", 24, ("Mumbai", "Delhi", "Bengaluru", "Chennai")),
    ("BR", 18, ("Sao Paulo", "Rio de Janeiro", "Brasilia")),
    ("RU", 13, ("Moscow", "Saint Petersburg")),
    ("VN", 11, ("Hanoi", "Ho Chi Minh City")),
    ("ID", 9, ("Jakarta", "Surabaya")),
    ("DE", 8, ("Berlin", "Frankfurt")),
    ("MX", 8, ("Mexico City", "Guadalajara")),
    ("EG", 6, ("Cairo",)),
    ("TR", 6, ("Istanbul",)),
    ("IR", 6, ("Tehran",)),
    ("GB", 6, ("London",)),
    ("FR", 6, ("Paris",)),
    ("UA", 6, ("Kyiv",)),
    ("JP", 6, ("Tokyo",)),
    ("NG", 6, ("Lagos",)),
    ("AR", 6, ("Buenos Aires",)),
    ("ZA", 6, ("Johannesburg",)),
    ("AU", 6, ("Sydney",)),
    ("KR", 5, ("Seoul",)),
    ("TH", 5, ("Bangkok",)),
    ("PL", 5, ("Warsaw",)),
    ("IT", 5, ("Rome",)),
    ("MA", 4, ("Casablanca",)),
    ("KE", 3, ("Nairobi",)),
    ("CA", 3, ("Toronto",)),
    ("ES", 3, ("Madrid",)),
)


class LabNet(msgspec.Struct, frozen=True):
    """One lab network: 127.``octet``.0.0/16 is in ``country`` and announced by ``asn``."""

    octet: int
    country: str
    asn: int
    as_name: str

    @property
    def cidr(self) -> str:
        """The network in CIDR notation."""
        return f"127.{self.octet}.0.0/16"


def _plan() -> tuple[LabNet, ...]:
    total = sum(weight for _, weight, _ in _COUNTRIES)
    if total != LAST_OCTET - FIRST_OCTET + 1:
        raise AssertionError(f"lab plan covers {total} networks, not 250")
    asns: dict[str, list[tuple[int, str]]] = {}
    next_asn = FIRST_LAB_ASN
    for cc, _, cities in _COUNTRIES:
        asns[cc] = []
        for city in cities:
            asns[cc].append((next_asn, f"Lab Net {city}"))
            next_asn += 1
    # Smooth weighted round-robin: every prefix of octets is spread like the weights.
    current = {cc: 0 for cc, _, _ in _COUNTRIES}
    used = {cc: 0 for cc, _, _ in _COUNTRIES}
    nets = []
    for octet in range(FIRST_OCTET, LAST_OCTET + 1):
        for cc, weight, _ in _COUNTRIES:
            current[cc] += weight
        cc = max(current, key=lambda c: current[c])
        current[cc] -= total
        asn, name = asns[cc][used[cc] % len(asns[cc])]
        used[cc] += 1
        nets.append(LabNet(octet, cc, asn, name))
    return tuple(nets)


LAB_PLAN: tuple[LabNet, ...] = _plan()
"""Every lab network, by octet (``LAB_PLAN[A - 1].octet == A``)."""


def lab_net(octet: int) -> LabNet | None:
    """The lab network 127.``octet``.0.0/16, or None outside 1..250."""
    if FIRST_OCTET <= octet <= LAST_OCTET:
        return LAB_PLAN[octet - FIRST_OCTET]
    return None


def octets_for_country(country: str) -> list[int]:
    """The second octets whose lab networks are in ``country`` (for emulators placing bots)."""
    return [net.octet for net in LAB_PLAN if net.country == country.upper()]


def lab_countries() -> dict[str, int]:
    """Country -> number of lab /16 networks."""
    out: dict[str, int] = {}
    for net in LAB_PLAN:
        out[net.country] = out.get(net.country, 0) + 1
    return out


def lab_record(net: LabNet) -> dict[str, Any]:
    """The database record of a lab network: MaxMind's nested country, GeoLite2-ASN's AS fields."""
    return {
        "country": {"iso_code": net.country},
        "autonomous_system_number": net.asn,
        "autonomous_system_organization": net.as_name,
    }
