"""Where enrichment's bundled data lives, which registry packages it comes from, and credits.

The default data is installed offline by ``scripts/assets-geo.sh`` (see
:mod:`botmon.enrich.build_default`) into ``data/default/`` and described by a manifest there;
the lab database ``data/lab.mmdb`` is committed. :func:`data_sources` is what the dashboard's
about box shows, and ``DATA.md`` says the same for people.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec

from botmon.enrich.types import DataSource

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_DIR = DATA_DIR / "default"
LAB_DB = DATA_DIR / "lab.mmdb"
COUNTRY_DB_NAME = "country.mmdb"
ASN_TABLE_NAME = "asn.ranges"
COUNTRY_TABLE_NAME = "country-v4.ranges"
MANIFEST_NAME = "SOURCES.json"
FORMAT_VERSION = 1
"""Bumped when the installed files' layout changes, so ``make install`` rebuilds them."""
GEO_DIR_ENV = "BOTMON_GEO_DIR"
"""Environment variable naming another folder of default data built by ``build_default``
(for example one a package manager installs under ``/usr/share``); unset: ``data/default``."""


class NpmPackage(msgspec.Struct, frozen=True):
    """A pinned npm package the default data is taken from."""

    name: str
    version: str
    licence: str
    attribution: str
    url: str

    @property
    def spec(self) -> str:
        """``name@version`` for ``npm install``."""
        return f"{self.name}@{self.version}"

    @property
    def data_date(self) -> str:
        """The data's date: ip-location-db versions end in YYYYMMDDHH of the data build."""
        stamp = self.version.rsplit(".", 1)[-1]
        return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}"


COUNTRY_PACKAGE = NpmPackage(
    name="@ip-location-db/geo-whois-asn-country-mmdb",
    version="2.3.2026061719",
    licence="CC0-1.0 (package); underlying RIR data CC BY 4.0 by NRO",
    attribution="Country data: ip-location-db geo-whois-asn-country (GeoFeed, RIR whois, NRO)",
    url="https://github.com/sapics/ip-location-db",
)
ASN_PACKAGE = NpmPackage(
    name="@ip-location-db/asn",
    version="2.3.2026061719",
    licence="CC BY 4.0 (RouteViews, DB-IP, NRO)",
    attribution="IP Geolocation by DB-IP; AS data by RouteViews and NRO via ip-location-db",
    url="https://db-ip.com/",
)
PACKAGES = (COUNTRY_PACKAGE, ASN_PACKAGE)

LAB_SOURCE = DataSource(
    name="botmon lab database",
    kind="lab",
    path=str(LAB_DB),
    licence="Apache-2.0 (part of botmon)",
    data_date="2026-01-01",
    attribution="Made-up countries and ASes for 127.A.0.0/16 test-bed addresses",
)


def default_dir() -> Path:
    """The installed default data's folder: ``BOTMON_GEO_DIR`` when set, else ``data/default``.

    Read at each call, so ingest worker processes (which inherit the environment) and the
    server agree on one folder.
    """
    from botmon.settings import GeoSettings, load

    override = load(GeoSettings).settings.dir
    return Path(override) if override else DEFAULT_DIR


def read_manifest(directory: Path | None = None) -> list[DataSource]:
    """The installed default data's sources; empty when ``make install`` has not run."""
    folder = directory or default_dir()
    try:
        sources = msgspec.json.decode((folder / MANIFEST_NAME).read_bytes(), type=list[DataSource])
    except (OSError, msgspec.DecodeError):
        return []
    # The manifest names files relative to its folder, so the install can move.
    return [msgspec.structs.replace(s, path=str(folder / s.path)) for s in sources]


def data_sources() -> list[DataSource]:
    """Every database the default enrichment reads, default data first, then the lab one."""
    return [*read_manifest(), LAB_SOURCE]


def iso_date(epoch: float) -> str:
    """A UTC date as ``YYYY-MM-DD``."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).date().isoformat()
