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
import time
import weakref
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from ipaddress import IPv4Address, IPv6Address
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from botmon.ipaddr import int_to_ip
from botmon.store.base import Store
from botmon.store.summaries import SEEN_STATE

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


# -- summaries ---------------------------------------------------------------------------------


def _refresh(store: Store) -> None:
    """Bring the seen tables up to date (milliseconds when a few batches are new)."""
    store.refresh_summaries()


def _seen_bounds(store: Store) -> dict[int, tuple[float | None, float | None]]:
    """First and last reply per botnet, from the seen tables, cached under the summaries'
    watermark (which moves with every refresh that merged something)."""
    placeholder = "?" if store.backend == "duckdb" else "%s"
    watermark = store.query(
        f"SELECT watermark FROM summary_state WHERE name = {placeholder}", [SEEN_STATE]
    )
    cache = _cache(store)
    key = ("seen-bounds",)
    ok, cached = cache.get(key, watermark) if cache is not None else (False, None)
    if ok and cached is not None:
        return dict(cached)
    bounds = {
        int(b): (epoch(lo), epoch(hi))
        for b, lo, hi in store.query(
            "SELECT botnet_id, min(first_ts), max(last_ts) FROM seen_ips GROUP BY 1"
        )
    }
    if cache is not None:
        cache.put(key, watermark, bounds)
    return bounds


def _reaches_newest(store: Store, ids: Sequence[int] | None, end: float) -> bool:
    """True when no reply of these botnets is at or after ``end``: the window reaches the
    newest data, so "seen in [start, end)" is "last seen at or after start" (exact), and the
    seen tables answer instead of a DISTINCT over every reply in the range."""
    found = [
        last
        for b, (_, last) in _seen_bounds(store).items()
        if last is not None and (ids is None or b in ids)
    ]
    return not found or max(found) < end


# -- validated cache -------------------------------------------------------------------------

CACHE_ENTRIES = 20_000
"""Most cached values per store (per-bucket values are small tuples)."""


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


def _batch_spans(
    store: Store, kind: str, ids: Sequence[int] | None, start: float, end: float, bucket_s: int
) -> list[tuple[int, int, int, int]]:
    """Stored batches with records of ``kind`` whose time span meets [start, end), grouped as
    (botnet id, first bucket, last bucket, how many). The ``batches`` table is small, and
    every stored batch adds a row there, so these counts change whenever rows arrive in a
    bucket: the check behind every cached value."""
    sql = Sql(store.backend)
    head = f"botnet_id IN {_in(sql, list(ids))} AND " if ids is not None else ""
    rows = sql.run(
        store,
        f"SELECT botnet_id, {sql.bucket(bucket_s, 'first_ts')}, {sql.bucket(bucket_s, 'last_ts')},"
        f" count(*) FROM batches WHERE {head}{kind} > 0 AND last_ts >= {sql.ts(start)}"
        f" AND first_ts < {sql.ts(end)} GROUP BY 1, 2, 3",
    )
    return [(int(b), int(lo), int(hi), int(n)) for b, lo, hi, n in rows]


def _bucket_checks(
    store: Store, kind: str, ids: Sequence[int], start: float, end: float, bucket_s: int
) -> dict[tuple[int, int], int]:
    """Per (botnet id, bucket): how many stored batches of ``kind`` touch it."""
    first, last = first_bucket(start, bucket_s), first_bucket(end - 1e-6, bucket_s)
    checks: dict[tuple[int, int], int] = defaultdict(int)
    for botnet_id, lo, hi, n in _batch_spans(store, kind, ids, start, end, bucket_s):
        for i in range(max(lo, first), min(hi, last) + 1):
            checks[(botnet_id, i)] += n
    return checks


Compute = Callable[[float, float], dict[tuple[int, int], Any]]


