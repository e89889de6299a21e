"""``botmon feeds``: what botmon delivered to network owners (the feed delivery log).

``deliveries`` reads the log from the store (``--db``; through the running server's admin
API while it holds the DuckDB file) or from any server (``--server URL --token T``, an admin
token), newest first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click

from botmon.cli.admin import (
    DB_OPTION_HELP,
    Admin,
    AdminError,
    ApiAdmin,
    CliError,
    Group,
    open_admin,
)
from botmon.settings import DEFAULT_DB
from botmon.web.http import ApiError, parse_time


@click.group("feeds", cls=Group)
def command() -> None:
    """Show the log of feeds delivered to network owners."""


@contextmanager
def _admin(db: str, server: str | None, token: str | None) -> Iterator[Admin]:
    if server is None:
        with open_admin(db) as admin:
            yield admin
        return
    if not token:
        raise CliError("--server needs --token (an admin token)")
    remote = ApiAdmin(server.rstrip("/"), token)
    try:
        yield remote
    finally:
        remote.close()


@command.command("deliveries")
@click.option("--db", default=DEFAULT_DB, envvar="BOTMON_DB", help=DB_OPTION_HELP)
@click.option("--server", default=None, help="A botmon server URL instead of --db.")
@click.option("--token", default=None, envvar="BOTMON_TOKEN", help="Admin token for --server.")
@click.option("--since", default=None, help="Only deliveries since (epoch seconds or RFC 3339).")
@click.option("--monitor", default=None, help="Only this token holder's deliveries.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def deliveries(
    db: str,
    server: str | None,
    token: str | None,
    since: str | None,
    monitor: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List feed deliveries, newest first: when, to whom, format, rows, bytes, status."""
    try:
        start = parse_time("since", since, 0.0) if since else None
    except ApiError as exc:
        raise CliError(str(exc.detail)) from None
    try:
        with _admin(db, server, token) as admin:
            found = admin.feed_deliveries(start, monitor, limit)
    except AdminError as exc:
        raise CliError(str(exc)) from None
    if as_json:
        for d in found:
            click.echo(json.dumps({f: getattr(d, f) for f in d.__struct_fields__}, sort_keys=True))
        return
    if not found:
        click.echo("no feed deliveries")
        return
    click.echo(
        f"{'when (UTC)':<20} {'token':<20} {'format':<8} {'status':>6} {'rows':>8} "
        f"{'bytes':>10}  parameters"
    )
    for d in found:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(d.delivered_at))
        params = "&".join(f"{k}={v}" for k, v in sorted(d.parameters.items()))
        click.echo(
            f"{when:<20} {d.monitor:<20} {d.format:<8} {d.status:>6} {d.rows:>8} "
            f"{d.bytes:>10}  {params}"
        )
