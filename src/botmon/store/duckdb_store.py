"""The embedded DuckDB store: one file, no server, the default backend.

Schema: ``migrations/duckdb/*.sql`` (times are UTC TIMESTAMP, IPs UHUGEINT, botnet and source
small integer ids). One DuckDB connection per store; every call gets its own cursor, so the
server's worker threads can read concurrently (MVCC), while one lock serialises writes on a
dedicated writer cursor. Ingest goes through Arrow tables registered on that cursor and
inserted in one transaction per batch: DuckDB copies Arrow columns in bulk, about 100 times
faster than row inserts (NOTES.md). Known extensions are never installed or auto-loaded, so
nothing is downloaded at run time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from botmon.feeds.model import FeedScope
from botmon.ipaddr import int_to_ip
from botmon.limits import Role
from botmon.store import common, configs, duckdb_rows, summaries, windows
from botmon.store.base import (
    Botnet,
    Heartbeat,
    Monitor,
    RecordKind,
    StoreDataError,
    StoreError,
    WriteResult,
)
from botmon.store.exclusions import ExclusionPort
from botmon.store.feeds import FeedPort
from botmon.store.group_commit import GroupCommit
from botmon.store.prepared import PreparedBatch
from botmon.store.public_views import PublicViewPort
from botmon.store.reads import AnalysisPort, ReadPort, arrow_with_ips
from botmon.validation import ValidatedBatch
from botmon.wire import RECORD_KINDS, Campaign, Command

DUCKDB_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
"""No extension is ever fetched: json, parquet and icu are built in (NOTES.md)."""

_U64 = duckdb_rows.U64

# Insert statements read the Arrow table registered as ``batch_rows``; botnet and source ids
# and the source type ({ids}) are parameters for one batch, columns of the table for a group
# of batches. IPs
# arrive as two UBIGINT halves because Arrow has no 128-bit integer.
_INSERT = {
    "replies": """
        INSERT INTO replies
            (botnet_id, source_id, source_type, ts, ip, port, bot_id, data, country, asn)
        SELECT {ids}, ts,
            (coalesce(ip_hi, 0)::UHUGEINT << 64) | ip_lo::UHUGEINT,
            port, bot_id, data, country, asn
        FROM batch_rows""",
    "failed_tries": """
        INSERT INTO failed_tries
            (botnet_id, source_id, source_type, ts, ip, port, bot_id, reason, data)
        SELECT {ids}, ts,
            (coalesce(ip_hi, 0)::UHUGEINT << 64) | ip_lo::UHUGEINT,
            port, bot_id, reason, data
        FROM batch_rows""",
    "edges": """
        INSERT INTO edges
            (botnet_id, source_id, source_type, ts, src_ip, src_port, src_id,
             dst_ip, dst_port, dst_id)
        SELECT {ids}, ts,
            (coalesce(src_ip_hi, 0)::UHUGEINT << 64) | src_ip_lo::UHUGEINT,
            src_port, src_id,
            (coalesce(dst_ip_hi, 0)::UHUGEINT << 64) | dst_ip_lo::UHUGEINT,
            dst_port, dst_id
        FROM batch_rows""",
}

_INSERT_ONE = {kind: sql.format(ids="$1, $2, $3") for kind, sql in _INSERT.items()}
_INSERT_GROUP = {
    kind: sql.format(ids="botnet_id, source_id, source_type") for kind, sql in _INSERT.items()
}

_BATCH_COLUMNS = (
    "(source_id, batch_id, botnet_id, received_at, replies, failed_tries, edges, seq,"
    " first_ts, last_ts, source_type)"
)
_BATCH_VALUES = (
    "(?, ?, ?, make_timestamp(?), ?, ?, ?, nextval('batches_seq'), make_timestamp(?),"
    " make_timestamp(?), ?)"
)
"""One ``batches`` row; its parameters come from :func:`_batch_params`."""


@dataclass(frozen=True, slots=True)
class _Pending:
    """A batch checked and ready to write, waiting for its group (or writing alone)."""

    batch: PreparedBatch
    botnet_id: int
    source_id: int
    as_names: dict[int, str]
    """AS names of the batch this store has not written yet."""
    as_rows: pa.Table | None
    """``as_names`` as the Arrow table the single-batch path inserts."""


def _batch_params(p: _Pending, received_us: int) -> list[Any]:
    counts = p.batch.counts
    return [
        p.source_id,
        p.batch.batch_id,
        p.botnet_id,
        received_us,
        counts["replies"],
        counts["failed_tries"],
        counts["edges"],
        p.batch.first_us,
        p.batch.last_us,
        p.batch.source_type,
    ]


def _duplicate() -> WriteResult:
    return WriteResult(duplicate=True, stored=dict.fromkeys(RECORD_KINDS, 0))


def _tagged_rows(group: Sequence[_Pending], kind: str) -> pa.Table | None:
    """The rows of one kind over a group, each tagged with its batch's botnet and source ids
    and source type.

    ``concat_tables`` only chains the batches' buffers, and the id columns are run-length
    cheap to build, so a group costs one register and one insert per kind, not one per batch.
    """
    tables = []
    for p in group:
        table = p.batch.rows.get(kind)
        if table is None:
            continue
        n = table.num_rows
        table = table.append_column(
            "botnet_id", pa.repeat(pa.scalar(p.botnet_id, pa.int16()), n)
        ).append_column("source_id", pa.repeat(pa.scalar(p.source_id, pa.int32()), n))
        table = table.append_column(
            "source_type", pa.repeat(pa.scalar(p.batch.source_type, pa.string()), n)
        )
        tables.append(table)
    return pa.concat_tables(tables) if tables else None


_EXPORT_COLUMNS = {
    "replies": "t.ts AS timestamp, {ip}, t.port, t.bot_id, t.data::VARCHAR AS data, "
    "t.country, t.asn",
    "failed_tries": "t.ts AS timestamp, {ip}, t.port, t.bot_id, t.reason, t.data::VARCHAR AS data",
    "edges": "t.ts AS timestamp, {src_ip}, t.src_port, t.src_id, {dst_ip}, t.dst_port, t.dst_id",
}
"""Export columns per kind, named as in :data:`common.EXPORT_SCHEMAS`."""


def _ip_halves_sql(name: str) -> str:
    """Select a UHUGEINT IP as two UBIGINT halves: DuckDB exports UHUGEINT to Arrow as
    decimal128(38, 0), which cannot hold the top of the IPv6 range."""
    return (
        f"(t.{name} >> 64)::UBIGINT AS {name}_hi, "
        f"(t.{name} & {_U64}::UHUGEINT)::UBIGINT AS {name}_lo"
    )


def _ip_texts(hi: pa.Array, lo: pa.Array) -> pa.Array:
    """Canonical text of IPs given as UBIGINT halves."""
    return pa.array(
        [int_to_ip((h << 64) | v) for h, v in zip(hi.to_pylist(), lo.to_pylist(), strict=True)],
        pa.string(),
    )


_FILE_LOCKS: dict[str, threading.Lock] = {}
_FILE_LOCKS_GUARD = threading.Lock()


def _file_lock(path: str) -> threading.Lock:
    """The write lock of a database file, shared by every store of this process on it.

    DuckDB lets connections of one process share a file (another process is locked out), so
    two stores on one file must also share the lock that serialises their writes; otherwise
    their transactions race and the loser fails on a unique key instead of waiting.
    """
    if path == ":memory:":
        return threading.Lock()  # every in-memory connection is its own database
    key = str(Path(path).resolve())
    with _FILE_LOCKS_GUARD:
        return _FILE_LOCKS.setdefault(key, threading.Lock())


def _first(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    """The first row of a result, reading it to the end.

    DuckDB refuses a new statement on a cursor whose last result is not fully fetched, so
    ``fetchone`` would break the next call on the same cursor.
    """
    rows = result.fetchall()
    return rows[0] if rows else None


def _ts(value: float) -> Any:
    """An epoch-seconds value as the micros DuckDB's ``make_timestamp`` takes."""
    return common.to_micros(value)


