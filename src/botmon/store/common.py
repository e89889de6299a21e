"""What both store backends share: input checks, migrations on disk, JSON and export shapes.

Keeping these in one place is what makes the two backends answer alike: the same names are
refused, the same JSON comes back, and exports have one Arrow schema whatever the engine.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from importlib import resources
from typing import Any

import msgspec
import pyarrow as pa

from botmon import auth
from botmon.feeds.model import FeedScope
from botmon.limits import BOTNET_NAME_PATTERN, MAX_TIMESTAMP
from botmon.store.base import Botnet, BotnetSummary, Monitor, RecordKind, StoreError
from botmon.store.prepared import PreparedBatch, prepare_batch
from botmon.validation import ValidatedBatch
from botmon.wire import Campaign, Command

MAX_NAME_LENGTH = 128
MAX_TEXT_LENGTH = 4096
MAX_JSON_BYTES = 65_536
"""Cap on one heartbeat status, command argument set or campaign settings document."""
EXPORT_BATCH_ROWS = 65_536
"""Rows per Arrow batch that export() yields: bounded memory whatever the table size."""

_BOTNET_NAME = re.compile(BOTNET_NAME_PATTERN)
_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()

TIMESTAMP_UTC = pa.timestamp("us", tz="UTC")
EXPORT_SCHEMAS: dict[str, pa.Schema] = {
    "replies": pa.schema(
        [
            ("timestamp", TIMESTAMP_UTC),
            ("ip", pa.string()),
            ("port", pa.int32()),
            ("bot_id", pa.string()),
            ("data", pa.string()),
            ("country", pa.string()),
            ("asn", pa.int64()),
            ("botnet", pa.string()),
            ("source", pa.string()),
            ("source_type", pa.string()),
        ]
    ),
    "failed_tries": pa.schema(
        [
            ("timestamp", TIMESTAMP_UTC),
            ("ip", pa.string()),
            ("port", pa.int32()),
            ("bot_id", pa.string()),
            ("reason", pa.string()),
            ("data", pa.string()),
            ("botnet", pa.string()),
            ("source", pa.string()),
            ("source_type", pa.string()),
        ]
    ),
    "edges": pa.schema(
        [
            ("timestamp", TIMESTAMP_UTC),
            ("src_ip", pa.string()),
            ("src_port", pa.int32()),
            ("src_id", pa.string()),
            ("dst_ip", pa.string()),
            ("dst_port", pa.int32()),
            ("dst_id", pa.string()),
            ("botnet", pa.string()),
            ("source", pa.string()),
            ("source_type", pa.string()),
        ]
    ),
}
"""The Arrow schema of :meth:`Store.export` per record kind, identical for both backends;
``source_type`` says what saw the record (``crawler`` or ``sensor``)."""


def migrations(backend: str) -> list[tuple[int, str]]:
    """The ordered ``(version, sql)`` migrations shipped for a backend.

    Files are ``migrations/<backend>/NNNN_name.sql``; the number is the schema version the
    file brings the database to, so adding a file is all a schema change needs.
    """
    folder = resources.files("botmon.store").joinpath("migrations", backend)
    found: list[tuple[int, str]] = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise StoreError(f"{backend} migrations are not numbered 1..n: {versions}")
    return found


def prepare(backend: str, batch: ValidatedBatch) -> PreparedBatch:
    """``backend``'s rows for a batch, or StoreError when its columns do not fit the schema
    (only a batch that bypassed :mod:`botmon.validation` can fail here)."""
    try:
        return prepare_batch(backend, batch)
    except (pa.ArrowException, OverflowError, TypeError, ValueError, AttributeError) as exc:
        raise StoreError(f"batch columns do not fit the schema: {exc}") from exc


def check_kind(kind: str) -> RecordKind:
    """A record kind from outside; StoreError for anything else."""
    if kind not in EXPORT_SCHEMAS:
        raise StoreError(f"unknown record kind {kind!r}; use replies, failed_tries or edges")
    return kind  # type: ignore[return-value]


def check_text(what: str, value: str, *, max_length: int = MAX_TEXT_LENGTH) -> str:
    """Refuse text PostgreSQL cannot store (NUL) or that is absurdly long, for both backends."""
    if not isinstance(value, str):
        raise StoreError(f"{what} must be text")
    if "\x00" in value:
        raise StoreError(f"{what} contains a NUL character")
    if len(value) > max_length:
        raise StoreError(f"{what} is longer than {max_length} characters")
    return value


def check_name(what: str, value: str) -> str:
    """A monitor or source name: non-empty, NUL-free, bounded."""
    check_text(what, value, max_length=MAX_NAME_LENGTH)
    if not value.strip():
        raise StoreError(f"{what} must not be empty")
    return value


def check_botnet_name(name: str) -> str:
    """A botnet name as batches and URLs use it (lower-case, digits, ``_.-``)."""
    if not isinstance(name, str) or not _BOTNET_NAME.match(name):
        raise StoreError(
            f"invalid botnet name {str(name)[:70]!r}: use 1-64 of a-z, 0-9, '_', '.', '-', "
            "starting with a letter or digit"
        )
    return name


def check_role(role: str) -> str:
    """One of the token roles (the rule is :func:`botmon.auth.check_role`'s)."""
    try:
        return auth.check_role(role)
    except ValueError as exc:
        raise StoreError(str(exc)) from None


def check_time(what: str, value: float) -> float:
    """An epoch-seconds instant that a database can hold."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StoreError(f"{what} must be epoch seconds")
    if not 0.0 <= float(value) < MAX_TIMESTAMP:
        raise StoreError(f"{what} is out of range: {value!r}")
    return float(value)


def to_micros(value: float) -> int:
    """Epoch seconds to integer microseconds, the resolution both backends store."""
    return round(value * 1_000_000)


def encode_json(what: str, value: Any) -> str:
    """JSON text for a status, arguments or settings document; StoreError when it cannot be."""
    if not isinstance(value, dict):
        raise StoreError(f"{what} must be a JSON object")
    try:
        text = _json_encoder.encode(value).decode()
    except (TypeError, ValueError, OverflowError) as exc:
        raise StoreError(f"{what} is not JSON-serialisable: {exc}") from None
    if "\\u0000" in text:
        raise StoreError(f"{what} contains a NUL character")
    if len(text) > MAX_JSON_BYTES:
        raise StoreError(f"{what} is larger than {MAX_JSON_BYTES} bytes")
    return text


def decode_json(value: Any) -> Any:
    """A JSON column as Python objects (DuckDB gives text, psycopg gives objects)."""
    if value is None or isinstance(value, dict | list):
        return value
    return _json_decoder.decode(value)


def is_row_id(value: int) -> bool:
    """True for an id an INTEGER key column can hold (ids from URLs may be anything)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31


def commands(source: str, rows: list[Any]) -> list[Command]:
    """Delivered ``commands`` rows (id, command, args JSON, created epoch) as Commands, oldest
    first, whatever order the backend's ``RETURNING`` gave them in."""
    return [
        Command(
            id=int(r[0]),
            source=source,
            command=r[1],
            args=decode_json(r[2]),
            created_at=float(r[3]),
        )
        for r in sorted(rows, key=lambda r: int(r[0]))
    ]


def campaign(
    id_: int, botnet: str, source: str, started: float, ended: float | None, settings: Any
) -> Campaign:
    """A campaigns row (joined with its botnet's and source's names) as a Campaign."""
    return Campaign(
        id=int(id_),
        botnet=botnet,
        source=source,
        started_at=float(started),
        ended_at=None if ended is None else float(ended),
        settings=decode_json(settings) or {},
    )


def plain_value(value: Any) -> Any:
    """One query result value in the shape both backends agree on.

    Timestamps become UTC epoch seconds (naive ones are UTC by the schema's convention) and
    decimals become int or float, so dashboard code does not depend on the engine.
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def check_params(params: Sequence[Any]) -> list[Any]:
    """Query parameters as a list; strings must be NUL-free for PostgreSQL's sake."""
    out = list(params)
    for value in out:
        if isinstance(value, str) and "\x00" in value:
            raise StoreError("query parameter contains a NUL character")
    return out


def botnet_from_row(row: Sequence[Any]) -> Botnet:
    """A :class:`Botnet` from ``id, name, description, created_at (epoch s)``."""
    return Botnet(int(row[0]), row[1], row[2], float(row[3]))


def botnet_summary_from_row(row: Sequence[Any], recent_window_s: int) -> BotnetSummary:
    """A :class:`BotnetSummary` from (name, description, first seen, last seen, recent IPs,
    recent IDs, recent replies), times in epoch seconds; both backends select that shape."""
    name, description, first, last, ips, ids, replies = row
    return BotnetSummary(
        name=name,
        description=description,
        first_seen=None if first is None else float(first),
        last_seen=None if last is None else float(last),
        recent_window_s=recent_window_s,
        recent_ips=int(ips),
        recent_ids=int(ids),
        recent_replies=int(replies),
    )


def monitor_from_row(row: Sequence[Any]) -> Monitor:
    """A :class:`Monitor` from ``id, name, role, botnets, created_at, revoked, token_prefix,
    feed_asns, feed_cidrs, feed_countries``."""
    scope = FeedScope(
        asns=tuple(int(a) for a in row[7] or ()),
        cidrs=tuple(row[8] or ()),
        countries=tuple(row[9] or ()),
    )
    return Monitor(
        id=int(row[0]),
        name=row[1],
        role=row[2],
        botnets=list(row[3]),
        created_at=float(row[4]),
        revoked=bool(row[5]),
        token_prefix=row[6],
        scope=scope,
    )


MONITOR_SCOPE_COLUMNS = "feed_asns, feed_cidrs, feed_countries"
"""The columns of a monitor's feed scope, selected after :func:`monitor_from_row`'s first
seven."""


def check_monitor(
    name: str,
    role: str,
    botnets: Sequence[str],
    token_hash: str,
    token_prefix: str,
    scope: FeedScope | None = None,
) -> list[str]:
    """Check a new monitor's fields (both backends alike); its botnets, sorted and unique."""
    check_name("monitor name", name)
    check_role(role)
    check_scope(role, scope)
    check_name("token hash", token_hash)
    check_text("token prefix", token_prefix, max_length=MAX_NAME_LENGTH)
    wanted = sorted(set(botnets))
    for b in wanted:
        check_text("botnet", b)
    return wanted


def check_scope(role: str, scope: FeedScope | None) -> FeedScope:
    """A feed token's scope, checked again here (callers parse it with
    :func:`botmon.feeds.scope.parse_scope`): a feed token needs one, other roles none."""
    from botmon.feeds.scope import ScopeError, parse_scope

    scope = scope or FeedScope()
    if role == "feed" and scope.is_empty():
        raise StoreError("a feed token needs at least one ASN, CIDR or country")
    if role != "feed" and not scope.is_empty():
        raise StoreError("only feed tokens are limited to networks")
    try:
        again = parse_scope(scope.asns, scope.cidrs, scope.countries)
    except ScopeError as exc:
        raise StoreError(str(exc)) from None
    if again != scope:
        raise StoreError("a scope must be normalised (botmon.feeds.scope.parse_scope)")
    return scope
