"""Exact distinct counts over any past window from per-week, per-day and per-hour summaries.

The seen tables (:mod:`botmon.store.summaries`) answer windows that reach the newest data. A
window that ends in the past (an older week, last month) used to be a DISTINCT over every
reply in it: seconds to tens of seconds at 100 million replies. The tables of schema version
3 keep, per botnet, every address and bot ID of each UTC day with a mask of the hours it was
seen in (``day_ips``, ``day_ids``), the same per ISO week without masks (``week_ips``,
``week_ids``), and per hour the distinct counts themselves (``hour_counts``,
``hour_countries``). A window is then cut (:func:`split`) into

* whole ISO weeks and whole days: week and day sets, unioned (a week is one set, not 25
  million replies; a month four or five sets and a few days);
* whole hours of the days at its edges: day-set rows whose hour mask meets those hours;
* at most two partial hours at its very edges: read from the replies (less than an hour's
  rows each, found by the time index or zonemaps).

Counts stay exact: a union of sets, never a sum of counts. The tables are kept by the same
refresh as the seen tables (same watermark, same spans of changed batches): day and week sets
are merged idempotently (a bitwise or of hour masks, latest located reply by timestamp), hours
touched by a span are recounted from their replies. This module writes the SQL for both
backends (only integers are inlined) and runs reads through a ``run(sql)`` callable. The
read port (:class:`botmon.store.reads.ReadPort`) asks it first and reads the replies only for
what it does not keep (a reading function returns None then).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from botmon.buckets import BUCKET_ORIGIN
from botmon.store.base import BotnetSummary
from botmon.store.common import botnet_summary_from_row

HOUR_US = 3_600_000_000
DAY_US = 86_400_000_000
ORIGIN_S = BUCKET_ORIGIN
"""Monday 1970-01-05 00:00 UTC: bucket ``i`` of size ``s`` starts at ``ORIGIN_S + i * s``."""
ORIGIN_HOURS = ORIGIN_S // 3600

Run = Callable[[str], list[tuple[Any, ...]]]
"""Runs one read query (no parameters: every value here is an inlined integer)."""
Ids = Sequence[int] | None
"""Botnet ids to read (``None``: every botnet)."""


# -- cutting a window ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Pieces:
    """A window [start, end) in microseconds, cut into what the summaries answer."""

    edges: list[tuple[int, int]] = field(default_factory=list)
    """Partial hours, [lo, hi) microseconds: read from the replies."""
    masks: dict[int, int] = field(default_factory=dict)
    """Partial days: day -> mask of its whole hours inside the window."""
    days: list[tuple[int, int]] = field(default_factory=list)
    """Runs of whole days [first, last + 1) inside the window (outside ``weeks``)."""
    weeks: tuple[int, int] | None = None
    """Whole ISO weeks [first, last + 1) inside the window (week 0 starts on 1970-01-05)."""


def split(start_us: int, end_us: int, weeks: bool = True) -> Pieces:
    """Cut [start_us, end_us) into partial hours, whole hours of partial days, whole days
    and (``weeks``) whole ISO weeks."""
    if end_us <= start_us:
        return Pieces()
    h0, h1 = -(-start_us // HOUR_US), end_us // HOUR_US
    if h0 >= h1:  # no whole hour inside
        return Pieces(edges=[(start_us, end_us)])
    edges = [(lo, hi) for lo, hi in ((start_us, h0 * HOUR_US), (h1 * HOUR_US, end_us)) if lo < hi]
    masks: dict[int, int] = defaultdict(int)

    def hours(lo: int, hi: int) -> None:
        for h in range(lo, hi):
            masks[h // 24] |= 1 << (h % 24)

    d0, d1 = -(-h0 // 24), h1 // 24
    if d0 >= d1:
        hours(h0, h1)
        return Pieces(edges, dict(masks))
    hours(h0, d0 * 24)
    hours(d1 * 24, h1)
    w0, w1 = -(-(d0 - 4) // 7), (d1 - 4) // 7  # epoch day 4 is a Monday
    if not weeks or w0 >= w1:
        return Pieces(edges, dict(masks), [(d0, d1)])
    days = [(lo, hi) for lo, hi in ((d0, w0 * 7 + 4), (w1 * 7 + 4, d1)) if lo < hi]
    return Pieces(edges, dict(masks), days, (w0, w1))


def micros(seconds: float) -> int:
    """Epoch seconds as the integer microseconds the database stores."""
    return round(seconds * 1_000_000)


# -- the two dialects ---------------------------------------------------------------------------


class Dialect:
    """The few expressions that differ between DuckDB and PostgreSQL."""

    def __init__(self, backend: str) -> None:
        self.duck = backend == "duckdb"

    def ts(self, us: int) -> str:
        """An exact timestamp literal from integer microseconds."""
        if self.duck:
            return f"make_timestamp({int(us)}::BIGINT)"
        return f"(timestamptz 'epoch' + {int(us)} * interval '1 microsecond')"

    def us(self, column: str) -> str:
        """A timestamp column as integer epoch microseconds."""
        if self.duck:
            return f"epoch_us({column})"
        return f"(extract(epoch FROM {column}) * 1000000)::bigint"

    def div(self, expr: str, n: int) -> str:
        """Floor division of a non-negative integer expression (epochs after 1970-01-05)."""
        return f"(({expr}) {'//' if self.duck else '/'} {int(n)})"

    def day(self, column: str = "ts") -> str:
        return f"{self.div(self.us(column), DAY_US)}::INTEGER"

    def week(self, column: str = "ts") -> str:
        """The ISO week of ``column``: week 0 starts on Monday 1970-01-05 (epoch day 4)."""
        return f"{self.div(f'{self.us(column)} - {4 * DAY_US}', 7 * DAY_US)}::INTEGER"

    def hour(self, column: str = "ts") -> str:
        return f"{self.div(self.us(column), HOUR_US)}::INTEGER"

    def hour_bit(self, column: str = "ts") -> str:
        """The bit of the hour of its day that ``column`` falls in."""
        return f"(1 << ({self.div(self.us(column), HOUR_US)} % 24)::INTEGER)"

    def bucket(self, bucket_s: int, column: str = "ts") -> str:
        return self.div(f"{self.us(column)} - {ORIGIN_S * 1_000_000}", bucket_s * 1_000_000)

    def day_bucket(self, bucket_s: int) -> str:
        """The bucket of a day set row (``bucket_s`` a whole number of days)."""
        return self.div(f"day::BIGINT * 86400 - {ORIGIN_S}", bucket_s)

    def week_bucket(self, bucket_s: int) -> str:
        """The bucket of a week set row (``bucket_s`` a whole number of weeks)."""
        return self.div("week::BIGINT * 604800", bucket_s)

    def latest(self, column: str, order: str) -> str:
        """``column`` on the row with the greatest ``order`` among those that have it."""
        if self.duck:
            return f"arg_max({column}, {order})"
        return f"(array_agg({column} ORDER BY {order} DESC) FILTER (WHERE {column} IS NOT NULL))[1]"

    def span(self, lo_us: int, hi_us: int, column: str = "ts") -> str:
        return f"{column} >= {self.ts(lo_us)} AND {column} < {self.ts(hi_us)}"


def _in(ids: Ids, column: str = "botnet_id") -> str:
    if ids is None:
        return "true"
    if not ids:
        return "false"
    return f"{column} IN ({', '.join(str(int(i)) for i in ids)})"


# -- keeping the tables -------------------------------------------------------------------------

_DAY_IPS_COLUMNS = "botnet_id, day, ip, hours, country, country_ts, asn, asn_ts, mixed"
_DAY_IDS_COLUMNS = "botnet_id, day, bot_id, hours"
_WEEK_IPS_COLUMNS = "botnet_id, week, ip, country, country_ts, asn, asn_ts"
_WEEK_IDS_COLUMNS = "botnet_id, week, bot_id"


def _varies(column: str) -> str:
    """True when the replies of a group do not all carry the same ``column`` (NULL counts)."""
    return (
        f"coalesce(min({column}) <> max({column}), false)"
        f" OR (count({column}) > 0 AND count({column}) < count(*))"
    )


def _located(d: Dialect) -> str:
    """Aggregates of a group of replies: country and AS of the latest reply that has each."""
    return ", ".join(
        f"{d.latest(c, 'ts')} AS {c}, max(ts) FILTER (WHERE {c} IS NOT NULL) AS {c}_ts"
        for c in ("country", "asn")
    )


def sets_select(d: Dialect, unit: str, key: str, where: str) -> str:
    """The rows of the ``unit`` (``day`` or ``week``) sets of ``key`` (``ip`` or ``bot_id``)
    for the replies matching ``where``: day rows carry their hour mask, address rows the
    latest located country and AS, day-address rows whether those varied that day."""
    columns = [f"{d.day() if unit == 'day' else d.week()} AS {unit}", key]
    if unit == "day":
        columns.append(f"bit_or({d.hour_bit()}) AS hours")
    if key == "ip":
        columns.append(_located(d))
    if unit == "day" and key == "ip":
        columns.append(f"({_varies('country')} OR {_varies('asn')}) AS mixed")
    not_null = "bot_id IS NOT NULL AND " if key == "bot_id" else ""
    return (
        f"SELECT botnet_id, {', '.join(columns)} FROM replies WHERE {not_null}{where}"
        " GROUP BY 1, 2, 3"
    )


def _located_set(old: str, new: str) -> list[str]:
    """SET assignments taking the latest located country and AS of rows ``old`` and ``new``."""
    out = []
    for col in ("country", "asn"):
        out.append(
            f"{col} = CASE WHEN {new}.{col}_ts IS NOT NULL AND ({old}.{col}_ts IS NULL"
            f" OR {new}.{col}_ts >= {old}.{col}_ts) THEN {new}.{col} ELSE {old}.{col} END"
        )
        out.append(f"{col}_ts = greatest({old}.{col}_ts, {new}.{col}_ts)")
    return out


def _day_ips_set(old: str, new: str) -> str:
    """SET clause merging day-set row ``new`` into ``old``: or of hour masks, latest located
    values by timestamp, and mixed once the two disagree."""
    return ", ".join(
        [
            f"hours = {old}.hours | {new}.hours",
            *_located_set(old, new),
            f"mixed = {old}.mixed OR {new}.mixed OR {old}.country IS DISTINCT FROM {new}.country"
            f" OR {old}.asn IS DISTINCT FROM {new}.asn",
        ]
    )


def _hour_counts_select(d: Dialect, where: str) -> str:
    return (
        f"SELECT botnet_id, {d.hour()} AS hour, count(DISTINCT ip), count(DISTINCT bot_id),"
        f" count(DISTINCT (ip, port)), count(*) FROM replies WHERE {where} GROUP BY 1, 2"
    )


def _hour_countries_select(d: Dialect, where: str) -> str:
    return (
        f"SELECT g, h, c, count(*) FROM (SELECT DISTINCT botnet_id AS g, {d.hour()} AS h,"
        f" country AS c, ip FROM replies WHERE {where}) s GROUP BY 1, 2, 3"
    )


def full_build(backend: str) -> list[str]:
    """Statements rebuilding every window table from all replies (empty tables first)."""
    d = Dialect(backend)
    return [
        "DELETE FROM day_ips",
        "DELETE FROM day_ids",
        "DELETE FROM week_ips",
        "DELETE FROM week_ids",
        "DELETE FROM hour_counts",
        "DELETE FROM hour_countries",
        # In time order: a range of days is then a few row groups (DuckDB zonemaps).
        *(
            f"INSERT INTO {table} ({columns}) SELECT * FROM ({sets_select(d, 'day', key, 'true')})"
            " s ORDER BY day"
            for table, columns, key in (
                ("day_ips", _DAY_IPS_COLUMNS, "ip"),
                ("day_ids", _DAY_IDS_COLUMNS, "bot_id"),
            )
        ),
        # Weeks from the day sets: a seventh of the rows to read.
        f"INSERT INTO week_ips ({_WEEK_IPS_COLUMNS}) SELECT botnet_id, {d.div('day - 4', 7)},"
        f" ip, {d.latest('country', 'country_ts')}, max(country_ts),"
        f" {d.latest('asn', 'asn_ts')}, max(asn_ts) FROM day_ips GROUP BY 1, 2, 3 ORDER BY 2",
        f"INSERT INTO week_ids ({_WEEK_IDS_COLUMNS}) SELECT DISTINCT botnet_id,"
        f" {d.div('day - 4', 7)} AS week, bot_id FROM day_ids ORDER BY 2",
        f"INSERT INTO hour_counts {_hour_counts_select(d, 'true')}",
        f"INSERT INTO hour_countries {_hour_countries_select(d, 'true')}",
    ]


def span_statements(backend: str, botnet_id: int, lo_us: int, hi_us: int) -> list[str]:
    """Statements bringing the window tables up to date with one botnet's replies in
    [lo_us, hi_us] (a changed span, already widened): day and week sets merged, hours
    recounted."""
    d = Dialect(backend)
    b = int(botnet_id)
    where = f"botnet_id = {b} AND ts >= {d.ts(lo_us)} AND ts <= {d.ts(hi_us)}"
    h0, h1 = lo_us // HOUR_US, hi_us // HOUR_US
    hours = f"botnet_id = {b} AND {d.span(h0 * HOUR_US, (h1 + 1) * HOUR_US)}"
    days = f"day BETWEEN {lo_us // DAY_US} AND {hi_us // DAY_US}"
    weeks = f"week BETWEEN {(lo_us // DAY_US - 4) // 7} AND {(hi_us // DAY_US - 4) // 7}"
    out: list[str] = []
    merges = {
        "day_ips": (_DAY_IPS_COLUMNS, _day_ips_set("day_ips", "{new}"), days),
        "day_ids": (_DAY_IDS_COLUMNS, "hours = day_ids.hours | {new}.hours", days),
        "week_ips": (_WEEK_IPS_COLUMNS, ", ".join(_located_set("week_ips", "{new}")), weeks),
        "week_ids": (_WEEK_IDS_COLUMNS, "", weeks),
    }
    for table, (columns, update, bound) in merges.items():
        unit, kind = table.split("_")
        select = sets_select(d, unit, "ip" if kind == "ips" else "bot_id", where)
        keys = columns.split(", ")[:3]
        if d.duck:
            # No primary key in DuckDB (see summaries.duckdb_merge_statements): a small delta
            # table, an update through a join, then the rows that are new. The day bounds let
            # zonemaps skip every row group of other days.
            delta = f"{table}_delta"
            on = " AND ".join(f"{table}.{k} = d.{k}" for k in keys)
            exists = " AND ".join(f"s.{k} = d.{k}" for k in keys)
            out.append(f"CREATE OR REPLACE TEMP TABLE {delta} AS {select}")
            if update:
                out.append(
                    f"UPDATE {table} SET {update.format(new='d')} FROM {delta} d"
                    f" WHERE {on} AND {table}.{bound}"
                )
            out += [
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {delta} d WHERE NOT EXISTS"
                f" (SELECT 1 FROM {table} s WHERE {exists} AND s.{bound})",
                f"DROP TABLE {delta}",
            ]
        else:
            action = f"UPDATE SET {update.format(new='excluded')}" if update else "NOTHING"
            out.append(
                f"INSERT INTO {table} ({columns}) {select} ON CONFLICT ({', '.join(keys)})"
                f" DO {action}"
            )
    hour_range = f"botnet_id = {b} AND hour BETWEEN {h0} AND {h1}"
    out += [
        f"DELETE FROM hour_counts WHERE {hour_range}",
        f"INSERT INTO hour_counts {_hour_counts_select(d, hours)}",
        f"DELETE FROM hour_countries WHERE {hour_range}",
        f"INSERT INTO hour_countries {_hour_countries_select(d, hours)}",
    ]
    return out


# -- reading windows ----------------------------------------------------------------------------


def _whole_sets(
    pieces: Pieces, ids: Ids, kind: str, week_columns: str, day_columns: str
) -> list[str]:
    """SELECTs of the week and day sets (``kind`` ``ips`` or ``ids``) of whole weeks and
    days in the window."""
    out = []
    if pieces.weeks is not None:
        out.append(
            f"SELECT {week_columns} FROM week_{kind} WHERE {_in(ids)}"
            f" AND week >= {pieces.weeks[0]} AND week < {pieces.weeks[1]}"
        )
    for lo, hi in pieces.days:
        out.append(
            f"SELECT {day_columns} FROM day_{kind} WHERE {_in(ids)} AND day >= {lo} AND day < {hi}"
        )
    return out


def _key_sets(
    d: Dialect,
    pieces: Pieces,
    ids: Ids,
    key: str,
    buckets: tuple[str, str, str] = ("0", "0", "0"),
) -> list[str]:
    """SELECTs of (botnet_id, b, key) covering the window, one per piece; ``key`` is ``ip``
    or ``bot_id``, ``b`` a bucket expression of a week-set row, a day-set row and a reply."""
    kind = "ips" if key == "ip" else "ids"
    week_b, day_b, ts_b = buckets
    head = f"SELECT botnet_id, {day_b} AS b, {key} FROM day_{kind} WHERE {_in(ids)}"
    out = _whole_sets(
        pieces, ids, kind, f"botnet_id, {week_b} AS b, {key}", f"botnet_id, {day_b} AS b, {key}"
    )
    for day, mask in sorted(pieces.masks.items()):
        out.append(f"{head} AND day = {day} AND (hours & {mask}) <> 0")
    not_null = " AND bot_id IS NOT NULL" if key == "bot_id" else ""
    for lo, hi in pieces.edges:
        out.append(
            f"SELECT botnet_id, {ts_b} AS b, {key} FROM replies"
            f" WHERE {_in(ids)} AND {d.span(lo, hi)}{not_null}"
        )
    return out


_NOTHING = "SELECT botnet_id, 0 AS b, ip FROM day_ips WHERE false"
"""An empty set of addresses (a window with nothing in it)."""


def _count_sets(run: Run, selects: list[str]) -> dict[tuple[int, int], int]:
    if not selects:
        return {}
    union = " UNION ALL ".join(selects)
    # De-duplicate first, then count: several times faster than count(DISTINCT).
    rows = run(
        f"SELECT botnet_id, b, count(*) FROM (SELECT DISTINCT * FROM ({union}) u) s GROUP BY 1, 2"
    )
    return {(int(g), int(b)): int(n) for g, b, n in rows}


_COUNTED = {
    # measure -> (aggregate over replies, hour_counts column)
    "rows": ("count(*)", "replies"),
    "ips": ("count(DISTINCT ip)", "ips"),
    "ids": ("count(DISTINCT bot_id)", "ids"),
    "ip_ports": ("count(DISTINCT (ip, port))", "ip_ports"),
}


def _whole_hours(start_us: int, end_us: int) -> tuple[int, int, list[tuple[int, int]]]:
    """The whole hours [h0, h1) inside a window and its partial hours (empty when none)."""
    h0, h1 = -(-start_us // HOUR_US), end_us // HOUR_US
    if h0 >= h1:
        return h0, h0, [(start_us, end_us)]
    edges = [(lo, hi) for lo, hi in ((start_us, h0 * HOUR_US), (h1 * HOUR_US, end_us)) if lo < hi]
    return h0, h1, edges


def _hours_and_edges(
    run: Run, d: Dialect, start_us: int, end_us: int, hours: str, edge: str
) -> list[tuple[Any, ...]]:
    """The rows of ``hours`` (a query of the hour tables; ``{hours}`` stands for the whole
    hours of the window) and of ``edge`` (the same question of the replies; ``{span}``
    stands for one partial hour at the window's edges)."""
    h0, h1, edges = _whole_hours(start_us, end_us)
    rows = run(hours.format(hours=f"hour >= {h0} AND hour < {h1}"))
    for lo, hi in edges:
        rows += run(edge.format(span=d.span(lo, hi)))
    return rows


def bucket_counts(
    run: Run, backend: str, ids: Ids, start: float, end: float, bucket_s: int, measure: str
) -> dict[tuple[int, int], int] | None:
    """``measure`` per (botnet id, bucket index) over the replies in [start, end), buckets
    without any absent; None when the summaries do not keep it at this size. Hour buckets
    read ``hour_counts``; replies per bucket of whole hours add up its hours; distinct IPs
    and bot IDs per bucket of whole days (a day, an ISO week) union day and week sets. The
    partial hours at the edges are read from the replies."""
    d = Dialect(backend)
    start_us, end_us = micros(start), micros(end)
    if (ids is not None and not ids) or end_us <= start_us:
        return {}
    if measure in ("ips", "ids") and bucket_s % 86400 == 0:
        return _distinct_per_bucket(run, d, ids, start_us, end_us, bucket_s, measure)
    if bucket_s % 3600 or (bucket_s != 3600 and measure != "rows"):
        return None
    column, bucket = _COUNTED[measure][1], d.div(f"hour::BIGINT * 3600 - {ORIGIN_S}", bucket_s)
    rows = _hours_and_edges(
        run,
        d,
        start_us,
        end_us,
        f"SELECT botnet_id, {bucket}, sum({column}) FROM hour_counts"
        f" WHERE {_in(ids)} AND {{hours}} GROUP BY 1, 2",
        f"SELECT botnet_id, {d.bucket(bucket_s)}, {_COUNTED[measure][0]} FROM replies"
        f" WHERE {_in(ids)} AND {{span}} GROUP BY 1, 2",
    )
    out: dict[tuple[int, int], int] = defaultdict(int)
    for g, b, n in rows:
        out[(int(g), int(b))] += int(n)  # an edge hour only shares a bucket with others for rows
    return {k: n for k, n in out.items() if n}


def _distinct_per_bucket(
    run: Run, d: Dialect, ids: Ids, start_us: int, end_us: int, bucket_s: int, measure: str
) -> dict[tuple[int, int], int]:
    """Distinct IPs (``ips``) or bot IDs (``ids``) per bucket of whole days or weeks."""
    key, kind = ("ip", "ips") if measure == "ips" else ("bot_id", "ids")
    # Whole buckets [a, b) and the partial buckets at the edges. A whole day's (week's) set
    # is its count, one row per key: no de-duplication; other buckets are unions of sets.
    size, origin = bucket_s * 1_000_000, ORIGIN_S * 1_000_000
    a = -(-(start_us - origin) // size) * size + origin
    b = (end_us - origin) // size * size + origin
    weekly = bucket_s % 604800 == 0
    parts, counted = [split(start_us, end_us, weekly)], ("", "")
    if a <= b:
        parts = [split(start_us, a, weekly), split(b, end_us, weekly)]
        whole = split(a, b, weekly)
        if a < b and bucket_s == 86400:
            counted = ("day", f"day >= {whole.days[0][0]} AND day < {whole.days[0][1]}")
        elif a < b and bucket_s == 604800 and whole.weeks is not None:
            counted = ("week", f"week >= {whole.weeks[0]} AND week < {whole.weeks[1]}")
        elif a < b:
            parts.append(whole)
    buckets = (
        d.week_bucket(bucket_s) if weekly else "0",
        d.day_bucket(bucket_s),
        d.bucket(bucket_s),
    )
    counts = _count_sets(run, [s for p in parts for s in _key_sets(d, p, ids, key, buckets)])
    if counted[0]:
        expr = buckets[0] if counted[0] == "week" else buckets[1]
        rows = run(
            f"SELECT botnet_id, {expr}, count(*) FROM {counted[0]}_{kind}"
            f" WHERE {_in(ids)} AND {counted[1]} GROUP BY 1, 2"
        )
        counts.update({(int(g), int(i)): int(n) for g, i, n in rows})
    return counts


def range_counts(
    run: Run, backend: str, ids: Ids, start: float, end: float, measures: Sequence[str]
) -> dict[int, tuple[int, ...]] | None:
    """``measures`` per botnet id over the replies in [start, end), botnets without replies
    absent; None when one of them is not kept (``ip_ports`` over a window). Distinct IPs
    and bot IDs are unions of sets; replies add up ``hour_counts`` and the partial hours."""
    if any(m not in ("rows", "ips", "ids") for m in measures):
        return None
    d = Dialect(backend)
    start_us, end_us = micros(start), micros(end)
    if (ids is not None and not ids) or end_us <= start_us:
        return {}
    pieces = split(start_us, end_us)
    found: dict[str, dict[int, int]] = {}
    for m in set(measures):
        if m == "rows":
            found[m] = _replies_in_window(run, d, ids, start_us, end_us)
        else:
            key = "ip" if m == "ips" else "bot_id"
            found[m] = {
                g: n for (g, _), n in _count_sets(run, _key_sets(d, pieces, ids, key)).items()
            }
    botnets = set().union(*(set(v) for v in found.values()))
    return {g: tuple(found[m].get(g, 0) for m in measures) for g in botnets}


def _replies_in_window(
    run: Run, d: Dialect, ids: Ids, start_us: int, end_us: int
) -> dict[int, int]:
    """Per botnet: replies in [start_us, end_us): whole hours from ``hour_counts``, the two
    partial hours at the edges counted in the replies (by time range)."""
    rows = _hours_and_edges(
        run,
        d,
        start_us,
        end_us,
        f"SELECT botnet_id, sum(replies) FROM hour_counts WHERE {_in(ids)} AND {{hours}}"
        " GROUP BY 1",
        f"SELECT botnet_id, count(*) FROM replies WHERE {_in(ids)} AND {{span}} GROUP BY 1",
    )
    out: dict[int, int] = defaultdict(int)
    for g, n in rows:
        out[int(g)] += int(n)
    return {g: n for g, n in out.items() if n}


def hour_profile(
    run: Run, backend: str, ids: Ids, start: float, end: float
) -> dict[tuple[int, int], list[tuple[str | None, int]]]:
    """Per (botnet id, hour bucket index): distinct IPs per reply country in [start, end)
    (an address that replied from two countries in an hour counts in both)."""
    d = Dialect(backend)
    start_us, end_us = micros(start), micros(end)
    if (ids is not None and not ids) or end_us <= start_us:
        return {}
    rows = _hours_and_edges(
        run,
        d,
        start_us,
        end_us,
        f"SELECT botnet_id, hour, country, ips FROM hour_countries WHERE {_in(ids)} AND {{hours}}",
        f"SELECT g, h, c, count(*) FROM (SELECT DISTINCT botnet_id AS g, {d.hour()} AS h,"
        f" country AS c, ip FROM replies WHERE {_in(ids)} AND {{span}}) s GROUP BY 1, 2, 3",
    )
    out: dict[tuple[int, int], list[tuple[str | None, int]]] = defaultdict(list)
    for g, h, c, n in rows:
        out[(int(g), int(h) - ORIGIN_HOURS)].append((str(c) if c else None, int(n)))
    return dict(out)


def located_ips(run: Run, backend: str, ids: Ids, start: float, end: float) -> str:
    """A subquery of (botnet_id, ip, country, asn): every address seen in [start, end), once
    per botnet, with the country and AS of its latest located reply in the window.

    Whole days and unmixed rows of partial days come from ``day_ips`` (an unmixed row's
    replies that day all carry the same country and AS, so any part of the day has them);
    mixed rows of partial days (rare: an address that moved country or AS that day) and the
    partial hours are read from the replies. ``run`` checks for mixed rows first."""
    d = Dialect(backend)
    pieces = split(micros(start), micros(end))
    cols = "botnet_id, ip, country, country_ts, asn, asn_ts"
    located = f"SELECT botnet_id, ip, {_located(d)} FROM replies WHERE {{where}} GROUP BY 1, 2"
    parts = _whole_sets(pieces, ids, "ips", cols, cols)
    for day, mask in sorted(pieces.masks.items()):
        rows = f"{_in(ids)} AND day = {day} AND (hours & {mask}) <> 0"
        parts.append(f"SELECT {cols} FROM day_ips WHERE {rows} AND NOT mixed")
        if run(f"SELECT count(*) FROM day_ips WHERE {rows} AND mixed")[0][0]:
            for lo, hi in _mask_spans(day, mask):
                parts.append(
                    located.format(
                        where=f"{_in(ids)} AND {d.span(lo, hi)} AND (botnet_id, ip) IN"
                        f" (SELECT botnet_id, ip FROM day_ips WHERE {rows} AND mixed)"
                    )
                )
    for lo, hi in pieces.edges:
        parts.append(located.format(where=f"{_in(ids)} AND {d.span(lo, hi)}"))
    if not parts:
        parts.append(f"SELECT {cols} FROM day_ips WHERE false")
    union = " UNION ALL ".join(parts)
    return (
        f"SELECT botnet_id, ip, {d.latest('country', 'country_ts')} AS country,"
        f" {d.latest('asn', 'asn_ts')} AS asn FROM ({union}) p GROUP BY botnet_id, ip"
    )


def _mask_spans(day: int, mask: int) -> list[tuple[int, int]]:
    """The runs of set hours in a day's mask, as [lo, hi) microseconds."""
    out: list[tuple[int, int]] = []
    for h in range(24):
        if mask >> h & 1:
            lo = day * DAY_US + h * HOUR_US
            if out and out[-1][1] == lo:
                out[-1] = (out[-1][0], lo + HOUR_US)
            else:
                out.append((lo, lo + HOUR_US))
    return out


def window_ips(backend: str, ids: Sequence[int], start: float, end: float) -> str:
    """A subquery of (botnet_id, ip): every address seen in [start, end), once per botnet."""
    pieces = split(micros(start), micros(end))
    union = " UNION ".join(_key_sets(Dialect(backend), pieces, ids, "ip")) or _NOTHING
    return f"SELECT botnet_id, ip FROM ({union}) w"


# -- the botnet list ----------------------------------------------------------------------------


def botnet_summaries(
    run: Run, backend: str, now: float, recent_window_s: int
) -> list[BotnetSummary]:
    """Every botnet's first and last reply and its counts in [now - window, now], from
    the summaries: the seen tables (bounds; distinct counts when nothing is newer than
    ``now``, as for a live server), else the day sets; replies from ``hour_counts`` plus
    the partial hours at the window's edges."""
    d = Dialect(backend)
    start_us, end_us = micros(now - recent_window_s), micros(now) + 1
    bounds = {
        int(b): (lo, hi)
        for b, lo, hi in run(
            f"SELECT botnet_id, {d.us('min(first_ts)')}, {d.us('max(last_ts)')}"
            " FROM seen_ips GROUP BY 1"
        )
    }
    newest = max((hi for _, hi in bounds.values()), default=None)
    recent: dict[int, tuple[int, ...]] = {}
    if newest is None or newest < end_us:
        for i, table in enumerate(("seen_ips", "seen_ids")):
            for b, n in run(
                f"SELECT botnet_id, count(*) FROM {table}"
                f" WHERE last_ts >= {d.ts(start_us)} GROUP BY 1"
            ):
                pair = list(recent.get(int(b), (0, 0)))
                pair[i] = int(n)
                recent[int(b)] = tuple(pair)
    else:
        pieces = split(start_us, end_us)
        ips, bots = (_count_sets(run, _key_sets(d, pieces, None, k)) for k in ("ip", "bot_id"))
        recent = {g: (n, bots.get((g, 0), 0)) for (g, _), n in ips.items()}
    replies = _replies_in_window(run, d, None, start_us, end_us)
    rows = []
    for b, name, description in sorted(
        run("SELECT id, name, description FROM botnets"), key=lambda r: str(r[1])
    ):
        lo, hi = bounds.get(int(b), (None, None))
        rows.append(
            (
                name,
                description,
                None if lo is None else lo / 1e6,
                None if hi is None else hi / 1e6,
                *recent.get(int(b), (0, 0)),
                replies.get(int(b), 0),
            )
        )
    return [botnet_summary_from_row(r, recent_window_s) for r in rows]