def _per_bucket(
    store: Store,
    view: str,
    kind: str,
    ids: Sequence[int],
    start: float,
    end: float,
    bucket_s: int,
    compute: Compute,
) -> dict[tuple[int, int], Any]:
    """Values per (botnet id, bucket) in [start, end), from the cache where still valid.

    A cached bucket is valid while the number of stored batches touching it is unchanged
    (records are never changed in place, and every write is a batch). Invalid buckets are
    recomputed by ``compute(lo, hi)`` over as few contiguous spans as possible; buckets it
    returns nothing for hold no rows (None).
    """
    if end <= start:
        return {}
    cache = _cache(store)
    checks = _bucket_checks(store, kind, ids, start, end, bucket_s)
    first, last = first_bucket(start, bucket_s), first_bucket(end - 1e-6, bucket_s)
    result: dict[tuple[int, int], Any] = {}
    dirty: set[int] = set()
    for bid in ids:
        for i in range(first, last + 1):
            if cache is not None:
                key = _bucket_key(view, bid, bucket_s, i, start, end)
                ok, value = cache.get(key, checks.get((bid, i), 0))
                if ok:
                    if value is not None:
                        result[(bid, i)] = value
                    continue
            dirty.add(i)
    for lo_i, hi_i in _spans(sorted(dirty)):
        lo = max(start, bucket_start(lo_i, bucket_s))
        hi = min(end, bucket_start(hi_i + 1, bucket_s))
        found = compute(lo, hi)
        for bid in ids:
            for i in range(lo_i, hi_i + 1):
                value = found.get((bid, i))
                if value is not None:
                    result[(bid, i)] = value
                if cache is not None:
                    key = _bucket_key(view, bid, bucket_s, i, start, end)
                    cache.put(key, checks.get((bid, i), 0), value)
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
    kinds: Sequence[str],
    ids: Sequence[int] | None,
    start: float,
    end: float,
    compute: Callable[[], Any],
) -> Any:
    """A whole-range answer, reused while the stored batches touching the range are the same."""
    cache = _cache(store)
    check = tuple(tuple(sorted(_batch_spans(store, kind, ids, start, end, 3600))) for kind in kinds)
    full_key = (*key, start, end)
    if cache is not None:
        ok, value = cache.get(full_key, check)
        if ok:
            return value
    value = compute()
    if cache is not None:
        cache.put(full_key, check, value)
    return value


def _seen_since(store: Store, ids: Sequence[int], since: float) -> dict[int, tuple[int, int]]:
    """Per botnet: addresses and bot IDs last seen at or after ``since`` (seen tables)."""
    out: dict[int, list[int]] = {b: [0, 0] for b in ids}
    for i, table in enumerate(("seen_ips", "seen_ids")):
        sql = Sql(store.backend)
        rows = sql.run(
            store,
            f"SELECT botnet_id, count(*) FROM {table} WHERE botnet_id IN {_in(sql, list(ids))}"
            f" AND last_ts >= {sql.ts(since)} GROUP BY 1",
        )
        for botnet_id, n in rows:
            out[int(botnet_id)][i] = int(n)
    return {b: (v[0], v[1]) for b, v in out.items()}


