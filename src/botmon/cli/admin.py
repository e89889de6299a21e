"""Administration for the CLI: straight through the store, or through a running server.

A running ``botmon serve`` holds its DuckDB file's lock, so the CLI cannot open the file. It
then reads the ``<db>.server.json`` the server wrote and does the same work through the admin
API with the admin token found there. :func:`open_admin` hides the difference: every CLI
command talks to an :class:`Admin` and works the same whether a server runs or not.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import click
import httpx
import msgspec

from botmon.auth import TokenRefused, issue_token
from botmon.feeds.model import FeedScope
from botmon.limits import Role
from botmon.settings import one_line, redact, server_file_for
from botmon.store.base import Botnet, Monitor, Store, StoreError
from botmon.store.exclusions import ExcludedMonitor, MonitorToExclude
from botmon.store.feeds import FeedDelivery
from botmon.transfer.writers import writer_for
from botmon.validation import ValidatedBatch


class AdminError(Exception):
    """An administration step failed for a reason the user can act on (one line)."""


class Admin(Protocol):
    """What the CLI's administration commands need, by store or by API."""

    via: str
    """``store`` or the server URL."""

    def create_token(
        self, name: str, role: Role, botnets: list[str], scope: FeedScope | None = None
    ) -> tuple[str, Monitor]: ...
    def list_tokens(self) -> list[Monitor]: ...
    def revoke_token(self, name: str) -> bool: ...
    def create_botnet(self, name: str, description: str) -> Botnet: ...
    def list_botnets(self) -> list[Botnet]: ...
    def has_botnet(self, name: str) -> bool: ...
    def ingest(
        self, body: bytes, batch: ValidatedBatch, source: str
    ) -> tuple[bool, dict[str, int]]: ...
    def export(
        self, kind: str, botnet: str, fmt: str, start: float | None, end: float | None
    ) -> Iterator[bytes]: ...
    def counts(self, botnet: str | None) -> dict[str, int]: ...
    def exclude_monitors(
        self, botnet: str, monitors: list[MonitorToExclude]
    ) -> list[ExcludedMonitor]: ...
    def include_monitor(self, botnet: str, ip: str, port: int) -> bool: ...
    def excluded_monitors(self, botnet: str) -> list[ExcludedMonitor]: ...
    def feed_deliveries(
        self, since: float | None, monitor: str | None, limit: int
    ) -> list[FeedDelivery]: ...
    def close(self) -> None: ...


class StoreAdmin:
    """Administration straight through an open store."""

    via = "store"

    def __init__(self, store: Store) -> None:
        self.store = store
        self._enricher: Any | None = None
        self._enricher_loaded = False

    def _enrich(self, batch: ValidatedBatch) -> None:
        """Add country and AS as the server would, so an import equals an ingest."""
        if not self._enricher_loaded:
            from botmon.server.run import load_enricher

            self._enricher = load_enricher(lambda line: click.echo(line, err=True))
            self._enricher_loaded = True
        if self._enricher is not None:
            self._enricher.enrich_batch(batch)

    def create_token(
        self, name: str, role: Role, botnets: list[str], scope: FeedScope | None = None
    ) -> tuple[str, Monitor]:
        try:
            return issue_token(self.store, name, role, botnets, scope)
        except TokenRefused as exc:
            raise AdminError(one_line(exc)) from None

    def list_tokens(self) -> list[Monitor]:
        return self.store.list_monitors()

    def revoke_token(self, name: str) -> bool:
        return self.store.revoke_monitor(name)

    def create_botnet(self, name: str, description: str) -> Botnet:
        try:
            return self.store.create_botnet(name, description)
        except StoreError as exc:
            raise AdminError(one_line(exc)) from None

    def list_botnets(self) -> list[Botnet]:
        return self.store.list_botnets()

    def has_botnet(self, name: str) -> bool:
        return self.store.get_botnet(name) is not None

    def ingest(
        self, body: bytes, batch: ValidatedBatch, source: str
    ) -> tuple[bool, dict[str, int]]:
        self._enrich(batch)
        try:
            result = self.store.write_batch(batch, source)
        except StoreError as exc:
            raise AdminError(one_line(exc)) from None
        return result.duplicate, dict(result.stored)

    def export(
        self, kind: str, botnet: str, fmt: str, start: float | None, end: float | None
    ) -> Iterator[bytes]:
        writer = writer_for(fmt, kind)
        try:
            for batch in self.store.export(kind, botnet, start, end):  # type: ignore[arg-type]
                data = writer.write(batch)
                if data:
                    yield data
        except StoreError as exc:
            raise AdminError(one_line(exc)) from None
        yield writer.finish()

    def counts(self, botnet: str | None) -> dict[str, int]:
        return self.store.count_records(botnet)

    def exclude_monitors(
        self, botnet: str, monitors: list[MonitorToExclude]
    ) -> list[ExcludedMonitor]:
        try:
            return self.store.exclude_monitors(botnet, monitors, "cli", time.time())
        except StoreError as exc:
            raise AdminError(one_line(exc)) from None

    def include_monitor(self, botnet: str, ip: str, port: int) -> bool:
        try:
            return self.store.include_monitor(botnet, ip, port)
        except StoreError as exc:
            raise AdminError(one_line(exc)) from None

    def excluded_monitors(self, botnet: str) -> list[ExcludedMonitor]:
        if self.store.get_botnet(botnet) is None:
            raise AdminError(f"unknown botnet {botnet!r}: create it first (botmon botnet create)")
        return self.store.excluded_monitors(botnet)

    def feed_deliveries(
        self, since: float | None, monitor: str | None, limit: int
    ) -> list[FeedDelivery]:
        try:
            return self.store.feed_deliveries(since=since, monitor=monitor, limit=limit)
        except StoreError as exc:
            raise AdminError(one_line(exc)) from None

    def close(self) -> None:
        self.store.close()
        if self._enricher is not None:
            self._enricher.close()


