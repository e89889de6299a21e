"""Run the server: open the store, advertise the server, serve with uvicorn, clean up.

While it runs, ``botmon serve`` holds a DuckDB file's lock, so it writes ``<db>.server.json``
(mode 0600: url, pid and an admin token made for this run) beside the file; the CLI reads it
to administer through the admin API instead. The token is revoked and the file removed on
exit, also on Ctrl-C and SIGTERM; a server that was killed cannot, so the next start revokes
the per-run tokens its predecessors left (:func:`revoke_stale_run_tokens`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from botmon.auth import issue_token
from botmon.enrich.enricher import default_enricher
from botmon.enrich.freshness import geo_status, stale_warning
from botmon.server.app import create_app
from botmon.server.grpc_server import GrpcStartError, HttpAndGrpcServer
from botmon.server.http_timeouts import timed_protocol
from botmon.server.state import ServerState
from botmon.settings import (
    AnalysisSettings,
    ServerSettings,
    SettingsError,
    one_line,
    redact,
    server_file_for,
)
from botmon.store.base import Store, StoreError


class ServeError(Exception):
    """Start-up failed for a reason the user can fix; the message is one line."""


def open_server_store(settings: ServerSettings) -> Store:
    """Open and migrate the store, turning driver errors into one clear line.

    PostgreSQL gets at least a connection for every thread that may use one at once (store
    and read threads, and the summary refresh), and room for streamed exports; DuckDB its
    memory limit.
    """
    from botmon.store import is_locked_duckdb_error, open_store

    db = settings.db
    try:
        store = open_store(
            db,
            pool_size=max(10, settings.store_threads + settings.read_threads + 1),
            duckdb_memory_mb=settings.duckdb_memory_mb or default_duckdb_memory_mb(),
        )
    except Exception as exc:
        if is_locked_duckdb_error(exc):
            where = server_file_for(db)
            hint = f" (see {where})" if where is not None and where.exists() else ""
            raise ServeError(f"{db} is in use by another process{hint}") from None
        if isinstance(exc, StoreError):
            raise ServeError(one_line(exc)) from None
        raise ServeError(f"cannot open the store {redact(db)}: {one_line(exc)}") from None
    try:
        store.migrate()
    except Exception as exc:
        store.close()
        raise ServeError(f"cannot migrate the store {redact(db)}: {one_line(exc)}") from None
    return store


_RUN_TOKEN = re.compile(r"serve-([0-9]+)-[0-9a-f]{6}")
"""Names of the per-run admin tokens: ``serve-<pid>-<6 hex>``."""


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def revoke_stale_run_tokens(store: Store, exclusive: bool) -> list[str]:
    """Revoke the per-run admin tokens of servers that were killed; returns their names.

    ``exclusive``: this server holds the store alone (a DuckDB file, whose lock it has), so
    every earlier run's token is stale. Otherwise (PostgreSQL) other servers may be running,
    so only tokens of processes that no longer run on this machine are; such a token is
    never advertised (a server file is written for a DuckDB file only), so one of a server
    on another machine is not needed either.
    """
    stale = []
    for monitor in store.list_monitors():
        match = _RUN_TOKEN.fullmatch(monitor.name)
        if monitor.revoked or match is None:
            continue
        if exclusive or not _running(int(match.group(1))):
            store.revoke_monitor(monitor.name)
            stale.append(monitor.name)
    return stale


def default_duckdb_memory_mb() -> int:
    """A quarter of the machine's memory: DuckDB's own default (80 %) would leave the ingest
    workers and the OS page cache too little while a heavy dashboard query runs."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 1024
    return max(256, total // 4 // (1024 * 1024))


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def write_server_file(path: Path, info: dict[str, Any]) -> None:
    """Write the advertisement atomically, readable by its owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f)
    os.replace(tmp, path)


def _remove_own_server_file(path: Path) -> None:
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if info.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


class _Stop(Exception):
    """Raised by our SIGTERM handler so clean-up runs (the default action would skip it)."""


def _on_term(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def serve(
    settings: ServerSettings,
    echo: Callable[[str], None] = print,
    analysis: AnalysisSettings | None = None,
) -> None:
    """Serve until Ctrl-C or SIGTERM; raise :class:`ServeError` when start-up fails.
    ``analysis``: the analyses' defaults and schedule (None: from the environment)."""
    try:
        settings.validate()
        geo = geo_status()
    except SettingsError as exc:
        raise ServeError(one_line(exc)) from None
    store = open_server_store(settings)
    server_file = server_file_for(settings.db) if settings.write_server_file else None
    admin_name = f"serve-{os.getpid()}-{secrets.token_hex(3)}"
    sock: socket.socket | None = None
    enricher: Any | None = None
    try:
        leftover = revoke_stale_run_tokens(store, server_file_for(settings.db) is not None)
        if leftover:
            names = ", ".join(leftover)
            echo(f"botmon: revoked the admin tokens that killed servers left: {names}")
        admin_token, _ = issue_token(store, admin_name, "admin")
        sock = _bind(settings.host, settings.port)
        port = sock.getsockname()[1]
        url = settings.url(port)
        enricher = load_enricher(echo)
        stale = stale_warning(geo) if enricher is not None else None
        if stale is not None:
            echo(stale)
        state = ServerState(
            store=store,
            settings=settings,
            enricher=enricher,
            enricher_factory=default_enricher if enricher is not None else None,
            analysis=analysis,
        )
        state.started_at = time.time()
        app = create_app(state)
        config = uvicorn.Config(
            app,
            loop="uvloop",
            http=timed_protocol(settings.header_timeout_s, settings.body_idle_timeout_s),
            timeout_keep_alive=settings.keep_alive_s,
            limit_concurrency=settings.max_connections,
            lifespan="on",
            log_level="warning",
            access_log=False,
            ssl_certfile=settings.tls_cert,
            ssl_keyfile=settings.tls_key,
            timeout_graceful_shutdown=5,
            server_header=False,
        )
        server = HttpAndGrpcServer(config, state, echo)
        if server_file is not None:
            info = {
                "url": url,
                "pid": os.getpid(),
                "admin_token": admin_token,
                "admin_name": admin_name,
                "db": settings.db,
                "tls_cert": settings.tls_cert and str(Path(settings.tls_cert).resolve()),
            }
            write_server_file(server_file, info)
        echo(f"botmon: serving {url} (store: {store.backend} {redact(settings.db)})")
        echo(f"botmon: API documentation at {url}/openapi.json; Ctrl-C stops")
        previous = signal.signal(signal.SIGTERM, _on_term)
        try:
            server.run(sockets=[sock])
        except (KeyboardInterrupt, _Stop):
            pass
        except GrpcStartError as exc:
            raise ServeError(str(exc)) from None
        finally:
            signal.signal(signal.SIGTERM, previous)
        echo("botmon: stopped")
    finally:
        if server_file is not None:
            _remove_own_server_file(server_file)
        if sock is not None:
            sock.close()
        # The store may be the reason we stop; the token must still not outlive its run.
        with contextlib.suppress(Exception):
            store.revoke_monitor(admin_name)
        store.close()
        if enricher is not None:
            with contextlib.suppress(Exception):
                enricher.close()


def load_enricher(echo: Callable[[str], None] | None = None) -> Any | None:
    """The default enrichment (country, AS), or None with a warning when it cannot load.

    Enrichment is optional: a missing or broken geolocation database must not stop ingest.
    """
    try:
        return default_enricher()
    except Exception as exc:
        if echo is not None:
            echo(f"botmon: warning: enrichment is off ({exc})")
        return None
