"""The PostgreSQL store: several server workers or machines sharing one database.

Schema: ``migrations/postgresql/*.sql`` (timestamptz, inet, jsonb; botnet and source small
integer ids). Connections come from a psycopg_pool pool, one per call, so the server's worker
threads run concurrently. A batch is one transaction: its ``batches`` row first (the unique key
on (source, batch_id) makes a concurrent duplicate wait, then see the conflict and store
nothing), then one text COPY per record kind (:mod:`botmon.store.pg_copy`). Migrations run
under a transaction-scoped advisory lock so that servers starting together migrate once.
"""

from __future__ import annotations

import functools
import ipaddress
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg
import pyarrow as pa
from psycopg import errors
from psycopg_pool import ConnectionPool, PoolTimeout

from botmon.feeds.model import FeedScope
from botmon.ipaddr import int_to_ip
from botmon.limits import Role
from botmon.store import common, configs, pg_copy, pg_export_data, summaries, windows
from botmon.store.base import (
    Botnet,
    Heartbeat,
    Monitor,
    RecordKind,
    StoreDataError,
    StoreError,
    StoreUnavailable,
    WriteResult,
)
from botmon.store.exclusions import ExclusionPort
from botmon.store.feeds import FeedPort
from botmon.store.outage import Breaker
from botmon.store.prepared import PreparedBatch
from botmon.store.public_views import PublicViewPort
from botmon.store.reads import AnalysisPort, ReadPort, arrow_from_rows
from botmon.validation import ValidatedBatch
from botmon.wire import RECORD_KINDS, Campaign, Command

MIGRATION_LOCK_KEY = 0x626F746D6F6E  # "botmon"
SUMMARY_LOCK_KEY = MIGRATION_LOCK_KEY + 1
"""Advisory lock held by a summary refresh (one at a time per database)."""
"""The advisory lock id every botmon server takes while migrating."""
CONNECT_TIMEOUT_S = 2
"""libpq's connect timeout (its smallest useful value): a host that does not answer is
noticed within seconds."""
OPEN_TIMEOUT_S = 30.0
"""How long opening the store waits for its first connection (a server starting with it)."""
POOL_TIMEOUT_S = 1.5
"""How long a call waits for a pooled connection. The server's store and read threads never
outnumber the pool, so a longer wait means PostgreSQL is away (the outage breaker trips) or
streamed exports hold every connection (a 503 to retry)."""
CLOSE_TIMEOUT_S = 2.0
"""How long closing waits for the pool's threads, so a server stops quickly in an outage."""
QUERY_TIMEOUT_MS = 120_000
"""query() statements are cancelled after this long: a runaway analysis must not pin a worker."""

_INET_OID = 869
_EXPORT_COLUMNS = {
    "replies": "floor(extract(epoch FROM t.ts) * 1000000)::bigint AS timestamp, t.ip, t.port, "
    f"t.bot_id, {pg_export_data.data_column()}, t.country, t.asn",
    "failed_tries": "floor(extract(epoch FROM t.ts) * 1000000)::bigint AS timestamp, t.ip, "
    f"t.port, t.bot_id, t.reason, {pg_export_data.data_column()}",
    "edges": "floor(extract(epoch FROM t.ts) * 1000000)::bigint AS timestamp, t.src_ip, "
    "t.src_port, t.src_id, t.dst_ip, t.dst_port, t.dst_id",
}
"""Export columns per kind, named as in :data:`common.EXPORT_SCHEMAS` (time as epoch micros)."""


def _ip_text(value: Any) -> str | None:
    """An ``inet`` value as botmon's canonical text (the same text DuckDB exports)."""
    if value is None:
        return None
    if isinstance(value, ipaddress.IPv4Address):
        return str(value)
    if isinstance(value, ipaddress.IPv4Interface | ipaddress.IPv6Interface):
        value = value.ip
        if isinstance(value, ipaddress.IPv4Address):
            return str(value)
    return int_to_ip(int(value))


