"""``botmon export``: write stored records of one kind to CSV, JSON lines or Parquet."""

from __future__ import annotations

import os
import re
import sys

import click

from botmon.cli.admin import DB_OPTION_HELP, AdminError, CliError, Command, open_admin
from botmon.limits import BOTNET_NAME_PATTERN
from botmon.settings import DEFAULT_DB
from botmon.transfer.formats import FORMATS, KIND_FIELDS, TransferError, choose_format
from botmon.web.http import ApiError, parse_time


def _time(name: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return parse_time(name, text, 0.0)
    except ApiError as exc:
        raise CliError(f"--{exc.detail}") from None


@click.command("export", cls=Command)
@click.option("--botnet", required=True, help="The botnet to export.")
@click.option("--kind", required=True, type=click.Choice(list(KIND_FIELDS)), help="Record kind.")
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), help="Format (default: from -o, else jsonl)."
)
@click.option("--start", help="From this instant (epoch seconds or RFC 3339), inclusive.")
@click.option("--end", help="Until this instant, exclusive.")
@click.option("-o", "--output", help="Output file (default: standard output).")
@click.option("--db", default=DEFAULT_DB, envvar="BOTMON_DB", help=DB_OPTION_HELP)
def command(
    botnet: str,
    kind: str,
    fmt: str | None,
    start: str | None,
    end: str | None,
    output: str | None,
    db: str,
) -> None:
    """Export stored records of one kind of one botnet."""
    if not re.match(BOTNET_NAME_PATTERN, botnet):
        raise CliError(f"invalid botnet name {botnet[:80]!r}")
    try:
        fmt = choose_format(output, fmt) if output not in (None, "-") or fmt else "jsonl"
    except TransferError as exc:
        raise CliError(str(exc)) from None
    begin, until = _time("start", start), _time("end", end)
    if begin is not None and until is not None and begin >= until:
        raise CliError("--start must be before --end")
    to_file = output not in (None, "-")
    tmp = f"{output}.partial" if to_file else None
    try:
        with open_admin(db) as admin:
            if not admin.has_botnet(botnet):
                raise CliError(f"unknown botnet {botnet!r}")
            try:
                out = open(tmp, "wb") if tmp else sys.stdout.buffer  # noqa: SIM115
            except OSError as exc:
                raise CliError(f"cannot write {output}: {exc.strerror}") from None
            size = 0
            try:
                for chunk in admin.export(kind, botnet, fmt, begin, until):
                    out.write(chunk)
                    size += len(chunk)
            finally:
                if tmp:
                    out.close()
                else:
                    out.flush()
        if tmp and output:
            os.replace(tmp, output)
            click.echo(f"exported {kind} of {botnet!r} to {output} ({size} bytes)", err=True)
    except (AdminError, TransferError) as exc:
        raise CliError(str(exc)) from None
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
