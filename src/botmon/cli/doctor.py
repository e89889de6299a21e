"""``botmon doctor``: check that this installation has what ``botmon serve`` needs.

Each check answers ``ok``, ``warn`` or ``fail`` with one line of reason, so a user (or a
deployment script) sees at a glance what ``make install`` left out and what to do. Warnings
are things botmon runs without (stale or missing geolocation data, a database not created
yet): the exit status is 1 only when a check fails. Nothing is created or changed: a DuckDB
file that does not exist is reported, not made, and the schema is read, never migrated.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Literal

import click
import msgspec

from botmon.cli.admin import Command
from botmon.settings import DEFAULT_DB

Level = Literal["ok", "warn", "fail"]

DASHBOARD_ASSETS = ("echarts.min.js", "world.geo.json", "countries.json")
"""Files the dashboard page loads from ``static/vendor/`` (``scripts/assets-dashboard.sh``)."""

_PROBE_IP = "1.1.1.1"
"""A public address every complete default data set places (AU, AS13335); looked up locally."""


class Check(msgspec.Struct, frozen=True):
    """The outcome of one check: what was checked, how it went, and why, in one line."""

    name: str
    level: Level
    reason: str


def check_geo(now: dt.datetime | None = None, directory: Path | None = None) -> Check:
    """The default geolocation data: present, readable, built for these pins, and its age."""
    from botmon.enrich.build_default import is_current
    from botmon.enrich.defaults import default_dir
    from botmon.enrich.enricher import Enricher
    from botmon.enrich.freshness import geo_status
    from botmon.enrich.sources import GeoDataError
    from botmon.settings import SettingsError

    name = "geo data"
    try:
        folder = directory or default_dir()
        status = geo_status(now, directory=folder)
    except SettingsError as exc:
        return Check(name, "fail", str(exc))
    if status.age_days is None:
        return Check(
            name,
            "warn",
            f"not installed in {folder}: only the lab database answers "
            "(run `make install`, which needs npm)",
        )
    try:
        with Enricher.open(use_lab=False, default_dir=folder, cache_size=0) as enricher:
            probe = enricher.lookup(_PROBE_IP)
    except (GeoDataError, OSError) as exc:
        return Check(name, "fail", f"cannot read {folder}: {exc} (run `make install`)")
    if probe.country is None or probe.asn is None:
        return Check(name, "fail", f"{folder} has no country or AS for {_PROBE_IP}: rebuild it")
    age = (
        f"data date {status.data_date}, {status.age_days} days old "
        f"(stale after {status.stale_after_days})"
    )
    if status.stale:
        return Check(name, "warn", f"stale: {age}; install newer data (enrich/DATA.md)")
    if not is_current(folder):
        return Check(name, "warn", f"{age}, but built for other package versions: make install")
    return Check(name, "ok", f"{age}; {status.source}")


def check_dashboard_assets(vendor: Path | None = None) -> Check:
    """The dashboard's vendored scripts and map, without which the charts stay empty."""
    from botmon.dashboard.web import STATIC_DIR

    folder = vendor or STATIC_DIR / "vendor"
    missing = [f for f in DASHBOARD_ASSETS if not _non_empty(folder / f)]
    if missing:
        return Check(
            "dashboard assets",
            "fail",
            f"missing in {folder}: {', '.join(missing)} (run `make install`, which needs npm)",
        )
    return Check("dashboard assets", "ok", f"{len(DASHBOARD_ASSETS)} files in {folder}")


def _non_empty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0
    except OSError:
        return False


def check_database(db: str, *, explicit: bool) -> Check:
    """Whether ``db`` opens and which schema version it holds, against this botmon's newest.

    ``explicit``: the user named ``db`` (option or ``BOTMON_DB``), so a missing DuckDB file is
    a failure (likely a typo) rather than a database ``botmon serve`` has not created yet.
    """
    from botmon.settings import duckdb_path, one_line, redact, server_file_for
    from botmon.store import is_locked_duckdb_error, open_store
    from botmon.store.common import migrations

    name = "database"
    shown = redact(db)
    path = duckdb_path(db)
    if path is not None and not Path(path).exists():
        if explicit:
            return Check(name, "fail", f"no DuckDB file at {path}")
        return Check(name, "warn", f"{path} does not exist yet (`botmon serve` creates it)")
    try:
        store = open_store(db, pool_size=1)
    except Exception as exc:
        if is_locked_duckdb_error(exc):
            return _locked(db, server_file_for(db))
        return Check(name, "fail", f"cannot open {shown}: {one_line(exc)}")
    try:
        version = store.schema_version()
        backend = store.backend
    except Exception as exc:
        return Check(name, "fail", f"cannot read the schema of {shown}: {one_line(exc)}")
    finally:
        store.close()
    newest = migrations(backend)[-1][0]
    where = f"{backend} {shown}, schema version {version}"
    if version > newest:
        return Check(name, "fail", f"{where}, newer than this botmon ({newest}): upgrade botmon")
    if version == 0:
        return Check(name, "warn", f"{backend} {shown} holds no botmon schema yet (serve adds it)")
    if version < newest:
        return Check(name, "warn", f"{where} of {newest}: `botmon serve` migrates it")
    return Check(name, "ok", where)


def _locked(db: str, server_file: Path | None) -> Check:
    """A DuckDB file held by another process: fine when it is a running ``botmon serve``."""
    try:
        info = json.loads(server_file.read_text()) if server_file is not None else None
    except (OSError, ValueError):
        info = None
    if isinstance(info, dict) and "url" in info:
        return Check(
            "database",
            "ok",
            f"{db} is in use by botmon serve (pid {info.get('pid')}, {info['url']})",
        )
    return Check("database", "warn", f"{db} is locked by another process; schema not checked")


def run_checks(db: str, *, explicit_db: bool, now: dt.datetime | None = None) -> list[Check]:
    """Every check, in the order they are printed."""
    return [
        check_geo(now),
        check_dashboard_assets(),
        check_database(db, explicit=explicit_db),
    ]


@click.command("doctor", cls=Command)
@click.option(
    "--db",
    default=DEFAULT_DB,
    envvar="BOTMON_DB",
    show_envvar=False,
    help="DuckDB file or postgresql:// URL to check (default: botmon.duckdb; env BOTMON_DB); "
    "a missing file is reported, not created.",
)
@click.pass_context
def command(ctx: click.Context, db: str) -> int:
    """Check geolocation data, dashboard assets and the database; exit 1 on a failure."""
    source = ctx.get_parameter_source("db")
    explicit = source is not None and source is not click.core.ParameterSource.DEFAULT
    checks = run_checks(db, explicit_db=explicit)
    for check in checks:
        click.echo(f"{check.level:<4}  {check.name}: {check.reason}")
    return 1 if any(c.level == "fail" for c in checks) else 0