class ApiAdmin:
    """Administration through a running server's admin API."""

    def __init__(self, url: str, token: str, verify: ssl.SSLContext | bool = True) -> None:
        self.via = url
        self.client = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(60.0, connect=5.0),
            verify=verify,
            trust_env=False,
        )

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise AdminError(f"cannot reach the server at {self.via}: {one_line(exc)}") from None
        if response.status_code >= 400:
            raise AdminError(_error_text(response))
        return response

    def create_token(
        self, name: str, role: Role, botnets: list[str], scope: FeedScope | None = None
    ) -> tuple[str, Monitor]:
        body: dict[str, Any] = {"name": name, "role": role, "botnets": botnets}
        if scope is not None:
            body.update(
                asns=list(scope.asns), cidrs=list(scope.cidrs), countries=list(scope.countries)
            )
        data = self._call("POST", "/api/v1/admin/tokens", json=body).json()
        return data["token"], msgspec.convert(data["monitor"], Monitor)

    def list_tokens(self) -> list[Monitor]:
        data = self._call("GET", "/api/v1/admin/tokens").json()
        return msgspec.convert(data["tokens"], list[Monitor])

    def revoke_token(self, name: str) -> bool:
        try:
            self._call("DELETE", f"/api/v1/admin/tokens/{name}")
        except AdminError as exc:
            if "no active token" in str(exc):
                return False
            raise
        return True

    def create_botnet(self, name: str, description: str) -> Botnet:
        body = {"name": name, "description": description}
        return msgspec.convert(
            self._call("POST", "/api/v1/admin/botnets", json=body).json(), Botnet
        )

    def list_botnets(self) -> list[Botnet]:
        data = self._call("GET", "/api/v1/admin/botnets").json()
        return msgspec.convert(data["botnets"], list[Botnet])

    def has_botnet(self, name: str) -> bool:
        return any(b.name == name for b in self.list_botnets())

    def ingest(
        self, body: bytes, batch: ValidatedBatch, source: str
    ) -> tuple[bool, dict[str, int]]:
        response = self._call(
            "POST",
            "/api/v1/ingest",
            params={"source": source},
            content=body,
            headers={"Content-Type": "application/json"},
        )
        data = response.json()
        return bool(data["duplicate"]), dict(data["stored"])

    def export(
        self, kind: str, botnet: str, fmt: str, start: float | None, end: float | None
    ) -> Iterator[bytes]:
        params: dict[str, str] = {"format": fmt}
        if start is not None:
            params["start"] = repr(start)
        if end is not None:
            params["end"] = repr(end)
        path = f"/api/v1/botnets/{botnet}/records/{kind}"
        try:
            with self.client.stream("GET", path, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    raise AdminError(_error_text(response))
                yield from response.iter_bytes()
        except httpx.HTTPError as exc:
            raise AdminError(f"export from {self.via} failed: {one_line(exc)}") from None

    def counts(self, botnet: str | None) -> dict[str, int]:
        params = {"botnet": botnet} if botnet else {}
        data = self._call("GET", "/api/v1/admin/counts", params=params).json()
        return {k: int(v) for k, v in data["counts"].items()}

    def exclude_monitors(
        self, botnet: str, monitors: list[MonitorToExclude]
    ) -> list[ExcludedMonitor]:
        body = {"monitors": msgspec.to_builtins(monitors)}
        data = self._call("POST", f"/api/v1/admin/botnets/{botnet}/excluded-monitors", json=body)
        return msgspec.convert(data.json()["monitors"], list[ExcludedMonitor])

    def include_monitor(self, botnet: str, ip: str, port: int) -> bool:
        path = f"/api/v1/admin/botnets/{botnet}/excluded-monitors/{ip}/{port}"
        try:
            self._call("DELETE", path)
        except AdminError as exc:
            if "is not excluded" in str(exc):
                return False
            raise
        return True

    def excluded_monitors(self, botnet: str) -> list[ExcludedMonitor]:
        data = self._call("GET", f"/api/v1/admin/botnets/{botnet}/excluded-monitors").json()
        return msgspec.convert(data["monitors"], list[ExcludedMonitor])

    def feed_deliveries(
        self, since: float | None, monitor: str | None, limit: int
    ) -> list[FeedDelivery]:
        params: dict[str, str] = {"limit": str(limit)}
        if since is not None:
            params["since"] = repr(since)
        if monitor:
            params["monitor"] = monitor
        data = self._call("GET", "/api/v1/feeds/deliveries", params=params).json()
        return msgspec.convert(data["deliveries"], list[FeedDelivery])

    def close(self) -> None:
        self.client.close()


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
        message = str(data.get("error", response.text))
    except ValueError:
        message = response.text[:200]
    return f"server answered {response.status_code}: {message}"


def _verify(info: dict[str, Any]) -> ssl.SSLContext | bool:
    cert = info.get("tls_cert")
    if not cert:
        return True
    # The server's own (often self-signed) certificate is the trust anchor; it was issued
    # for whatever name the operator chose, and we reach it by the URL it advertised.
    context = ssl.create_default_context(cafile=cert)
    context.check_hostname = False
    return context


def server_admin(db: str) -> ApiAdmin | None:
    """An admin client for the server advertised beside ``db``, if one is advertised."""
    path = server_file_for(db)
    if path is None or not path.exists():
        return None
    try:
        info = json.loads(path.read_text())
        return ApiAdmin(str(info["url"]), str(info["admin_token"]), _verify(info))
    except (OSError, ValueError, KeyError, ssl.SSLError) as exc:
        raise AdminError(f"cannot use the server file {path}: {one_line(exc)}") from None


@contextmanager
def open_admin(db: str) -> Iterator[Admin]:
    """The store at ``db`` or, while a server holds it, that server's admin API."""
    from botmon.store import is_locked_duckdb_error, open_store

    admin: Admin
    try:
        store = open_store(db)
    except Exception as exc:
        if not is_locked_duckdb_error(exc):
            raise AdminError(f"cannot open the store {redact(db)}: {one_line(exc)}") from None
        remote = server_admin(db)
        if remote is None:
            raise AdminError(
                f"{redact(db)} is locked by another process and no running server is advertised "
                "beside it; stop that process or use its API"
            ) from None
        admin = remote
    else:
        try:
            store.migrate()
        except Exception as exc:
            store.close()
            raise AdminError(f"cannot migrate the store {redact(db)}: {one_line(exc)}") from None
        admin = StoreAdmin(store)
    try:
        yield admin
    finally:
        admin.close()


class CliError(click.ClickException):
    """A CLI failure shown as one line, ``botmon: error: ...``, with exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"botmon: error: {self.format_message()}", err=True)


DB_OPTION_HELP = "DuckDB file or postgresql:// URL (default: botmon.duckdb; env BOTMON_DB)."


class UsageLine(CliError):
    """A bad argument, shown as one ``botmon: error:`` line (exit status 2, like click's)."""

    exit_code = 2


class _OneLine:
    """Turn click's multi-line usage errors into one line naming the command and problem."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc, no-any-return]
        except click.UsageError as exc:
            raise UsageLine(f"{ctx.command_path}: {exc.format_message()}") from None


class Command(_OneLine, click.Command):
    """A CLI command whose argument errors are one line."""


class Group(_OneLine, click.Group):
    """A CLI group whose sub-commands' argument errors are one line."""

    command_class = Command
