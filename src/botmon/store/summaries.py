"""The summaries behind fast dashboards: first and last sighting of every address and bot ID.

A dashboard window that reaches the newest data ("the last 7 days") asks questions whose
answers need a DISTINCT over millions of replies: how many addresses, in which countries and
ASes, shared between which botnets, seen for the first time when. Per botnet, the tables
``seen_ips`` and ``seen_ids`` keep each address and bot ID once, with its first and last reply
and the country and AS of its latest located reply; those questions become counts over them.

They are kept exact, never sampled, and cheap at ingest: a batch only records the time span
its records cover and a number that grows with every stored batch (``batches.seq``). A
refresh re-merges the replies inside the spans of the batches stored since its watermark.
Merging is idempotent (``least``/``greatest`` of timestamps), so merging a span twice, or a
wider span than needed, changes nothing; the spans are therefore joined freely into a few
wide ones. This module holds what both backends share; each store runs the statements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

MAX_SPANS = 24
"""Most spans one refresh merges separately; more are joined across their smallest gaps."""

SEEN_STATE = "seen"
"""The ``summary_state`` row of the seen tables."""


def _ips_set(new: str) -> str:
    """SET clause merging a row of new sightings (alias ``new``) into a ``seen_ips`` row."""
    return f"""
    country = CASE WHEN {new}.last_ts >= seen_ips.last_ts
                   THEN coalesce({new}.country, seen_ips.country)
                   ELSE coalesce(seen_ips.country, {new}.country) END,
    asn = CASE WHEN {new}.last_ts >= seen_ips.last_ts
               THEN coalesce({new}.asn, seen_ips.asn)
               ELSE coalesce(seen_ips.asn, {new}.asn) END,
    first_ts = least(seen_ips.first_ts, {new}.first_ts),
    last_ts = greatest(seen_ips.last_ts, {new}.last_ts)"""


def _ids_set(new: str) -> str:
    """SET clause merging a row of new sightings (alias ``new``) into a ``seen_ids`` row."""
    return f"""
    first_ts = least(seen_ids.first_ts, {new}.first_ts),
    last_ts = greatest(seen_ids.last_ts, {new}.last_ts)"""


def is_current(watermark: int | None, newest_seq: int | None) -> bool:
    """True when the seen tables hold every stored batch: a watermark exists (NULL asks for a
    full build) and no batch is numbered at or above it."""
    return watermark is not None and (newest_seq is None or newest_seq < watermark)


_LATEST = {
    # The value on the latest reply that has one (NULL only when no reply has one).
    "duckdb": "arg_max({col}, ts)",
    "postgresql": "(array_agg({col} ORDER BY ts DESC) FILTER (WHERE {col} IS NOT NULL))[1]",
}


def merge_statements(backend: str, where: str, *, upsert: bool = True) -> list[str]:
    """The statements that merge the replies matching ``where`` into the seen tables.

    ``upsert=False`` is for a full build into empty tables (no conflict handling needed).
    """
    latest = _LATEST[backend]
    ips = (
        "INSERT INTO seen_ips (botnet_id, ip, first_ts, last_ts, country, asn)"
        f" SELECT botnet_id, ip, min(ts), max(ts), {latest.format(col='country')},"
        f" {latest.format(col='asn')} FROM replies WHERE {where} GROUP BY botnet_id, ip"
    )
    ids = (
        "INSERT INTO seen_ids (botnet_id, bot_id, first_ts, last_ts)"
        " SELECT botnet_id, bot_id, min(ts), max(ts) FROM replies"
        f" WHERE bot_id IS NOT NULL AND {where} GROUP BY botnet_id, bot_id"
    )
    if upsert:
        return [
            ips + " ON CONFLICT (botnet_id, ip) DO UPDATE SET" + _ips_set("excluded"),
            ids + " ON CONFLICT (botnet_id, bot_id) DO UPDATE SET" + _ids_set("excluded"),
        ]
    return [ips, ids]


SLACK_US = 1000
"""Each span is widened by this much on both sides, so rounding between the batch's
microseconds and the database's timestamps can never leave a reply just outside it."""


def widened(botnet_id: int, lo_us: int, hi_us: int) -> tuple[int, int, int]:
    """A changed span widened by :data:`SLACK_US` on both sides."""
    return int(botnet_id), int(lo_us) - SLACK_US, int(hi_us) + SLACK_US