class PostgresStore(
    configs.ConfigPort, ExclusionPort, PublicViewPort, FeedPort, ReadPort, AnalysisPort
):
    """A :class:`botmon.store.base.Store` on a PostgreSQL database."""

    backend = "postgresql"

    def __init__(self, dsn: str, pool_size: int = 10) -> None:
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=max(1, pool_size),
            open=False,
            name="botmon-store",
            # A connection broken by a PostgreSQL restart is replaced before use, so one
            # restart costs a reconnect rather than a failed batch per pooled connection.
            check=ConnectionPool.check_connection,
            kwargs={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": "botmon"},
        )
        try:
            self._pool.open(wait=True, timeout=OPEN_TIMEOUT_S)
        except PoolTimeout as exc:
            self._pool.close()
            raise StoreError("PostgreSQL did not accept connections in time") from exc
        self._closed = False
        self._dsn = dsn
        self._breaker = Breaker(functools.partial(_probe, dsn))
        self._botnet_ids: dict[str, int] = {}
        self._source_ids: dict[str, int] = {}

    # -- plumbing --------------------------------------------------------------------------
    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection inside one transaction (committed on success)."""
        if self._closed:
            raise StoreError("the store is closed")
        self._breaker.check()
        try:
            with self._pool.connection(timeout=POOL_TIMEOUT_S) as conn:
                yield conn
        except PoolTimeout as exc:
            raise self._pool_timeout() from exc
        except (psycopg.DataError, errors.ProgramLimitExceeded) as exc:
            raise StoreDataError(f"PostgreSQL refused a value: {str(exc).strip()}") from exc
        except psycopg.Error as exc:
            if _is_outage(exc):
                raise self._breaker.trip(_first_line(exc)) from exc
            raise StoreError(f"PostgreSQL error: {str(exc).strip()}") from exc

    def _config_write(self) -> AbstractContextManager[psycopg.Connection[Any]]:
        return self._conn()

    def _pool_timeout(self) -> StoreUnavailable:
        """No pooled connection in time: an outage when PostgreSQL refuses a fresh connection
        too (the breaker trips), else every connection is busy (long exports): try later."""
        try:
            _probe(self._dsn)
        except psycopg.Error as exc:
            return self._breaker.trip(_first_line(exc))
        return StoreUnavailable("every PostgreSQL connection is busy; retry later", 1)

    def _botnet_id(self, conn: psycopg.Connection[Any], name: str) -> int:
        found = self._botnet_ids.get(name)
        if found is not None:
            return found
        if not isinstance(name, str) or "\x00" in name:
            raise StoreError(f"unknown botnet {str(name)[:70]!r}")
        row = conn.execute("SELECT id FROM botnets WHERE name = %s", [name]).fetchone()
        if row is None:
            raise StoreError(f"unknown botnet {str(name)[:70]!r}")
        self._botnet_ids[name] = int(row[0])
        return int(row[0])

    def _source_id(self, name: str, *, create: bool = True) -> int | None:
        """The id of a source name, created on first use in its own small transaction."""
        found = self._source_ids.get(name)
        if found is not None:
            return found
        common.check_name("source", name)
        with self._conn() as conn:
            if create:
                conn.execute(
                    "INSERT INTO sources (name) VALUES (%s) ON CONFLICT (name) DO NOTHING", [name]
                )
            row = conn.execute("SELECT id FROM sources WHERE name = %s", [name]).fetchone()
        if row is None:
            return None
        self._source_ids[name] = int(row[0])
        return int(row[0])

    # -- life cycle ------------------------------------------------------------------------
    @staticmethod
    def _version(conn: psycopg.Connection[Any]) -> int:
        row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        if not row or not row[0]:
            return 0
        got = conn.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(got[0]) if got and got[0] is not None else 0

    def schema_version(self) -> int:
        with self._conn() as conn:
            return self._version(conn)

    def migrate(self) -> int:
        steps = common.migrations("postgresql")
        newest = steps[-1][0]
        with self._conn() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATION_LOCK_KEY])
            current = self._version(conn)
            if current > newest:
                raise StoreError(
                    f"the database is at schema version {current}, newer than this botmon "
                    f"({newest}); upgrade botmon"
                )
            for version, sql in steps:
                if version > current:
                    conn.execute(sql.encode())
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", [version])
        return max(current, newest)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._breaker.close()
        # Bounded: during an outage the pool's workers may be waiting on a connect.
        self._pool.close(timeout=CLOSE_TIMEOUT_S)

    # -- botnets ---------------------------------------------------------------------------
    def create_botnet(self, name: str, description: str = "") -> Botnet:
        common.check_botnet_name(name)
        common.check_text("description", description)
        try:
            with self._conn() as conn:
                row = conn.execute(
                    "INSERT INTO botnets (name, description, created_at) "
                    "VALUES (%s, %s, to_timestamp(%s)) "
                    "RETURNING id, name, description, extract(epoch FROM created_at)::float8",
                    [name, description, time.time()],
                ).fetchone()
        except StoreError as exc:
            if isinstance(exc.__cause__, errors.UniqueViolation):
                raise StoreError(f"a botnet named {name!r} exists already") from None
            raise
        assert row is not None
        return common.botnet_from_row(row)

    def get_botnet(self, name: str) -> Botnet | None:
        if "\x00" in name:
            return None
        with self._conn() as conn:
            row = conn.execute(
                "SELECT id, name, description, extract(epoch FROM created_at)::float8 "
                "FROM botnets WHERE name = %s",
                [name],
            ).fetchone()
        return None if row is None else common.botnet_from_row(row)

    def list_botnets(self) -> list[Botnet]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT id, name, description, extract(epoch FROM created_at)::float8 "
                'FROM botnets ORDER BY name COLLATE "C"'
            ).fetchall()
        return [common.botnet_from_row(r) for r in rows]

    # -- monitors --------------------------------------------------------------------------
    _MONITOR_COLUMNS = (
        "id, name, role, botnets, extract(epoch FROM created_at)::float8, revoked, token_prefix, "
        + common.MONITOR_SCOPE_COLUMNS
    )

    def create_monitor(
        self,
        name: str,
        role: Role,
        botnets: Sequence[str],
        token_hash: str,
        token_prefix: str,
        scope: FeedScope | None = None,
    ) -> Monitor:
        wanted = common.check_monitor(name, role, botnets, token_hash, token_prefix, scope)
        scope = scope or FeedScope()
        try:
            with self._conn() as conn:
                for b in wanted:
                    self._botnet_id(conn, b)
                row = conn.execute(
                    "INSERT INTO monitors (name, role, token_hash, token_prefix, botnets, "
                    f"created_at, {common.MONITOR_SCOPE_COLUMNS}) VALUES (%s, %s, %s, %s, "
                    "%s::text[], to_timestamp(%s), %s::bigint[], %s::text[], %s::text[]) "
                    f"RETURNING {self._MONITOR_COLUMNS}",
                    [
                        name,
                        role,
                        token_hash,
                        token_prefix,
                        wanted,
                        time.time(),
                        list(scope.asns),
                        list(scope.cidrs),
                        list(scope.countries),
                    ],
                ).fetchone()
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, errors.UniqueViolation):
                if "token_hash" in str(cause):
                    raise StoreError("a monitor with that token exists already") from None
                raise StoreError(f"a monitor named {name!r} exists already") from None
            raise
        assert row is not None
        return common.monitor_from_row(row)

    def list_monitors(self) -> list[Monitor]:
        with self._conn() as conn:
            rows = conn.execute(
                f'SELECT {self._MONITOR_COLUMNS} FROM monitors ORDER BY name COLLATE "C"'
            ).fetchall()
        return [common.monitor_from_row(r) for r in rows]

    def revoke_monitor(self, name: str) -> bool:
        if "\x00" in name:
            return False
        with self._conn() as conn:
            rows = conn.execute(
                "UPDATE monitors SET revoked = true, revoked_at = now() "
                "WHERE name = %s AND NOT revoked RETURNING id",
                [name],
            ).fetchall()
        return bool(rows)

    def monitor_by_token_hash(self, token_hash: str) -> Monitor | None:
        if "\x00" in token_hash:
            return None
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT {self._MONITOR_COLUMNS} FROM monitors "
                "WHERE token_hash = %s AND NOT revoked",
                [token_hash],
            ).fetchone()
        return None if row is None else common.monitor_from_row(row)

    # -- ingest ----------------------------------------------------------------------------
    def write_batch(self, batch: ValidatedBatch, source: str) -> WriteResult:
        return self.write_prepared(common.prepare(self.backend, batch), source)

    def write_prepared(self, batch: PreparedBatch, source: str) -> WriteResult:
        if batch.backend != self.backend:
            raise StoreError(f"a batch prepared for {batch.backend} cannot go into PostgreSQL")
        counts = batch.counts
        common.check_text("batch id", batch.batch_id)
        source_id = self._source_id(source)
        assert source_id is not None
        with self._conn() as conn:
            botnet_id = self._botnet_id(conn, batch.botnet)
            inserted = conn.execute(
                "INSERT INTO batches (source_id, batch_id, botnet_id, received_at, replies,"
                " failed_tries, edges, seq, first_ts, last_ts, source_type)"
                " VALUES (%s, %s, %s, now(), %s, %s, %s, pg_current_xact_id()::text::bigint,"
                " to_timestamp(%s::float8 / 1e6), to_timestamp(%s::float8 / 1e6), %s)"
                " ON CONFLICT (source_id, batch_id) DO NOTHING RETURNING 1",
                [
                    source_id,
                    batch.batch_id,
                    botnet_id,
                    counts["replies"],
                    counts["failed_tries"],
                    counts["edges"],
                    batch.first_us,
                    batch.last_us,
                    batch.source_type,
                ],
            ).fetchone()
            if inserted is None:
                return WriteResult(duplicate=True, stored=dict.fromkeys(RECORD_KINDS, 0))
            with conn.cursor() as cur:
                for kind, rows in batch.rows.items():
                    if rows:
                        with cur.copy(pg_copy.COPY_SQL[kind]) as copy:
                            copy.write(
                                pg_copy.with_ids(rows, botnet_id, source_id, batch.source_type)
                            )
                if batch.as_names:
                    # One statement, rows in asn order: concurrent batches lock the same rows
                    # in the same order and cannot deadlock.
                    asns = sorted(batch.as_names)
                    cur.execute(
                        "INSERT INTO ases SELECT * FROM unnest(%s::bigint[], %s::text[]) "
                        "ON CONFLICT (asn) DO UPDATE SET name = excluded.name "
                        "WHERE ases.name <> excluded.name",
                        [asns, [batch.as_names[a].replace("\x00", "") for a in asns]],
                    )
            configs.apply(conn, self.backend, botnet_id, batch.configs)
        return WriteResult(duplicate=False, stored=counts)

    # -- reads -----------------------------------------------------------------------------
    def count_records(self, botnet: str | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        with self._conn() as conn:
            where, params = "", []
            if botnet is not None:
                where, params = " WHERE botnet_id = %s", [self._botnet_id(conn, botnet)]
            for table in (*RECORD_KINDS, "batches"):
                got = conn.execute(f"SELECT count(*) FROM {table}{where}", params).fetchone()
                out[table] = int(got[0]) if got else 0
        return out

    def export(
        self, kind: RecordKind, botnet: str, start: float | None = None, end: float | None = None
    ) -> Iterator[pa.RecordBatch]:
        common.check_kind(kind)
        schema = common.EXPORT_SCHEMAS[kind]
        with self._conn() as conn:
            botnet_id = self._botnet_id(conn, botnet)
            where: list[str] = ["t.botnet_id = %s"]
            params: list[float] = [botnet_id]
            if start is not None:
                where.append("t.ts >= to_timestamp(%s)")
                params.append(common.check_time("start", start))
            if end is not None:
                where.append("t.ts < to_timestamp(%s)")
                params.append(common.check_time("end", end))
            sql = (
                f"SELECT {_EXPORT_COLUMNS[kind]}, s.name AS source, t.source_type FROM {kind} t "
                f"JOIN sources s ON s.id = t.source_id WHERE {' AND '.join(where)} "
                "ORDER BY t.ts"
            )
            # A named (server-side) cursor streams rows in bounded chunks.
            with conn.cursor(name="botmon_export") as cur:
                cur.itersize = common.EXPORT_BATCH_ROWS
                cur.execute(sql, params)
                names = [d.name for d in cur.description or []]
                while True:
                    rows = cur.fetchmany(common.EXPORT_BATCH_ROWS)
                    if not rows:
                        break
                    yield self._export_batch(schema, names, rows, botnet)

    @staticmethod
    def _export_batch(
        schema: pa.Schema, names: list[str], rows: list[tuple[Any, ...]], botnet: str
    ) -> pa.RecordBatch:
        columns = dict(zip(names, zip(*rows, strict=True), strict=True))
        arrays: list[pa.Array] = []
        for field in schema:
            if field.name == "botnet":
                arrays.append(pa.array([botnet] * len(rows), pa.string()))
            elif field.name == "timestamp":
                arrays.append(pa.array(columns["timestamp"], pa.int64()).cast(field.type))
            elif field.name.endswith("ip"):
                arrays.append(pa.array([_ip_text(v) for v in columns[field.name]], pa.string()))
            elif field.name == "data":
                bounded = [pg_export_data.bounded(v) for v in columns["data"]]
                arrays.append(pa.array(bounded, field.type))
            else:
                arrays.append(pa.array(columns[field.name], field.type))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def refresh_summaries(self, *, full: bool = False) -> int:
        """Merge the replies of batches stored since the last refresh into the seen tables.

        The new watermark is the oldest transaction running when the refresh starts
        (``pg_snapshot_xmin``), read before the batches are: a batch whose transaction was
        still open then has a seq at or above it and is merged by the next refresh. One
        refresh at a time (an advisory lock); merges are idempotent, so re-merging is safe.
        """
        state_sql = "SELECT watermark FROM summary_state WHERE name = %s"
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT ({state_sql}), (SELECT max(seq) FROM batches)", [summaries.SEEN_STATE]
            ).fetchone()
        if row is not None and summaries.is_current(row[0], row[1]) and not full:
            return 0
        with self._conn() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [SUMMARY_LOCK_KEY])
            found = conn.execute(
                f"SELECT ({state_sql}), pg_snapshot_xmin(pg_current_snapshot())::text::bigint,"
                " (SELECT max(seq) FROM batches)",
                [summaries.SEEN_STATE],
            ).fetchone()
            assert found is not None
            watermark, horizon, top = found
            if full:
                watermark = None
            elif summaries.is_current(watermark, top):
                return 0
            if watermark is None:
                conn.execute("TRUNCATE seen_ips, seen_ids")
                for sql in summaries.merge_statements("postgresql", "true", upsert=False):
                    conn.execute(sql.encode())
                for sql in windows.full_build("postgresql"):
                    conn.execute(sql.encode())
                merged = -1
            else:
                spans = conn.execute(
                    "SELECT botnet_id, (extract(epoch FROM first_ts) * 1e6)::bigint,"
                    " (extract(epoch FROM last_ts) * 1e6)::bigint FROM batches"
                    " WHERE seq >= %s AND replies > 0 AND first_ts IS NOT NULL",
                    [watermark],
                ).fetchall()
                joined = summaries.coalesce_spans(spans)
                for botnet_id, lo, hi in joined:
                    where = summaries.span_where("postgresql", botnet_id, lo, hi)
                    for sql in summaries.merge_statements("postgresql", where):
                        conn.execute(sql.encode())
                    for sql in windows.span_statements(
                        "postgresql", *summaries.widened(botnet_id, lo, hi)
                    ):
                        conn.execute(sql.encode())
                merged = len(joined)
            conn.execute(
                "UPDATE summary_state SET watermark = %s WHERE name = %s",
                [int(horizon), summaries.SEEN_STATE],
            )
        return merged

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Debugging and tests only: run one read-only query (PostgreSQL SQL, ``%s``
        parameters). botmon's own code reads through the named methods of the read port
        (:mod:`botmon.store.reads`); a test checks nothing outside ``store/`` calls this."""
        return self._select(sql, params)

    def _select_arrow(self, sql: str, params: Sequence[Any], schema: pa.Schema) -> pa.Table:
        """One read-only SELECT as Arrow (:meth:`AnalysisPort._select_arrow`)."""
        return arrow_from_rows(self._select(sql, params), schema)

    def _stream(
        self, sql: str, params: Sequence[Any], size: int
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Rows of one SELECT, ``size`` at a time, from a named (server-side) cursor
        (:meth:`FeedPort._stream`); the pooled connection is held until the last row."""
        values = common.check_params(params)
        with self._conn() as conn:
            conn.execute("SET TRANSACTION READ ONLY")
            with conn.cursor(name="botmon_feed") as cur:
                cur.itersize = size
                cur.execute(sql, values)
                while True:
                    rows = cur.fetchmany(size)
                    if not rows:
                        break
                    yield rows

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read-only query in a READ ONLY transaction, results made engine-neutral:
        inet columns become canonical IP text, timestamps epoch seconds, numerics int or
        float, jsonb Python objects."""
        values = common.check_params(params)
        with self._conn() as conn:
            conn.execute("SET TRANSACTION READ ONLY")
            conn.execute(f"SET LOCAL statement_timeout = {QUERY_TIMEOUT_MS}")
            try:
                cur = conn.execute(sql, values or None)
            except psycopg.Error as exc:
                conn.rollback()
                raise StoreError(f"query failed: {str(exc).strip()}") from exc
            if cur.description is None:
                conn.rollback()
                raise StoreError("query() runs exactly one read-only SELECT statement")
            inet = [d.type_code == _INET_OID for d in cur.description]
            rows = cur.fetchall()
            conn.rollback()
        return [
            tuple(
                _ip_text(v) if is_ip else common.plain_value(v)
                for is_ip, v in zip(inet, row, strict=True)
            )
            for row in rows
        ]

    # -- coordination ----------------------------------------------------------------------
    def record_heartbeat(self, source: str, at: float, status: dict[str, Any]) -> None:
        common.check_time("at", at)
        text = common.encode_json("status", status)
        source_id = self._source_id(source)
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO heartbeats VALUES (%s, to_timestamp(%s), %s::jsonb) "
                "ON CONFLICT (source_id) DO UPDATE "
                "SET reported_at = excluded.reported_at, status = excluded.status "
                "WHERE excluded.reported_at >= heartbeats.reported_at",
                [source_id, at, text],
            )

    def heartbeats(self) -> list[Heartbeat]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT s.name, extract(epoch FROM h.reported_at)::float8, h.status "
                "FROM heartbeats h "
                'JOIN sources s ON s.id = h.source_id ORDER BY s.name COLLATE "C"'
            ).fetchall()
        return [Heartbeat(r[0], float(r[1]), common.decode_json(r[2])) for r in rows]

    def add_command(self, source: str, command: str, args: dict[str, Any], at: float) -> Command:
        common.check_name("command", command)
        common.check_time("at", at)
        text = common.encode_json("args", args)
        source_id = self._source_id(source)
        with self._conn() as conn:
            row = conn.execute(
                "INSERT INTO commands (source_id, command, args, created_at) "
                "VALUES (%s, %s, %s::jsonb, to_timestamp(%s)) "
                "RETURNING id, args, extract(epoch FROM created_at)::float8",
                [source_id, command, text, at],
            ).fetchone()
        assert row is not None
        return Command(
            id=int(row[0]),
            source=source,
            command=command,
            args=common.decode_json(row[1]),
            created_at=float(row[2]),
        )

    def take_commands(self, source: str) -> list[Command]:
        if "\x00" in source:
            return []
        source_id = self._source_id(source, create=False)
        if source_id is None:
            return []
        with self._conn() as conn:
            # SKIP LOCKED: two heartbeats of one source at once each get distinct commands.
            rows = conn.execute(
                """
                UPDATE commands SET delivered_at = now()
                WHERE id IN (
                    SELECT id FROM commands WHERE source_id = %s AND delivered_at IS NULL
                    ORDER BY id FOR UPDATE SKIP LOCKED
                )
                RETURNING id, command, args, extract(epoch FROM created_at)::float8
                """,
                [source_id],
            ).fetchall()
        return common.commands(source, rows)

    # -- campaigns -------------------------------------------------------------------------
    def start_campaign(
        self, botnet: str, source: str, settings: dict[str, Any], at: float
    ) -> Campaign:
        common.check_time("at", at)
        text = common.encode_json("settings", settings)
        source_id = self._source_id(source)
        with self._conn() as conn:
            botnet_id = self._botnet_id(conn, botnet)
            row = conn.execute(
                "INSERT INTO campaigns (botnet_id, source_id, started_at, settings) "
                "VALUES (%s, %s, to_timestamp(%s), %s::jsonb) "
                "RETURNING id, extract(epoch FROM started_at)::float8",
                [botnet_id, source_id, at, text],
            ).fetchone()
        assert row is not None
        return common.campaign(row[0], botnet, source, row[1], None, text)

    def end_campaign(self, campaign_id: int, source: str, at: float) -> Campaign | None:
        common.check_time("at", at)
        source_id = self._source_id(source, create=False)
        if source_id is None or not common.is_row_id(campaign_id):
            return None
        with self._conn() as conn:
            ended = conn.execute(
                "UPDATE campaigns SET ended_at = to_timestamp(%s) "
                "WHERE id = %s AND source_id = %s AND ended_at IS NULL RETURNING id",
                [at, campaign_id, source_id],
            ).fetchall()
        return self._campaigns("c.id = %s", [campaign_id])[0] if ended else None

    def last_record_times(self, botnet: str, source: str) -> dict[str, float | None]:
        source_id = self._source_id(source, create=False)
        if source_id is None:
            return dict.fromkeys(RECORD_KINDS)
        out: dict[str, float | None] = {}
        with self._conn() as conn:
            found = conn.execute("SELECT id FROM botnets WHERE name = %s", [botnet]).fetchone()
            if found is None:
                return dict.fromkeys(RECORD_KINDS)
            for kind in RECORD_KINDS:
                row = conn.execute(
                    f"SELECT extract(epoch FROM max(ts))::float8 FROM {kind} "
                    "WHERE botnet_id = %s AND source_id = %s",
                    [found[0], source_id],
                ).fetchone()
                out[kind] = None if row is None else row[0]
        return out

    def latest_campaigns(self) -> list[Campaign]:
        return self._campaigns("c.id IN (SELECT max(id) FROM campaigns GROUP BY source_id)", [])

    def campaigns_between(self, botnet: str, start: float, end: float) -> list[Campaign]:
        return self._campaigns(
            "b.name = %s AND c.started_at < to_timestamp(%s) "
            "AND (c.ended_at IS NULL OR c.ended_at >= to_timestamp(%s))",
            [botnet, end, start],
        )

    def _campaigns(self, where: str, params: list[Any]) -> list[Campaign]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT c.id, b.name, s.name, extract(epoch FROM c.started_at)::float8, "
                "extract(epoch FROM c.ended_at)::float8, c.settings "
                "FROM campaigns c JOIN botnets b ON b.id = c.botnet_id "
                f"JOIN sources s ON s.id = c.source_id WHERE {where} ORDER BY c.id",
                params,
            ).fetchall()
        return [common.campaign(*row) for row in rows]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _is_outage(exc: psycopg.Error) -> bool:
    """True when ``exc`` says the database is away, not that this statement failed: no
    connection, a broken one, or the server shutting down (SQLSTATE classes 08 and 57P)."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith(("08", "57P"))


def _probe(dsn: str) -> None:
    """One connection attempt: raises while PostgreSQL is away."""
    psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_S).close()


def open_postgres(dsn: str, *, pool_size: int = 10) -> PostgresStore:
    """Connect once (a clear StoreError when the server is unreachable), then build the pool."""
    try:
        psycopg.connect(dsn, connect_timeout=CONNECT_TIMEOUT_S).close()
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to PostgreSQL: {_first_line(exc)}") from exc
    return PostgresStore(dsn, pool_size=pool_size)
