"""``botmon token``: create, list and revoke API tokens (directly or via a running server)."""

from __future__ import annotations

import time

import click

from botmon.auth import check_monitor_name
from botmon.cli.admin import DB_OPTION_HELP, AdminError, CliError, Group, open_admin
from botmon.feeds.scope import describe_scope, parse_scope
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
    "--botnet",
    "botnets",
    multiple=True,
    help="Limit a crawler or feed token to this botnet (repeatable).",
)
@click.option(
    "--asn", "asns", multiple=True, help="A feed token's AS number, 64500 or AS64500 (repeatable)."
)
@click.option(
    "--cidr", "cidrs", multiple=True, help="A feed token's network, 198.51.100.0/24 (repeatable)."
)
@click.option(
    "--country",
    "countries",
    multiple=True,
    help="A feed token's country, ISO 3166-1 alpha-2 such as DE (repeatable).",
)
@db_option
def create(
    name: str,
    role: str,
    botnets: tuple[str, ...],
    asns: tuple[str, ...],
    cidrs: tuple[str, ...],
    countries: tuple[str, ...],
    db: str,
) -> None:
    """Create a token; it is printed once, as the last line.

    A feed token (network owners, CERTs) needs at least one --asn, --cidr or --country and
    reads only the feed of those networks."""
    try:
        check_monitor_name(name)
        networks = parse_scope(asns, cidrs, countries)
        with open_admin(db) as admin:
            token, monitor = admin.create_token(
                name,
                role,  # type: ignore[arg-type]
                list(botnets),
                None if networks.is_empty() else networks,
            )
    except (AdminError, ValueError) as exc:
        raise CliError(str(exc)) from None
    scope = f" for botnets {', '.join(monitor.botnets)}" if monitor.botnets else ""
    if not monitor.scope.is_empty():
        scope = f" for networks {describe_scope(monitor.scope)}"
    click.echo(f"created {monitor.role} token for {monitor.name!r}{scope} (via {admin.via})")
    click.echo("store it now: it is shown only once")
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
        f"{'name':<24} {'role':<8} {'prefix':<10} {'state':<8} {'created (UTC)':<20} "
        "botnets  networks"
    )
    for m in monitors:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(m.created_at))
        state = "revoked" if m.revoked else "active"
        botnets = ",".join(m.botnets) or "*"
        networks = describe_scope(m.scope)
        click.echo(
            f"{m.name:<24} {m.role:<8} {m.token_prefix:<10} {state:<8} {created:<20} "
            f"{botnets:<8} {networks}"
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
