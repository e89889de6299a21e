"""The data's age on an injected clock: a warning past the threshold, silence before it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
import pytest

from botmon.enrich import Enricher
from botmon.enrich.defaults import DEFAULT_DIR, GEO_DIR_ENV, MANIFEST_NAME, default_dir
from botmon.enrich.freshness import (
    STALE_DAYS_ENV,
    GeoStatus,
    geo_status,
    stale_after_days,
    stale_warning,
)
from botmon.enrich.types import DataSource
from botmon.settings import SettingsError
from botmon.settings.geo import STALE_AFTER_DAYS

from .conftest import dated_copy

DATA_DAY = dt.datetime(2026, 6, 17, tzinfo=dt.UTC)


def _manifest(folder: Path, *dates: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    sources = [
        DataSource(f"src{i}", kind, f"f{i}", "CC0", package=f"pkg{i}", version="1", data_date=d)
        for i, (kind, d) in enumerate(zip(("country", "asn"), dates, strict=False))
    ]
    (folder / MANIFEST_NAME).write_bytes(msgspec.json.encode(sources))
    return folder


def test_warning_appears_after_the_threshold_and_not_before(tmp_path: Path) -> None:
    folder = _manifest(tmp_path / "d", "2026-06-17", "2026-06-17")
    at_limit = geo_status(DATA_DAY + dt.timedelta(days=180, hours=23), directory=folder)
    assert at_limit == GeoStatus("pkg0@1 + pkg1@1", "2026-06-17", 180, False, STALE_AFTER_DAYS)
    assert stale_warning(at_limit) is None
    past = geo_status(DATA_DAY + dt.timedelta(days=181), directory=folder)
    assert (past.age_days, past.stale) == (181, True)
    line = stale_warning(past)
    assert line is not None and "\n" not in line
    assert "181 days old" in line and "2026-06-17" in line and STALE_DAYS_ENV in line


def test_the_oldest_source_dates_the_data(tmp_path: Path) -> None:
    folder = _manifest(tmp_path / "d", "2026-06-17", "2026-01-01")
    status = geo_status(DATA_DAY, directory=folder)
    assert (status.data_date, status.age_days) == ("2026-01-01", 167)


def test_a_threshold_given_or_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _manifest(tmp_path / "d", "2026-06-17", "2026-06-17")
    now = DATA_DAY + dt.timedelta(days=10)
    assert not geo_status(now, directory=folder).stale
    assert geo_status(now, directory=folder, stale_days=9).stale
    monkeypatch.setenv(STALE_DAYS_ENV, "9")
    assert stale_after_days() == 9
    assert geo_status(now, directory=folder).stale


@pytest.mark.parametrize("raw", ["0", "-3", "ten", "1.5", "99999999"])
def test_a_bad_threshold_names_the_variable(raw: str) -> None:
    with pytest.raises(SettingsError, match=STALE_DAYS_ENV):
        stale_after_days({STALE_DAYS_ENV: raw})


def test_no_data_is_stale_but_warned_about_elsewhere(tmp_path: Path) -> None:
    status = geo_status(DATA_DAY, directory=tmp_path / "empty")
    assert status == GeoStatus("none", None, None, True, STALE_AFTER_DAYS)
    assert stale_warning(status) is None


def test_a_date_in_the_future_is_age_zero(tmp_path: Path) -> None:
    folder = _manifest(tmp_path / "d", "2026-06-17", "2026-06-17")
    assert geo_status(DATA_DAY - dt.timedelta(days=5), directory=folder).age_days == 0


def test_the_data_folder_can_be_moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_dir() == DEFAULT_DIR
    moved = dated_copy(DEFAULT_DIR, tmp_path / "moved", "2020-01-01")
    monkeypatch.setenv(GEO_DIR_ENV, str(moved))
    assert default_dir() == moved
    assert geo_status(DATA_DAY).data_date == "2020-01-01"
    with Enricher.default() as enricher:
        assert {s.data_date for s in enricher.sources() if s.kind != "lab"} == {"2020-01-01"}
        assert enricher.lookup("8.8.8.8").asn == 15169
