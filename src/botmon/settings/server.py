"""The ``server`` section: the settings of ``botmon serve``, validated once at start.

Every limit the server enforces (body sizes, cache lifetimes, query caps) lives here with its
reason, so a deployment reads one file to know what it can tune and a bad value stops start-up
with one clear line instead of surfacing as a strange error under load.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, ClassVar

from botmon.limits import MAX_BUCKETS
from botmon.settings.loader import Settings, setting

DEFAULT_DB = "botmon.duckdb"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8470


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
"""More decode processes than this only add memory: the writer is the bottleneck."""
_MB = 1024 * 1024


class ServerSettings(Settings, frozen=True, kw_only=True):
    """Everything ``botmon serve`` can be told, with the defaults a fresh install uses."""

    section: ClassVar[str] = "server"

    db: Annotated[
        str,
        setting(
            "DuckDB file or postgresql:// URL of the store (a URL's password is secret).",
            option="--db",
            env="BOTMON_DB",
            shown=redact,
            min_length=1,
        ),
    ] = DEFAULT_DB
    host: Annotated[
        str,
        setting(
            "Address the server listens on (loopback by default).", option="--host", min_length=1
        ),
    ] = DEFAULT_HOST
    port: Annotated[
        int,
        setting(
            "TCP port the server listens on (0: any free port).", option="--port", ge=0, le=65535
        ),
    ] = DEFAULT_PORT
    tls_cert: (
        Annotated[
            str,
            setting(
                "PEM certificate: serve HTTPS (needs tls_key).", option="--tls-cert", min_length=1
            ),
        ]
        | None
    ) = None
    tls_key: (
        Annotated[str, setting("PEM private key of tls_cert.", option="--tls-key", min_length=1)]
        | None
    ) = None
    max_body_bytes: Annotated[
        int,
        setting(
            "Largest ingest body; a bigger one gets 413 before it is read. A full batch of "
            "10,000 replies is about 1 MB of JSON; 16 MB leaves room for ``data``.",
            option="--max-body-mb",
            ge=1024,
            le=1024 * _MB,
        ),
    ] = 16 * _MB
    max_heartbeat_bytes: Annotated[
        int,
        setting(
            "Largest heartbeat body: a status is counters and a state, never records.", ge=1024
        ),
    ] = 64 * 1024
    max_admin_body_bytes: Annotated[
        int, setting("Largest admin request body (token, botnet, command).", ge=1024)
    ] = 64 * 1024
    token_cache_s: Annotated[
        float,
        setting("How long a token lookup is reused; a revocation takes effect within this.", ge=0),
    ] = 2.0
    botnet_cache_s: Annotated[
        float, setting('How long "this botnet exists" is reused on the ingest path.', ge=0)
    ] = 2.0
    future_skew_s: Annotated[
        float, setting("How far ahead of the server clock a reporter's timestamps may be.", ge=0)
    ] = 300.0
    max_population_buckets: Annotated[
        int,
        setting(
            "Cap on buckets per population query, so one request cannot ask for millions of rows.",
            ge=1,
        ),
    ] = MAX_BUCKETS
    default_population_window_s: Annotated[
        int, setting("Population range when a query gives no start (seconds).", ge=1)
    ] = 24 * 3600
    default_population_bucket_s: Annotated[
        int, setting("Population bucket when a query gives none (seconds).", ge=1)
    ] = 3600
    summary_refresh_s: Annotated[
        float,
        setting(
            "How often the dashboard's summary tables are brought up to date in the background "
            "(0: only when a dashboard asks); bounds the work a dashboard request finds waiting.",
            option="--summary-refresh",
            ge=0,
        ),
    ] = 30.0
    store_threads: Annotated[
        int,
        setting(
            "Threads for blocking store calls (the event loop never waits on the database).",
            ge=1,
            le=256,
        ),
    ] = 4
    read_threads: Annotated[
        int,
        setting(
            "Threads for the read API and dashboard queries, apart from the store threads, so "
            "heavy reads never leave ingest and heartbeats waiting for a thread (0: reads share "
            "the store threads).",
            ge=0,
            le=64,
        ),
    ] = 2
    duckdb_memory_mb: (
        Annotated[
            int,
            setting(
                "DuckDB's memory limit in MB (heavy queries spill to disk beyond it; none: a "
                "quarter of the machine's memory, leaving room for ingest workers and the OS).",
                ge=64,
            ),
        ]
        | None
    ) = None
    header_timeout_s: Annotated[
        float,
        setting(
            "A connection must deliver a request's headers within this long of opening (or of "
            "the request's first byte); a half-sent or silent connection is closed.",
            gt=0,
        ),
    ] = 10.0
    body_idle_timeout_s: Annotated[
        float,
        setting(
            "A request body that stops arriving for this long is abandoned and the connection "
            "closed (time the server itself is not reading does not count).",
            gt=0,
        ),
    ] = 30.0
    keep_alive_s: Annotated[
        int, setting("An idle keep-alive connection is closed after this long.", ge=1)
    ] = 5
    max_connections: Annotated[
        int,
        setting(
            "Most concurrent connections and requests; beyond it requests answer 503 at once "
            "(the process may hold about 20,000 open files).",
            ge=1,
            le=20_000,
        ),
    ] = 2000
    ingest_workers: (
        Annotated[
            int,
            setting(
                "Processes that decode, check, enrich and build rows for ingest batches, so the "
                "server process only writes (0: none; none: one per core beyond the first, "
                "at most 4).",
                option="--ingest-workers",
                ge=0,
                le=MAX_INGEST_WORKERS,
            ),
        ]
        | None
    ) = None
    write_server_file: Annotated[
        bool,
        setting(
            "Write ``<db>.server.json`` so the CLI can administer a DuckDB file the server holds."
        ),
    ] = True
    grpc_port: (
        Annotated[
            int,
            setting(
                "TCP port of the BMS gRPC API, for monitors written for the original BMS "
                "(none: off; 0: any free port). TLS with tls_cert and tls_key, or plaintext "
                "with grpc_plaintext.",
                option="--grpc-port",
                ge=0,
                le=65535,
            ),
        ]
        | None
    ) = None
    grpc_plaintext: Annotated[
        bool,
        setting(
            "Serve the BMS gRPC API without TLS (also beside HTTPS), as BMS clients connect "
            "today (only on a network you trust: the auth tokens cross it readable).",
            option="--grpc-plaintext",
        ),
    ] = False
    bms_session_timeout_s: Annotated[
        int,
        setting(
            "A BMS session unused for this long ends (its monitor registers again); told to "
            "the monitor when it registers.",
            ge=10,
            le=7 * 24 * 3600,
        ),
    ] = 600

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

    def problems(self) -> Iterator[tuple[str, str]]:
        """A DuckDB file's folder must exist and be writable; TLS needs both files, readable."""
        path = duckdb_path(self.db)
        if path is not None:
            parent = Path(path).resolve().parent
            if not parent.is_dir():
                yield "db", f"directory {str(parent)!r} does not exist"
            elif not os.access(parent, os.W_OK):
                yield "db", f"directory {str(parent)!r} is not writable"
        if (self.tls_cert is None) != (self.tls_key is None):
            yield "tls_key", "tls_cert and tls_key must be given together"
        if self.grpc_port is not None and not self.tls and not self.grpc_plaintext:
            yield (
                "grpc_port",
                "the BMS gRPC API needs TLS (--tls-cert and --tls-key) or, on a trusted "
                "network, --grpc-plaintext",
            )
        for name, file in (("tls_cert", self.tls_cert), ("tls_key", self.tls_key)):
            if file is not None and not os.access(file, os.R_OK):
                yield name, f"cannot read {file!r}"