def _ips_and_ids(
    store: Store, view: str, ids: Sequence[int], start: float, end: float, bucket_s: int
) -> dict[tuple[int, int], tuple[int, int]]:
    """Distinct IPs and bot IDs per (botnet id, bucket) with any reply.

    Closed buckets come from the validated cache (or are computed once); when the range
    reaches the newest data, its last bucket (the one a live view sees grow) is counted in
    the seen tables instead of over every reply in it, which for a week's bucket is the
    difference between milliseconds and seconds.
    """

    def compute(lo: float, hi: float) -> dict[tuple[int, int], Any]:
        return dict(store.distinct_per_bucket(ids, lo, hi, bucket_s))

    _refresh(store)
    cut = end
    last = first_bucket(end - 1e-6, bucket_s)
    if _reaches_newest(store, ids, end):
        cut = max(start, bucket_start(last, bucket_s))
    values = _per_bucket(store, view, "replies", ids, start, cut, bucket_s, compute)
    if cut < end:
        for botnet_id, (n_ips, n_ids) in _seen_since(store, ids, cut).items():
            if n_ips:
                values[(botnet_id, last)] = (n_ips, n_ids)
    return values


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
    """Every botnet: distinct IPs and IDs in the last ``window_s`` before ``end``, replies and
    failed tries in it, and the all-time first and last reply (from the seen tables)."""
    botnets = store.query("SELECT name, description, id FROM botnets ORDER BY name")
    ids = {str(name): int(i) for name, _, i in botnets}  # one read: botnets may be added now
    start = end - window_s
    _refresh(store)
    recent = dict.fromkeys(ids.values(), (0, 0))
    if ids and _reaches_newest(store, None, end):
        recent.update(_seen_since(store, list(ids.values()), start))
    elif ids:

        def compute() -> dict[int, tuple[int, int]]:
            return store.distinct_in_window(None, start, end)

        recent.update(
            _whole(store, ("overview", window_s), ("replies",), None, start, end, compute)
        )
    counts: list[dict[int, int]] = []
    for table in ("replies", "failed_tries"):
        if not ids:
            counts.append({})
            continue
        sql = Sql(store.backend)  # botnet_id first: PostgreSQL's (botnet_id, ts) index
        rows = sql.run(
            store,
            f"SELECT botnet_id, count(*) FROM {table}"
            f" WHERE {_where(sql, list(ids.values()), start, end)} GROUP BY 1",
        )
        counts.append({int(b): int(n) for b, n in rows})
    seen = _seen_bounds(store)
    rows = []
    for name, desc, bid in botnets:
        n_ips, n_ids = recent.get(bid, (0, 0))
        first, last = seen.get(bid, (None, None))
        rows.append(
            (
                name,
                desc,
                n_ips,
                n_ids,
                counts[0].get(bid, 0),
                counts[1].get(bid, 0),
                first,
                last,
            )
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


def trend(store: Store, start: float, end: float, bucket_s: int) -> Table:
    """Distinct IPs and IDs per botnet and bucket (the overview's sparklines)."""
    names = botnet_ids(store)
    values = _ips_and_ids(store, "ips-ids", list(names.values()), start, end, bucket_s)
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
    ids = list(botnet_ids(store).values())
    for i, table in enumerate(("replies", "failed_tries")):
        if not ids:
            break
        sql = Sql(store.backend)  # botnet_id first: PostgreSQL's (botnet_id, ts) index
        for name, n in sql.run(
            store,
            f"SELECT s.name, count(*) FROM {table} t JOIN sources s ON s.id = t.source_id"
            f" WHERE t.botnet_id IN {_in(sql, ids)}"
            f" AND {sql.range(end - window_s, end, 't.ts')} GROUP BY s.name",
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

    def compute(lo: float, hi: float) -> dict[tuple[int, int], Any]:
        return dict(store.bucket_counts(ids, lo, hi, bucket_s))

    def compute_failed(lo: float, hi: float) -> dict[tuple[int, int], Any]:
        return _rows_per_bucket(store, "failed_tries", ids, lo, hi, bucket_s)

    values = _per_bucket(store, "population", "replies", ids, start, end, bucket_s, compute)
    failed = _per_bucket(store, "failed", "failed_tries", ids, start, end, bucket_s, compute_failed)
    rows: dict[int, tuple[Any, ...]] = {}
    for (_, i), value in values.items():
        rows[i] = (*value, failed.get((botnet_id, i), 0))
    for (_, i), n in failed.items():
        if i not in rows:
            rows[i] = (0, 0, 0, 0, n)
    return Table(
        ("t", "ips", "ids", "ip_ports", "replies", "failed_tries"),
        _dense(rows, start, end, bucket_s, 5),
    )


def _rows_per_bucket(
    store: Store, table: str, ids: Sequence[int], lo: float, hi: float, bucket_s: int
) -> dict[tuple[int, int], int]:
    sql = Sql(store.backend)
    rows = sql.run(
        store,
        f"SELECT botnet_id, {sql.bucket(bucket_s)}, count(*) FROM {table}"
        f" WHERE {_where(sql, ids, lo, hi)} GROUP BY 1, 2",
    )
    return {(int(g), int(b)): int(n) for g, b, n in rows}


def returning(
    store: Store, botnet: str, start: float, end: float, bucket_s: int, by: str = "ip"
) -> Table:
    """Per bucket: bots seen, of which new (first reply ever, in this bucket) and returning
    (seen in an earlier bucket, possibly before ``start``). ``by`` is ``ip`` or ``id``.

    A bot's first reply ever is its ``first_ts`` in the seen tables, so "new" needs no scan
    of the history before the range.
    """
    botnet_id = _botnet_id(store, botnet)
    seen = _ips_and_ids(store, "ips-ids", [botnet_id], start, end, bucket_s)
    table, column = ("seen_ips", 0) if by == "ip" else ("seen_ids", 1)
    sql = Sql(store.backend)
    new = {
        int(b): int(n)
        for b, n in sql.run(
            store,
            f"SELECT {sql.bucket(bucket_s, 'first_ts')}, count(*) FROM {table}"
            f" WHERE botnet_id = {sql.p(botnet_id)} AND {sql.range(start, end, 'first_ts')}"
            " GROUP BY 1",
        )
    }
    rows: dict[int, tuple[Any, ...]] = {}
    for (_, i), value in seen.items():
        n = value[column]
        if n:
            rows[i] = (n, new.get(i, 0), n - new.get(i, 0))
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


def _located_ips(
    store: Store, sql: Sql, ids: Sequence[int] | None, start: float, end: float
) -> tuple[str, bool]:
    """A subquery of (ip, country, asn): each address seen in [start, end), once per botnet,
    located where that botnet's latest located reply from it was; and whether one address
    may appear more than once (several botnets). From the seen tables: only for a range
    that reaches the newest data (others: the store's window methods)."""
    several = ids is None or len(ids) > 1
    head = f"botnet_id IN {_in(sql, list(ids))} AND " if ids is not None else ""
    query = f"SELECT ip, country, asn FROM seen_ips WHERE {head}last_ts >= {sql.ts(start)}"
    return query, several


def _one_or_all(store: Store, botnet: str | None) -> tuple[int | None, list[int] | None]:
    """The botnet id and id filter of a view over one botnet or all (None), with the summary
    tables brought up to date for it."""
    botnet_id = _botnet_id(store, botnet) if botnet else None
    _refresh(store)
    return botnet_id, ([botnet_id] if botnet_id is not None else None)


def countries(store: Store, botnet: str | None, start: float, end: float) -> Table:
    """Distinct IPs per country in the range, and each country's share of them. An address
    counts in the country its latest located reply came from (per botnet, when several)."""
    botnet_id, ids = _one_or_all(store, botnet)

    def compute() -> list[tuple[Any, ...]]:
        if not _reaches_newest(store, ids, end):
            found = store.countries_in_window(ids, start, end)
            return sorted(
                ((c or UNKNOWN_COUNTRY, n) for c, n in found), key=lambda r: (-r[1], r[0])
            )
        sql = Sql(store.backend)
        located, several = _located_ips(store, sql, ids, start, end)
        country = f"coalesce(country, '{UNKNOWN_COUNTRY}')"
        pairs = f"SELECT DISTINCT {country} AS c, ip" if several else f"SELECT {country} AS c"
        return sql.run(
            store,
            f"SELECT c, count(*) FROM ({pairs} FROM ({located}) l) d GROUP BY 1 ORDER BY 2 DESC, 1",
        )

    rows = _whole(store, ("countries", botnet_id), ("replies",), ids, start, end, compute)
    total = sum(int(n) for _, n in rows) or 1
    return Table(
        ("country", "ips", "share"),
        [(str(c), int(n), round(int(n) / total, 6)) for c, n in rows],
    )


def ases(store: Store, botnet: str | None, start: float, end: float, limit: int) -> Table:
    """The ASes with most distinct IPs in the range, with name, main country and share. An
    address counts in the AS its latest located reply came from (per botnet, when several)."""
    botnet_id, ids = _one_or_all(store, botnet)

    def compute() -> list[tuple[Any, ...]]:
        if not _reaches_newest(store, ids, end):
            return store.ases_in_window(ids, start, end, limit)
        sql = Sql(store.backend)
        located, several = _located_ips(store, sql, ids, start, end)
        if several:
            located = f"SELECT asn, ip, max(country) AS country FROM ({located}) l GROUP BY asn, ip"
        return sql.run(
            store,
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
    botnet_id = _botnet_id(store, botnet)
    values = _ips_and_ids(store, "ips-ids", [botnet_id], start, end, bucket_s)
    rows = []
    for t, ips, ids in _dense({i: v for (_, i), v in values.items()}, start, end, bucket_s, 2):
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
    values = _ips_and_ids(store, "ips-ids", list(by_id), start, end, bucket_s)
    out: list[tuple[Any, ...]] = []
    for botnet_id, name in by_id.items():
        per = {i: (v[0],) for (b, i), v in values.items() if b == botnet_id}
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

    _refresh(store)

    def compute() -> list[tuple[int, int]]:
        # One pass: for each address, the set of botnets that have it as a bit mask; then
        # addresses per mask. Sizes and pairwise overlaps follow from the masks in Python.
        sql = Sql(store.backend)
        bits = " ".join(f"WHEN {sql.p(b)} THEN {1 << i}" for i, b in enumerate(ids))
        if not _reaches_newest(store, ids, end):
            return store.overlap_in_window(ids, start, end)
        source = f"seen_ips WHERE botnet_id IN {_in(sql, ids)} AND last_ts >= {sql.ts(start)}"
        rows = sql.run(
            store,
            f"""
            SELECT m, count(*) FROM (
                SELECT ip, bit_or(CASE botnet_id {bits} ELSE 0 END) AS m FROM {source}
                GROUP BY ip
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

    def compute(lo: float, hi: float) -> dict[tuple[int, int], Any]:
        found = store.countries_per_hour(ids, lo, hi)
        return {k: [(c or "", n) for c, n in v] for k, v in found.items()}

    values = _per_bucket(store, "hours", "replies", ids, start, end, 3600, compute)
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


# -- warm-up ---------------------------------------------------------------------------------

WARM_RANGE_S = 7 * 86400
"""The dashboard's default range, which the warm-up computes."""
WARM_BUCKETS = (3600, 86400, 604800)


def warm_up(store: Store, now: float, deadline_s: float = 600.0) -> int:
    """Compute what the dashboard shows by default (the last 7 days, per hour, day and week,
    for every botnet) so the first person to open it after a start does not wait for the
    per-bucket counts over every reply. Later refreshes then recompute only new buckets.

    Stops after ``deadline_s`` (what is done stays cached). Returns the queries run.
    """
    began = time.monotonic()
    end = math.ceil(now / 300) * 300  # as the dashboard rounds its range
    start = end - WARM_RANGE_S
    names = list(botnet_ids(store))
    steps: list[Callable[[], Any]] = [
        partial(overview, store, end, 3600),
        partial(trend, store, start, end, 3600),
    ]
    for name in names:
        steps += [
            partial(population, store, name, start, end, 3600),
            partial(returning, store, name, start, end, 3600, "id"),
            partial(top_peers, store, name, start, end, 15),
        ]
        steps += [partial(counting, store, name, start, end, size) for size in WARM_BUCKETS]
    if names:
        compared = names[:8]
        steps += [
            partial(compare_population, store, compared, start, end, 3600),
            partial(compare_hours, store, compared, start, end),
        ]
    done = 0
    for step in steps:
        if time.monotonic() - began > deadline_s:
            break
        step()
        done += 1
    return done
