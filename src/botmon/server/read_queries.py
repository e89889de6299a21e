"""The SQL behind every dashboard view, for both store backends, as plain tables.

Each function takes a :class:`~botmon.store.base.Store` and explicit parameters (time range in
epoch seconds, bucket in seconds) and returns a :class:`Table`: column names and rows of plain
Python values. The read API turns a table into JSON or CSV and the dashboard draws it, so a
chart, its table and its CSV download can never disagree.

Backend differences (placeholders, timestamp types, IP types) live in :class:`Sql` and a few
expressions below; the queries themselves are the same. Counts are exact (``count(DISTINCT)``),
never sketches, because the dashboard is also used to hand numbers to others. Buckets are
aligned to UTC, and weekly buckets start on Monday 00:00 UTC (:data:`BUCKET_ORIGIN`).

Speed without approximation: every answer is cached per store, and a cached value is reused
only while a cheap check (row counts per hour or per bucket, from zonemaps/indexes) proves the
rows it was computed from are unchanged. Time series are cached per bucket, so a refresh of a
live view recomputes only the buckets that received rows (normally the newest one) and the
partial buckets at the range's edges. The store is append-only for records, so equal counts
mean equal rows; the check runs on every call, so late imports are never missed.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv6Address
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botmon.ipaddr import int_to_ip
from botmon.store.base import Store

BUCKET_ORIGIN = 4 * 86400
"""Monday 1970-01-05 00:00 UTC: buckets of an hour, a day or a week all start on boundaries."""
UNKNOWN_COUNTRY = "??"
"""Country code shown for addresses enrichment could not place."""


@dataclass
class Table:
    """Rows with named columns: what every view query answers."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def dicts(self) -> list[dict[str, Any]]:
        """The rows as objects keyed by column name (the JSON form)."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


class UnknownBotnet(LookupError):
    """A query named a botnet the store does not have."""


class Sql:
    """Collects positional parameters and writes the backend's placeholder for each."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.duck = backend == "duckdb"
        self.params: list[Any] = []

    def p(self, value: Any) -> str:
        """A placeholder bound to ``value``."""
        self.params.append(value)
        return "?" if self.duck else "%s"

    def ts(self, seconds: float) -> str:
        """A UTC instant literal comparable with the ``ts`` columns."""
        if self.duck:
            return f"make_timestamp({self.p(round(seconds * 1_000_000))}::BIGINT)"
        return f"to_timestamp({self.p(float(seconds))}::float8)"

    def range(self, start: float, end: float, column: str = "ts") -> str:
        """``column`` within [start, end)."""
        return f"{column} >= {self.ts(start)} AND {column} < {self.ts(end)}"

    def bucket(self, bucket_s: int, column: str = "ts") -> str:
        """The bucket index of ``column``: floor((epoch - origin) / bucket)."""
        b = int(bucket_s)
        if self.duck:
            return f"((epoch_us({column}) - {BUCKET_ORIGIN * 1_000_000}) // {b * 1_000_000})"
        return f"floor((date_part('epoch', {column}) - {BUCKET_ORIGIN}) / {b})::bigint"

    def run(self, store: Store, sql: str) -> list[tuple[Any, ...]]:
        return store.query(sql, self.params)


def bucket_start(index: int, bucket_s: int) -> float:
    """Epoch seconds at which bucket ``index`` starts."""
    return float(index * bucket_s + BUCKET_ORIGIN)


def first_bucket(start: float, bucket_s: int) -> int:
    """Index of the bucket holding ``start``."""
    return math.floor((start - BUCKET_ORIGIN) / bucket_s)


