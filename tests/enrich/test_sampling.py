"""Public addresses and ASes per country for demo history (only data: never contacted)."""

from __future__ import annotations

import random

import pytest

from botmon.enrich import Enricher, sample_ases, sample_public_ips
from botmon.enrich.special import is_special
from botmon.ipaddr import ip_to_int


@pytest.mark.parametrize("country", ["US", "CN", "DE", "BR", "LU", "NG"])
def test_sampled_addresses_are_placed_in_the_country(
    default_enricher: Enricher, country: str
) -> None:
    ips = sample_public_ips(country, 50, random.Random(7))
    assert len(ips) == len(set(ips)) == 50
    for ip in ips:
        value = ip_to_int(ip)
        assert not is_special(value)
        assert default_enricher.lookup(value).country == country


def test_same_seed_same_addresses() -> None:
    assert sample_public_ips("IN", 20, random.Random(3)) == sample_public_ips(
        "IN", 20, random.Random(3)
    )
    assert sample_public_ips("in", 5, random.Random(3)) == sample_public_ips(
        "IN", 5, random.Random(3)
    )


def test_bad_requests_are_value_errors() -> None:
    with pytest.raises(ValueError, match="no addresses"):
        sample_public_ips("ZZ", 3, random.Random(1))
    with pytest.raises(ValueError):
        sample_public_ips("US", -1, random.Random(1))
    assert sample_public_ips("US", 0, random.Random(1)) == []


def test_a_tiny_country_gives_what_it_has() -> None:
    # Western Sahara has a handful of addresses: asking for many gives fewer, never a hang.
    ips = sample_public_ips("EH", 100, random.Random(2))
    assert 0 < len(ips) <= 7
    assert len(ips) == len(set(ips))


def test_sampled_ases_are_distinct_and_in_the_country(default_enricher: Enricher) -> None:
    ases = sample_ases("BR", 8, random.Random(11))
    assert len(ases) == 8
    assert len({asn for asn, _ in ases}) == 8
    assert all(asn > 0 for asn, _ in ases)
    assert sum(1 for _, name in ases if name) >= 6
