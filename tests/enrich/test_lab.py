"""The lab database: every test-bed /16 has a plausible country and a clearly-lab AS."""

from __future__ import annotations

from pathlib import Path

import maxminddb

from botmon.enrich import LAB_PLAN, Enricher, lab_net, octets_for_country
from botmon.enrich.defaults import LAB_DB
from botmon.enrich.lab import build_lab_db
from botmon.enrich.labplan import lab_countries
from botmon.enrich.timezones import timezone_for_country

CONTINENT_OF_ZONE = {
    "Africa": "Africa",
    "America": "America",
    "Asia": "Asia",
    "Europe": "Europe",
    "Australia": "Oceania",
}


def test_plan_covers_every_octet_once() -> None:
    assert [n.octet for n in LAB_PLAN] == list(range(1, 251))
    assert lab_net(0) is None
    assert lab_net(251) is None
    assert lab_net(1) == LAB_PLAN[0]


def test_ases_are_private_use_and_named_as_lab() -> None:
    for net in LAB_PLAN:
        assert 64512 <= net.asn <= 65534
        assert net.as_name.startswith("Lab Net ")
    # One AS never spans two countries.
    country_of = {}
    for net in LAB_PLAN:
        assert country_of.setdefault(net.asn, net.country) == net.country


def test_countries_on_every_inhabited_continent_weighted_like_botnets() -> None:
    counts = lab_countries()
    assert 20 <= len(counts) <= 35
    continents = {CONTINENT_OF_ZONE[timezone_for_country(cc).split("/")[0]] for cc in counts}
    assert continents == {"Africa", "America", "Asia", "Europe", "Oceania"}
    biggest = sorted(counts, key=lambda cc: -counts[cc])[:5]
    assert set(biggest) == {"CN", "US", "IN", "BR", "RU"}
    # Interleaved: the first ten octets already span several countries.
    assert len({net.country for net in LAB_PLAN[:10]}) >= 8
    assert octets_for_country("de") == [n.octet for n in LAB_PLAN if n.country == "DE"]


def test_committed_database_matches_the_plan_byte_for_byte(tmp_path: Path) -> None:
    rebuilt = build_lab_db(tmp_path / "lab.mmdb")
    assert rebuilt.read_bytes() == LAB_DB.read_bytes(), "run `python -m botmon.enrich.lab`"
    assert LAB_DB.stat().st_size < 64 * 1024


def test_database_answers_every_lab_address() -> None:
    with maxminddb.open_database(str(LAB_DB)) as reader:
        assert reader.metadata().database_type == "botmon-lab"
        for net in LAB_PLAN:
            for last in ("0.1", "128.77", "255.254"):
                record = reader.get(f"127.{net.octet}.{last}")
                assert record == {
                    "country": {"iso_code": net.country},
                    "autonomous_system_number": net.asn,
                    "autonomous_system_organization": net.as_name,
                }
        assert reader.get("127.0.0.1") is None
        assert reader.get("127.251.0.1") is None


def test_enricher_uses_the_lab_for_emulated_bots() -> None:
    enricher = Enricher.open(use_default=False)
    net = lab_net(42)
    assert net is not None
    info = enricher.lookup("127.42.7.9")
    assert (info.country, info.asn, info.as_name) == (net.country, net.asn, net.as_name)
    no_lab = Enricher.open(use_default=False, use_lab=False)
    assert no_lab.lookup("127.42.7.9").country is None
