"""The default data a fresh install gets: present, credited, answering known lookups.

Its age is not tested against the wall clock (that failed the suite once the pinned data
turned one year old with no code change): ``test_freshness.py`` checks the staleness
warning on an injected clock instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from botmon.enrich import Enricher, data_sources
from botmon.enrich.build_default import is_current
from botmon.enrich.defaults import ASN_PACKAGE, COUNTRY_PACKAGE, DEFAULT_DIR, LAB_DB

ROOT = Path(__file__).resolve().parents[2]


def test_default_data_is_installed_and_current() -> None:
    assert is_current(DEFAULT_DIR), "default geo data missing or stale: run `make install`"


def test_known_public_addresses(default_enricher: Enricher) -> None:
    cloudflare = default_enricher.lookup("1.1.1.1")
    assert cloudflare.asn == 13335
    assert cloudflare.as_name and "cloudflare" in cloudflare.as_name.lower()
    google = default_enricher.lookup("8.8.8.8")
    assert (google.country, google.asn) == ("US", 15169)
    v6 = default_enricher.lookup("2001:4860:4860::8888")
    assert v6.asn == 15169
    assert v6.country is not None
    assert default_enricher.lookup("::ffff:8.8.8.8") == google


@pytest.mark.parametrize(
    ("ip", "country", "asn", "name_part"),
    [
        ("9.9.9.9", None, 19281, "quad9"),
        ("208.67.222.222", "US", 36692, "opendns"),
        ("193.0.6.139", "NL", 3333, "ripe"),
        ("77.88.8.8", "RU", 13238, "yandex"),
        ("200.160.0.8", "BR", 22548, "nic.br"),
        ("2606:4700:4700::1111", None, 13335, "cloudflare"),
        ("2001:67c:2e8:22::c100:68b", "NL", 3333, "ripe"),
    ],
)
def test_well_known_public_services(
    default_enricher: Enricher, ip: str, country: str | None, asn: int, name_part: str
) -> None:
    """Networks that have kept their AS and country for years; looked up locally (no packet
    leaves). ``None``: anycast addresses, whose country the sources legitimately disagree on."""
    info = default_enricher.lookup(ip)
    assert info.asn == asn
    assert info.as_name is not None and name_part in info.as_name.lower()
    assert info.country is not None
    if country is not None:
        assert info.country == country


def test_data_sources_name_package_version_date_and_licence() -> None:
    sources = data_sources()
    by_kind = {s.kind: s for s in sources}
    assert set(by_kind) == {"country", "asn", "lab"}
    for pkg, kind in ((COUNTRY_PACKAGE, "country"), (ASN_PACKAGE, "asn")):
        src = by_kind[kind]
        assert (src.package, src.version) == (pkg.name, pkg.version)
        assert src.licence and src.data_date and src.attribution
        assert Path(src.path).is_file()
    assert "DB-IP" in (by_kind["asn"].attribution or "")
    assert by_kind["lab"].path == str(LAB_DB)


def test_data_md_states_each_source() -> None:
    text = (ROOT / "src/botmon/enrich/DATA.md").read_text()
    for pkg in (COUNTRY_PACKAGE, ASN_PACKAGE):
        assert pkg.name in text
        assert pkg.version in text
        assert pkg.data_date in text
    assert "CC BY 4.0" in text
    assert "CC0" in text


@pytest.mark.timeout(60)
def test_install_script_is_idempotent_and_fast_when_done() -> None:
    started = time.perf_counter()
    done = subprocess.run(
        ["bash", "scripts/assets-geo.sh"],
        cwd=ROOT,
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # nothing installed: it was current
    assert time.perf_counter() - started < 5
