"""Databases the enrichment tests write themselves with mmdb-writer, in each record layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mmdb_writer import MmdbU32, MMDBWriter
from netaddr import IPSet

from botmon.enrich import Enricher

WriteDb = Callable[..., Path]


def write_mmdb(
    path: Path, networks: dict[str, dict[str, Any]], *, ip_version: int = 6, db_type: str = "Test"
) -> Path:
    """Write ``{cidr: record}`` as an ``.mmdb`` (IPv4 inside an IPv6 tree when ``ip_version`` 6)."""
    writer = MMDBWriter(
        ip_version=ip_version, ipv4_compatible=ip_version == 6, database_type=db_type
    )
    for cidr, record in networks.items():
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path


@pytest.fixture
def write_db(tmp_path: Path) -> WriteDb:
    """Write a test database into the test's folder and return its path."""

    def write(name: str, networks: dict[str, dict[str, Any]], **kw: Any) -> Path:
        return write_mmdb(tmp_path / name, networks, **kw)

    return write


@pytest.fixture
def maxmind_country_db(write_db: WriteDb) -> Path:
    """A GeoLite2-Country-like database: nested ``country.iso_code``."""
    return write_db(
        "GeoLite2-Country.mmdb",
        {
            "1.1.1.0/24": {"country": {"iso_code": "AU", "names": {"en": "Australia"}}},
            "8.8.8.0/24": {"country": {"iso_code": "US"}, "registered_country": {"iso_code": "US"}},
            # Anycast: no country, only the registered one.
            "9.9.9.0/24": {"registered_country": {"iso_code": "CH"}},
            "2a00:1450::/32": {"country": {"iso_code": "IE"}},
            # A user's database that (wrongly) claims loopback: the lab must still win.
            "127.0.0.0/8": {"country": {"iso_code": "AQ"}},
        },
        db_type="GeoLite2-Country",
    )


@pytest.fixture
def maxmind_asn_db(write_db: WriteDb) -> Path:
    """A GeoLite2-ASN-like database: flat AS fields, numbers as uint32."""
    return write_db(
        "GeoLite2-ASN.mmdb",
        {
            "1.1.1.0/24": {
                "autonomous_system_number": MmdbU32(13335),
                "autonomous_system_organization": "CLOUDFLARENET",
            },
            "2a00:1450::/32": {
                "autonomous_system_number": MmdbU32(15169),
                "autonomous_system_organization": "GOOGLE",
            },
        },
        db_type="GeoLite2-ASN",
    )


@pytest.fixture
def flat_db(write_db: WriteDb) -> Path:
    """A DB-IP / ip-location-db style database with flat country and AS fields, IPv4 only."""
    return write_db(
        "flat.mmdb",
        {
            "5.5.0.0/16": {
                "country_code": "de",
                "autonomous_system_number": 3320,
                "autonomous_system_organization": "Deutsche Telekom AG",
            },
            "6.6.6.0/24": {"country_code": "FR"},
        },
        ip_version=4,
    )


@pytest.fixture(scope="session")
def default_enricher() -> Enricher:
    """The default data plus the lab database, as a fresh install has them."""
    enricher = Enricher.default()
    kinds = {s.kind for s in enricher.sources()}
    if not {"country", "asn"} <= kinds:
        pytest.fail("default geo data is missing: run `make install` (scripts/assets-geo.sh)")
    return enricher


def dated_copy(source: Path, dest: Path, data_date: str) -> Path:
    """A folder of default data like ``source`` whose manifest gives every source ``data_date``.

    The large files are symbolic links, so a test can age the installed data in a few
    milliseconds without touching the real install.
    """
    import msgspec

    from botmon.enrich.defaults import MANIFEST_NAME

    dest.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.name != MANIFEST_NAME:
            (dest / item.name).symlink_to(item.resolve())
    manifest = msgspec.json.decode((source / MANIFEST_NAME).read_bytes())
    for entry in manifest:
        entry["data_date"] = data_date
    (dest / MANIFEST_NAME).write_bytes(msgspec.json.encode(manifest))
    return dest
