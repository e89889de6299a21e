"""The default data a fresh install gets: present, recent, credited, answering known lookups."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import maxminddb
import pytest

from botmon.enrich import Enricher, data_sources
from botmon.enrich.build_default import is_current
from botmon.enrich.defaults import (
    ASN_PACKAGE,
    COUNTRY_DB_NAME,
    COUNTRY_PACKAGE,
    DEFAULT_DIR,
    LAB_DB,
)

ROOT = Path(__file__).resolve().parents[2]
YEAR_S = 365 * 86400


def test_default_data_is_installed_and_current() -> None:
    assert is_current(DEFAULT_DIR), "default geo data missing or stale: run `make install`"


def test_country_data_is_less_than_a_year_old() -> None:
    with maxminddb.open_database(str(DEFAULT_DIR / COUNTRY_DB_NAME)) as reader:
        built = reader.metadata().build_epoch
    assert time.time() - YEAR_S < built <= time.time()


def test_as_data_is_less_than_a_year_old() -> None:
    # The AS data is CSV: its date is the one in the package version (YYYYMMDDHH).
    data_day = time.mktime(time.strptime(ASN_PACKAGE.data_date, "%Y-%m-%d"))
    assert time.time() - YEAR_S < data_day <= time.time()


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
