"""``botmon token``: create, list and revoke API tokens (directly or via a running server)."""

from __future__ import annotations

import time

import click

from botmon.auth import bms_base64, check_monitor_name
from botmon.cli.admin import DB_OPTION_HELP, AdminError, CliError, Group, open_admin
from botmon.limits import ROLES
from botmon.settings import DEFAULT_DB

db_option = click.option("--db", default=DEFAULT_DB, envvar="BOTMON_DB", help=DB_OPTION_HELP)


@click.group("token", cls=Group)
def command() -> None:
    """Create, list and revoke API tokens."""


@command.command("create")
@click.option("--name", required=True, help="The token holder (crawler, sensor or person).")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the token may do.")
@click.option(
    "--botnet", "botnets", multiple=True, help="Limit a crawler token to this botnet (repeatable)."
)
@db_option
def create(name: str, role: str, botnets: tuple[str, ...], db: str) -> None:
    """Create a token; it is printed once, as the last line (before it: the same token as a
    BMS monitor is configured with, the standard base64 of its 32 bytes)."""
    try:
        check_monitor_name(name)
        with open_admin(db) as admin:
            token, monitor = admin.create_token(name, role, list(botnets))  # type: ignore[arg-type]
    except (AdminError, ValueError) as exc:
        raise CliError(str(exc)) from None
    scope = f" for botnets {', '.join(monitor.botnets)}" if monitor.botnets else ""
    click.echo(f"created {monitor.role} token for {monitor.name!r}{scope} (via {admin.via})")
    click.echo("store it now: it is shown only once")
    click.echo(
        f"BMS auth token (base64, for BMS monitors; monitor ID {monitor.name}): {bms_base64(token)}"
    )
    click.echo(token)


@command.command("list")
@db_option
def list_(db: str) -> None:
    """List token holders (tokens themselves are never stored)."""
    try:
        with open_admin(db) as admin:
            monitors = admin.list_tokens()
    except AdminError as exc:
        raise CliError(str(exc)) from None
    if not monitors:
        click.echo("no tokens")
        return
    click.echo(
        f"{'name':<24} {'role':<8} {'prefix':<10} {'state':<8} {'created (UTC)':<20} botnets"
    )
    for m in monitors:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(m.created_at))
        state = "revoked" if m.revoked else "active"
        botnets = ",".join(m.botnets) or "*"
        click.echo(
            f"{m.name:<24} {m.role:<8} {m.token_prefix:<10} {state:<8} {created:<20} {botnets}"
        )


@command.command("revoke")
@click.argument("name")
@db_option
def revoke(name: str, db: str) -> None:
    """Revoke the token of NAME (effective within about 2 seconds on a running server)."""
    try:
        with open_admin(db) as admin:
            done = admin.revoke_token(name)
    except AdminError as exc:
        raise CliError(str(exc)) from None
    if not done:
        raise CliError(f"no active token named {name!r}")
    click.echo(f"revoked the token of {name!r}")