class DuckDBStore(
    configs.ConfigPort, ExclusionPort, PublicViewPort, FeedPort, ReadPort, AnalysisPort
):
    """A :class:`botmon.store.base.Store` on one DuckDB file (or ``:memory:``)."""

    backend = "duckdb"

    def __init__(self, path: str, memory_mb: int | None = None) -> None:
        self.path = path
        config = dict(DUCKDB_CONFIG)
        if memory_mb is not None:
            config["memory_limit"] = f"{int(memory_mb)}MB"
        try:
            self._con = duckdb.connect(path, config=config)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open DuckDB database {path!r}: {exc}") from exc
        self._write_lock = _file_lock(path)
        self._cursor_lock = threading.Lock()
        self._writer = self._con.cursor()
        self._closed = False
        self._botnet_ids: dict[str, int] = {}
        self._source_ids: dict[str, int] = {}
        self._as_written: dict[int, str] = {}
        """AS names this store has written (and committed): not written again."""
        self.group_commit: GroupCommit[_Pending, WriteResult] = GroupCommit(
            self._write_lock, self._write_group, max_items=16, max_weight=200_000
        )
        """Batches written concurrently share a transaction; its counters show how."""

    # -- plumbing --------------------------------------------------------------------------
    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._cursor_lock:
            if self._closed:
                raise StoreError("the store is closed")
            return self._con.cursor()

    @contextmanager
    def _read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._cursor()
        try:
            yield cur
        except duckdb.Error as exc:
            raise StoreError(f"DuckDB read failed: {exc}") from exc
        finally:
            cur.close()

    @contextmanager
    def _write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The writer cursor inside one transaction, under the write lock."""
        with self._write_lock, self._transaction() as cur:
            yield cur

    def _config_write(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        return self._write()

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The writer cursor inside one transaction; the caller holds the write lock."""
        if self._closed:
            raise StoreError("the store is closed")
        cur = self._writer
        cur.begin()
        try:
            yield cur
        except BaseException:
            cur.rollback()
            raise
        cur.commit()

    def _botnet_id(self, cur: duckdb.DuckDBPyConnection, name: str) -> int:
        found = self._botnet_ids.get(name)
        if found is not None:
            return found
        if not isinstance(name, str):
            raise StoreError(f"unknown botnet {str(name)[:70]!r}")
        row = _first(cur.execute("SELECT id FROM botnets WHERE name = ?", [name]))
        if row is None:
            raise StoreError(f"unknown botnet {name[:70]!r}")
        self._botnet_ids[name] = int(row[0])
        return int(row[0])

    def _source_id(self, name: str, *, create: bool = True) -> int | None:
        """The id of a source name, created on first use in its own small transaction."""
        found = self._source_ids.get(name)
        if found is not None:
            return found
        common.check_name("source", name)
        with self._read() as cur:
            row = _first(cur.execute("SELECT id FROM sources WHERE name = ?", [name]))
        if row is None:
            if not create:
                return None
            with self._write() as cur:
                cur.execute(
                    "INSERT INTO sources (name) VALUES (?) ON CONFLICT (name) DO NOTHING", [name]
                )
                row = _first(cur.execute("SELECT id FROM sources WHERE name = ?", [name]))
            assert row is not None
        self._source_ids[name] = int(row[0])
        return int(row[0])

    # -- life cycle ------------------------------------------------------------------------
    @staticmethod
    def _version(cur: duckdb.DuckDBPyConnection) -> int:
        exists = _first(
            cur.execute(
                "SELECT count(*) FROM duckdb_tables() "
                "WHERE table_name = 'schema_version' AND schema_name = 'main'"
            )
        )
        if not exists or not exists[0]:
            return 0
        row = _first(cur.execute("SELECT max(version) FROM schema_version"))
        return int(row[0]) if row and row[0] is not None else 0

    def schema_version(self) -> int:
        with self._read() as cur:
            return self._version(cur)

    def migrate(self) -> int:
        steps = common.migrations("duckdb")
        newest = steps[-1][0]
        # The write lock spans the version check and every step: concurrent callers in this
        # process wait and then find nothing left to do (other processes cannot open the file).
        with self._write_lock:
            if self._closed:
                raise StoreError("the store is closed")
            cur = self._writer
            current = self._version(cur)
            if current > newest:
                raise StoreError(
                    f"the database is at schema version {current}, newer than this botmon "
                    f"({newest}); upgrade botmon"
                )
            for version, sql in steps:
                if version <= current:
                    continue
                cur.begin()
                try:
                    cur.execute(sql)
                    cur.execute(
                        "INSERT INTO schema_version VALUES (?, make_timestamp(?))",
                        [version, _ts(time.time())],
                    )
                    cur.commit()
                except duckdb.Error as exc:
                    cur.rollback()
                    raise StoreError(f"DuckDB migration {version} failed: {exc}") from exc
        return max(current, newest)

    def close(self) -> None:
        with self._write_lock, self._cursor_lock:
            if self._closed:
                return
            self._closed = True
            self._writer.close()
            self._con.close()

    # -- botnets ---------------------------------------------------------------------------
    def create_botnet(self, name: str, description: str = "") -> Botnet:
        common.check_botnet_name(name)
        common.check_text("description", description)
        try:
            with self._write() as cur:
                row = _first(
                    cur.execute(
                        "INSERT INTO botnets (name, description, created_at) "
                        "VALUES (?, ?, make_timestamp(?)) "
                        "RETURNING id, name, description, epoch(created_at)",
                        [name, description, _ts(time.time())],
                    )
                )
        except duckdb.ConstraintException:
            raise StoreError(f"a botnet named {name!r} exists already") from None
        assert row is not None
        return common.botnet_from_row(row)

    def get_botnet(self, name: str) -> Botnet | None:
        with self._read() as cur:
            row = _first(
                cur.execute(
                    "SELECT id, name, description, epoch(created_at) FROM botnets WHERE name = ?",
                    [name],
                )
            )
        return None if row is None else common.botnet_from_row(row)

    def list_botnets(self) -> list[Botnet]:
        with self._read() as cur:
            rows = cur.execute(
                "SELECT id, name, description, epoch(created_at) FROM botnets ORDER BY name"
            ).fetchall()
        return [common.botnet_from_row(r) for r in rows]

    # -- monitors --------------------------------------------------------------------------
    _MONITOR_COLUMNS = (
        "id, name, role, botnets, epoch(created_at), revoked, token_prefix, "
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
            with self._write() as cur:
                for b in wanted:
                    self._botnet_id(cur, b)
                row = _first(
                    cur.execute(
                        "INSERT INTO monitors (name, role, token_hash, token_prefix, botnets, "
                        f"created_at, {common.MONITOR_SCOPE_COLUMNS}) VALUES (?, ?, ?, ?, "
                        "?::VARCHAR[], make_timestamp(?), ?::BIGINT[], ?::VARCHAR[], "
                        f"?::VARCHAR[]) RETURNING {self._MONITOR_COLUMNS}",
                        [
                            name,
                            role,
                            token_hash,
                            token_prefix,
                            wanted,
                            _ts(time.time()),
                            list(scope.asns),
                            list(scope.cidrs),
                            list(scope.countries),
                        ],
                    )
                )
        except duckdb.ConstraintException as exc:
            if "token_hash" in str(exc):
                raise StoreError("a monitor with that token exists already") from None
            raise StoreError(f"a monitor named {name!r} exists already") from None
        assert row is not None
        return common.monitor_from_row(row)

    def list_monitors(self) -> list[Monitor]:
        with self._read() as cur:
            rows = cur.execute(
                f"SELECT {self._MONITOR_COLUMNS} FROM monitors ORDER BY name"
            ).fetchall()
        return [common.monitor_from_row(r) for r in rows]

    def revoke_monitor(self, name: str) -> bool:
        with self._write() as cur:
            rows = cur.execute(
                "UPDATE monitors SET revoked = true, revoked_at = make_timestamp(?) "
                "WHERE name = ? AND NOT revoked RETURNING id",
                [_ts(time.time()), name],
            ).fetchall()
        return bool(rows)

    def monitor_by_token_hash(self, token_hash: str) -> Monitor | None:
        with self._read() as cur:
            row = _first(
                cur.execute(
                    f"SELECT {self._MONITOR_COLUMNS} FROM monitors "
                    "WHERE token_hash = ? AND NOT revoked",
                    [token_hash],
                )
            )
        return None if row is None else common.monitor_from_row(row)

    # -- ingest ----------------------------------------------------------------------------
    def write_batch(self, batch: ValidatedBatch, source: str) -> WriteResult:
        return self.write_prepared(common.prepare(self.backend, batch), source)

    def write_prepared(self, batch: PreparedBatch, source: str) -> WriteResult:
        """Store a batch once per (source, batch id); concurrent callers share a transaction.

        Everything that can fail for this batch alone (backend, batch id, AS numbers, source,
        unknown botnet) is checked here, in the caller's thread, before the batch joins a
        group (:mod:`botmon.store.group_commit`).
        """
        if batch.backend != self.backend:
            raise StoreError(f"a batch prepared for {batch.backend} cannot go into DuckDB")
        common.check_text("batch id", batch.batch_id)
        # AS names this store wrote before are not written again (most batches bring the
        # same few ASes; re-writing them cost about a tenth of a batch's write time).
        new_as_names = {
            asn: name for asn, name in batch.as_names.items() if self._as_written.get(asn) != name
        }
        try:
            as_rows = duckdb_rows.as_table(new_as_names) if new_as_names else None
        except (pa.ArrowException, OverflowError, TypeError, ValueError) as exc:
            raise StoreError(f"AS numbers do not fit the schema: {exc}") from exc
        source_id = self._source_id(source)
        assert source_id is not None
        botnet_id = self._botnet_ids.get(batch.botnet)
        if botnet_id is None:  # botnets are never deleted: a known id stays valid
            with self._read() as cur:
                botnet_id = self._botnet_id(cur, batch.botnet)
        pending = _Pending(batch, botnet_id, source_id, new_as_names, as_rows)
        return self.group_commit.submit(pending, max(1, sum(batch.counts.values())))

    def _write_group(self, group: Sequence[_Pending]) -> list[WriteResult | BaseException]:
        """Write a group in one transaction; on a DuckDB error, each batch on its own.

        Runs under the write lock (the group commit's leader holds it). A lone batch takes
        the single-batch path, with the statements and cost of a write without grouping.
        """
        if len(group) > 1:
            try:
                return list(self._write_many(group))
            except (duckdb.Error, pa.ArrowException, OverflowError, TypeError, ValueError):
                pass  # rolled back: retry one by one, so one bad batch fails only its caller
        out: list[WriteResult | BaseException] = []
        for p in group:
            try:
                out.append(self._write_one(p))
            except StoreError as exc:
                out.append(exc)
        return out

    def _write_one(self, p: _Pending) -> WriteResult:
        batch = p.batch
        try:
            with self._transaction() as cur:
                inserted = cur.execute(
                    f"INSERT INTO batches {_BATCH_COLUMNS} VALUES {_BATCH_VALUES}"
                    " ON CONFLICT DO NOTHING RETURNING 1",
                    _batch_params(p, _ts(time.time())),
                )
                if _first(inserted) is None:  # this source sent this batch id before
                    return _duplicate()
                for kind, table in batch.rows.items():
                    if table is None:
                        continue
                    cur.register("batch_rows", table)
                    try:
                        cur.execute(
                            _INSERT_ONE[kind], [p.botnet_id, p.source_id, batch.source_type]
                        )
                    finally:
                        cur.unregister("batch_rows")
                if p.as_rows is not None:
                    self._insert_as_names(cur, p.as_rows)
                configs.apply(cur, self.backend, p.botnet_id, batch.configs)
        except duckdb.Error as exc:
            # Two stores opened on one file in one process share the database but not the
            # lock; the loser of such a race fails on the primary key: it is a duplicate.
            if self._batch_stored(p.source_id, batch.batch_id):
                return _duplicate()
            if isinstance(exc, duckdb.ConversionException | duckdb.OutOfRangeException):
                raise StoreDataError(f"DuckDB refused a value: {exc}") from exc
            raise StoreError(f"DuckDB write failed: {exc}") from exc
        self._as_written.update(p.as_names)
        return WriteResult(duplicate=False, stored=batch.counts)

    def _write_many(self, group: Sequence[_Pending]) -> list[WriteResult]:
        """Several batches in one transaction: one ``batches`` insert, one insert per kind.

        A batch id that comes twice in the group is a duplicate from its second time on, as
        it would be one by one; each batch keeps its own ``batches`` row, ``seq`` and span.
        """
        keys: set[tuple[int, str]] = set()
        firsts: list[_Pending] = []
        for p in group:
            if (p.source_id, p.batch.batch_id) not in keys:
                keys.add((p.source_id, p.batch.batch_id))
                firsts.append(p)
        now = _ts(time.time())
        with self._transaction() as cur:
            stored_keys = {
                (int(r[0]), str(r[1]))
                for r in cur.execute(
                    f"INSERT INTO batches {_BATCH_COLUMNS} VALUES "
                    + ", ".join([_BATCH_VALUES] * len(firsts))
                    + " ON CONFLICT DO NOTHING RETURNING source_id, batch_id",
                    [v for p in firsts for v in _batch_params(p, now)],
                ).fetchall()
            }
            stored = [p for p in firsts if (p.source_id, p.batch.batch_id) in stored_keys]
            for kind in RECORD_KINDS:
                table = _tagged_rows(stored, kind)
                if table is None:
                    continue
                cur.register("batch_rows", table)
                try:
                    cur.execute(_INSERT_GROUP[kind])
                finally:
                    cur.unregister("batch_rows")
            for p in stored:
                configs.apply(cur, self.backend, p.botnet_id, p.batch.configs)
            as_names: dict[int, str] = {}
            for p in stored:  # in arrival order: the newest name of an AS wins
                as_names.update(p.batch.as_names)
            as_names = {a: n for a, n in as_names.items() if self._as_written.get(a) != n}
            if as_names:
                self._insert_as_names(cur, duckdb_rows.as_table(as_names))
        self._as_written.update(as_names)
        stored_ids = {id(p) for p in stored}
        return [
            WriteResult(duplicate=False, stored=p.batch.counts)
            if id(p) in stored_ids
            else _duplicate()
            for p in group
        ]

    @staticmethod
    def _insert_as_names(cur: duckdb.DuckDBPyConnection, as_rows: pa.Table) -> None:
        cur.register("as_rows", as_rows)
        try:
            cur.execute(
                "INSERT INTO ases SELECT asn, name FROM as_rows "
                "ON CONFLICT (asn) DO UPDATE SET name = excluded.name"
            )
        finally:
            cur.unregister("as_rows")

    def refresh_summaries(self, *, full: bool = False) -> int:
        """Merge the replies of batches stored since the last refresh into the seen tables.

        Returns the number of spans merged (0: already up to date; -1: a full build). Runs
        under the write lock, so ingest waits for it; a refresh after a few seconds of ingest
        takes milliseconds, the first full build of a large database takes seconds.
        """
        state_sql = (
            "SELECT (SELECT watermark FROM summary_state WHERE name = ?), (SELECT max(seq) FROM"
            " batches)"
        )
        with self._read() as cur:
            row = _first(cur.execute(state_sql, [summaries.SEEN_STATE]))
        if row is not None and summaries.is_current(row[0], row[1]) and not full:
            return 0
        try:
            with self._write() as cur:
                row = _first(cur.execute(state_sql, [summaries.SEEN_STATE]))
                watermark, top = (row[0], row[1]) if row is not None else (None, None)
                if full:
                    watermark = None
                elif summaries.is_current(watermark, top):
                    return 0
                if watermark is None:
                    cur.execute("DELETE FROM seen_ips")
                    cur.execute("DELETE FROM seen_ids")
                    for sql in summaries.merge_statements("duckdb", "true", upsert=False):
                        cur.execute(sql)
                    for sql in windows.full_build("duckdb"):
                        cur.execute(sql)
                    merged = -1
                else:
                    spans = cur.execute(
                        "SELECT botnet_id, epoch_us(first_ts), epoch_us(last_ts) FROM batches"
                        " WHERE seq >= ? AND replies > 0 AND first_ts IS NOT NULL",
                        [watermark],
                    ).fetchall()
                    joined = summaries.coalesce_spans(spans)
                    wheres = [summaries.span_where("duckdb", b, lo, hi) for b, lo, hi in joined]
                    for sql in summaries.duckdb_merge_statements(wheres) if wheres else []:
                        cur.execute(sql)
                    for b, lo, hi in joined:
                        for sql in windows.span_statements("duckdb", *summaries.widened(b, lo, hi)):
                            cur.execute(sql)
                    merged = len(joined)
                cur.execute(
                    "UPDATE summary_state SET watermark = ? WHERE name = ?",
                    [int(top or 0) + 1, summaries.SEEN_STATE],
                )
        except duckdb.Error as exc:
            raise StoreError(f"DuckDB summary refresh failed: {exc}") from exc
        return merged

    def _batch_stored(self, source_id: int | None, batch_id: str) -> bool:
        with self._read() as cur:
            row = _first(
                cur.execute(
                    "SELECT 1 FROM batches WHERE source_id = ? AND batch_id = ?",
                    [source_id, batch_id],
                )
            )
        return row is not None

    # -- reads -----------------------------------------------------------------------------
    def count_records(self, botnet: str | None = None) -> dict[str, int]:
        out: dict[str, int] = {}
        with self._read() as cur:
            where, params = "", []
            if botnet is not None:
                row = _first(cur.execute("SELECT id FROM botnets WHERE name = ?", [botnet]))
                if row is None:
                    raise StoreError(f"unknown botnet {botnet[:70]!r}")
                where, params = " WHERE botnet_id = ?", [row[0]]
            for table in (*RECORD_KINDS, "batches"):
                got = _first(cur.execute(f"SELECT count(*) FROM {table}{where}", params))
                out[table] = int(got[0]) if got else 0
        return out

    def export(
        self, kind: RecordKind, botnet: str, start: float | None = None, end: float | None = None
    ) -> Iterator[pa.RecordBatch]:
        common.check_kind(kind)
        schema = common.EXPORT_SCHEMAS[kind]
        cur = self._cursor()
        try:
            botnet_id = self._botnet_id(cur, botnet)
            where, params = ["t.botnet_id = ?"], [botnet_id]
            if start is not None:
                where.append("t.ts >= make_timestamp(?)")
                params.append(_ts(common.check_time("start", start)))
            if end is not None:
                where.append("t.ts < make_timestamp(?)")
                params.append(_ts(common.check_time("end", end)))
            columns = _EXPORT_COLUMNS[kind].format(
                ip=_ip_halves_sql("ip"),
                src_ip=_ip_halves_sql("src_ip"),
                dst_ip=_ip_halves_sql("dst_ip"),
            )
            sql = (
                f"SELECT {columns}, s.name AS source, t.source_type FROM {kind} t "
                f"JOIN sources s ON s.id = t.source_id WHERE {' AND '.join(where)}"
            )
            reader = cur.sql(sql, params=params).to_arrow_reader(common.EXPORT_BATCH_ROWS)
            for chunk in reader:
                yield self._export_batch(schema, chunk, botnet)
        except duckdb.Error as exc:
            raise StoreError(f"DuckDB export failed: {exc}") from exc
        finally:
            cur.close()

    @staticmethod
    def _export_batch(schema: pa.Schema, chunk: pa.RecordBatch, botnet: str) -> pa.RecordBatch:
        n = chunk.num_rows
        arrays: list[pa.Array] = []
        for field in schema:
            if field.name == "botnet":
                arrays.append(pa.array([botnet] * n, pa.string()))
                continue
            if field.name.endswith("ip"):
                hi = chunk.column(f"{field.name}_hi")
                lo = chunk.column(f"{field.name}_lo")
                arrays.append(_ip_texts(hi, lo))
            else:
                arrays.append(chunk.column(field.name).cast(field.type))
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Debugging and tests only: run one read-only SELECT (DuckDB SQL, ``?`` or ``$n``
        parameters). botmon's own code reads through the named methods of the read port
        (:mod:`botmon.store.reads`); a test checks nothing outside ``store/`` calls this."""
        return self._select(sql, params)

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read-only SELECT, results made engine-neutral: UHUGEINT columns become
        canonical IP text (only IP columns have that type; cast any other 128-bit
        arithmetic, such as ``ip >> 8``, to HUGEINT first), TIMESTAMP columns epoch seconds,
        JSON columns Python objects."""
        values = common.check_params(params)
        with self._read() as cur:
            try:
                statements = cur.extract_statements(sql)
            except duckdb.Error as exc:
                raise StoreError(f"invalid query: {exc}") from None
            if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
                raise StoreError("query() runs exactly one read-only SELECT statement")
            result = cur.execute(sql, values)
            kinds = [str(d[1]) for d in result.description or []]
            rows = result.fetchall()
        convert = [_converter(k) for k in kinds]
        return [tuple(f(v) for f, v in zip(convert, row, strict=True)) for row in rows]

    def _stream(
        self, sql: str, params: Sequence[Any], size: int
    ) -> Iterator[list[tuple[Any, ...]]]:
        """Rows of one SELECT, ``size`` at a time (:meth:`FeedPort._stream`), through an
        Arrow reader: it streams, and turns rows into Python values several times faster
        than ``fetchmany`` (200,000 feed rows: 4 s against 13 s)."""
        values = common.check_params(params)
        cur = self._cursor()
        try:
            reader = cur.sql(sql, params=values).to_arrow_reader(size)
            for batch in reader:
                columns = [column.to_pylist() for column in batch.columns]
                yield list(zip(*columns, strict=True))
        except duckdb.Error as exc:
            raise StoreError(f"DuckDB read failed: {str(exc).strip().splitlines()[0]}") from exc
        finally:
            cur.close()

    def _select_arrow(self, sql: str, params: Sequence[Any], schema: pa.Schema) -> pa.Table:
        """One read-only SELECT as Arrow (:meth:`AnalysisPort._select_arrow`)."""
        values = common.check_params(params)
        with self._read() as cur:
            try:
                table = cur.sql(sql, params=values).to_arrow_table()
            except duckdb.Error as exc:
                raise StoreError(f"query failed: {str(exc).strip().splitlines()[0]}") from None
        return arrow_with_ips(table, schema)

    # -- coordination ----------------------------------------------------------------------
    def record_heartbeat(self, source: str, at: float, status: dict[str, Any]) -> None:
        common.check_time("at", at)
        text = common.encode_json("status", status)
        source_id = self._source_id(source)
        with self._write() as cur:
            cur.execute(
                "INSERT INTO heartbeats VALUES (?, make_timestamp(?), ?) "
                "ON CONFLICT (source_id) DO UPDATE "
                "SET reported_at = excluded.reported_at, status = excluded.status "
                "WHERE excluded.reported_at >= heartbeats.reported_at",
                [source_id, _ts(at), text],
            )

    def heartbeats(self) -> list[Heartbeat]:
        with self._read() as cur:
            rows = cur.execute(
                "SELECT s.name, epoch(h.reported_at), h.status FROM heartbeats h "
                "JOIN sources s ON s.id = h.source_id ORDER BY s.name"
            ).fetchall()
        return [Heartbeat(r[0], float(r[1]), common.decode_json(r[2])) for r in rows]

    def add_command(self, source: str, command: str, args: dict[str, Any], at: float) -> Command:
        common.check_name("command", command)
        common.check_time("at", at)
        text = common.encode_json("args", args)
        source_id = self._source_id(source)
        with self._write() as cur:
            row = _first(
                cur.execute(
                    "INSERT INTO commands (source_id, command, args, created_at) "
                    "VALUES (?, ?, ?, make_timestamp(?)) RETURNING id, epoch(created_at)",
                    [source_id, command, text, _ts(at)],
                )
            )
        assert row is not None
        return Command(
            id=int(row[0]),
            source=source,
            command=command,
            args=common.decode_json(text),
            created_at=float(row[1]),
        )

    def take_commands(self, source: str) -> list[Command]:
        if "\x00" in source:
            return []
        source_id = self._source_id(source, create=False)
        if source_id is None:
            return []
        with self._write() as cur:
            rows = cur.execute(
                "UPDATE commands SET delivered_at = make_timestamp(?) "
                "WHERE source_id = ? AND delivered_at IS NULL "
                "RETURNING id, command, args, epoch(created_at)",
                [_ts(time.time()), source_id],
            ).fetchall()
        return common.commands(source, rows)

    # -- campaigns -------------------------------------------------------------------------
    def start_campaign(
        self, botnet: str, source: str, settings: dict[str, Any], at: float
    ) -> Campaign:
        common.check_time("at", at)
        text = common.encode_json("settings", settings)
        source_id = self._source_id(source)
        with self._write() as cur:
            botnet_id = self._botnet_id(cur, botnet)
            row = _first(
                cur.execute(
                    "INSERT INTO campaigns (botnet_id, source_id, started_at, settings) "
                    "VALUES (?, ?, make_timestamp(?), ?) RETURNING id, epoch(started_at)",
                    [botnet_id, source_id, _ts(at), text],
                )
            )
        assert row is not None
        return common.campaign(row[0], botnet, source, row[1], None, text)

    def end_campaign(self, campaign_id: int, source: str, at: float) -> Campaign | None:
        common.check_time("at", at)
        source_id = self._source_id(source, create=False)
        if source_id is None or not common.is_row_id(campaign_id):
            return None
        with self._write() as cur:
            ended = cur.execute(
                "UPDATE campaigns SET ended_at = make_timestamp(?) "
                "WHERE id = ? AND source_id = ? AND ended_at IS NULL RETURNING id",
                [_ts(at), campaign_id, source_id],
            ).fetchall()
        return self._campaigns("c.id = ?", [campaign_id])[0] if ended else None

    def last_record_times(self, botnet: str, source: str) -> dict[str, float | None]:
        source_id = self._source_id(source, create=False)
        botnet_id = self._botnet_ids.get(botnet)
        if botnet_id is None:
            with self._read() as cur:
                row = _first(cur.execute("SELECT id FROM botnets WHERE name = ?", [botnet]))
            botnet_id = None if row is None else int(row[0])
        if source_id is None or botnet_id is None:
            return dict.fromkeys(RECORD_KINDS)
        out: dict[str, float | None] = {}
        with self._read() as cur:
            for kind in RECORD_KINDS:
                row = _first(
                    cur.execute(
                        f"SELECT epoch_us(max(ts)) FROM {kind} "
                        "WHERE botnet_id = ? AND source_id = ?",
                        [botnet_id, source_id],
                    )
                )
                out[kind] = None if row is None or row[0] is None else row[0] / 1_000_000
        return out

    def latest_campaigns(self) -> list[Campaign]:
        return self._campaigns("c.id IN (SELECT max(id) FROM campaigns GROUP BY source_id)", [])

    def campaigns_between(self, botnet: str, start: float, end: float) -> list[Campaign]:
        return self._campaigns(
            "b.name = ? AND c.started_at < make_timestamp(?) "
            "AND (c.ended_at IS NULL OR c.ended_at >= make_timestamp(?))",
            [botnet, _ts(end), _ts(start)],
        )

    def _campaigns(self, where: str, params: list[Any]) -> list[Campaign]:
        with self._read() as cur:
            rows = cur.execute(
                "SELECT c.id, b.name, s.name, epoch(c.started_at), epoch(c.ended_at), c.settings "
                "FROM campaigns c JOIN botnets b ON b.id = c.botnet_id "
                f"JOIN sources s ON s.id = c.source_id WHERE {where} ORDER BY c.id",
                params,
            ).fetchall()
        return [common.campaign(*row) for row in rows]


def _converter(kind: str) -> Any:
    if kind == "UHUGEINT":
        return lambda v: None if v is None else int_to_ip(v)
    if kind == "JSON":
        return common.decode_json
    return common.plain_value


def is_locked_error(exc: BaseException) -> bool:
    """True when DuckDB refused a file because another process holds its lock."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, duckdb.IOException) and "lock" in str(current).lower():
            return True
        current = current.__cause__ or current.__context__
    return False


def open_duckdb(path: str, memory_mb: int | None = None) -> DuckDBStore:
    """Open (creating) a DuckDB store at ``path``; StoreError when the path cannot be one."""
    if path != ":memory:":
        p = Path(path)
        if p.is_dir():
            raise StoreError(f"{path!r} is a directory, not a DuckDB file")
        if not p.parent.is_dir():
            raise StoreError(f"directory {str(p.parent)!r} does not exist")
    return DuckDBStore(path, memory_mb)