def span_where(backend: str, botnet_id: int, lo_us: int, hi_us: int) -> str:
    """The replies of one botnet within a changed span (integers only: safe to inline)."""
    _, lo, hi = widened(botnet_id, lo_us, hi_us)
    if backend == "duckdb":
        bounds = f"ts >= make_timestamp({lo}) AND ts <= make_timestamp({hi})"
    else:
        bounds = (
            f"ts >= to_timestamp({lo}::float8 / 1e6) AND ts <= to_timestamp({hi}::float8 / 1e6)"
        )
    return f"botnet_id = {int(botnet_id)} AND {bounds}"


_DUCKDB_DELTA = {
    "seen_ips": (
        "botnet_id SMALLINT, ip UHUGEINT, first_ts TIMESTAMP, last_ts TIMESTAMP,"
        " country VARCHAR, asn UINTEGER",
        "botnet_id, ip",
        "min(first_ts) AS first_ts, max(last_ts) AS last_ts,"
        " arg_max(country, last_ts) AS country, arg_max(asn, last_ts) AS asn",
        _ips_set("d"),
    ),
    "seen_ids": (
        "botnet_id SMALLINT, bot_id VARCHAR, first_ts TIMESTAMP, last_ts TIMESTAMP",
        "botnet_id, bot_id",
        "min(first_ts) AS first_ts, max(last_ts) AS last_ts",
        _ids_set("d"),
    ),
}


def duckdb_merge_statements(wheres: Sequence[str]) -> list[str]:
    """DuckDB statements merging the replies matching any of ``wheres`` into the seen tables.

    DuckDB's tables carry no primary key: an ``ON CONFLICT`` upsert through an ART index
    costs about three times as much as aggregating the changed rows into a small delta
    table, updating the matching rows through a hash join and appending the rest. The
    refresh runs under the store's write lock, so nothing else can add a key meanwhile.
    """
    out: list[str] = []
    for table, (columns, keys, combine, update) in _DUCKDB_DELTA.items():
        delta = parts = f"{table}_delta"
        if len(wheres) > 1:
            parts = f"{table}_parts"
        out.append(f"CREATE OR REPLACE TEMP TABLE {parts} ({columns})")
        for where in wheres:
            select = merge_statements("duckdb", where, upsert=False)[
                0 if table == "seen_ips" else 1
            ]
            out.append(select.replace(f"INSERT INTO {table} ", f"INSERT INTO {parts} ", 1))
        if parts != delta:  # one key may sit in several spans: one row per key
            out.append(
                f"CREATE OR REPLACE TEMP TABLE {delta} AS SELECT {keys}, {combine}"
                f" FROM {parts} GROUP BY {keys}"
            )
            out.append(f"DROP TABLE {parts}")
        on = " AND ".join(f"{table}.{k} = d.{k}" for k in keys.split(", "))
        out.append(f"UPDATE {table} SET {update} FROM {delta} d WHERE {on}")
        exists = " AND ".join(f"s.{k} = d.{k}" for k in keys.split(", "))
        out.append(
            f"INSERT INTO {table} SELECT d.* FROM {delta} d"
            f" WHERE NOT EXISTS (SELECT 1 FROM {table} s WHERE {exists})"
        )
        out.append(f"DROP TABLE {delta}")
    return out


def coalesce_spans(
    spans: Iterable[tuple[int, int, int]], max_spans: int = MAX_SPANS
) -> list[tuple[int, int, int]]:
    """Changed ``(botnet_id, first, last)`` spans (inclusive, any unit) as few wide ones.

    Overlapping spans of one botnet are joined; then, while more than ``max_spans`` remain,
    the two neighbours with the smallest gap between them are. Joining only widens what is
    re-merged, which is safe because merging is idempotent.
    """
    by_botnet: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for botnet_id, lo, hi in spans:
        by_botnet[int(botnet_id)].append((int(min(lo, hi)), int(max(lo, hi))))
    joined: list[tuple[int, int, int]] = []
    for botnet_id, items in sorted(by_botnet.items()):
        items.sort()
        lo, hi = items[0]
        for a, b in items[1:]:
            if a <= hi:
                hi = max(hi, b)
            else:
                joined.append((botnet_id, lo, hi))
                lo, hi = a, b
        joined.append((botnet_id, lo, hi))
    while len(joined) > max(1, max_spans):
        gaps = [
            (joined[i + 1][1] - joined[i][2], i)
            for i in range(len(joined) - 1)
            if joined[i][0] == joined[i + 1][0]
        ]
        if not gaps:
            break  # one span per botnet already
        _, i = min(gaps)
        botnet_id, lo, _ = joined[i]
        joined[i : i + 2] = [(botnet_id, lo, joined[i + 1][2])]
    return joined