def epoch(value: Any) -> float | None:
    """A result cell as epoch seconds (DuckDB gives naive UTC datetimes, psycopg aware ones)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        stamp: float = value.timestamp()
        return stamp
    return float(value)


def ip_text(value: Any) -> str:
    """A result cell holding an address as its canonical text."""
    if isinstance(value, IPv4Address | IPv6Address):
        return str(value)
    if isinstance(value, int):
        return int_to_ip(value)
    text = str(value)
    if text.isdigit():
        return int_to_ip(int(text))
    return text.split("/", 1)[0]


def botnet_ids(store: Store) -> dict[str, int]:
    """Botnet name -> id, for filtering the record tables by their small integer key."""
    rows = store.query("SELECT name, id FROM botnets ORDER BY name")
    return {str(name): int(i) for name, i in rows}


def _botnet_id(store: Store, botnet: str) -> int:
    ids = botnet_ids(store)
    if botnet not in ids:
        raise UnknownBotnet(botnet)
    return ids[botnet]


def _filter(sql: Sql, botnet_id: int | None, start: float, end: float) -> str:
    # Placeholders are positional: bind in the order they appear in the text.
    where = f"botnet_id = {sql.p(botnet_id)} AND " if botnet_id is not None else ""
    return where + sql.range(start, end)


# -- validated cache -------------------------------------------------------------------------

CACHE_ENTRIES = 20_000
"""Most cached values per store (per-bucket values are small tuples)."""
CHECK_BUCKET_S = 3600
"""Granularity of the row-count check behind cached whole-range answers."""


class _Cache:
    """Values with the check they were computed under; a value is reused only while the
    check computed now is equal."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.data: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()

    def get(self, key: tuple[Any, ...], check: Any) -> tuple[bool, Any]:
        with self.lock:
            hit = self.data.get(key)
            if hit is None or hit[0] != check:
                return False, None
            self.data.move_to_end(key)
            return True, hit[1]

    def put(self, key: tuple[Any, ...], check: Any, value: Any) -> None:
        with self.lock:
            self.data[key] = (check, value)
            self.data.move_to_end(key)
            while len(self.data) > CACHE_ENTRIES:
                self.data.popitem(last=False)


