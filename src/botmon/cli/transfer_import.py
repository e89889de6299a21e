"""``botmon import``: load replies, failed tries or edges from CSV, JSON lines or Parquet.

Every row goes through :func:`botmon.validation.validate_batch`, the check HTTP ingest uses,
in batches of 10,000. A file with bad rows is refused whole (each bad row named by its line)
unless ``--skip-bad`` asks to store the good ones; batch ids come from the content, so running
the same import twice stores the records once.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile

import click

from botmon.auth import check_monitor_name
from botmon.cli.admin import DB_OPTION_HELP, Admin, AdminError, CliError, Command, open_admin
from botmon.limits import BOTNET_NAME_PATTERN
from botmon.settings import DEFAULT_DB
from botmon.transfer.formats import FORMATS, KIND_FIELDS, TransferError, choose_format
from botmon.transfer.importer import BadRow, check_batches
from botmon.transfer.readers import read_rows
from botmon.validation import BatchRejected

MAX_SHOWN = 50
"""Bad rows listed one per line; beyond this only their number is given."""


def _show_bad(bad: list[BadRow], shown: int) -> int:
    for row in bad:
        if shown < MAX_SHOWN:
            click.echo(f"botmon: bad row: {row}", err=True)
        shown += 1
    return shown


def _check_only(path: str, fmt: str, botnet: str, kind: str) -> tuple[int, int]:
    """First pass without --skip-bad: count good rows and list bad ones, store nothing."""
    good = 0
    shown = 0
    for checked in check_batches(read_rows(path, fmt, kind), botnet, kind):
        good += checked.rows
        shown = _show_bad(checked.bad, shown)
    return good, shown


def _store(
    admin: Admin, path: str, fmt: str, botnet: str, kind: str, source: str, skip_bad: bool
) -> tuple[int, int, int, int]:
    stored = duplicates = batches = shown = 0
    for checked in check_batches(read_rows(path, fmt, kind), botnet, kind):
        if checked.bad and skip_bad:
            shown = _show_bad(checked.bad, shown)
        if checked.batch is None:
            continue
        duplicate, counts = admin.ingest(checked.body, checked.batch, source)
        batches += 1
        duplicates += duplicate
        stored += counts.get(kind, 0)
        if batches % 10 == 0:
            click.echo(f"botmon: {batches} batches, {stored} {kind} stored so far", err=True)
    return stored, duplicates, batches, shown


@click.command("import", cls=Command)
@click.argument("file")
@click.option("--botnet", required=True, help="The botnet the records belong to.")
@click.option("--kind", required=True, type=click.Choice(list(KIND_FIELDS)), help="Record kind.")
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), help="File format (default: from the extension)."
)
@click.option("--skip-bad", is_flag=True, help="Store the good rows of a file that has bad ones.")
@click.option("--source", default="import", show_default=True, help="The records' source name.")
@click.option("--db", default=DEFAULT_DB, envvar="BOTMON_DB", help=DB_OPTION_HELP)
def command(
    file: str, botnet: str, kind: str, fmt: str | None, skip_bad: bool, source: str, db: str
) -> None:
    """Import records of one KIND for one botnet from FILE (- for standard input)."""
    if not re.match(BOTNET_NAME_PATTERN, botnet):
        raise CliError(f"invalid botnet name {botnet[:80]!r}")
    try:
        check_monitor_name(source)
        fmt = choose_format(file, fmt)
    except (ValueError, TransferError) as exc:
        raise CliError(str(exc)) from None
    spool: str | None = None
    if file == "-":
        if fmt == "parquet":
            raise CliError("Parquet cannot be read from standard input; give a file")
        handle, spool = tempfile.mkstemp(prefix="botmon-import-")
        with os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out)
        file = spool
    elif not os.path.isfile(file) or not os.access(file, os.R_OK):
        raise CliError(f"cannot read {file}: no such readable file")
    try:
        with open_admin(db) as admin:
            if not admin.has_botnet(botnet):
                raise CliError(f"unknown botnet {botnet!r}: create it with 'botmon botnet create'")
            if not skip_bad:
                good, bad = _check_only(file, fmt, botnet, kind)
                if bad:
                    more = f" ({bad - MAX_SHOWN} more not listed)" if bad > MAX_SHOWN else ""
                    raise CliError(
                        f"{bad} bad rows in {file}{more}; nothing stored "
                        f"(--skip-bad stores the {good} good rows)"
                    )
            stored, duplicates, batches, bad = _store(
                admin, file, fmt, botnet, kind, source, skip_bad
            )
    except (AdminError, TransferError) as exc:
        raise CliError(str(exc)) from None
    except BatchRejected as exc:
        raise CliError(f"the file was refused: {exc.message}") from None
    finally:
        if spool is not None:
            os.unlink(spool)
    skipped = f", skipped {bad} bad rows" if bad else ""
    again = f", {duplicates} batches were already stored" if duplicates else ""
    click.echo(
        f"imported {stored} {kind} into botnet {botnet!r} as source {source!r} "
        f"in {batches} batches (via {admin.via}){again}{skipped}"
    )
