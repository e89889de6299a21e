"""The settings of ``botmon serve``, in one place, validated once at start.

Every limit the server enforces (body sizes, cache lifetimes, query caps) lives here with its
reason, so a deployment reads one file to know what it can tune and a bad value stops start-up
with one clear line instead of surfacing as a strange error under load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_DB = "botmon.duckdb"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8470
DEFAULT_MAX_BODY_MB = 16.0
"""A full batch of 10,000 replies is about 1 MB of JSON; 16 MB leaves room for ``data``."""


class SettingsError(ValueError):
    """A setting that cannot work; the message is the one line the user sees."""


def one_line(exc: BaseException) -> str:
    """An error's message as one line (driver messages often carry SQL and carets)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def redact(db: str) -> str:
    """A database target without its password, for messages and logs."""
    if is_database_url(db) and "@" in db:
        scheme, _, rest = db.partition("://")
        creds, _, host = rest.rpartition("@")
        if ":" in creds:
            return f"{scheme}://{creds.split(':')[0]}:***@{host}"
    return db


def is_database_url(target: str) -> bool:
    """True for a PostgreSQL URL, False for a DuckDB file path."""
    return target.startswith(("postgresql://", "postgres://"))


def duckdb_path(target: str) -> str | None:
    """The file path of a DuckDB target (plain path or ``duckdb://``), None otherwise."""
    if is_database_url(target) or target == ":memory:":
        return None
    if target.startswith("duckdb://"):
        return target[len("duckdb://") :] or None
    if "://" in target:
        return None  # some other scheme: the store names what it accepts
    return target


def server_file_for(db: str) -> Path | None:
    """Where ``botmon serve`` advertises itself for a DuckDB file (None for PostgreSQL).

    The CLI reads this file when the DuckDB file is locked by the server, and then goes
    through the admin API instead of the file.
    """
    path = duckdb_path(db)
    if path is None:
        return None
    return Path(path).resolve().with_name(Path(path).name + ".server.json")


MAX_INGEST_WORKERS = 32


@dataclass(frozen=True)
class ServerSettings:
    """Everything ``botmon serve`` can be told, with the defaults a fresh install uses."""

    db: str = DEFAULT_DB
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    tls_cert: str | None = None
    tls_key: str | None = None
    max_body_bytes: int = int(DEFAULT_MAX_BODY_MB * 1024 * 1024)
    """Largest ingest body; a bigger one gets 413 before it is read."""
    max_heartbeat_bytes: int = 64 * 1024
    """Largest heartbeat body: a status is counters and a state, never records."""
    max_admin_body_bytes: int = 64 * 1024
    """Largest admin request body (token, botnet, command)."""
    token_cache_s: float = 2.0
    """How long a token lookup is reused; a revocation takes effect within this time."""
    botnet_cache_s: float = 2.0
    """How long "this botnet exists" is reused on the ingest path."""
    future_skew_s: float = 300.0
    """How far ahead of the server clock a reporter's timestamps may be."""
    max_population_buckets: int = 10_000
    """Cap on buckets per population query, so one request cannot ask for millions of rows."""
    default_population_window_s: int = 24 * 3600
    default_population_bucket_s: int = 3600
    summary_refresh_s: float = 30.0
    """How often the server brings the dashboard's summary tables up to date in the
    background (0: only when a dashboard asks). Each refresh merges what arrived since the
    last one, so this bounds the work a dashboard request can find waiting."""
    store_threads: int = 4
    """Worker threads for blocking store calls (the event loop never waits on the database)."""
    ingest_workers: int | None = None
    """Processes that decode, check, enrich and build rows for ingest batches, so the server
    process only writes (0: do it in the store threads; None: one per core beyond the
    first, at most 4)."""
    write_server_file: bool = True
    """Write ``<db>.server.json`` so the CLI can administer a DuckDB file the server holds."""

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    def url(self, port: int | None = None) -> str:
        """The base URL clients use to reach this server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port if port is None else port}"

    def validate(self) -> ServerSettings:
        """Check every value; raise :class:`SettingsError` with one line for the first bad one."""
        if not self.db:
            raise SettingsError("--db must name a DuckDB file or a postgresql:// URL")
        path = duckdb_path(self.db)
        if path is not None:
            parent = Path(path).resolve().parent
            if not parent.is_dir():
                raise SettingsError(f"--db: directory {str(parent)!r} does not exist")
            if not os.access(parent, os.W_OK):
                raise SettingsError(f"--db: directory {str(parent)!r} is not writable")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"--port must be 0..65535, not {self.port}")
        if not self.host:
            raise SettingsError("--host must not be empty")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SettingsError("--tls-cert and --tls-key must be given together")
        for name, path in (("--tls-cert", self.tls_cert), ("--tls-key", self.tls_key)):
            if path is not None and not os.access(path, os.R_OK):
                raise SettingsError(f"{name}: cannot read {path!r}")
        if not 1024 <= self.max_body_bytes <= 1024 * 1024 * 1024:
            raise SettingsError("--max-body-mb must be between 0.001 and 1024")
        if self.token_cache_s < 0 or self.botnet_cache_s < 0:
            raise SettingsError("cache lifetimes must not be negative")
        if self.store_threads < 1:
            raise SettingsError("store_threads must be at least 1")
        workers = self.ingest_workers
        if workers is not None and not 0 <= workers <= MAX_INGEST_WORKERS:
            raise SettingsError(f"--ingest-workers must be 0..{MAX_INGEST_WORKERS}, not {workers}")
        if self.max_population_buckets < 1:
            raise SettingsError("max_population_buckets must be at least 1")
        return self