_caches: weakref.WeakKeyDictionary[Any, _Cache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def _cache(store: Store) -> _Cache | None:
    try:
        with _caches_lock:
            cache = _caches.get(store)
            if cache is None:
                cache = _caches[store] = _Cache()
            return cache
    except TypeError:  # a store that cannot be weakly referenced: no caching
        return None


def clear_cache(store: Store) -> None:
    """Forget every cached answer for ``store`` (benchmarks measure cold queries with it)."""
    with _caches_lock:
        _caches.pop(store, None)


def _where(sql: Sql, ids: Sequence[int] | None, start: float, end: float) -> str:
    """``botnet_id IN (...) AND ts in [start, end)``; placeholders bound in text order."""
    head = f"botnet_id IN {_in(sql, list(ids))} AND " if ids is not None else ""
    return head + sql.range(start, end)


def _bucket_counts(
    store: Store, table: str, ids: Sequence[int] | None, start: float, end: float, bucket_s: int
) -> dict[tuple[int, int], int]:
    """Rows per (botnet id, bucket index) in [start, end): the cache's check."""
    sql = Sql(store.backend)
    rows = sql.run(
        store,
        f"SELECT botnet_id, {sql.bucket(bucket_s)}, count(*) FROM {table}"
        f" WHERE {_where(sql, ids, start, end)} GROUP BY 1, 2",
    )
    return {(int(a), int(b)): int(n) for a, b, n in rows}


def _rows_before(store: Store, table: str, ids: Sequence[int], start: float) -> dict[int, int]:
    sql = Sql(store.backend)
    rows = sql.run(
        store,
        f"SELECT botnet_id, count(*) FROM {table} WHERE botnet_id IN {_in(sql, list(ids))}"
        f" AND ts < {sql.ts(start)} GROUP BY 1",
    )
    return {int(a): int(n) for a, n in rows}


Compute = Callable[[float, float], dict[tuple[int, int], Any]]


def _per_bucket(
    store: Store,
    view: str,
    ids: Sequence[int],
    start: float,
    end: float,
    bucket_s: int,
    compute: Compute,
    *,
    counts: dict[tuple[int, int], int],
    cumulative: bool = False,
) -> dict[tuple[int, int], Any]:
    """Values per (botnet id, bucket) for buckets holding rows, from the cache where valid.

    ``counts`` are the rows per bucket now. A cached bucket is valid when its count (or, with
    ``cumulative``, the count of all the botnet's rows up to the bucket's end, for values that
    depend on earlier data) is unchanged. Invalid buckets are recomputed by
    ``compute(lo, hi)`` over as few contiguous spans as possible.
    """
    cache = _cache(store)
    before = _rows_before(store, "replies", ids, start) if cumulative else {}
    first, last = first_bucket(start, bucket_s), first_bucket(end - 1e-6, bucket_s)
    result: dict[tuple[int, int], Any] = {}
    checks: dict[tuple[int, int], int] = {}
    dirty: set[int] = set()
    for bid in ids:
        running = before.get(bid, 0)
        for i in range(first, last + 1):
            n = counts.get((bid, i), 0)
            running += n
            if n == 0:
                continue
            check = running if cumulative else n
            if cache is not None:
                checks[(bid, i)] = check
                ok, value = cache.get(_bucket_key(view, bid, bucket_s, i, start, end), check)
                if ok:
                    result[(bid, i)] = value
                    continue
            dirty.add(i)
    for lo_i, hi_i in _spans(sorted(dirty)):
        lo = max(start, bucket_start(lo_i, bucket_s))
        hi = min(end, bucket_start(hi_i + 1, bucket_s))
        for key, value in compute(lo, hi).items():
            if key[1] not in dirty or key[0] not in ids:
                continue
            result[key] = value
            if cache is not None and key in checks:
                cache.put(
                    _bucket_key(view, key[0], bucket_s, key[1], start, end), checks[key], value
                )
    return result


def _bucket_key(
    view: str, botnet_id: int, bucket_s: int, i: int, start: float, end: float
) -> tuple[Any, ...]:
    """Cache key of one bucket's value; a bucket cut by the range's edges is keyed by the part
    the range covers, so a sliding window reuses its edges while they stay put."""
    lo, hi = bucket_start(i, bucket_s), bucket_start(i + 1, bucket_s)
    return (view, botnet_id, bucket_s, i, max(lo, start), min(hi, end))


def _spans(indexes: list[int]) -> list[tuple[int, int]]:
    """Contiguous runs of sorted bucket indexes, as (first, last) pairs."""
    spans: list[tuple[int, int]] = []
    for i in indexes:
        if spans and spans[-1][1] == i - 1:
            spans[-1] = (spans[-1][0], i)
        else:
            spans.append((i, i))
    return spans


def _whole(
    store: Store,
    key: tuple[Any, ...],
    tables: Sequence[str],
    ids: Sequence[int] | None,
    start: float,
    end: float,
    compute: Callable[[], Any],
) -> Any:
    """A whole-range answer, reused while the rows per hour of every table it reads match."""
    cache = _cache(store)
    check = tuple(
        tuple(sorted(_bucket_counts(store, t, ids, start, end, CHECK_BUCKET_S).items()))
        for t in tables
    )
    full_key = (*key, start, end)
    if cache is not None:
        ok, value = cache.get(full_key, check)
        if ok:
            return value
    value = compute()
    if cache is not None:
        cache.put(full_key, check, value)
    return value


def _distinct_per_bucket(
    store: Store,
    ids: Sequence[int],
    lo: float,
    hi: float,
    bucket_s: int,
    expr: str,
    not_null: str | None = None,
) -> dict[tuple[int, int], int]:
    """Distinct ``expr`` per (botnet, bucket): de-duplicate first, then count; several times
    faster than ``count(DISTINCT)`` on both engines."""
    sql = Sql(store.backend)
    extra = f" AND {not_null} IS NOT NULL" if not_null else ""
    rows = sql.run(
        store,
        f"SELECT g, b, count(*) FROM (SELECT DISTINCT botnet_id AS g, {sql.bucket(bucket_s)} AS b,"
        f" {expr} FROM replies WHERE {_where(sql, ids, lo, hi)}{extra}) d GROUP BY 1, 2",
    )
    return {(int(g), int(b)): int(n) for g, b, n in rows}


def _dense(
    counts: dict[int, tuple[Any, ...]], start: float, end: float, bucket_s: int, width: int
) -> list[tuple[Any, ...]]:
    """One row per bucket from start to end, zeros where nothing was seen (charts need gaps
    to show as zero, not as a line jumping over them)."""
    rows = []
    first = first_bucket(start, bucket_s)
    last = first_bucket(end - 1e-6, bucket_s)
    for i in range(first, last + 1):
        rows.append((bucket_start(i, bucket_s), *counts.get(i, (0,) * width)))
    return rows


# -- overview --------------------------------------------------------------------------------


def overview(store: Store, end: float, window_s: int) -> Table:
    """Every botnet: distinct IPs and IDs in the last ``window_s`` before ``end``, all-time
    first and last reply."""
    ids = botnet_ids(store)
    start = end - window_s

    def compute() -> list[list[tuple[Any, ...]]]:
        sql = Sql(store.backend)
        recent = sql.run(
            store,
            "SELECT botnet_id, count(DISTINCT ip), count(DISTINCT bot_id), count(*)"
            f" FROM replies WHERE {sql.range(start, end)} GROUP BY 1",
        )
        sql2 = Sql(store.backend)
        failed = sql2.run(
            store,
            f"SELECT botnet_id, count(*) FROM failed_tries WHERE {sql2.range(start, end)}"
            " GROUP BY 1",
        )
        return [recent, failed]

    recent, failed = _whole(
        store, ("overview", window_s), ("replies", "failed_tries"), None, start, end, compute
    )
    by_id = {int(r[0]): r[1:] for r in recent}
    failed_by = {int(a): int(n) for a, n in failed}
    seen = _first_last(store)
    rows = []
    for name, desc in store.query("SELECT name, description FROM botnets ORDER BY name"):
        bid = ids[str(name)]
        ips, n_ids, replies = by_id.get(bid, (0, 0, 0))
        first, last = seen.get(bid, (None, None))
        rows.append(
            (name, desc, int(ips), int(n_ids), int(replies), failed_by.get(bid, 0), first, last)
        )
    return Table(
        (
            "botnet",
            "description",
            "ips",
            "ids",
            "replies",
            "failed_tries",
            "first_seen",
            "last_seen",
        ),
        rows,
    )


def _first_last(store: Store) -> dict[int, tuple[float | None, float | None]]:
    """All-time first and last reply per botnet.

    Checked by the ``batches`` table (one row per stored batch with its reply count: tiny),
    and when it changed, updated from the rows older than the known firsts and newer than the
    known lasts only (zonemaps/indexes skip the rest), instead of scanning every reply.
    """
    check = tuple(
        tuple(int(v or 0) for v in row)
        for row in store.query(
            "SELECT botnet_id, count(*), sum(replies) FROM batches GROUP BY 1 ORDER BY 1"
        )
    )
    cache = _cache(store)
    previous: dict[int, tuple[float | None, float | None]] | None = None
    if cache is not None:
        ok, value = cache.get(("first_last",), check)
        if ok:
            return dict(value)
        with cache.lock:
            hit = cache.data.get(("first_last",))
        previous = dict(hit[1]) if hit is not None else None
    firsts = [f for f, _ in (previous or {}).values() if f is not None]
    lasts = [last for _, last in (previous or {}).values() if last is not None]
    if previous and firsts and lasts:
        sql = Sql(store.backend)
        lows = sql.run(
            store,
            f"SELECT botnet_id, min(ts) FROM replies WHERE ts <= {sql.ts(max(firsts))} GROUP BY 1",
        )
        sql = Sql(store.backend)
        highs = sql.run(
            store,
            f"SELECT botnet_id, max(ts) FROM replies WHERE ts >= {sql.ts(min(lasts))} GROUP BY 1",
        )
        low = {int(b): epoch(v) for b, v in lows}
        high = {int(b): epoch(v) for b, v in highs}
        out = {b: (low.get(b), high.get(b)) for b in set(low) | set(high)}
        with_rows = {row[0] for row in check if row[2]}
        if with_rows - set(out) or any(v[0] is None or v[1] is None for v in out.values()):
            out = _scan_first_last(store)  # a botnet new since: scan once
    else:
        out = _scan_first_last(store)
    if cache is not None:
        cache.put(("first_last",), check, out)
    return out


def _scan_first_last(store: Store) -> dict[int, tuple[float | None, float | None]]:
    rows = store.query("SELECT botnet_id, min(ts), max(ts) FROM replies GROUP BY 1")
    return {int(b): (epoch(lo), epoch(hi)) for b, lo, hi in rows}


def trend(store: Store, start: float, end: float, bucket_s: int) -> Table:
    """Distinct IPs and IDs per botnet and bucket (the overview's sparklines)."""
    names = botnet_ids(store)
    ids = list(names.values())
    counts = _bucket_counts(store, "replies", ids, start, end, bucket_s)

    def compute(lo: float, hi: float) -> dict[tuple[int, int], Any]:
        ips = _distinct_per_bucket(store, ids, lo, hi, bucket_s, "ip")
        bots = _distinct_per_bucket(store, ids, lo, hi, bucket_s, "bot_id", "bot_id")
        return {k: (n, bots.get(k, 0)) for k, n in ips.items()}

    values = _per_bucket(store, "trend", ids, start, end, bucket_s, compute, counts=counts)
    out = []
    for name, botnet_id in names.items():
        per = {i: v for (b, i), v in values.items() if b == botnet_id}
        for row in _dense(per, start, end, bucket_s, 2):
            out.append((name, *row))
    return Table(("botnet", "t", "ips", "ids"), out)


_STATUS_KEYS: dict[str, tuple[str, ...]] = {
    "state": ("state", "status", "phase"),
    "requests_per_s": ("requests_per_s", "request_rate", "rate", "sent_per_s", "send_rate"),
    "replies_total": ("replies", "replies_total", "bot_replies", "received"),
    "errors_total": ("errors", "errors_total", "failures", "failed", "no_reply"),
}


def _status_value(status: dict[str, Any], names: tuple[str, ...]) -> Any:
    """The first of ``names`` found in a heartbeat status, also inside a ``counters`` object."""
    for scope in (status, status.get("counters"), status.get("stats")):
        if isinstance(scope, dict):
            for name in names:
                value = scope.get(name)
                if isinstance(value, int | float | str) and not isinstance(value, bool):
                    return value
    return None


def monitors(store: Store, end: float, window_s: int) -> Table:
    """Every crawler's and sensor's health: last heartbeat and what it said, plus the replies
    and failed tries the store received from it in the last ``window_s`` (measured, not
    reported, so a crawler that stopped sending records shows it even if it still beats)."""
    beats = {h.source: h for h in store.heartbeats()}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for i, table in enumerate(("replies", "failed_tries")):
        sql = Sql(store.backend)
        for name, n in sql.run(
            store,
            f"SELECT s.name, count(*) FROM {table} t JOIN sources s ON s.id = t.source_id"
            f" WHERE {sql.range(end - window_s, end, 't.ts')} GROUP BY s.name",
        ):
            counts[str(name)][i] = int(n)
    rows = []
    for source in sorted(set(beats) | set(counts)):
        beat = beats.get(source)
        status = beat.status if beat is not None else {}
        replies, failed = counts.get(source, [0, 0])
        rows.append(
            (
                source,
                beat.at if beat is not None else None,
                round(end - beat.at, 1) if beat is not None else None,
                _status_value(status, _STATUS_KEYS["state"]),
                _status_value(status, _STATUS_KEYS["requests_per_s"]),
                _status_value(status, _STATUS_KEYS["replies_total"]),
                _status_value(status, _STATUS_KEYS["errors_total"]),
                replies,
                failed,
                round((replies + failed) / window_s, 3),
            )
        )
    return Table(
        (
            "source",
            "last_heartbeat",
            "heartbeat_age_s",
            "state",
            "reported_requests_per_s",
            "reported_replies",
            "reported_errors",
            "replies",
            "failed_tries",
            "tries_per_s",
        ),
        rows,
    )


# -- one botnet --------------------------------------------------------------------------------


def population(store: Store, botnet: str, start: float, end: float, bucket_s: int) -> Table:
    """Per bucket: distinct IPs, bot IDs and ip:port pairs, replies and failed tries."""
    botnet_id = _botnet_id(store, botnet)
    ids = [botnet_id]
    counts = _bucket_counts(store, "replies", ids, start, end, bucket_s)
    failed = _bucket_counts(store, "failed_tries", ids, start, end, bucket_s)

    def compute(lo: float, hi: float) -> dict[tuple[int, int], Any]:
        ips = _distinct_per_bucket(store, ids, lo, hi, bucket_s, "ip")
        bots = _distinct_per_bucket(store, ids, lo, hi, bucket_s, "bot_id", "bot_id")
        pairs = _distinct_per_bucket(store, ids, lo, hi, bucket_s, "ip, port")
        return {k: (n, bots.get(k, 0), pairs.get(k, 0)) for k, n in ips.items()}

    values = _per_bucket(store, "population", ids, start, end, bucket_s, compute, counts=counts)
    rows: dict[int, tuple[Any, ...]] = {}
    for (_, i), (ips, n_ids, pairs) in values.items():
        rows[i] = (ips, n_ids, pairs, counts.get((botnet_id, i), 0), failed.get((botnet_id, i), 0))
    for (_, i), n in failed.items():
        if i not in rows:
            rows[i] = (0, 0, 0, 0, n)
    return Table(
        ("t", "ips", "ids", "ip_ports", "replies", "failed_tries"),
        _dense(rows, start, end, bucket_s, 5),
    )


def returning(
    store: Store, botnet: str, start: float, end: float, bucket_s: int, by: str = "ip"
) -> Table:
    """Per bucket: bots seen, of which new (first reply ever, in this bucket) and returning
    (seen in an earlier bucket, possibly before ``start``). ``by`` is ``ip`` or ``id``."""
    botnet_id = _botnet_id(store, botnet)
    key = "ip" if by == "ip" else "bot_id"
    ids = [botnet_id]
    counts = _bucket_counts(store, "replies", ids, start, end, bucket_s)

    def compute(lo: float, hi: float) -> dict[tuple[int, int], Any]:
        sql = Sql(store.backend)
        bucket = sql.bucket(bucket_s)
        seen_where = _where(sql, ids, lo, hi)
        bid = sql.p(botnet_id)
        before = sql.ts(lo)
        rows = sql.run(
            store,
            f"""
            WITH seen AS (
                SELECT DISTINCT {bucket} AS b, {key} AS k FROM replies
                WHERE {seen_where} AND {key} IS NOT NULL
            ), firsts AS (
                SELECT k, min(b) AS fb FROM seen GROUP BY k
            ), old AS (
                SELECT DISTINCT {key} AS k FROM replies
                WHERE botnet_id = {bid} AND ts < {before}
                  AND {key} IN (SELECT k FROM firsts)
            )
            SELECT s.b, count(*),
                   sum(CASE WHEN f.fb = s.b AND o.k IS NULL THEN 1 ELSE 0 END)
            FROM seen s JOIN firsts f ON f.k = s.k LEFT JOIN old o ON o.k = s.k
            GROUP BY 1
            """,
        )
        return {(botnet_id, int(b)): (int(n), int(new)) for b, n, new in rows}

    values = _per_bucket(
        store,
        f"returning-{key}",
        ids,
        start,
        end,
        bucket_s,
        compute,
        counts=counts,
        cumulative=True,
    )
    rows = {i: (n, new, n - new) for (_, i), (n, new) in values.items()}
    return Table(("t", "bots", "new", "returning"), _dense(rows, start, end, bucket_s, 3))


def top_peers(store: Store, botnet: str, start: float, end: float, limit: int) -> Table:
    """The most listed peers (highest in-degree: distinct bots listing them) from edges."""
    botnet_id = _botnet_id(store, botnet)

    def compute() -> list[tuple[Any, ...]]:
        sql = Sql(store.backend)
        return sql.run(
            store,
            f"""
            SELECT dst_ip, dst_port, max(dst_id), count(*), sum(n) FROM (
                SELECT dst_ip, dst_port, max(dst_id) AS dst_id, count(*) AS n FROM edges
                WHERE {_filter(sql, botnet_id, start, end)}
                GROUP BY dst_ip, dst_port, src_ip, src_port
            ) d
            GROUP BY dst_ip, dst_port
            ORDER BY 4 DESC, 5 DESC, 1, 2 LIMIT {int(limit)}
            """,
        )

    rows = _whole(
        store, ("top_peers", botnet_id, limit), ("edges",), [botnet_id], start, end, compute
    )
    return Table(
        ("ip", "port", "bot_id", "in_degree", "mentions"),
        [(ip_text(ip), int(port), bid, int(deg), int(n)) for ip, port, bid, deg, n in rows],
    )


# -- geolocation and ASes -----------------------------------------------------------------------


def countries(store: Store, botnet: str | None, start: float, end: float) -> Table:
    """Distinct IPs per country in the range, and each country's share of them."""
    botnet_id = _botnet_id(store, botnet) if botnet else None
    ids = [botnet_id] if botnet_id is not None else None

    def compute() -> list[tuple[Any, ...]]:
        sql = Sql(store.backend)
        return sql.run(
            store,
            f"""
            SELECT c, count(*) FROM (
                SELECT DISTINCT coalesce(country, '{UNKNOWN_COUNTRY}') AS c, ip FROM replies
                WHERE {_filter(sql, botnet_id, start, end)}
            ) d GROUP BY 1 ORDER BY 2 DESC, 1
            """,
        )

    rows = _whole(store, ("countries", botnet_id), ("replies",), ids, start, end, compute)
    total = sum(int(n) for _, n in rows) or 1
    return Table(
        ("country", "ips", "share"),
        [(str(c), int(n), round(int(n) / total, 6)) for c, n in rows],
    )


def ases(store: Store, botnet: str | None, start: float, end: float, limit: int) -> Table:
    """The ASes with most distinct IPs in the range, with name, main country and share."""
    botnet_id = _botnet_id(store, botnet) if botnet else None
    ids = [botnet_id] if botnet_id is not None else None

    def compute() -> list[tuple[Any, ...]]:
        sql = Sql(store.backend)
        return sql.run(
            store,
            f"""
            WITH per AS (
                SELECT asn, count(*) AS ips, max(country) AS country FROM (
                    SELECT asn, ip, max(country) AS country FROM replies
                    WHERE {_filter(sql, botnet_id, start, end)} GROUP BY asn, ip
                ) d GROUP BY asn
            )
            SELECT per.asn, a.name, per.ips, per.country, (SELECT sum(ips) FROM per) AS total
            FROM per LEFT JOIN ases a ON a.asn = per.asn
            ORDER BY per.ips DESC, per.asn LIMIT {int(limit)}
            """,
        )

    rows = _whole(store, ("ases", botnet_id, limit), ("replies",), ids, start, end, compute)
    return Table(
        ("asn", "as_name", "ips", "share", "country"),
        [
            (
                int(asn) if asn is not None else None,
                name if name is not None else ("unknown" if asn is None else f"AS{asn}"),
                int(ips),
                round(int(ips) / int(total), 6) if total else 0.0,
                country,
            )
            for asn, name, ips, country, total in rows
        ],
    )


# -- counting comparison --------------------------------------------------------------------------


def counting(store: Store, botnet: str, start: float, end: float, bucket_s: int) -> Table:
    """IP-based vs ID-based counts per bucket and their ratio (IPs per ID; None without IDs)."""
    pop = population(store, botnet, start, end, bucket_s)
    rows = []
    for t, ips, ids, _pairs, _replies, _failed in pop.rows:
        rows.append((t, ips, ids, round(ips / ids, 4) if ids else None))
    return Table(("t", "ips", "ids", "ips_per_id"), rows)


# -- botnet comparison ----------------------------------------------------------------------------


def _ids_for(store: Store, names: Sequence[str]) -> dict[int, str]:
    ids = botnet_ids(store)
    unknown = [n for n in names if n not in ids]
    if unknown:
        raise UnknownBotnet(unknown[0])
    return {ids[n]: n for n in names}


def _in(sql: Sql, values: Sequence[int]) -> str:
    return "(" + ", ".join(sql.p(v) for v in values) + ")"


def compare_population(
    store: Store, names: Sequence[str], start: float, end: float, bucket_s: int
) -> Table:
    """Distinct IPs per botnet and bucket, and the same normalised to each botnet's peak."""
    by_id = _ids_for(store, names)
    ids = list(by_id)
    counts = _bucket_counts(store, "replies", ids, start, end, bucket_s)

    def compute(lo: float, hi: float) -> dict[tuple[int, int], Any]:
        return dict(_distinct_per_bucket(store, ids, lo, hi, bucket_s, "ip"))

    values = _per_bucket(store, "ips", ids, start, end, bucket_s, compute, counts=counts)
    out: list[tuple[Any, ...]] = []
    for botnet_id, name in by_id.items():
        per = {i: (v,) for (b, i), v in values.items() if b == botnet_id}
        series = _dense(per, start, end, bucket_s, 1)
        peak = max((r[1] for r in series), default=0) or 1
        out.extend((name, t, ips, round(ips / peak, 4)) for t, ips in series)
    return Table(("botnet", "t", "ips", "normalised"), out)


def compare_countries(
    store: Store, names: Sequence[str], start: float, end: float, limit: int
) -> Table:
    """Each botnet's country mix side by side: distinct IPs and share, top ``limit`` each."""
    out: list[tuple[Any, ...]] = []
    for name in names:
        table = countries(store, name, start, end)
        out.extend((name, *row) for row in table.rows[:limit])
    return Table(("botnet", "country", "ips", "share"), out)


def compare_overlap(store: Store, names: Sequence[str], start: float, end: float) -> Table:
    """For each pair of botnets: distinct IPs of each, IPs seen in both, and Jaccard index."""
    by_id = _ids_for(store, names)
    ids = list(by_id)

    def compute() -> list[tuple[int, int]]:
        # One pass: for each address, the set of botnets that have it as a bit mask; then
        # addresses per mask. Sizes and pairwise overlaps follow from the masks in Python.
        sql = Sql(store.backend)
        bits = " ".join(f"WHEN {sql.p(b)} THEN {1 << i}" for i, b in enumerate(ids))
        rows = sql.run(
            store,
            f"""
            SELECT m, count(*) FROM (
                SELECT ip, bit_or(CASE botnet_id {bits} ELSE 0 END) AS m FROM replies
                WHERE {_where(sql, ids, start, end)} GROUP BY ip
            ) d GROUP BY m
            """,
        )
        return [(int(m), int(n)) for m, n in rows]

    masks = _whole(store, ("overlap", tuple(ids)), ("replies",), ids, start, end, compute)
    sizes: dict[int, int] = defaultdict(int)
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for mask, n in masks:
        members = [b for i, b in enumerate(ids) if mask >> i & 1]
        for j, a in enumerate(members):
            sizes[a] += n
            for b in members[j + 1 :]:
                shared[(min(a, b), max(a, b))] += n
    rows = []
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            lo, hi = min(a, b), max(a, b)
            both = shared.get((lo, hi), 0)
            na, nb = sizes.get(a, 0), sizes.get(b, 0)
            union = na + nb - both
            rows.append(
                (by_id[a], by_id[b], na, nb, both, round(both / union, 6) if union else 0.0)
            )
    return Table(("botnet_a", "botnet_b", "ips_a", "ips_b", "shared_ips", "jaccard"), rows)


def utc_offset_hours(country: str, at: float) -> float | None:
    """The UTC offset of a country's main time zone at ``at`` (None when unknown)."""
    from botmon import enrich

    try:
        tz = enrich.timezone_for_country(country, "")
    except (LookupError, ValueError):
        return None
    if not tz:
        return None
    try:
        offset = datetime.fromtimestamp(at, UTC).astimezone(ZoneInfo(str(tz))).utcoffset()
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return offset.total_seconds() / 3600 if offset is not None else None


def compare_hours(store: Store, names: Sequence[str], start: float, end: float) -> Table:
    """Hour-of-day profile per botnet: mean distinct IPs online in each hour of the day, by
    UTC hour and by the bots' local hour (each country's main time zone, at mid-range).

    Bots in countries without a known time zone count in the UTC profile only.
    """
    by_id = _ids_for(store, names)
    ids = list(by_id)
    counts = _bucket_counts(store, "replies", ids, start, end, 3600)

    def compute(lo: float, hi: float) -> dict[tuple[int, int], Any]:
        sql = Sql(store.backend)
        rows = sql.run(
            store,
            f"""
            SELECT g, b, c, count(*) FROM (
                SELECT DISTINCT botnet_id AS g, {sql.bucket(3600)} AS b, country AS c, ip
                FROM replies WHERE {_where(sql, ids, lo, hi)}
            ) d GROUP BY 1, 2, 3
            """,
        )
        out: dict[tuple[int, int], list[tuple[str, int]]] = defaultdict(list)
        for g, b, c, n in rows:
            out[(int(g), int(b))].append((str(c) if c else "", int(n)))
        return dict(out)

    values = _per_bucket(store, "hours", ids, start, end, 3600, compute, counts=counts)
    mid = (start + end) / 2
    offsets: dict[str, float | None] = {}
    utc: dict[int, list[float]] = {b: [0.0] * 24 for b in by_id}
    local: dict[int, list[float]] = {b: [0.0] * 24 for b in by_id}
    for (botnet_id, b), per_country in values.items():
        t = bucket_start(b, 3600)
        for cc, n in per_country:
            utc[botnet_id][int(t // 3600) % 24] += n
            if cc not in offsets:
                offsets[cc] = utc_offset_hours(cc, mid) if cc else None
            off = offsets[cc]
            if off is not None:
                local[botnet_id][int((t + off * 3600) // 3600) % 24] += n
    # Mean per day: divide by how many times each UTC hour occurs in the range.
    occurs = [0] * 24
    for i in range(first_bucket(start, 3600), first_bucket(end - 1e-6, 3600) + 1):
        occurs[int(bucket_start(i, 3600) // 3600) % 24] += 1
    days = max(1, round((end - start) / 86400))
    out = []
    for botnet_id, name in by_id.items():
        u = [utc[botnet_id][h] / max(1, occurs[h]) for h in range(24)]
        lo = [local[botnet_id][h] / days for h in range(24)]
        pu, pl = max(u) or 1.0, max(lo) or 1.0
        for h in range(24):
            out.append(
                (
                    name,
                    h,
                    round(u[h], 3),
                    round(lo[h], 3),
                    round(u[h] / pu, 4),
                    round(lo[h] / pl, 4),
                )
            )
    return Table(("botnet", "hour", "utc", "local", "utc_normalised", "local_normalised"), out)
