"""How old the installed default geolocation data is, and when that deserves a warning.

Registry packages of geolocation data are pinned and installed at ``make install``; they age
from then on. Age is a warning, never an error: old data still places most addresses right
(networks move slowly), and a monitor must not stop ingesting because a calendar moved. The
date comes from the build manifest (``SOURCES.json``), so the answer costs one small file
read and follows a re-install without a restart. ``botmon serve`` warns at start,
``/healthz`` and ``/metrics`` report it, and ``botmon doctor`` checks it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path

import msgspec

from botmon.enrich.defaults import read_manifest
from botmon.settings import GeoSettings, load

STALE_DAYS_ENV = "BOTMON_GEO_STALE_DAYS"
"""The variable of setting ``geo.stale_days`` (:class:`botmon.settings.GeoSettings`)."""


class GeoStatus(msgspec.Struct, frozen=True):
    """The installed default data's age, as the health table, ``/healthz`` and doctor show it.

    ``source`` names the packages (``name@version``) or ``"none"`` when nothing is installed;
    ``data_date`` is the oldest data date among them (ISO, UTC), ``age_days`` whole days from
    it to now; ``stale`` is true past ``stale_after_days`` and also when nothing is installed
    (no data is never current).
    """

    source: str
    data_date: str | None
    age_days: int | None
    stale: bool
    stale_after_days: int


def stale_after_days(environ: Mapping[str, str] | None = None) -> int:
    """The staleness threshold in effect (setting ``geo.stale_days``).

    Raises :class:`~botmon.settings.SettingsError` naming the setting for a bad value.
    """
    return load(GeoSettings, env=environ).settings.stale_days


def _parse_date(text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


def geo_status(
    now: dt.datetime | None = None,
    *,
    directory: Path | None = None,
    stale_days: int | None = None,
) -> GeoStatus:
    """The default data's source, date and age at ``now`` (default: the current UTC time).

    ``directory`` defaults to the installed data (:func:`~botmon.enrich.defaults.default_dir`);
    ``stale_days`` to :func:`stale_after_days`. A data date in the future counts as age 0.
    """
    threshold = stale_after_days() if stale_days is None else stale_days
    sources = [s for s in read_manifest(directory) if s.kind != "lab"]
    dates = [d for d in (_parse_date(s.data_date) for s in sources) if d is not None]
    if not sources or not dates:
        return GeoStatus("none", None, None, True, threshold)
    names = " + ".join(
        f"{s.package}@{s.version}" if s.package and s.version else s.name for s in sources
    )
    oldest = min(dates)
    today = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()
    age = max(0, (today - oldest).days)
    return GeoStatus(names, oldest.isoformat(), age, age > threshold, threshold)


def stale_warning(status: GeoStatus) -> str | None:
    """One line telling the user the data is stale and what to do; None when it is current.

    Missing data has its own warning where enrichment is opened, so it gives None here.
    """
    if not status.stale or status.age_days is None:
        return None
    return (
        f"botmon: warning: geolocation data is {status.age_days} days old "
        f"(data date {status.data_date}, stale after {status.stale_after_days} days, "
        f"{STALE_DAYS_ENV}): install newer data (src/botmon/enrich/DATA.md) or point botmon "
        "at your own current databases"
    )
