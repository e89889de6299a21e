"""The install step, run on small package folders the test writes (no registry needed)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from botmon.enrich import Enricher, GeoInfo
from botmon.enrich.build_default import ASN_FILES, BuildError, build, is_current, main
from botmon.enrich.defaults import ASN_PACKAGE, COUNTRY_PACKAGE, read_manifest
from botmon.enrich.ranges import RangeTable
from botmon.enrich.special import is_special
from botmon.ipaddr import ip_to_int

from .conftest import write_mmdb

INSTALLED_PACKAGES = Path(__file__).resolve().parents[2] / "build" / "npm-geo" / "node_modules"
"""Where ``scripts/assets-geo.sh`` installs the pinned npm packages."""


def _packages(root: Path) -> Path:
    modules = root / "node_modules"
    country = modules / COUNTRY_PACKAGE.name
    country.mkdir(parents=True)
    write_mmdb(
        country / "geo-whois-asn-country.mmdb",
        {
            "1.1.1.0/24": {"country_code": "AU"},
            "5.5.0.0/17": {"country_code": "DE"},
            "5.5.128.0/17": {"country_code": "DE"},
            "2a00::/16": {"country_code": "IE"},
        },
    )
    asn = modules / ASN_PACKAGE.name
    asn.mkdir(parents=True)
    (asn / "asn-ipv4.csv").write_text(
        '1.1.1.0,1.1.1.255,13335,"Cloudflare, Inc."\n5.5.0.0,5.5.255.255,3320,DTAG\n'
    )
    (asn / "asn-ipv6.csv").write_text("2a00::,2a00:ffff:ffff:ffff:ffff:ffff:ffff:ffff,1,One\n")
    return modules


def test_build_writes_every_file_and_a_manifest(tmp_path: Path) -> None:
    out = tmp_path / "default"
    assert not is_current(out)
    build(_packages(tmp_path), out, log=False)
    assert is_current(out)
    manifest = {s.kind: s for s in read_manifest(out)}
    assert manifest["country"].version == COUNTRY_PACKAGE.version
    assert manifest["asn"].data_date == ASN_PACKAGE.data_date
    assert Path(manifest["asn"].path) == out / "asn.ranges"
    # Adjacent networks of one country are merged for sampling.
    ranges = list(RangeTable.load(out / "country-v4.ranges").v4_ranges())
    assert (
        ip_to_int("5.5.0.0") & 0xFFFFFFFF,
        ip_to_int("5.5.255.255") & 0xFFFFFFFF,
        "DE",
    ) in ranges
    enricher = Enricher.open(use_default=True, default_dir=out)
    assert enricher.lookup("1.1.1.1") == GeoInfo("AU", 13335, "Cloudflare, Inc.")
    assert enricher.lookup("2a00::1") == GeoInfo("IE", 1, "One")
    assert enricher.lookup("5.5.9.9") == GeoInfo("DE", 3320, "DTAG")


def test_missing_package_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(BuildError, match="not installed"):
        build(tmp_path / "node_modules", tmp_path / "out", log=False)
    assert main(["--npm", str(tmp_path / "node_modules"), "--out", str(tmp_path / "o")]) == 1
    assert "not installed" in capsys.readouterr().err


def test_command_line_specs_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--specs"]) == 0
    assert capsys.readouterr().out.split() == [COUNTRY_PACKAGE.spec, ASN_PACKAGE.spec]
    assert main(["--check", "--out", str(tmp_path)]) == 1


def test_enricher_without_default_data_still_serves_the_lab(tmp_path: Path) -> None:
    enricher = Enricher.open(default_dir=tmp_path / "empty")
    assert [s.kind for s in enricher.sources()] == ["lab"]
    assert enricher.lookup("127.1.1.1").country == "CN"
    assert enricher.lookup("1.1.1.1").country is None


def test_build_from_the_real_packages_files(tmp_path: Path) -> None:
    """The packages as npm installed them (country database whole, the first rows of each AS
    file): the build reads their real layout, and every AS row comes back by lookup."""
    real = INSTALLED_PACKAGES
    if not (real / ASN_PACKAGE.name / ASN_FILES[0]).is_file():
        pytest.fail(f"npm packages missing under {real}: run `make install`")
    modules = tmp_path / "node_modules"
    (modules / COUNTRY_PACKAGE.name).parent.mkdir(parents=True)
    (modules / COUNTRY_PACKAGE.name).symlink_to(real / COUNTRY_PACKAGE.name)
    asn = modules / ASN_PACKAGE.name
    asn.mkdir()
    rows: list[list[str]] = []
    for name in ASN_FILES:
        with (real / ASN_PACKAGE.name / name).open() as f:
            head = [next(f) for _ in range(300)]
        (asn / name).write_text("".join(head))
        rows.extend(next(csv.reader([line])) for line in head[::37])
    out = tmp_path / "default"
    build(modules, out, log=False)
    assert is_current(out)
    assert {s.kind: s.package for s in read_manifest(out)} == {
        "country": COUNTRY_PACKAGE.name,
        "asn": ASN_PACKAGE.name,
    }
    checked = 0
    with Enricher.open(default_dir=out, use_lab=False) as enricher:
        for first, last, number, name in rows:
            for ip in (first, last):
                info = enricher.lookup(ip)
                if info.asn is not None or not is_special(ip_to_int(ip)):
                    assert (info.asn, info.as_name) == (int(number), name.strip() or None)
                    checked += 1
        assert enricher.lookup("1.1.1.1").country == "AU"
    assert checked >= 10
