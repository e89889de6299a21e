"""``botmon public``: make dashboard views of a botnet public, private again, or list them.

``add --botnet B --view V`` serves view V of botnet B to anyone under ``/public/B`` and
``/api/v1/public/...`` (aggregates only, no token); ``remove`` stops it; ``list`` shows what
is public and which views may be. Works on the store (``--db``, or the running server that
holds that DuckDB file), or on a server named by ``--server`` with an admin ``--token``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
import msgspec

from botmon.cli.admin import (
    DB_OPTION_HELP,
    AdminError,
    ApiAdmin,
    CliError,
    Group,
    StoreAdmin,
    open_admin,
)
from botmon.settings import DEFAULT_DB, one_line
from botmon.store.base import StoreError
from botmon.store.public_views import PublicView

PATH = "/api/v1/admin/public-views"


class PublicAdmin:
    """Public views through an open store or a server's admin API."""

    def __init__(self, admin: Any) -> None:
        self.admin = admin
        self.via: str = admin.via

    def _known(self) -> list[str]:
        from botmon.analysis import public as catalogue

        return list(catalogue.catalogue())

    def _check(self, view: str) -> None:
        known = self._known()
        if view not in known:
            raise CliError(f"no view {view!r} can be public; choose one of {', '.join(known)}")

    def add(self, botnet: str, view: str) -> PublicView:
        if isinstance(self.admin, StoreAdmin):
            self._check(view)
            try:
                return self.admin.store.publish_view(botnet, view, "cli", time.time())
            except StoreError as exc:
                text = one_line(exc)
                if text.startswith("unknown botnet"):
                    text += f" (botmon botnet create {botnet})"
                raise AdminError(text) from None
        data = self._call("PUT", f"{PATH}/{botnet}/{view}")
        return msgspec.convert(data, PublicView)

    def remove(self, botnet: str, view: str) -> bool:
        if isinstance(self.admin, StoreAdmin):
            try:
                return self.admin.store.unpublish_view(botnet, view)
            except StoreError as exc:
                raise AdminError(one_line(exc)) from None
        try:
            self._call("DELETE", f"{PATH}/{botnet}/{view}")
        except AdminError as exc:
            if "is not public" in str(exc):
                return False
            raise
        return True

    def listing(self) -> tuple[list[PublicView], list[str]]:
        if isinstance(self.admin, StoreAdmin):
            return self.admin.store.public_views(), self._known()
        data = self._call("GET", PATH)
        return msgspec.convert(data["views"], list[PublicView]), list(data["available"])

    def _call(self, method: str, path: str) -> Any:
        """The JSON answer of the server's admin route (the admin is an API client here)."""
        if not isinstance(self.admin, ApiAdmin):
            raise CliError("cannot administer public views here")
        return self.admin._call(method, path).json()


@contextmanager
def _opened(db: str, server: str | None, token: str | None) -> Iterator[PublicAdmin]:
    if server is None:
        with open_admin(db) as admin:
            yield PublicAdmin(admin)
        return
    if not token:
        raise CliError("--server needs an admin --token (or BOTMON_TOKEN)")
    remote = ApiAdmin(server.rstrip("/"), token)
    try:
        yield PublicAdmin(remote)
    finally:
        remote.close()


db_option = click.option("--db", default=DEFAULT_DB, envvar="BOTMON_DB", help=DB_OPTION_HELP)
server_option = click.option(
    "--server", default=None, help="Administer this running server instead (its URL)."
)
token_option = click.option(
    "--token", default=None, envvar="BOTMON_TOKEN", help="Admin token for --server."
)
botnet_option = click.option("--botnet", required=True, help="The botnet (its name).")
view_option = click.option(
    "--view", required=True, help="The view: overview, geo, ases, facets, churn or diurnal."
)


def _show(views: list[PublicView]) -> None:
    for v in views:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(v.added_at))
        click.echo(f"{v.botnet:<24} {v.view:<10} since {when} by {v.added_by}")


@click.group("public", cls=Group)
def command() -> None:
    """Serve dashboard views of a botnet publicly (read-only, aggregates only, no token)."""


@command.command("add")
@botnet_option
@view_option
@db_option
@server_option
@token_option
def add(botnet: str, view: str, db: str, server: str | None, token: str | None) -> None:
    """Serve VIEW of BOTNET publicly under /public/BOTNET."""
    try:
        with _opened(db, server, token) as admin:
            stored = admin.add(botnet, view)
    except AdminError as exc:
        raise CliError(one_line(exc)) from None
    _show([stored])
    click.echo(f"{view} of {botnet} is public at /public/{botnet} (via {admin.via})")


@command.command("remove")
@botnet_option
@view_option
@db_option
@server_option
@token_option
def remove(botnet: str, view: str, db: str, server: str | None, token: str | None) -> None:
    """Stop serving VIEW of BOTNET publicly."""
    try:
        with _opened(db, server, token) as admin:
            removed = admin.remove(botnet, view)
    except AdminError as exc:
        raise CliError(one_line(exc)) from None
    if not removed:
        raise CliError(f"{view} of {botnet} is not public")
    click.echo(f"{view} of {botnet} is no longer public")


@command.command("list")
@db_option
@server_option
@token_option
def list_(db: str, server: str | None, token: str | None) -> None:
    """List the public views, and the views that may be public."""
    try:
        with _opened(db, server, token) as admin:
            views, available = admin.listing()
    except AdminError as exc:
        raise CliError(one_line(exc)) from None
    if views:
        _show(views)
    else:
        click.echo("no view is public")
    click.echo(f"views that may be public: {', '.join(available)}")
