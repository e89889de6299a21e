"""Plausible public addresses and ASes per country, for the demo history generator.

The addresses are only data to store and display: nothing is ever sent to them (DESIGN §9).
They are drawn from the default data's IPv4 country ranges (a range table built at install
time), weighted by range size, so the default database places every one in the asked country
and enrichment then finds a real AS for most of them.
"""

from __future__ import annotations

import functools
import random
from bisect import bisect_right
from itertools import accumulate
from pathlib import Path

from botmon.enrich.defaults import ASN_TABLE_NAME, COUNTRY_TABLE_NAME, default_dir
from botmon.enrich.ranges import RangeTable, RangeTableError
from botmon.enrich.sources import GeoDataError, RangeSource
from botmon.enrich.special import is_special
from botmon.ipaddr import V4_MAPPED_PREFIX, int_to_ip

MAX_SAMPLE = 1_000_000
_TRIES_PER_ADDRESS = 20


@functools.cache
def _table(path: Path) -> RangeTable:
    try:
        return RangeTable.load(path)
    except RangeTableError as exc:
        raise GeoDataError(f"{exc} (default geo data missing? run `make install`)") from None


@functools.cache
def _asn_source(path: Path) -> RangeSource:
    return RangeSource(path)


@functools.cache
def _country_ranges(path: Path, country: str) -> tuple[list[int], list[int]]:
    """(starts, cumulative sizes) of ``country``'s IPv4 ranges."""
    starts: list[int] = []
    sizes: list[int] = []
    for first, last, value in _table(path).v4_ranges():
        if value == country:
            starts.append(first)
            sizes.append(last - first + 1)
    return starts, list(accumulate(sizes))


def countries(data_dir: Path | None = None) -> list[str]:
    """Every country the default data has IPv4 ranges for."""
    folder = data_dir or default_dir()
    return sorted({v for _, _, v in _table(folder / COUNTRY_TABLE_NAME).v4_ranges()})


def _draw(country: str, rng: random.Random, data_dir: Path) -> int | None:
    starts, cumulative = _country_ranges(data_dir / COUNTRY_TABLE_NAME, country.upper())
    if not cumulative:
        raise ValueError(f"the default data has no addresses in country {country!r}")
    offset = rng.randrange(cumulative[-1])
    i = bisect_right(cumulative, offset)
    base = cumulative[i - 1] if i else 0
    address = starts[i] + (offset - base)
    ip = V4_MAPPED_PREFIX | address
    # Skip .0 and .255 (look like network and broadcast addresses) and non-global space.
    if address & 0xFF in (0, 255) or is_special(ip):
        return None
    return ip


def sample_public_ips(
    country: str, n: int, rng: random.Random, *, data_dir: Path | None = None
) -> list[str]:
    """``n`` distinct IPv4 addresses that the default database places in ``country``.

    Fewer come back only when the country's address space is too small to find ``n``
    distinct ones in a bounded number of draws. ``ValueError`` for a country the data does not
    know or a bad ``n``; :class:`~botmon.enrich.sources.GeoDataError` when the default data is
    not installed.
    """
    if not 0 <= n <= MAX_SAMPLE:
        raise ValueError(f"n must be between 0 and {MAX_SAMPLE}")
    folder = data_dir or default_dir()
    found: dict[int, None] = {}
    for _ in range(max(n * _TRIES_PER_ADDRESS, 100)):
        if len(found) >= n:
            break
        ip = _draw(country, rng, folder)
        if ip is not None:
            found[ip] = None
    return [int_to_ip(ip) for ip in found]


def sample_ases(
    country: str, n: int, rng: random.Random, *, data_dir: Path | None = None
) -> list[tuple[int, str | None]]:
    """Up to ``n`` distinct (AS number, name) of ASes announcing addresses in ``country``.

    ASes are found through random addresses of the country, so large networks come first
    more often, as bots do. Fewer than ``n`` come back when the country has fewer ASes (or
    they are too small to be hit in a bounded number of draws).
    """
    if not 0 <= n <= 10_000:
        raise ValueError("n must be between 0 and 10000")
    folder = data_dir or default_dir()
    asn_source = _asn_source(folder / ASN_TABLE_NAME)
    out: dict[int, str | None] = {}
    for _ in range(n * 50):
        if len(out) >= n:
            break
        ip = _draw(country, rng, folder)
        info = asn_source.get(ip) if ip is not None else None
        if info is not None and info.asn is not None and info.asn not in out:
            out[info.asn] = info.as_name
    return list(out.items())
