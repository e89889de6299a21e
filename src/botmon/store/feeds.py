"""The store's feed port: the bots of some networks, one row per (botnet, address), and the
log of every feed delivered.

A feed is read per botnet, in name order, each botnet's addresses in the engine's address
order, so ``(botnet, ip)`` of a page's last row is where the next request starts (keyset
paging: a later page costs what the first does, whatever the offset). The scope is a WHERE
clause on the replies (``asn IN``, ``country IN``, address ranges for CIDRs), so a network
owner's feed reads its networks' rows and never another's; the aggregation per address runs
in the database; rows come back through a server-side cursor (PostgreSQL) or ``fetchmany``
(DuckDB) a page at a time, so memory is bounded by ``page_size`` whatever the answer's size.
Replies from monitors excluded for a botnet (:mod:`botmon.store.exclusions`, other
researchers' crawlers and sensors) are left out: they are not infected hosts.

The dialects differ in the IP type (UHUGEINT in DuckDB, inet in PostgreSQL), list
aggregates and date arithmetic; :class:`_Dialect` holds those few pieces.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import msgspec

from botmon.feeds.model import FeedQuery, FeedRow, Origin, confidence_of
from botmon.feeds.scope import network_range
from botmon.ipaddr import int_to_ip, ip_to_int
from botmon.store.base import StoreError
from botmon.store.common import check_time, to_micros

MAX_LISTED = 16
"""Ports and bot IDs kept per row (:class:`FeedRow`): a bot behind a NAT can show hundreds."""
MAX_PAGE = 100_000
"""Largest page a caller may ask for: the page is what the store holds in memory."""
ORIGINS: dict[str, Origin] = {"crawler": "p2p-crawler", "sensor": "p2p-sensor"}
"""A record's ``source_type`` (migration 0004) in n6's vocabulary."""


class FeedDelivery(msgspec.Struct, frozen=True, kw_only=True):
    """One feed answer: when, to whom, what was asked and what went out."""

    id: int = 0
    delivered_at: float
    monitor: str
    """The token holder's name."""
    role: str
    format: str
    parameters: dict[str, str]
    """The request's query parameters as sent (cursor included)."""
    rows: int
    bytes: int
    status: int
    """The HTTP status; a stream cut off midway is logged with what was sent and 499."""


@dataclass(frozen=True)
class _Dialect:
    """What differs between the engines in the feed's SQL."""

    backend: str

    def p(self, sql: str) -> str:
        return sql if self.backend == "duckdb" else sql.replace("?", "%s")

    def ip_param(self, value: int) -> Any:
        return str(value) if self.backend == "duckdb" else int_to_ip(value)

    @property
    def ip_cast(self) -> str:
        return "CAST(? AS UHUGEINT)" if self.backend == "duckdb" else "CAST(? AS inet)"

    def ts(self) -> str:
        return "make_timestamp(?)" if self.backend == "duckdb" else "to_timestamp(?)"

    def ts_param(self, value: float) -> Any:
        return to_micros(value) if self.backend == "duckdb" else float(value)

    def epoch(self, column: str) -> str:
        if self.backend == "duckdb":
            return f"epoch({column})"
        return f"extract(epoch FROM {column})::float8"

    def listed(self, column: str) -> str:
        """Distinct non-NULL values, ascending, at most :data:`MAX_LISTED`."""
        if self.backend == "duckdb":
            return f"list_sort(list_distinct(list({column})))[1:{MAX_LISTED}]"
        return (
            f"(array_agg(DISTINCT {column} ORDER BY {column}) "
            f"FILTER (WHERE {column} IS NOT NULL))[1:{MAX_LISTED}]"
        )

    def day(self, column: str) -> str:
        if self.backend == "duckdb":
            return f"CAST({column} AS DATE)"
        return f"({column} AT TIME ZONE 'UTC')::date"

    def ip_select(self, column: str) -> str:
        """The address as two columns: DuckDB's UHUGEINT as UBIGINT halves (Arrow, which
        the DuckDB store reads results through, has no 128-bit integer), PostgreSQL's inet
        and a NULL."""
        if self.backend == "duckdb":
            return (
                f"({column} >> 64)::UBIGINT AS ip_hi, "
                f"({column} & {(1 << 64) - 1}::UHUGEINT)::UBIGINT AS ip_lo"
            )
        return f"{column}, NULL"

    def ip_text(self, value: Any, low: Any) -> str:
        if self.backend == "duckdb":
            return int_to_ip((int(value) << 64) | int(low))
        from botmon.store.pg_store import _ip_text

        text = _ip_text(value)
        assert text is not None
        return text


