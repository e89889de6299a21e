"""The store's read port for analyses: named reads behind every dashboard number, in SQL for
both backends.

:mod:`botmon.analysis` computes views (caching, dense series, shares, ratios) and asks the
store only these questions. Each backend mixes :class:`ReadPort` in and supplies
``_select`` (one read-only SELECT, results made engine-neutral: IPs as text, times as epoch
seconds); the differences between the dialects (placeholders, timestamp literals, bucket
arithmetic, "latest value" aggregates) are the few helpers of :class:`_Sql`.

Counts are exact (``DISTINCT`` or unions of sets), never sketches: the dashboard hands
numbers to others. What the window summaries of :mod:`botmon.store.windows` keep (hour,
day and ISO-week counts and sets of the replies) is answered from them, after bringing them
up to date, so a past or never-asked window at 100 million replies reads no more than two
partial hours of replies; the rest (failed tries, edges, sizes they do not keep) is
counted over the records.
Every read takes ``source``: ``crawler`` or ``sensor`` reads only the records that kind of
monitor reported, None (the default) reads both. The summaries keep both kinds together, so a
filtered read is answered from the records (time-range reads by the (botnet_id, ts) index or
zonemaps, plus ``source_type = ...``), never from a summary that would mix the two: the
dashboard's default (both) stays on the summaries, a filtered view costs what an uncached raw
read of its range costs. :meth:`ReadPort.source_overlap` counts bots per source (crawlers
only, sensors only, both).
Buckets follow :mod:`botmon.buckets` (ISO weeks, days at 00:00 UTC). Distinct counts per
bucket de-duplicate first and count after, several times faster than ``count(DISTINCT)``
on both engines.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute

from botmon.buckets import BUCKET_ORIGIN
from botmon.store import windows
from botmon.store.base import BotnetSummary
from botmon.store.common import check_time
from botmon.store.summaries import SEEN_STATE
from botmon.wire import SOURCE_TYPES, SourceType

Measure = Literal["rows", "ips", "ids", "ip_ports"]
"""What :meth:`ReadPort.bucket_counts` and :meth:`ReadPort.range_counts` count: records,
distinct addresses, distinct bot IDs or distinct ``ip:port`` pairs."""


@dataclass(frozen=True)
class RecordFilter:
    """What a read sees when it is more than one kind of monitor's records: ``source_type``
    (None: both kinds) and, with ``exclude_monitors``, without the records of the monitors
    excluded for the botnet (:mod:`botmon.store.exclusions`): replies and failed tries from
    their ip:port, edges naming them at either end. ``revision`` is the exclusion list's
    fingerprint the filter was made under (:func:`record_filter`), so an answer cached under
    it is never reused once the list changed. Reads given one take the record path (the
    summaries keep everyone)."""

    source_type: SourceType | None = None
    exclude_monitors: bool = False
    revision: str = ""

    def __str__(self) -> str:  # cache names (analysis/cache.seen_by) and labels
        kind = self.source_type or "all"
        return f"{kind}-excluding-{self.revision}" if self.exclude_monitors else kind


SourceFilter = SourceType | RecordFilter | None
"""What a read sees: one kind of monitor's records, or (None) both; a :class:`RecordFilter`
for either without the excluded monitors."""


def source_type(source: SourceFilter) -> SourceType | None:
    """The kind of monitor a filter keeps (None: both)."""
    return source.source_type if isinstance(source, RecordFilter) else source


def excludes_monitors(source: SourceFilter) -> bool:
    """True when a filter leaves out the excluded monitors' records."""
    return isinstance(source, RecordFilter) and source.exclude_monitors


def record_filter(
    kind: SourceType | None, exclude_monitors: bool, revision: str = ""
) -> SourceFilter:
    """The filter for one kind of monitor (None: both), with or without the excluded
    monitors: without, exactly today's plain value (the same SQL, the same summaries)."""
    if not exclude_monitors:
        return kind
    return RecordFilter(kind, True, revision)


EDGE_ENDS = ("src_", "dst_")
"""The column prefixes of an edge's two ends: an excluded monitor at either removes it."""
OverlapMeasure = Literal["ips", "ids"]
CountedKind = Literal["replies", "failed_tries"]
SpanKind = Literal["replies", "failed_tries", "edges"]
Ids = Sequence[int] | None
"""Botnet ids to read (``None``: every botnet)."""
Dimension = Literal["arch", "client"]
DIMENSIONS: dict[str, tuple[str, str]] = {
    # dimension -> (the value of a reply's data, text or NULL; which replies count), in both
    # dialects
    "arch": ("(data->>'arch')", ""),
    "client": (
        "((data->>'client') || '/' || coalesce(data->>'client_version', ''))",
        " AND (data->>'node_id') IS NOT NULL",
    ),
}
"""What :meth:`ReadPort.data_values` counts bots by: ``arch``, the device type (CPU
architecture) any protocol that reveals it puts in ``data["arch"]``, over every reply;
``client``, a DHT node's client code and version (``data["client"]``,
``data["client_version"]``) as ``code/version`` (``code/`` when the version is unknown), over
the replies of DHT nodes (those with ``data["node_id"]``)."""

MAX_FACET_KEYS = 64
"""Most facet keys one :meth:`ReadPort.facet_values` pass counts (a column each)."""


