"""Address ranges that belong to no country or AS (private, shared, documentation, multicast).

Some databases place such ranges somewhere (the default country data puts 192.168.0.0/16 in
AU), and a bot seen behind a private address says nothing about where it is. Enrichment
answers None for these ranges whatever a database says. From IANA's IPv4 and IPv6
Special-Purpose Address Registries (RFC 6890 and successors), global-unicast exceptions left
out (e.g. 192.88.99.0/24, 64:ff9b::/96 map to public space).
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_right

from botmon.ipaddr import V4_MAPPED_PREFIX

_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
_V6 = (
    "::/96",  # unspecified, loopback and the deprecated IPv4-compatible range
    "100::/64",
    "2001:db8::/32",
    "fc00::/7",
    "fe80::/10",
    "ff00::/8",
)


def _ranges() -> tuple[list[int], list[int]]:
    spans = []
    for text in _V4:
        net4 = ipaddress.IPv4Network(text)
        spans.append(
            (
                V4_MAPPED_PREFIX | int(net4.network_address),
                V4_MAPPED_PREFIX | int(net4.broadcast_address),
            )
        )
    for text in _V6:
        net6 = ipaddress.IPv6Network(text)
        spans.append((int(net6.network_address), int(net6.broadcast_address)))
    spans.sort()
    return [s for s, _ in spans], [e for _, e in spans]


_STARTS, _ENDS = _ranges()


def is_special(ip: int) -> bool:
    """True when ``ip`` (a botmon 128-bit integer) is private, reserved or otherwise not global."""
    i = bisect_right(_STARTS, ip) - 1
    return i >= 0 and ip <= _ENDS[i]