def _scope_clause(d: _Dialect, query: FeedQuery) -> tuple[str, list[Any]]:
    """``(r.asn IN ... OR r.country IN ... OR r.ip BETWEEN ...)``; empty for no scope."""
    scope = query.scope
    terms: list[str] = []
    params: list[Any] = []
    if scope.asns:
        terms.append(f"r.asn IN ({', '.join(str(int(a)) for a in scope.asns)})")
    if scope.countries:
        terms.append(f"r.country IN ({', '.join('?' for _ in scope.countries)})")
        params.extend(scope.countries)
    for cidr in scope.cidrs:
        first, last = network_range(cidr)
        terms.append(f"r.ip BETWEEN {d.ip_cast} AND {d.ip_cast}")
        params.extend([d.ip_param(first), d.ip_param(last)])
    if not terms:
        return "", []
    return " AND (" + " OR ".join(terms) + ")", params


def _check(query: FeedQuery) -> None:
    check_time("since", query.since)
    check_time("until", query.until)
    if query.since >= query.until:
        raise StoreError("since must be before until")
    if not 1 <= query.page_size <= MAX_PAGE:
        raise StoreError(f"page_size must be 1..{MAX_PAGE}")
    if query.limit is not None and query.limit < 0:
        raise StoreError("limit must not be negative")
    if query.after is not None:
        try:
            ip_to_int(query.after[1])
        except (ValueError, IndexError, TypeError):
            raise StoreError("after must be (botnet, ip address)") from None


