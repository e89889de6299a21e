"""Install step: turn the pinned npm packages' data into botmon's default enrichment files.

Run by ``scripts/assets-geo.sh`` after ``npm install`` of :data:`~botmon.enrich.defaults.PACKAGES`::

    python -m botmon.enrich.build_default --specs            # what to npm-install
    python -m botmon.enrich.build_default --check --out DIR  # exit 0 when DIR is current
    python -m botmon.enrich.build_default --npm NODE_MODULES --out DIR

It copies the country ``.mmdb``, converts the AS CSV ranges to a range table (about 2 s
instead of about a minute through mmdb-writer), and writes a table of the IPv4 country
ranges for address sampling. The manifest and stamp are written last, so an interrupted run
is redone by the next ``make install``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import maxminddb
import msgspec

from botmon.enrich.defaults import (
    ASN_PACKAGE,
    ASN_TABLE_NAME,
    COUNTRY_DB_NAME,
    COUNTRY_PACKAGE,
    COUNTRY_TABLE_NAME,
    DEFAULT_DIR,
    FORMAT_VERSION,
    MANIFEST_NAME,
    PACKAGES,
    iso_date,
)
from botmon.enrich.ranges import RangeTable, RangeTableError, read_csv_ranges
from botmon.enrich.sources import geo_from_record
from botmon.enrich.types import DataSource
from botmon.ipaddr import V4_MAPPED_PREFIX

STAMP_NAME = "INSTALLED"
COUNTRY_FILE = "geo-whois-asn-country.mmdb"
COUNTRY_V4_FILE = "geo-whois-asn-country-ipv4.mmdb"
ASN_FILES = ("asn-ipv4.csv", "asn-ipv6.csv")


class BuildError(Exception):
    """The packages' data is missing or unusable: one clear line for the installer."""


def stamp_text() -> str:
    """What the stamp file holds when the installed data matches this botmon."""
    return " ".join([f"format={FORMAT_VERSION}", *(p.spec for p in PACKAGES)]) + "\n"


def is_current(out: Path) -> bool:
    """True when ``out`` holds every file of the pinned packages' data, built by this format."""
    try:
        stamp = (out / STAMP_NAME).read_text()
    except OSError:
        return False
    files = (COUNTRY_DB_NAME, ASN_TABLE_NAME, COUNTRY_TABLE_NAME, MANIFEST_NAME)
    return stamp == stamp_text() and all((out / f).is_file() for f in files)


def _package_dir(node_modules: Path, name: str) -> Path:
    path = node_modules / name
    if not path.is_dir():
        raise BuildError(f"npm package {name} is not installed under {node_modules}")
    return path


def _country_v4_rows(path: Path) -> Iterator[tuple[int, int, str]]:
    """IPv4 country ranges of an ``.mmdb``, adjacent networks of one country merged."""
    try:
        reader = maxminddb.open_database(str(path))
    except (OSError, ValueError, RuntimeError) as exc:
        raise BuildError(f"cannot read {path}: {exc}") from None
    start = end = -2
    current: str | None = None
    with reader:
        for network, record in reader:
            geo = geo_from_record(record)
            if network.version != 4 or geo is None or geo.country is None:
                continue
            first = int(network.network_address)
            last = first + network.num_addresses - 1
            if geo.country == current and first == end + 1:
                end = last
                continue
            if current is not None:
                yield V4_MAPPED_PREFIX | start, V4_MAPPED_PREFIX | end, current
            start, end, current = first, last, geo.country
    if current is not None:
        yield V4_MAPPED_PREFIX | start, V4_MAPPED_PREFIX | end, current


def build(node_modules: Path, out: Path, log: bool = True) -> list[DataSource]:
    """Build every default data file into ``out`` from the installed npm packages."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    (out / STAMP_NAME).unlink(missing_ok=True)

    country_dir = _package_dir(node_modules, COUNTRY_PACKAGE.name)
    country_src = country_dir / COUNTRY_FILE
    try:
        with maxminddb.open_database(str(country_src)) as reader:
            meta = reader.metadata()
            build_epoch = int(meta.build_epoch)
            if reader.get("1.1.1.1") is None:
                raise BuildError(f"{country_src} has no answer for 1.1.1.1")
    except (OSError, ValueError, RuntimeError) as exc:
        raise BuildError(f"cannot read {country_src}: {exc}") from None
    tmp = out / (COUNTRY_DB_NAME + ".tmp")
    shutil.copyfile(country_src, tmp)
    tmp.replace(out / COUNTRY_DB_NAME)

    asn_dir = _package_dir(node_modules, ASN_PACKAGE.name)
    rows: list[tuple[int, int, list[Any]]] = []
    try:
        for name in ASN_FILES:
            rows.extend(read_csv_ranges(asn_dir / name))
        asn_table, dropped = RangeTable.build(
            rows, {"package": ASN_PACKAGE.spec, "data_date": ASN_PACKAGE.data_date}
        )
    except RangeTableError as exc:
        raise BuildError(str(exc)) from None
    asn_table.save(out / ASN_TABLE_NAME)

    v4_source = country_dir / COUNTRY_V4_FILE
    country_table, _ = RangeTable.build(
        _country_v4_rows(v4_source if v4_source.is_file() else country_src),
        {"package": COUNTRY_PACKAGE.spec, "data_date": iso_date(build_epoch)},
    )
    country_table.save(out / COUNTRY_TABLE_NAME)

    sources = [
        DataSource(
            name="ip-location-db geo-whois-asn-country",
            kind="country",
            path=COUNTRY_DB_NAME,
            licence=COUNTRY_PACKAGE.licence,
            package=COUNTRY_PACKAGE.name,
            version=COUNTRY_PACKAGE.version,
            data_date=iso_date(build_epoch),
            attribution=COUNTRY_PACKAGE.attribution,
            url=COUNTRY_PACKAGE.url,
        ),
        DataSource(
            name="ip-location-db asn (RouteViews + RIR + DB-IP ASN Lite)",
            kind="asn",
            path=ASN_TABLE_NAME,
            licence=ASN_PACKAGE.licence,
            package=ASN_PACKAGE.name,
            version=ASN_PACKAGE.version,
            data_date=ASN_PACKAGE.data_date,
            attribution=ASN_PACKAGE.attribution,
            url=ASN_PACKAGE.url,
        ),
    ]
    (out / MANIFEST_NAME).write_bytes(msgspec.json.format(msgspec.json.encode(sources)))
    (out / STAMP_NAME).write_text(stamp_text())
    if log:
        print(
            f"botmon: geo data ready in {out} ({len(asn_table)} AS ranges, {dropped} overlaps "
            f"dropped, {len(country_table)} IPv4 country ranges, "
            f"{time.perf_counter() - started:.1f} s)"
        )
    return sources


def main(argv: list[str] | None = None) -> int:
    """Command-line entry used by ``scripts/assets-geo.sh``."""
    parser = argparse.ArgumentParser(prog="python -m botmon.enrich.build_default")
    parser.add_argument("--specs", action="store_true", help="print the npm packages to install")
    parser.add_argument("--check", action="store_true", help="exit 0 when --out is current")
    parser.add_argument("--npm", type=Path, help="the node_modules folder holding the packages")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    if args.specs:
        print("\n".join(p.spec for p in PACKAGES))
        return 0
    if args.check:
        return 0 if is_current(args.out) else 1
    if args.npm is None:
        parser.error("--npm is required to build")
    try:
        build(args.npm, args.out)
    except BuildError as exc:
        print(f"botmon: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