def facet_keys(keys: Sequence[str]) -> list[str]:
    """``keys`` checked against :data:`botmon.protocols.contract.FACET_KEY` (they name a key
    of the replies' ``data`` in SQL), repeats dropped, order kept."""
    from botmon.protocols.contract import FACET_KEY

    out: list[str] = []
    for key in keys:
        if not isinstance(key, str) or not FACET_KEY.fullmatch(key):
            raise ValueError(f"not a facet key: {key!r}")
        if key not in out:
            out.append(key)
    if len(out) > MAX_FACET_KEYS:
        raise ValueError(f"at most {MAX_FACET_KEYS} facet keys in one read")
    return out


_DISTINCT: dict[str, tuple[str, str]] = {
    # measure -> (distinct columns, extra condition)
    "ips": ("ip", ""),
    "ids": ("bot_id", " AND bot_id IS NOT NULL"),
    "ip_ports": ("ip, port", ""),
}
_KINDS = ("replies", "failed_tries", "edges")


def _checked_kind(kind: str) -> str:
    """Table names are inlined into SQL: only the record tables pass."""
    if kind not in _KINDS:
        raise ValueError(f"unknown record kind {kind!r}")
    return kind


class _Sql:
    """Collects positional parameters and writes the backend's dialect for each piece."""

    def __init__(self, backend: str) -> None:
        self.duck = backend == "duckdb"
        self.params: list[Any] = []

    def p(self, value: Any) -> str:
        """A placeholder bound to ``value`` (bind in the order they appear in the text)."""
        self.params.append(value)
        return "?" if self.duck else "%s"

    def ts(self, seconds: float) -> str:
        """A UTC instant literal comparable with the timestamp columns."""
        if self.duck:
            return f"make_timestamp({self.p(round(seconds * 1_000_000))}::BIGINT)"
        return f"to_timestamp({self.p(float(seconds))}::float8)"

    def range(self, start: float, end: float, column: str = "ts") -> str:
        """``column`` within [start, end)."""
        return f"{column} >= {self.ts(start)} AND {column} < {self.ts(end)}"

    def bucket(self, bucket_s: int, column: str = "ts") -> str:
        """The bucket index of ``column`` (:func:`botmon.buckets.bucket_index`)."""
        b = int(bucket_s)
        if self.duck:
            return f"((epoch_us({column}) - {BUCKET_ORIGIN * 1_000_000}) // {b * 1_000_000})"
        return f"floor((date_part('epoch', {column}) - {BUCKET_ORIGIN}) / {b})::bigint"

    def ids(self, ids: Ids, column: str = "botnet_id") -> str:
        """``column IN (...) AND `` for a botnet filter, nothing for every botnet."""
        if ids is None:
            return ""
        return f"{column} IN (" + ", ".join(self.p(int(i)) for i in ids) + ") AND "

    def source(self, source: SourceFilter, prefix: str = "", ends: Sequence[str] = ("",)) -> str:
        """``source_type = ... AND `` for one kind of monitor, nothing for both; with a
        :class:`RecordFilter` excluding monitors, also ``NOT EXISTS (...) AND `` per end of
        the record (``ends``: the prefixes of its ip/port columns, :data:`EDGE_ENDS` for
        edges) whose ip:port is excluded for its botnet."""
        out = ""
        kind = source_type(source)
        if kind is not None:
            if kind not in SOURCE_TYPES:
                raise ValueError(f"unknown source type {kind!r}")
            out = f"{prefix}source_type = {self.p(kind)} AND "
        if excludes_monitors(source):
            for end in ends:
                # Renamed columns: the record's own (unqualified when prefix is empty) stay
                # visible inside the subquery.
                out += (
                    "NOT EXISTS (SELECT 1 FROM (SELECT botnet_id AS x_botnet, ip AS x_ip,"
                    " port AS x_port FROM excluded_monitors) x"
                    f" WHERE x_botnet = {prefix}botnet_id AND x_ip = {prefix}{end}ip"
                    f" AND x_port = {prefix}{end}port) AND "
                )
        return out

    def where(
        self,
        ids: Ids,
        start: float,
        end: float,
        prefix: str = "",
        source: SourceFilter = None,
        ends: Sequence[str] = ("",),
    ) -> str:
        """``botnet_id IN (...) AND [source_type = ... AND] ts in [start, end)``:
        ``botnet_id`` first, so PostgreSQL uses its (botnet_id, ts) indexes."""
        return (
            self.ids(ids, prefix + "botnet_id")
            + self.source(source, prefix, ends)
            + self.range(start, end, prefix + "ts")
        )

    def us(self, column: str = "ts") -> str:
        """``column`` as int64 UTC epoch microseconds (exact on both engines)."""
        if self.duck:
            return f"epoch_us({column})"
        return f"floor(extract(epoch FROM {column}) * 1000000)::bigint"

    def ip(self, column: str, alias: str | None = None) -> str:
        """Select an IP column for :meth:`AnalysisPort._select_arrow` (named ``alias``,
        default the column's name): two UBIGINT halves ``alias__hi``/``alias__lo`` in DuckDB
        (its Arrow export of UHUGEINT cannot hold the top of the IPv6 range), the inet in
        PostgreSQL; both become the address's canonical text."""
        name = alias or column.rsplit(".", 1)[-1]
        if self.duck:
            return (
                f"({column} >> 64)::UBIGINT AS {name}__hi,"
                f" ({column} & 18446744073709551615::UHUGEINT)::UBIGINT AS {name}__lo"
            )
        return f"{column} AS {name}"

    def latest(self, column: str, order: str) -> str:
        """The value of ``column`` on the row with the greatest ``order`` that has one."""
        if self.duck:
            return f"arg_max({column}, {order})"
        return f"(array_agg({column} ORDER BY {order} DESC) FILTER (WHERE {column} IS NOT NULL))[1]"


