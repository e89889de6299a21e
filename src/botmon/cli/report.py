"""``botmon report daily|weekly|verify``: the reports a national CERT distributes.

``daily`` and ``weekly`` read the store at ``--db`` directly or, while ``botmon serve`` holds
that DuckDB file (or with ``--server URL --token T``), fetch the same report from the
server's ``/api/v1/reports`` as a zip and unpack it; either way the directory ends up with
the same files, checked against their manifest, and signed here when ``--sign-key`` is given.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import httpx

from botmon.cli.admin import (
    DB_OPTION_HELP,
    AdminError,
    ApiAdmin,
    CliError,
    Group,
    StoreAdmin,
    UsageLine,
    open_admin,
)
from botmon.feeds.model import Tlp
from botmon.reports import manifest
from botmon.reports.archive import ArchiveError, unpack
from botmon.reports.options import PERS, TLPS, Per, ReportError, ReportRequest
from botmon.reports.period import Kind, PeriodError, parse_day, period_for
from botmon.settings import DEFAULT_DB, one_line
from botmon.store.base import StoreError

F = TypeVar("F", bound=Callable[..., Any])


@click.group("report", cls=Group)
def command() -> None:
    """Write the daily or weekly report of a botnet (per-network files, summary with charts,
    methodology, checksums), or verify one."""


def _request(kind: Kind, botnet: str, per: str, day: str | None, tlp: str) -> ReportRequest:
    try:
        period = period_for(kind, parse_day(day) if day else None)
    except PeriodError as exc:
        raise UsageLine(f"--date: {exc}") from None
    chosen: Per = per  # type: ignore[assignment]
    label: Tlp = tlp  # type: ignore[assignment]
    return ReportRequest(botnet, period, chosen, label)


def _fetch(client: httpx.Client, via: str, req: ReportRequest, out: Path, key: Path | None) -> int:
    """The report from a server's API, unpacked into ``out``, checked and signed here."""
    params = {"date": req.period.last_day.isoformat(), "per": req.per, "tlp": req.tlp}
    path = f"/api/v1/reports/{req.botnet}/{req.period.kind}"
    out = out.absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CliError(f"{out} exists and is not an empty directory: name a new one")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        with tempfile.NamedTemporaryFile(suffix=".zip") as tmp:
            try:
                with client.stream("GET", path, params=params, timeout=600.0) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise CliError(
                            f"server answered {response.status_code}: {_error(response)}"
                        )
                    for chunk in response.iter_bytes():
                        tmp.write(chunk)
            except httpx.HTTPError as exc:
                raise CliError(f"cannot fetch the report from {via}: {one_line(exc)}") from None
            tmp.flush()
            files = unpack(Path(tmp.name), work)
        verdict = manifest.verify(work)
        if not verdict.ok:
            raise CliError(f"the server's report does not verify: {verdict.problems[0]}")
        if key is not None:
            manifest.sign(work, key)
        work.chmod(0o755)
        if out.exists():
            out.rmdir()
        os.replace(work, out)
        return files
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.text))
    except ValueError:
        return response.text[:200]


def _make(kind: Kind, **kw: Any) -> None:
    req = _request(kind, kw["botnet"], kw["per"], kw["date"], kw["tlp"])
    out = Path(kw["output"])
    key = Path(kw["sign_key"]) if kw["sign_key"] else None
    if key is not None:
        try:
            manifest.load_private_key(key)
        except manifest.ManifestError as exc:
            raise UsageLine(f"--sign-key: {exc}") from None
    try:
        if kw["server"]:
            if not kw["token"]:
                raise UsageLine("--server needs --token (or BOTMON_TOKEN): a viewer token")
            remote = ApiAdmin(kw["server"].rstrip("/"), kw["token"])
            try:
                _fetch(remote.client, remote.via, req, out, key)
            finally:
                remote.close()
            where = kw["server"]
        else:
            with open_admin(kw["db"]) as admin:
                if isinstance(admin, StoreAdmin):
                    from botmon.reports.build import make_report

                    make_report(admin.store, req, out, key)
                    where = "the store"
                elif isinstance(admin, ApiAdmin):
                    _fetch(admin.client, admin.via, req, out, key)
                    where = admin.via
                else:  # pragma: no cover - open_admin gives one of the two
                    raise CliError(f"cannot make reports through {admin.via}")
    except (ReportError, AdminError, ArchiveError, manifest.ManifestError) as exc:
        raise CliError(one_line(exc)) from None
    except StoreError as exc:
        raise CliError(one_line(exc)) from None
    signed = ", signed" if key else ""
    click.echo(
        f"wrote the {kind} report of {req.botnet!r} for {req.period.label} from {where} "
        f"to {out}{signed}",
        err=True,
    )


def _options(kind: Kind) -> Callable[[F], F]:
    default = "yesterday" if kind == "daily" else "the Sunday ending the last full ISO week"

    def wrap(fn: F) -> F:
        for option in reversed(
            [
                click.option("--botnet", required=True, help="The botnet to report on."),
                click.option(
                    "--per",
                    type=click.Choice(list(PERS)),
                    default="asn",
                    show_default=True,
                    help="One file per AS or per country.",
                ),
                click.option(
                    "-o",
                    "--output",
                    required=True,
                    help="Directory to write (must not exist, or be empty).",
                ),
                click.option(
                    "--date", help=f"Last UTC day of the period, YYYY-MM-DD (default: {default})."
                ),
                click.option(
                    "--tlp",
                    type=click.Choice(list(TLPS)),
                    default="amber",
                    show_default=True,
                    help="The TLP label the files carry.",
                ),
                click.option(
                    "--sign-key",
                    type=click.Path(dir_okay=False),
                    help="Ed25519 private key (PEM): also write SHA256SUMS.sig.",
                ),
                click.option("--db", default=DEFAULT_DB, envvar="BOTMON_DB", help=DB_OPTION_HELP),
                click.option(
                    "--server", help="Fetch the report from this botmon server instead of --db."
                ),
                click.option("--token", envvar="BOTMON_TOKEN", help="Viewer token for --server."),
            ]
        ):
            fn = option(fn)
        return fn

    return wrap


@command.command("daily")
@_options("daily")
def daily(**kw: Any) -> None:
    """The report of one UTC day."""
    _make("daily", **kw)


@command.command("weekly")
@_options("weekly")
def weekly(**kw: Any) -> None:
    """The report of seven UTC days (an ISO week when --date is a Sunday)."""
    _make("weekly", **kw)


@command.command("verify")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--public-key",
    type=click.Path(dir_okay=False),
    help="Ed25519 public key (PEM): also check SHA256SUMS.sig.",
)
def verify(directory: str, public_key: str | None) -> None:
    """Check a report directory against its SHA256SUMS (and signature)."""
    root = Path(directory)
    if not root.is_dir():
        raise UsageLine(f"{directory} is not a directory")
    try:
        verdict = manifest.verify(root, Path(public_key) if public_key else None)
    except manifest.ManifestError as exc:
        raise UsageLine(f"--public-key: {exc}") from None
    for problem in verdict.problems:
        click.echo(f"FAILED {problem}", err=True)
    if not verdict.ok:
        raise CliError(f"{directory} does not verify ({len(verdict.problems)} problem(s))")
    click.echo(
        f"OK: {verdict.checked} files match {manifest.MANIFEST}; signature {verdict.signature}"
    )
