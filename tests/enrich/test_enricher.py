"""The enricher: layered sources, the lab for loopback, the cache, and batch enrichment."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from botmon.enrich import UNKNOWN, Enricher, GeoDataError, GeoInfo, lab_net
from botmon.ipaddr import ip_to_int
from botmon.validation import validate_batch


@pytest.fixture
def user_enricher(maxmind_country_db: Path, maxmind_asn_db: Path) -> Enricher:
    return Enricher.open(country_db=maxmind_country_db, asn_db=maxmind_asn_db, use_default=False)


def test_country_and_as_come_from_the_users_files(user_enricher: Enricher) -> None:
    assert user_enricher.lookup("1.1.1.1") == GeoInfo("AU", 13335, "CLOUDFLARENET")
    assert user_enricher.lookup(ip_to_int("2a00:1450::1")) == GeoInfo("IE", 15169, "GOOGLE")
    assert user_enricher.lookup("9.9.9.9") == GeoInfo("CH", None, None)
    assert user_enricher.lookup("4.4.4.4") is UNKNOWN


def test_one_file_can_serve_country_and_as(flat_db: Path) -> None:
    enricher = Enricher.open(country_db=flat_db, asn_db=flat_db, use_default=False)
    assert enricher.lookup("5.5.5.5") == GeoInfo("DE", 3320, "Deutsche Telekom AG")
    assert enricher.lookup("6.6.6.6") == GeoInfo("FR", None, None)
    # Opened once, described once per role it plays.
    assert [s.kind for s in enricher.sources()] == ["country", "lab"]
    enricher.close()


def test_the_lab_answers_for_loopback_even_when_a_user_file_claims_it(
    user_enricher: Enricher,
) -> None:
    assert user_enricher.lookup("127.1.0.1") == GeoInfo("CN", 64512, "Lab Net Beijing")
    # 127.0.0.x is never a bot address and not in the lab: unknown, not the user's "AQ".
    assert user_enricher.lookup("127.0.0.1") is UNKNOWN
    assert user_enricher.lookup("::1") is UNKNOWN


@pytest.mark.parametrize(
    "ip",
    [
        "10.1.2.3",
        "192.168.1.1",
        "172.16.0.1",
        "100.64.0.1",
        "169.254.1.1",
        "fe80::1",
        "fd00::1",
        "224.0.0.1",
        "255.255.255.255",
        "0.0.0.0",
        "2001:db8::1",
    ],
)
def test_private_and_reserved_addresses_are_unknown(default_enricher: Enricher, ip: str) -> None:
    assert default_enricher.lookup(ip) is UNKNOWN
    assert default_enricher.lookup(ip_to_int(ip)) is UNKNOWN


@pytest.mark.parametrize("bad", ["", "1.2.3", "not an ip", "1.2.3.4.5", -1, 1 << 128, 1.5, None])
def test_values_that_are_not_addresses_raise_value_error(
    user_enricher: Enricher, bad: object
) -> None:
    with pytest.raises(ValueError):
        user_enricher.lookup(bad)  # type: ignore[arg-type]


def test_user_file_falls_back_to_default_data_per_field(
    default_enricher: Enricher, maxmind_country_db: Path
) -> None:
    enricher = default_enricher
    layered = Enricher.open(country_db=maxmind_country_db)
    # Country from the user's file (the default data says AU as well; 9.9.9.9 shows it).
    assert layered.lookup("9.9.9.9").country == "CH"
    # AS from the default data, since the user gave no AS file.
    assert layered.lookup("1.1.1.1").asn == 13335
    # Country missing from the user's file: the default data fills it.
    assert layered.lookup("200.1.1.1").country == enricher.lookup("200.1.1.1").country is not None


def test_missing_user_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GeoDataError, match=r"missing\.mmdb"):
        Enricher.open(country_db=tmp_path / "missing.mmdb")


def test_cache_counts_hits_and_misses_and_stays_bounded() -> None:
    small = Enricher.open(use_default=False, cache_size=4)
    ips = [ip_to_int(f"127.{a}.0.1") for a in range(1, 9)]
    first = small.lookup_many(ips)
    assert small.cache_info().misses == 8
    assert small.cache_info().currsize <= 4
    # The most recent addresses are still there.
    again = small.lookup_many(ips[-2:])
    assert small.cache_info().hits == 2
    assert again == first[-2:]
    small.lookup(ips[0])  # long evicted: a miss again
    assert small.cache_info().misses == 9
    small.clear_cache()
    assert small.cache_info().currsize == 0


def test_repeated_addresses_in_one_batch_are_computed_once() -> None:
    enricher = Enricher.open(use_default=False)
    ips = [ip_to_int("127.5.0.1"), ip_to_int("127.6.0.1")] * 500
    infos = enricher.lookup_many(ips)
    assert enricher.cache_info().misses == 2
    assert enricher.cache_info().hits == 998
    assert [i.country for i in infos[:2]] == [lab_net(5).country, lab_net(6).country]  # type: ignore[union-attr]


def test_no_cache_still_answers() -> None:
    enricher = Enricher.open(use_default=False, cache_size=0)
    assert enricher.lookup("127.5.0.1") == enricher.lookup("127.5.0.1")
    assert enricher.cache_info().currsize == 0
    with pytest.raises(ValueError):
        Enricher.open(use_default=False, cache_size=-1)


def test_unhashable_values_are_value_errors() -> None:
    enricher = Enricher.open(use_default=False)
    with pytest.raises(ValueError):
        enricher.lookup([1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        enricher.lookup_many([[1, 2]])  # type: ignore[list-item]


def test_equal_answers_are_shared_objects(user_enricher: Enricher) -> None:
    a, b = user_enricher.lookup_many(["1.1.1.1", "1.1.1.2"])
    assert a == b
    assert a is b


def _batch_body(ips: list[str]) -> bytes:
    now = time.time() - 10
    return json.dumps(
        {
            "botnet": "hns",
            "batch_id": "b1",
            "replies": [{"timestamp": now, "ip": ip, "port": 1000 + i} for i, ip in enumerate(ips)],
        }
    ).encode()


def test_enrich_batch_fills_columns_aligned_with_replies(user_enricher: Enricher) -> None:
    ips = ["1.1.1.1", "127.1.0.9", "10.0.0.1", "2a00:1450::7", "127.2.3.4", "1.1.1.1", "9.9.9.9"]
    batch = validate_batch(_batch_body(ips))
    batch.as_names[1] = "kept"
    user_enricher.enrich_batch(batch)
    assert batch.replies.country == ["AU", "CN", None, "IE", "US", "AU", "CH"]
    assert batch.replies.asn == [13335, 64512, None, 15169, 64517, 13335, None]
    assert batch.as_names == {
        1: "kept",
        13335: "CLOUDFLARENET",
        64512: "Lab Net Beijing",
        15169: "GOOGLE",
        64517: "Lab Net New York",
    }


def test_enrich_empty_batch(user_enricher: Enricher) -> None:
    batch = validate_batch(_batch_body([]))
    user_enricher.enrich_batch(batch)
    assert batch.replies.country == []
    assert batch.replies.asn == []
    assert batch.as_names == {}


def test_worker_threads_get_the_same_answers(default_enricher: Enricher) -> None:
    """The server enriches batches from several worker threads at once."""
    from concurrent.futures import ThreadPoolExecutor

    ips = ["1.1.1.1", "8.8.8.8", "127.9.0.1", "10.0.0.1", "2001:4860:4860::8888"] * 400
    expected = [default_enricher.lookup(ip) for ip in ips]
    fresh = Enricher.default(cache_size=64)  # small: generations turn over while threads run

    def enrich(_: int) -> tuple[list[str | None], list[int | None]]:
        batch = validate_batch(_batch_body(ips))
        fresh.enrich_batch(batch)
        assert batch.replies.country is not None and batch.replies.asn is not None
        return batch.replies.country, batch.replies.asn

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(enrich, range(16)))
    for countries, asns in results:
        assert countries == [g.country for g in expected]
        assert asns == [g.asn for g in expected]


def test_server_entry_points(default_enricher: Enricher) -> None:
    """``enrich`` and ``default_enricher`` are the names botmon.server uses."""
    from botmon.enrich import default_enricher as factory

    made = factory()
    assert {s.kind for s in made.sources()} == {"country", "asn", "lab"}
    batch = validate_batch(_batch_body(["8.8.8.8"]))
    made.enrich(batch)
    assert (batch.replies.country, batch.replies.asn) == (["US"], [15169])
    assert batch.as_names == {15169: "Google LLC"}