class FeedPort:
    """:meth:`feed_rows` and the delivery log; mixed into both stores, which supply
    ``_select``, ``_config_write`` and ``_stream`` (rows of one SELECT, a page at a time)."""

    backend: str

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _config_write(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _stream(
        self, sql: str, params: Sequence[Any], size: int
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of one read-only SELECT, ``size`` at a time, from a server-side cursor."""
        raise NotImplementedError

    def feed_rows(self, query: FeedQuery) -> Iterator[list[FeedRow]]:
        """The bots in ``query``'s scope seen in ``[since, until)``, one row per (botnet,
        ip) ordered by botnet name then address, in pages of ``page_size`` rows (the last
        page may be shorter; no empty page). Unknown botnets in ``query.botnets`` are
        simply not there (the route checks names first)."""
        _check(query)
        d = _Dialect(self.backend)
        botnets = self._select(d.p("SELECT id, name FROM botnets"))
        wanted = set(query.botnets)
        chosen = sorted(
            ((str(name), int(bid)) for bid, name in botnets if not wanted or name in wanted),
            key=lambda pair: pair[0].encode(),
        )
        left = query.limit
        page: list[FeedRow] = []
        for name, botnet_id in chosen:
            after_ip: int | None = None
            if query.after is not None:
                after_name = query.after[0]
                if name.encode() < after_name.encode():
                    continue
                if name == after_name:
                    after_ip = ip_to_int(query.after[1])
            if left is not None and left <= 0:
                break
            sql, params = self._feed_sql(d, query, botnet_id, after_ip, left)
            for chunk in self._stream(sql, params, query.page_size):
                for raw in chunk:
                    page.append(_row(d, name, raw))
                    if len(page) >= query.page_size:
                        yield page
                        page = []
                if left is not None:
                    left -= len(chunk)
        if page:
            yield page

    def _feed_sql(
        self,
        d: _Dialect,
        query: FeedQuery,
        botnet_id: int,
        after_ip: int | None,
        limit: int | None,
    ) -> tuple[str, list[Any]]:
        params: list[Any] = [botnet_id, d.ts_param(query.since), d.ts_param(query.until)]
        where = f"r.botnet_id = ? AND r.ts >= {d.ts()} AND r.ts < {d.ts()}"
        if after_ip is not None:
            where += f" AND r.ip > {d.ip_cast}"
            params.append(d.ip_param(after_ip))
        scope_sql, scope_params = _scope_clause(d, query)
        where += scope_sql
        params.extend(scope_params)
        where += (
            " AND NOT EXISTS (SELECT 1 FROM excluded_monitors x WHERE x.botnet_id = r.botnet_id"
            " AND x.ip = r.ip AND x.port = r.port)"
        )
        sql = f"""
            WITH per AS (
                SELECT r.ip,
                    min(r.ts) AS first_ts, max(r.ts) AS last_ts, count(*) AS observations,
                    {d.listed("r.port")} AS ports, {d.listed("r.bot_id")} AS bot_ids,
                    max(r.asn) AS asn, max(r.country) AS country,
                    bool_or(r.source_type = 'crawler') AS by_crawler,
                    bool_or(r.source_type = 'sensor') AS by_sensor,
                    count(DISTINCT r.source_id) AS vantage_points,
                    count(DISTINCT {d.day("r.ts")}) AS days
                FROM replies r
                WHERE {where}
                GROUP BY r.ip
            )
            SELECT {d.ip_select("per.ip")}, {d.epoch("per.first_ts")}, {d.epoch("per.last_ts")},
                per.observations, per.ports, per.bot_ids, per.asn, a.name, per.country,
                per.by_crawler, per.by_sensor, per.vantage_points, per.days
            FROM per LEFT JOIN ases a ON a.asn = per.asn
            ORDER BY per.ip
        """
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return d.p(sql), params

    # -- the delivery log --------------------------------------------------------------------
    def record_feed_delivery(self, delivery: FeedDelivery) -> None:
        """Log one feed answer."""
        d = _Dialect(self.backend)
        with self._config_write() as ex:
            ex.execute(
                d.p(
                    "INSERT INTO feed_deliveries (delivered_us, monitor, role, format,"
                    " parameters, row_count, byte_count, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                [
                    to_micros(delivery.delivered_at),
                    delivery.monitor[:128],
                    delivery.role[:32],
                    delivery.format[:32],
                    json.dumps(delivery.parameters, sort_keys=True)[:4096],
                    int(delivery.rows),
                    int(delivery.bytes),
                    int(delivery.status),
                ],
            )

    def feed_deliveries(
        self, *, since: float | None = None, monitor: str | None = None, limit: int = 1000
    ) -> list[FeedDelivery]:
        """Logged feed answers, newest first."""
        d = _Dialect(self.backend)
        where: list[str] = ["true"]
        params: list[Any] = []
        if since is not None:
            where.append("delivered_us >= ?")
            params.append(to_micros(check_time("since", since)))
        if monitor is not None:
            where.append("monitor = ?")
            params.append(monitor)
        rows = self._select(
            d.p(
                "SELECT id, delivered_us, monitor, role, format, parameters, row_count,"
                f" byte_count, status FROM feed_deliveries WHERE {' AND '.join(where)}"
                f" ORDER BY delivered_us DESC, id DESC LIMIT {max(0, int(limit))}"
            ),
            params,
        )
        return [
            FeedDelivery(
                id=int(r[0]),
                delivered_at=int(r[1]) / 1e6,
                monitor=str(r[2]),
                role=str(r[3]),
                format=str(r[4]),
                parameters=json.loads(r[5]),
                rows=int(r[6]),
                bytes=int(r[7]),
                status=int(r[8]),
            )
            for r in rows
        ]


def _row(d: _Dialect, botnet: str, raw: Sequence[Any]) -> FeedRow:
    (ip, low, first, last, observations, ports, bot_ids, asn, as_name, country) = raw[:10]
    by_crawler, by_sensor, vantage_points, days = raw[10:]
    kinds: tuple[tuple[Origin, Any], ...] = (("p2p-crawler", by_crawler), ("p2p-sensor", by_sensor))
    origins = tuple(o for o, seen in kinds if seen)
    vantage_points, days = int(vantage_points), int(days)
    return FeedRow(
        botnet=botnet,
        ip=d.ip_text(ip, low),
        first_seen=float(first),
        last_seen=float(last),
        observations=int(observations),
        ports=tuple(int(p) for p in ports or ()),
        bot_ids=tuple(str(b) for b in bot_ids or ()),
        asn=None if asn is None else int(asn),
        as_name=None if as_name is None else str(as_name),
        country=None if country is None else str(country),
        origins=origins,
        vantage_points=vantage_points,
        days=days,
        confidence=confidence_of(origins, vantage_points, days),
    )