class ReadPort:
    """The named reads analyses use; mixed into both store backends."""

    backend: str

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one read-only SELECT; each backend supplies it."""
        raise NotImplementedError

    def refresh_summaries(self, *, full: bool = False) -> int:
        """Bring the summary tables up to date; each backend supplies it."""
        raise NotImplementedError

    def _run(self, sql: _Sql, text: str) -> list[tuple[Any, ...]]:
        return self._select(text, sql.params)

    def _windows(self) -> windows.Run:
        """A runner for :mod:`botmon.store.windows`, its tables brought up to date first
        (one small query when they are)."""
        self.refresh_summaries()
        return self._select

    # -- checks behind cached answers ------------------------------------------------------
    def batch_spans(
        self, kind: SpanKind, ids: Ids, start: float, end: float, bucket_s: int
    ) -> list[tuple[int, int, int, int]]:
        """Stored batches with records of ``kind`` whose time span meets [start, end), as
        (botnet id, first bucket, last bucket, how many batches). Every write is a batch
        and records never change in place, so equal answers mean equal rows: the check
        behind every cached value. The ``batches`` table is small, so this is cheap."""
        sql = _Sql(self.backend)
        column = _checked_kind(kind)
        first, last = sql.bucket(bucket_s, "first_ts"), sql.bucket(bucket_s, "last_ts")
        rows = self._run(
            sql,
            f"SELECT botnet_id, {first}, {last}, count(*) FROM batches"
            f" WHERE {sql.ids(ids)}{column} > 0"
            f" AND last_ts >= {sql.ts(start)} AND first_ts < {sql.ts(end)} GROUP BY 1, 2, 3",
        )
        return [(int(b), int(lo), int(hi), int(n)) for b, lo, hi, n in rows]

    def batch_source_types(self, ids: Ids, start: float, end: float) -> dict[int, set[str]]:
        """Per botnet id: the source types of the stored batches with replies whose span
        meets [start, end) (batches stored before spans were kept count as a crawler's). A
        botnet absent from the answer has no such batch; one with a single type has replies
        of that type only in the range. From the small ``batches`` table."""
        sql = _Sql(self.backend)
        rows = self._run(
            sql,
            f"SELECT DISTINCT botnet_id, CASE WHEN first_ts IS NULL THEN 'crawler'"
            f" ELSE source_type END FROM batches WHERE {sql.ids(ids)}replies > 0"
            f" AND (first_ts IS NULL OR (last_ts >= {sql.ts(start)} AND first_ts < {sql.ts(end)}))",
        )
        out: dict[int, set[str]] = {}
        for botnet_id, kind in rows:
            out.setdefault(int(botnet_id), set()).add(str(kind))
        return out

    def summary_watermark(self) -> int | None:
        """The seen tables' watermark: it moves with every refresh that merged something."""
        sql = _Sql(self.backend)
        rows = self._run(
            sql, f"SELECT watermark FROM summary_state WHERE name = {sql.p(SEEN_STATE)}"
        )
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    # -- counts over the replies -----------------------------------------------------------
    def bucket_counts(
        self,
        kind: CountedKind,
        ids: Ids,
        start: float,
        end: float,
        bucket_s: int,
        measure: Measure,
        source: SourceFilter = None,
    ) -> dict[tuple[int, int], int]:
        """``measure`` per (botnet id, bucket) over the records of ``kind`` in [start, end);
        buckets without records are absent."""
        if kind == "replies" and source is None:
            found = windows.bucket_counts(
                self._windows(), self.backend, ids, start, end, bucket_s, measure
            )
            if found is not None:
                return found
        sql = _Sql(self.backend)
        table = _checked_kind(kind)
        if measure == "rows":
            text = (
                f"SELECT botnet_id, {sql.bucket(bucket_s)}, count(*) FROM {table}"
                f" WHERE {sql.where(ids, start, end, source=source)} GROUP BY 1, 2"
            )
        else:
            columns, extra = _DISTINCT[measure]
            text = (
                f"SELECT g, b, count(*) FROM (SELECT DISTINCT botnet_id AS g,"
                f" {sql.bucket(bucket_s)} AS b, {columns} FROM {table}"
                f" WHERE {sql.where(ids, start, end, source=source)}{extra}) d GROUP BY 1, 2"
            )
        return {(int(g), int(b)): int(n) for g, b, n in self._run(sql, text)}

    def range_counts(
        self,
        kind: CountedKind,
        ids: Ids,
        start: float,
        end: float,
        measures: Sequence[Measure],
        source: SourceFilter = None,
    ) -> dict[int, tuple[int, ...]]:
        """``measures`` per botnet id over the records of ``kind`` in [start, end); botnets
        without records are absent."""
        if kind == "replies" and source is None:
            found = windows.range_counts(self._windows(), self.backend, ids, start, end, measures)
            if found is not None:
                return found
        sql = _Sql(self.backend)
        table = _checked_kind(kind)
        exprs = [
            "count(*)" if m == "rows" else f"count(DISTINCT {_count_expr(m)})" for m in measures
        ]
        rows = self._run(
            sql,
            f"SELECT botnet_id, {', '.join(exprs)} FROM {table}"
            f" WHERE {sql.where(ids, start, end, source=source)} GROUP BY 1",
        )
        return {int(r[0]): tuple(int(v) for v in r[1:]) for r in rows}

    def source_counts(
        self, kind: SpanKind, ids: Ids, start: float, end: float, source: SourceFilter = None
    ) -> dict[str, int]:
        """Records of ``kind`` in [start, end) per source (crawler or sensor) name."""
        sql = _Sql(self.backend)
        table = _checked_kind(kind)
        rows = self._run(
            sql,
            f"SELECT s.name, count(*) FROM {table} t JOIN sources s ON s.id = t.source_id"
            f" WHERE {sql.where(ids, start, end, 't.', source, _ends(table))} GROUP BY s.name",
        )
        return {str(name): int(n) for name, n in rows}

    def top_peers(
        self, botnet_id: int, start: float, end: float, limit: int, source: SourceFilter = None
    ) -> list[tuple[str, int, str | None, int, int]]:
        """The most listed peers in the edges of [start, end): (ip, port, a bot ID it had,
        distinct bots listing it, mentions), most listing bots first."""
        sql = _Sql(self.backend)
        rows = self._run(
            sql,
            f"""
            SELECT dst_ip, dst_port, max(dst_id), count(*), sum(n) FROM (
                SELECT dst_ip, dst_port, max(dst_id) AS dst_id, count(*) AS n FROM edges
                WHERE {sql.where([botnet_id], start, end, source=source, ends=EDGE_ENDS)}
                GROUP BY dst_ip, dst_port, src_ip, src_port
            ) d
            GROUP BY dst_ip, dst_port
            ORDER BY 4 DESC, 5 DESC, 1, 2 LIMIT {int(limit)}
            """,
        )
        return [(str(ip), int(port), bid, int(deg), int(n)) for ip, port, bid, deg, n in rows]

    def hour_profile(
        self, ids: Sequence[int], start: float, end: float, source: SourceFilter = None
    ) -> dict[tuple[int, int], list[tuple[str | None, int]]]:
        """Per (botnet id, hour bucket): distinct addresses per country (None: unknown)."""
        if source is None:
            return windows.hour_profile(self._windows(), self.backend, ids, start, end)
        sql = _Sql(self.backend)
        rows = self._run(
            sql,
            f"SELECT g, h, c, count(*) FROM (SELECT DISTINCT botnet_id AS g,"
            f" {sql.bucket(3600)} AS h, country AS c, ip FROM replies"
            f" WHERE {sql.where(ids, start, end, source=source)}) d GROUP BY 1, 2, 3",
        )
        out: dict[tuple[int, int], list[tuple[str | None, int]]] = {}
        for g, h, c, n in rows:
            out.setdefault((int(g), int(h)), []).append((str(c) if c else None, int(n)))
        return out

    # -- the seen tables (first and last sighting of every address and bot ID) -------------
    def seen_bounds(
        self, source: SourceFilter = None
    ) -> dict[int, tuple[float | None, float | None]]:
        """First and last reply per botnet id, from the seen tables (one kind of monitor:
        from the replies)."""
        if source is not None:
            return self._source_bounds(source)
        rows = self._select(
            "SELECT botnet_id, min(first_ts), max(last_ts) FROM seen_ips GROUP BY 1"
        )
        return {int(b): (_seconds(lo), _seconds(hi)) for b, lo, hi in rows}

    def _source_bounds(
        self, source: SourceType | RecordFilter
    ) -> dict[int, tuple[float | None, float | None]]:
        """First and last reply of one kind per botnet id. Every reply lies in its batch's
        span and every batch of that kind with replies has one in its span, so the first
        reply is within [earliest first_ts, earliest last_ts] of those batches (the last
        alike): two time-range reads per botnet instead of a scan. Batches older than
        their spans (schema version 2) make it a scan of that kind's replies."""
        sql = _Sql(self.backend)
        spans = self._run(
            sql,
            f"SELECT botnet_id, min(first_ts), min(last_ts), max(first_ts), max(last_ts),"
            f" count(*) - count(first_ts) FROM batches"
            f" WHERE {sql.source(source_type(source))}replies > 0 GROUP BY 1",
        )
        # An excluded monitor's replies may be the first or last in their batches' spans,
        # so without them the extremes can lie anywhere: a scan of the kept replies.
        scan = excludes_monitors(source)
        out: dict[int, tuple[float | None, float | None]] = {}
        for botnet_id, lo1, lo2, hi1, hi2, unspanned in spans:
            sql = _Sql(self.backend)

            def of_kind(start: float, end: float, b: int = int(botnet_id), sql: _Sql = sql) -> str:
                # Widened by a millisecond: a wider range still holds the extreme reply.
                return sql.where([b], start - 1e-3, end + 1e-3, source=source)

            if unspanned or scan:
                text = (
                    "SELECT min(ts), max(ts) FROM replies"
                    f" WHERE {sql.ids([int(botnet_id)])}{sql.source(source)}true"
                )
            else:
                text = (
                    f"SELECT (SELECT min(ts) FROM replies WHERE {of_kind(lo1, lo2)}),"
                    f" (SELECT max(ts) FROM replies WHERE {of_kind(hi1, hi2)})"
                )
            ((lo, hi),) = self._run(sql, text)
            out[int(botnet_id)] = (_seconds(lo), _seconds(hi))
        return out

    def seen_since(
        self, ids: Sequence[int], since: float, source: SourceFilter = None
    ) -> dict[int, tuple[int, int]]:
        """Per botnet id: addresses and bot IDs last seen at or after ``since``."""
        out: dict[int, list[int]] = {int(b): [0, 0] for b in ids}
        if source is not None:
            sql = _Sql(self.backend)
            rows = self._run(
                sql,
                f"SELECT botnet_id, count(DISTINCT ip), count(DISTINCT bot_id) FROM replies"
                f" WHERE {sql.ids(ids)}{sql.source(source)}ts >= {sql.ts(since)} GROUP BY 1",
            )
            for botnet_id, n_ips, n_ids in rows:
                out[int(botnet_id)] = [int(n_ips), int(n_ids)]
            return {b: (v[0], v[1]) for b, v in out.items()}
        for i, table in enumerate(("seen_ips", "seen_ids")):
            sql = _Sql(self.backend)
            rows = self._run(
                sql,
                f"SELECT botnet_id, count(*) FROM {table} WHERE {sql.ids(ids)}"
                f"last_ts >= {sql.ts(since)} GROUP BY 1",
            )
            for botnet_id, n in rows:
                out[int(botnet_id)][i] = int(n)
        return {b: (v[0], v[1]) for b, v in out.items()}

    def first_seen_counts(
        self,
        botnet_id: int,
        by: Literal["ip", "id"],
        start: float,
        end: float,
        bucket_s: int,
        source: SourceFilter = None,
    ) -> dict[int, int]:
        """Per bucket: addresses (``ip``) or bot IDs (``id``) whose first reply ever falls in
        it, within [start, end). For one kind of monitor, "first" is the first reply that
        kind reported (a scan of the botnet's replies of that kind before ``end``)."""
        sql = _Sql(self.backend)
        if source is None:
            table = "seen_ips" if by == "ip" else "seen_ids"
            where = f"botnet_id = {sql.p(int(botnet_id))}"
        else:
            key = "ip" if by == "ip" else "bot_id"
            table = (
                "(SELECT min(ts) AS first_ts FROM replies"
                f" WHERE botnet_id = {sql.p(int(botnet_id))} AND {sql.source(source)}"
                f"{key} IS NOT NULL AND ts < {sql.ts(end)}"
                f" GROUP BY {key}) f"
            )
            where = "true"
        rows = self._run(
            sql,
            f"SELECT {sql.bucket(bucket_s, 'first_ts')}, count(*) FROM {table}"
            f" WHERE {where} AND {sql.range(start, end, 'first_ts')} GROUP BY 1",
        )
        return {int(b): int(n) for b, n in rows}

    def botnet_summaries(self, now: float, recent_window_s: int = 3600) -> list[BotnetSummary]:
        """Every botnet with its first and last reply and its counts in [now - window, now]
        (``GET /api/v1/botnets``), from the summaries: of the replies, only the partial hours
        at the window's edges are read (by time range), never a scan."""
        check_time("now", now)
        return windows.botnet_summaries(self._windows(), self.backend, now, recent_window_s)

    # -- where the addresses are -----------------------------------------------------------
    def _located(
        self, sql: _Sql, ids: Ids, start: float, end: float, from_seen: bool, source: SourceFilter
    ) -> str:
        """A subquery of (ip, country, asn): each address seen in [start, end), once per
        botnet, located where that botnet's latest located reply from it was. With
        ``from_seen`` (the range reaches the newest data) "seen in the range" is "last seen
        at or after start", answered from the seen tables; otherwise from the window
        summaries. For one kind of monitor: from its replies in [start, end), located where
        the latest located one of them was."""
        if source is not None:
            return (
                f"SELECT ip, {sql.latest('country', 'ts')} AS country,"
                f" {sql.latest('asn', 'ts')} AS asn FROM replies"
                f" WHERE {sql.where(ids, start, end, source=source)} GROUP BY botnet_id, ip"
            )
        if from_seen:
            return (
                f"SELECT ip, country, asn FROM seen_ips WHERE {sql.ids(ids)}"
                f"last_ts >= {sql.ts(start)}"
            )
        return windows.located_ips(self._windows(), self.backend, ids, start, end)

    def ips_per_country(
        self, ids: Ids, start: float, end: float, *, from_seen: bool, source: SourceFilter = None
    ) -> list[tuple[str | None, int]]:
        """Distinct addresses per country (None: not located) seen in [start, end). An
        address counts in the country of its latest located reply (per botnet: one seen
        by two botnets in two countries counts in both)."""
        sql = _Sql(self.backend)
        located = self._located(sql, ids, start, end, from_seen, source)
        several = ids is None or len(ids) > 1
        pairs = "SELECT DISTINCT country AS c, ip" if several else "SELECT country AS c"
        rows = self._run(sql, f"SELECT c, count(*) FROM ({pairs} FROM ({located}) l) d GROUP BY 1")
        return [(str(c) if c is not None else None, int(n)) for c, n in rows]

    def ips_per_as(
        self,
        ids: Ids,
        start: float,
        end: float,
        limit: int,
        *,
        from_seen: bool,
        source: SourceFilter = None,
    ) -> list[tuple[int | None, str | None, int, str | None, int]]:
        """The ASes with most distinct addresses seen in [start, end): (asn, AS name, ips,
        main country, total addresses over every AS), most addresses first."""
        sql = _Sql(self.backend)
        located = self._located(sql, ids, start, end, from_seen, source)
        if ids is None or len(ids) > 1:
            located = f"SELECT asn, ip, max(country) AS country FROM ({located}) l GROUP BY asn, ip"
        rows = self._run(
            sql,
            f"""
            WITH per AS (
                SELECT asn, count(*) AS ips, max(country) AS country FROM ({located}) d
                GROUP BY asn
            )
            SELECT per.asn, a.name, per.ips, per.country, (SELECT sum(ips) FROM per) AS total
            FROM per LEFT JOIN ases a ON a.asn = per.asn
            ORDER BY per.ips DESC, per.asn LIMIT {int(limit)}
            """,
        )
        return [
            (
                int(asn) if asn is not None else None,
                str(name) if name is not None else None,
                int(ips),
                str(country) if country is not None else None,
                int(total or 0),
            )
            for asn, name, ips, country, total in rows
        ]

    def ip_overlap(
        self,
        ids: Sequence[int],
        start: float,
        end: float,
        *,
        from_seen: bool,
        source: SourceFilter = None,
    ) -> dict[frozenset[int], int]:
        """How many addresses seen in [start, end) belong to exactly each set of these
        botnets (one pass: a bit per botnet, OR-ed per address)."""
        ids = [int(b) for b in ids]
        sql = _Sql(self.backend)
        bits = " ".join(f"WHEN {sql.p(b)} THEN {1 << i}" for i, b in enumerate(ids))
        if source is not None:
            found = "SELECT DISTINCT botnet_id, ip FROM replies"
            found += f" WHERE {sql.where(ids, start, end, source=source)}"
        elif from_seen:
            found = f"SELECT botnet_id, ip FROM seen_ips WHERE {sql.ids(ids)}"
            found += f"last_ts >= {sql.ts(start)}"
        else:
            self.refresh_summaries()
            found = windows.window_ips(self.backend, ids, start, end)
        rows = self._run(
            sql,
            f"""
            SELECT m, count(*) FROM (
                SELECT ip, bit_or(CASE botnet_id {bits} ELSE 0 END) AS m FROM ({found}) s
                GROUP BY ip
            ) d GROUP BY m
            """,
        )
        return {frozenset(b for i, b in enumerate(ids) if int(m) >> i & 1): int(n) for m, n in rows}

    def source_overlap(
        self,
        ids: Ids,
        start: float,
        end: float,
        bucket_s: int | None,
        measure: OverlapMeasure,
        source: SourceFilter = None,
    ) -> dict[tuple[int, int], tuple[int, int, int]]:
        """Per (botnet id, bucket): distinct addresses (``ips``) or bot IDs (``ids``) with
        replies in [start, end) reported by crawlers only, by sensors only, and by both (one
        pass: a bit per source type, OR-ed per bot). ``bucket_s`` None counts the whole
        range as bucket 0. Read from the replies (the summaries do not tell sources apart)."""
        sql = _Sql(self.backend)
        column, extra = _DISTINCT[measure]
        bucket = sql.bucket(bucket_s) if bucket_s else "0"
        sensor = sql.p("sensor")
        rows = self._run(
            sql,
            f"""
            SELECT g, b, sum(CASE WHEN m = 1 THEN 1 ELSE 0 END),
                sum(CASE WHEN m = 2 THEN 1 ELSE 0 END), sum(CASE WHEN m = 3 THEN 1 ELSE 0 END)
            FROM (
                SELECT botnet_id AS g, {bucket} AS b, {column},
                    bit_or(CASE WHEN source_type = {sensor} THEN 2 ELSE 1 END) AS m
                FROM replies WHERE {sql.where(ids, start, end, source=source)}{extra}
                GROUP BY 1, 2, 3
            ) d GROUP BY 1, 2
            """,
        )
        return {(int(g), int(b)): (int(c), int(s), int(both)) for g, b, c, s, both in rows}

    # -- what the replies' data tell: device types, client versions, node IDs --------------
    def data_values(
        self,
        ids: Ids,
        start: float,
        end: float,
        dimension: Dimension | str,
        source: SourceFilter = None,
    ) -> dict[tuple[int, str | None], int]:
        """Per (botnet id, value): distinct bots whose latest reply in [start, end) with a
        value of ``dimension`` carries that value; bots whose replies (those the dimension
        counts) carry none count under None. ``dimension`` is one of :data:`DIMENSIONS` or
        a plugin's facet key (``data[key]`` over every reply, :meth:`facet_values`). A bot
        is its bot ID, or its ``ip:port`` without one. The summaries keep no ``data``, so
        this reads the replies of the range."""
        if dimension not in DIMENSIONS:
            found = self.facet_values(ids, start, end, [dimension], source)
            return {(g, v): n for (g, _, v), n in found.items()}
        expr, only = DIMENSIONS[dimension]
        sql = _Sql(self.backend)
        # Each bot's values with their last reply first (a few per bot, not every reply),
        # then each bot's latest value.
        rows = self._run(
            sql,
            f"""
            SELECT g, v, count(*) FROM (
                SELECT g, {sql.latest("v", "t")} AS v FROM (
                    SELECT botnet_id AS g, bot_id AS b, CASE WHEN bot_id IS NULL THEN ip END AS i,
                        CASE WHEN bot_id IS NULL THEN port END AS p, {expr} AS v, max(ts) AS t
                    FROM replies WHERE {sql.where(ids, start, end, source=source)}{only}
                    GROUP BY 1, 2, 3, 4, 5
                ) s GROUP BY g, b, i, p
            ) d GROUP BY 1, 2
            """,
        )
        return {(int(g), None if v is None else str(v)): int(n) for g, v, n in rows}

    def facet_values(
        self,
        ids: Ids,
        start: float,
        end: float,
        keys: Sequence[str],
        source: SourceFilter = None,
    ) -> dict[tuple[int, str, str | None], int]:
        """Per (botnet id, facet key, value): distinct bots whose latest reply in [start, end)
        with a value of ``data[key]`` carries that value; bots none of whose replies carries
        one count under None (so a key no bot of a botnet carries has only a None count).
        A bot is its bot ID, or its ``ip:port`` without one, as in :meth:`data_values`.

        Every key is counted in one pass over the replies of the range: the dashboard asks
        for every facet of every installed plugin at once, and the replies' ``data`` are
        read once instead of once per key. Keys are checked (:func:`facet_keys`) and bound
        as parameters, never written into the SQL."""
        keys = facet_keys(keys)
        if not keys:
            return {}
        sql = _Sql(self.backend)
        text_type = "VARCHAR" if sql.duck else "text"
        # Placeholders bind in text order: the values' keys first, then the range.
        values = ", ".join(f"(data->>{sql.p(k)}::{text_type}) AS v{j}" for j, k in enumerate(keys))
        where = sql.where(ids, start, end, source=source)
        latest = ", ".join(f"{sql.latest(f'v{j}', 't')} AS v{j}" for j in range(len(keys)))
        pick = " ".join(f"WHEN {j} THEN v{j}" for j in range(len(keys)))
        which = ", ".join(f"({j})" for j in range(len(keys)))
        columns = ", ".join(str(c) for c in range(1, 5 + len(keys)))
        # Each bot's combinations of values with their last reply (a few per bot, not every
        # reply), each bot's latest value per key, then one row per (bot, key) to count.
        rows = self._run(
            sql,
            f"""
            SELECT g, j, v, count(*) FROM (
                SELECT g, k.j AS j, CASE k.j {pick} END AS v FROM (
                    SELECT g, {latest} FROM (
                        SELECT botnet_id AS g, bot_id AS b,
                            CASE WHEN bot_id IS NULL THEN ip END AS i,
                            CASE WHEN bot_id IS NULL THEN port END AS p, {values}, max(ts) AS t
                        FROM replies WHERE {where}
                        GROUP BY {columns}
                    ) s GROUP BY g, b, i, p
                ) bots CROSS JOIN (VALUES {which}) AS k(j)
            ) d GROUP BY 1, 2, 3
            """,
        )
        return {
            (int(g), keys[int(j)], None if v is None else str(v)): int(n) for g, j, v, n in rows
        }

    def listed_ids(
        self, botnet_id: int, start: float, end: float, limit: int, source: SourceFilter = None
    ) -> list[tuple[str, str]]:
        """(src_id, dst_id) of the edges in [start, end) whose both ends have IDs: which IDs
        each bot listed, by ``src_id`` and at most ``limit`` edges (the bots with the
        smallest IDs: for random node IDs, a uniform sample; the last one's may be cut)."""
        sql = _Sql(self.backend)
        where = sql.where([botnet_id], start, end, source=source, ends=EDGE_ENDS)
        rows = self._run(
            sql,
            f"SELECT src_id, dst_id FROM edges WHERE {where}"
            f" AND src_id IS NOT NULL AND dst_id IS NOT NULL ORDER BY 1 LIMIT {int(limit)}",
        )
        return [(str(a), str(b)) for a, b in rows]


def arrow_with_ips(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` (columns in ``schema``'s order) cast to ``schema``, each ``X__hi``/``X__lo``
    pair of UBIGINT halves folded into the canonical text of the address (each distinct
    address converted once)."""
    columns: list[pa.Array | pa.ChunkedArray] = []
    names = table.column_names
    pos = 0
    for _field in schema:
        if pos >= len(names):
            raise ValueError(f"the result has fewer columns than {schema.names}")
        if not names[pos].endswith("__hi"):
            columns.append(table.column(pos))
            pos += 1
            continue
        hi = table.column(pos).to_numpy()
        lo = table.column(pos + 1).to_numpy()
        pos += 2
        columns.append(_ip_texts(hi, lo))
    return pa.table(columns, names=schema.names).cast(schema)


_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"


def _ip_texts(hi: Any, lo: Any) -> pa.Array:
    """Canonical address texts of the 64-bit halves of 128-bit addresses: the addresses are
    dictionary-encoded (hashing, one pass) and each distinct one is written once. Columns of
    IPv4 addresses only (the common case) are encoded by their low half alone, several
    times faster than the 16-byte form."""
    import numpy as np

    hi = np.asarray(hi, dtype=np.uint64)
    lo = np.asarray(lo, dtype=np.uint64)
    n = len(hi)
    if n and not hi.any():
        encoded = pa.array(lo, pa.uint64()).dictionary_encode()
        values = [int(v) for v in encoded.dictionary.to_numpy()]
        texts = [_ip_text_of(0, v) for v in values]
    else:
        packed = np.empty((n, 2), dtype=">u8")
        packed[:, 0] = hi
        packed[:, 1] = lo
        raw = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(16), n, [None, pa.py_buffer(packed.tobytes())]
        )
        encoded = raw.dictionary_encode()
        texts = [
            socket.inet_ntop(socket.AF_INET, b[12:])
            if b[:12] == _V4_MAPPED
            else socket.inet_ntop(socket.AF_INET6, b)
            for b in encoded.dictionary.to_pylist()
        ]
    return pa.compute.take(pa.array(texts, pa.string()), encoded.indices)


def _ip_text_of(hi: int, lo: int) -> str:
    from botmon.ipaddr import int_to_ip

    return int_to_ip((hi << 64) | lo)


def arrow_from_rows(rows: list[tuple[Any, ...]], schema: pa.Schema) -> pa.Table:
    """Rows (as :meth:`ReadPort._select` gives them) as a table of ``schema``."""
    if not rows:
        return schema.empty_table()
    columns = list(zip(*rows, strict=True))
    return pa.table(
        [pa.array(list(col), type=field.type) for col, field in zip(columns, schema, strict=True)],
        schema=schema,
    )


def _ends(table: str) -> Sequence[str]:
    """The ip/port column prefixes of a record table's ends (an edge has two)."""
    return EDGE_ENDS if table == "edges" else ("",)


def _count_expr(measure: str) -> str:
    columns = _DISTINCT[measure][0]
    return f"({columns})" if "," in columns else columns


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value)


# -- records for the analyses of botmon.analysis (churn, diurnal, count, detect, graph) --------

SIGHTINGS_SCHEMA = pa.schema(
    [
        ("bucket", pa.int64()),
        ("ip", pa.string()),
        ("port", pa.int32()),
        ("bot_id", pa.string()),
        ("country", pa.string()),
        ("asn", pa.int64()),
        ("n", pa.int64()),
        ("first_us", pa.int64()),
        ("last_us", pa.int64()),
    ]
)
"""One row per (bucket, ip, port, bot ID) with records: how many, the first and last (UTC
epoch microseconds), and where the address is (the smallest country and AS its records
name; None for failed tries, which are not located)."""

EDGE_PAIRS_SCHEMA = pa.schema(
    [
        ("src_ip", pa.string()),
        ("src_port", pa.int32()),
        ("src_id", pa.string()),
        ("dst_ip", pa.string()),
        ("dst_port", pa.int32()),
        ("dst_id", pa.string()),
        ("n", pa.int64()),
        ("first_us", pa.int64()),
        ("last_us", pa.int64()),
    ]
)
"""One row per distinct (src, dst) pair of the edges: how often it was listed, first and last."""

CONTACTS_SCHEMA = pa.schema(
    [
        ("ts_us", pa.int64()),
        ("ip", pa.string()),
        ("port", pa.int32()),
        ("bot_id", pa.string()),
        ("source", pa.string()),
        ("deviation", pa.string()),
    ]
)
"""Every reply one kind of monitor recorded: when, from where, which monitor (source name)
and ``data["deviation"]``: a protocol deviation the plugin noticed (None: none)."""


class AnalysisPort:
    """Reads behind :mod:`botmon.analysis`'s research analyses: whole record sets of one
    botnet and range as Arrow tables (IPs as text, times as int64 UTC microseconds), so
    both backends hand the same columns and values to the same Python code. Rows come in
    no particular order: analyses sort what they need. Mixed into both backends beside
    :class:`ReadPort`; each supplies ``_select_arrow``."""

    backend: str

    def _select_arrow(self, sql: str, params: Sequence[Any], schema: pa.Schema) -> pa.Table:
        """Run one read-only SELECT whose IP columns were written with :meth:`_Sql.ip`;
        the result cast to ``schema``. Each backend supplies it."""
        raise NotImplementedError

    def sightings(
        self,
        botnet_id: int,
        kind: CountedKind,
        start: float,
        end: float,
        bucket_s: int,
        source: SourceFilter = None,
    ) -> pa.Table:
        """Replies or failed tries of one botnet in [start, end) per (bucket, ip, port, bot
        ID) (:data:`SIGHTINGS_SCHEMA`): the input of sessions, lifetimes, diurnal cycles
        and counts."""
        sql = _Sql(self.backend)
        table = _checked_kind(kind)
        located = "min(country), min(asn)" if kind == "replies" else "NULL, NULL"
        where = sql.where([botnet_id], start, end, source=source)
        text = (
            f"SELECT {sql.bucket(bucket_s)} AS bucket, {sql.ip('ip')}, port, bot_id,"
            f" {located}, count(*), min({sql.us('ts')}), max({sql.us('ts')})"
            f" FROM {table} WHERE {where} GROUP BY 1, ip, port, bot_id"
        )
        return self._select_arrow(text, sql.params, SIGHTINGS_SCHEMA)

    def edge_pairs(
        self, botnet_id: int, start: float, end: float, source: SourceFilter = None
    ) -> pa.Table:
        """Distinct (src, dst) pairs of one botnet's edges in [start, end)
        (:data:`EDGE_PAIRS_SCHEMA`): the peer graph."""
        sql = _Sql(self.backend)
        where = sql.where([botnet_id], start, end, source=source, ends=EDGE_ENDS)
        text = (
            f"SELECT {sql.ip('src_ip')}, src_port, src_id, {sql.ip('dst_ip')}, dst_port, dst_id,"
            f" count(*), min({sql.us('ts')}), max({sql.us('ts')}) FROM edges WHERE {where}"
            " GROUP BY src_ip, src_port, src_id, dst_ip, dst_port, dst_id"
        )
        return self._select_arrow(text, sql.params, EDGE_PAIRS_SCHEMA)

    def contacts(
        self, botnet_id: int, start: float, end: float, source: SourceFilter = "sensor"
    ) -> pa.Table:
        """Every reply of one botnet in [start, end) that ``source`` monitors recorded
        (:data:`CONTACTS_SCHEMA`; sensors by default: who contacted them and when)."""
        sql = _Sql(self.backend)
        where = sql.where([botnet_id], start, end, prefix="r.", source=source)
        text = (
            f"SELECT {sql.us('r.ts')}, {sql.ip('r.ip', 'ip')}, r.port, r.bot_id, s.name,"
            f" (r.data->>'deviation') FROM replies r JOIN sources s ON s.id = r.source_id"
            f" WHERE {where}"
        )
        return self._select_arrow(text, sql.params, CONTACTS_SCHEMA)
