"""``botmon botnet``: create and list the botnets records can be stored for."""

from __future__ import annotations

import re
import time

import click

from botmon.cli.admin import DB_OPTION_HELP, AdminError, CliError, Group, open_admin
from botmon.limits import BOTNET_NAME_PATTERN
from botmon.settings import DEFAULT_DB

db_option = click.option("--db", default=DEFAULT_DB, envvar="BOTMON_DB", help=DB_OPTION_HELP)


@click.group("botnet", cls=Group)
def command() -> None:
    """Create and list botnets."""


@command.command("create")
@click.argument("name")
@click.option("--description", default="", help="What this botnet is (free text).")
@db_option
def create(name: str, description: str, db: str) -> None:
    """Create the botnet NAME (lower-case letters, digits, _ . -)."""
    if not re.match(BOTNET_NAME_PATTERN, name):
        raise CliError(
            f"invalid botnet name {name[:80]!r}: 1-64 of a-z 0-9 _ . - starting with a-z or 0-9"
        )
    try:
        with open_admin(db) as admin:
            botnet = admin.create_botnet(name, description)
    except AdminError as exc:
        raise CliError(str(exc)) from None
    click.echo(f"created botnet {botnet.name!r} (via {admin.via})")


@command.command("list")
@db_option
def list_(db: str) -> None:
    """List botnets."""
    try:
        with open_admin(db) as admin:
            botnets = admin.list_botnets()
    except AdminError as exc:
        raise CliError(str(exc)) from None
    if not botnets:
        click.echo("no botnets")
        return
    for b in botnets:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(b.created_at))
        click.echo(f"{b.name:<24} {created}  {b.description}")
