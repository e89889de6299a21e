"""The single validation path for every record that enters botmon.

HTTP ingest, file import and any later transport hand raw JSON bytes of a batch (the shape of
:class:`botmon.wire.Batch`) to :func:`validate_batch`. It decodes with msgspec structs
(fast, strict, size-capped), then runs the checks a schema cannot express (addresses,
timestamp range, ``data`` being an object) and returns column lists ready for a bulk insert.
Any problem raises :class:`BatchRejected` naming the kind, index and field of the *first* bad
record, so callers can reject the whole batch and store nothing.
"""

from __future__ import annotations

import math
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from itertools import compress, repeat
from operator import itemgetter
from typing import Annotated, Any

import msgspec

from botmon.digits import is_ascii_number
from botmon.ipaddr import V4_MAPPED_PREFIX, ip_to_int
from botmon.limits import MIN_TIMESTAMP, BotnetName
from botmon.wire import RECORD_KINDS, SourceType

MAX_RECORDS_PER_KIND = 10_000
MAX_BOT_ID_LENGTH = 256
MAX_REASON_LENGTH = 128
MAX_DATA_BYTES = 16_384
MAX_BATCH_ID_LENGTH = 128
MAX_DATA_DEPTH = 64
"""Nesting levels of ``data`` (the object itself is level 1). Protocol extras need a few;
JSON readers recurse (msgspec gives up near 1,000 levels, PostgreSQL at its stack limit), so
a bot cannot make a batch unstorable or unreadable by nesting."""
MIN_DATA_INT = -(2**63)
MAX_DATA_INT = 2**64 - 1
"""Integers in ``data`` fit a signed or unsigned 64-bit integer, as JSON readers hold them."""
DEFAULT_FUTURE_SKEW_S = 300.0
"""How far ahead of the server's clock a reporter's clock may run."""

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
BotId = Annotated[str, msgspec.Meta(max_length=MAX_BOT_ID_LENGTH)]
Reason = Annotated[str, msgspec.Meta(max_length=MAX_REASON_LENGTH)]
Timestamp = float | Annotated[datetime, msgspec.Meta(tz=True)]
IpText = Annotated[str, msgspec.Meta(max_length=64)]
BatchId = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=MAX_BATCH_ID_LENGTH, pattern=r"^[\x21-\x7e]+(?!\n)$"),
]
"""Printable ASCII without spaces: batch ids are keys in the store and in spool file names."""


_NULL = msgspec.Raw(b"null")
_ABSENT = msgspec.Raw(b"")
"""Default of ``data``: empty, hence falsy, unlike any JSON value a record can carry."""
_pton = socket.inet_pton
_AF_INET = socket.AF_INET
_from_bytes = int.from_bytes
_first_byte = itemgetter(0)


class _ReplyIn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    timestamp: Timestamp
    ip: IpText
    port: Port
    bot_id: BotId | None = None
    data: msgspec.Raw = _ABSENT


class _FailedTryIn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    timestamp: Timestamp
    ip: IpText
    port: Port
    bot_id: BotId | None = None
    reason: Reason | None = None
    data: msgspec.Raw = _ABSENT


class _EdgeIn(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    timestamp: Timestamp
    src_ip: IpText
    src_port: Port
    dst_ip: IpText
    dst_port: Port
    src_id: BotId | None = None
    dst_id: BotId | None = None


class _BatchIn(msgspec.Struct, forbid_unknown_fields=True):
    botnet: BotnetName
    batch_id: BatchId
    replies: Annotated[list[_ReplyIn], msgspec.Meta(max_length=MAX_RECORDS_PER_KIND)] = []
    failed_tries: Annotated[list[_FailedTryIn], msgspec.Meta(max_length=MAX_RECORDS_PER_KIND)] = []
    edges: Annotated[list[_EdgeIn], msgspec.Meta(max_length=MAX_RECORDS_PER_KIND)] = []
    source_type: SourceType = "crawler"


class _BatchLoose(msgspec.Struct):
    """Used only on the error path, to find the first bad record in document order."""

    botnet: Any = None
    batch_id: Any = None
    replies: list[msgspec.Raw] = []
    failed_tries: list[msgspec.Raw] = []
    edges: list[msgspec.Raw] = []


_RECORD_TYPES: dict[str, type[msgspec.Struct]] = {
    "replies": _ReplyIn,
    "failed_tries": _FailedTryIn,
    "edges": _EdgeIn,
}
_batch_decoder = msgspec.json.Decoder(_BatchIn)
_loose_decoder = msgspec.json.Decoder(_BatchLoose)
_record_decoders = {kind: msgspec.json.Decoder(t) for kind, t in _RECORD_TYPES.items()}


class BatchRejected(ValueError):
    """A batch that must not be stored, with where the first problem is.

    ``reason`` is a short stable key (``malformed_json``, ``too_many_records``,
    ``invalid_record``, ``invalid_batch``) used for the rejection metrics.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        kind: str | None = None,
        index: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.kind = kind
        self.index = index
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields: the default exception pickling (cls(*args)) would drop them,
        # and the server's ingest workers send rejections back to the server pickled.
        return (_rejected, (self.message, self.reason, self.kind, self.index, self.field))

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body the API answers with."""
        return {
            "error": self.message,
            "reason": self.reason,
            "kind": self.kind,
            "index": self.index,
            "field": self.field,
        }


def _rejected(
    message: str, reason: str, kind: str | None, index: int | None, field: str | None
) -> BatchRejected:
    return BatchRejected(message, reason=reason, kind=kind, index=index, field=field)


@dataclass(slots=True)
class ReplyColumns:
    """Validated replies as columns; ``ts_us`` is UTC epoch microseconds, ``ip`` 128-bit."""

    ts_us: list[int] = field(default_factory=list)
    ip: list[int] = field(default_factory=list)
    port: list[int] = field(default_factory=list)
    bot_id: list[str | None] = field(default_factory=list)
    data: list[str | None] = field(default_factory=list)
    country: list[str | None] | None = None
    """ISO 3166 alpha-2 per reply, from enrichment (:mod:`botmon.enrich`); None: not enriched."""
    asn: list[int | None] | None = None
    """AS number per reply, filled by enrichment; None = not enriched."""

    def __len__(self) -> int:
        return len(self.ts_us)


@dataclass(slots=True)
class FailedTryColumns:
    """Validated failed tries as columns."""

    ts_us: list[int] = field(default_factory=list)
    ip: list[int] = field(default_factory=list)
    port: list[int] = field(default_factory=list)
    bot_id: list[str | None] = field(default_factory=list)
    reason: list[str | None] = field(default_factory=list)
    data: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts_us)


@dataclass(slots=True)
class EdgeColumns:
    """Validated edges as columns."""

    ts_us: list[int] = field(default_factory=list)
    src_ip: list[int] = field(default_factory=list)
    src_port: list[int] = field(default_factory=list)
    src_id: list[str | None] = field(default_factory=list)
    dst_ip: list[int] = field(default_factory=list)
    dst_port: list[int] = field(default_factory=list)
    dst_id: list[str | None] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ts_us)


@dataclass(slots=True)
class ValidatedBatch:
    """A batch that passed every check; what :meth:`botmon.store.base.Store.write_batch` takes."""

    botnet: str
    batch_id: str
    replies: ReplyColumns
    failed_tries: FailedTryColumns
    edges: EdgeColumns
    as_names: dict[int, str] = field(default_factory=dict)
    """Names of the ASes that enrichment found in this batch, for the store's AS table."""
    source_type: SourceType = "crawler"
    """What saw every record of the batch: ``crawler`` or ``sensor``."""

    def counts(self) -> dict[str, int]:
        """Records per kind, keyed as in :data:`botmon.wire.RECORD_KINDS`."""
        return {kind: len(getattr(self, kind)) for kind in RECORD_KINDS}


class _RecordProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _check_ts(value: float | datetime, latest: float) -> int:
    ts = value.timestamp() if isinstance(value, datetime) else value
    if not MIN_TIMESTAMP <= ts <= latest:
        if ts > latest:
            raise _RecordProblem("timestamp", "timestamp is in the future")
        raise _RecordProblem("timestamp", "timestamp is before 2000-01-01 or not a number")
    return round(ts * 1_000_000)


def _check_ip(name: str, text: str) -> int:
    try:
        return ip_to_int(text)
    except ValueError:
        raise _RecordProblem(name, "not an IPv4 or IPv6 address") from None


def _check_text(name: str, value: str | None) -> str | None:
    # PostgreSQL cannot store NUL or lone surrogates in text; reject them for both backends.
    if value is not None and (problem := _text_problem(value)) is not None:
        raise _RecordProblem(name, problem)
    return value


def _data_float(text: str) -> float:
    """Numbers with a fraction or exponent must be finite doubles that did not underflow:
    PostgreSQL's jsonb refuses ``1e999999`` (and ``1e-999999``), and a reader of the export
    could not hold them either."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"holds a number out of range ({text[:40]})")
    if value == 0.0 and _NONZERO_MANTISSA.match(text):
        raise ValueError(f"holds a number too small for a double ({text[:40]})")
    return value


_NONZERO_MANTISSA = re.compile(r"^-?0*\.?0*[1-9]")
_data_decoder = msgspec.json.Decoder(float_hook=_data_float)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    if not text.isascii() and _SURROGATE.search(text):
        return "contains a lone UTF-16 surrogate"
    return None


def _json_problem(value: Any) -> str | None:
    """What makes a decoded ``data`` value unstorable, or None (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_DATA_DEPTH:
                return f"is nested deeper than {MAX_DATA_DEPTH} levels"
            if isinstance(item, dict):
                for key in item:
                    if (problem := _text_problem(key)) is not None:
                        return problem
                children: Any = item.values()
            else:
                children = item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            if (problem := _text_problem(item)) is not None:
                return problem
        elif type(item) is int and not MIN_DATA_INT <= item <= MAX_DATA_INT:
            return "has an integer out of the 64-bit range"
    return None


def _check_data(raw: msgspec.Raw) -> str | None:
    if not raw or raw == _NULL:
        return None
    body = bytes(raw)
    if not body.startswith(b"{"):
        raise _RecordProblem("data", "data must be a JSON object or null")
    if len(body) > MAX_DATA_BYTES:
        raise _RecordProblem("data", f"data is larger than {MAX_DATA_BYTES} bytes")
    try:
        problem = _json_problem(_data_decoder.decode(body))
    except RecursionError:
        problem = f"is nested deeper than {MAX_DATA_DEPTH} levels"
    except msgspec.ValidationError as exc:
        problem = str(exc).split(" - at ")[0]
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        problem = f"is not valid JSON ({exc})"
    if problem is not None:
        raise _RecordProblem("data", f"data {problem}")
    return body.decode()


def _fill_replies(records: list[_ReplyIn], latest: float, out: ReplyColumns, start: int) -> None:
    for i, r in enumerate(records):
        try:
            out.ts_us.append(_check_ts(r.timestamp, latest))
            out.ip.append(_check_ip("ip", r.ip))
            out.port.append(r.port)
            out.bot_id.append(_check_text("bot_id", r.bot_id))
            out.data.append(_check_data(r.data))
        except _RecordProblem as p:
            raise _record_rejected("replies", start + i, p) from None


def _fill_failed(
    records: list[_FailedTryIn], latest: float, out: FailedTryColumns, start: int
) -> None:
    for i, r in enumerate(records):
        try:
            out.ts_us.append(_check_ts(r.timestamp, latest))
            out.ip.append(_check_ip("ip", r.ip))
            out.port.append(r.port)
            out.bot_id.append(_check_text("bot_id", r.bot_id))
            out.reason.append(_check_text("reason", r.reason))
            out.data.append(_check_data(r.data))
        except _RecordProblem as p:
            raise _record_rejected("failed_tries", start + i, p) from None


def _fill_edges(records: list[_EdgeIn], latest: float, out: EdgeColumns, start: int) -> None:
    for i, r in enumerate(records):
        try:
            out.ts_us.append(_check_ts(r.timestamp, latest))
            out.src_ip.append(_check_ip("src_ip", r.src_ip))
            out.src_port.append(r.src_port)
            out.src_id.append(_check_text("src_id", r.src_id))
            out.dst_ip.append(_check_ip("dst_ip", r.dst_ip))
            out.dst_port.append(r.dst_port)
            out.dst_id.append(_check_text("dst_id", r.dst_id))
        except _RecordProblem as p:
            raise _record_rejected("edges", start + i, p) from None


class _Slow(Exception):
    """The fast columnar path met something it does not handle; redo record by record."""


def _ts_fast(values: list[float | datetime], latest: float) -> list[int]:
    if not values:
        return []
    # Imported here: pyarrow.compute takes ~70 ms to load, and most CLI commands that import
    # this module (for its constants) never validate a batch.
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        seconds = pa.array(values, pa.float64())  # a datetime among them: the slow path
    except (pa.ArrowException, TypeError, ValueError):
        raise _Slow from None
    bounds = pc.min_max(seconds).as_py()
    if not bounds["min"] >= MIN_TIMESTAMP or not bounds["max"] <= latest:
        raise _Slow
    # The same IEEE product and the same half-to-even rounding as round(t * 1_000_000),
    # in one C pass instead of a Python call per record.
    micros = pc.round(pc.multiply(seconds, 1_000_000.0), round_mode="half_to_even")
    return pc.cast(micros, pa.int64()).to_pylist()  # type: ignore[no-any-return]


def _ts_plain(values: list[float | datetime], latest: float) -> list[int]:
    """What :func:`_ts_fast` computes, in plain Python (about twice as slow per record)."""
    if not values:
        return []
    try:
        if not min(values) >= MIN_TIMESTAMP or not max(values) <= latest:  # type: ignore[operator]
            raise _Slow
        return [round(v * 1_000_000) for v in values]  # type: ignore[operator]
    except TypeError:  # a datetime among them: the record-by-record way
        raise _Slow from None


TsColumn = Callable[[list[float | datetime], float], list[int]]


def _ips_fast(values: list[str]) -> list[int]:
    try:
        return [V4_MAPPED_PREFIX | _from_bytes(_pton(_AF_INET, v), "big") for v in values]
    except OSError:
        pass
    try:
        return [ip_to_int(v) for v in values]
    except ValueError:
        raise _Slow from None


def _texts_fast(values: list[str | None]) -> list[str | None]:
    joined = "".join(filter(None, values))
    if "\x00" in joined or (not joined.isascii() and _SURROGATE.search(joined)):
        raise _Slow
    return values


_DIGITS_AS_ZERO = bytes.maketrans(b"123456789E-", b"000000000e+")
_ESCAPE_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def _data_suspect(joined: bytes) -> bool:
    """Whether the column may hold a number out of range (a 3-digit exponent, 19 digits in
    a row), a NUL or a surrogate escape; a hit (even a false one, in a string) is checked
    the exact way. One C pass of ``translate`` instead of a regex: 0.3 vs 34 ms per MB."""
    shape = joined.translate(_DIGITS_AS_ZERO)
    return (
        b"e000" in shape
        or b"e+000" in shape
        or b"0" * 19 in shape
        or (b"\\u" in joined and _ESCAPE_SUSPECT.search(joined) is not None)
    )


def _data_fast(values: list[msgspec.Raw]) -> list[str | None]:
    out: list[str | None] = [None] * len(values)
    present = list(compress(range(len(values)), values))  # absent data is empty, so falsy
    if not present:
        return out
    bodies = list(map(bytes, map(values.__getitem__, present)))
    if b"null" in bodies:  # an explicit null is stored as None, like absent data
        kept = [(i, body) for i, body in zip(present, bodies, strict=True) if body != b"null"]
        present = [i for i, _ in kept]
        bodies = [body for _, body in kept]
        if not bodies:
            return out
    # Whole-column checks; any hit (even a false one) goes the exact record-by-record way.
    if (
        bytes(map(_first_byte, bodies)).count(b"{") != len(bodies)
        or max(map(len, bodies)) > MAX_DATA_BYTES
        or max(map(bytes.count, bodies, repeat(b"{"))) + max(map(bytes.count, bodies, repeat(b"[")))
        > MAX_DATA_DEPTH
        or _data_suspect(b"".join(bodies))
    ):
        raise _Slow
    for i, text in zip(present, map(bytes.decode, bodies), strict=True):
        out[i] = text
    return out


def _replies(records: list[_ReplyIn], latest: float, ts: TsColumn) -> ReplyColumns:
    try:
        return ReplyColumns(
            ts_us=ts([r.timestamp for r in records], latest),
            ip=_ips_fast([r.ip for r in records]),
            port=[r.port for r in records],
            bot_id=_texts_fast([r.bot_id for r in records]),
            data=_data_fast([r.data for r in records]),
        )
    except _Slow:
        out = ReplyColumns()
        _fill_replies(records, latest, out, 0)
        return out


def _failed_tries(records: list[_FailedTryIn], latest: float, ts: TsColumn) -> FailedTryColumns:
    try:
        return FailedTryColumns(
            ts_us=ts([r.timestamp for r in records], latest),
            ip=_ips_fast([r.ip for r in records]),
            port=[r.port for r in records],
            bot_id=_texts_fast([r.bot_id for r in records]),
            reason=_texts_fast([r.reason for r in records]),
            data=_data_fast([r.data for r in records]),
        )
    except _Slow:
        out = FailedTryColumns()
        _fill_failed(records, latest, out, 0)
        return out


def _edges(records: list[_EdgeIn], latest: float, ts: TsColumn) -> EdgeColumns:
    try:
        return EdgeColumns(
            ts_us=ts([r.timestamp for r in records], latest),
            src_ip=_ips_fast([r.src_ip for r in records]),
            src_port=[r.src_port for r in records],
            src_id=_texts_fast([r.src_id for r in records]),
            dst_ip=_ips_fast([r.dst_ip for r in records]),
            dst_port=[r.dst_port for r in records],
            dst_id=_texts_fast([r.dst_id for r in records]),
        )
    except _Slow:
        out = EdgeColumns()
        _fill_edges(records, latest, out, 0)
        return out


def _record_rejected(kind: str, index: int, problem: _RecordProblem) -> BatchRejected:
    return BatchRejected(
        f"{kind}[{index}].{problem.field}: {problem.message}",
        reason="invalid_record",
        kind=kind,
        index=index,
        field=problem.field,
    )


def _path_of(message: str) -> tuple[str | None, int | None, str | None]:
    """Split msgspec's ``... - at `$.replies[3].port``` into (kind, index, field)."""
    marker = "- at `$"
    pos = message.rfind(marker)
    if pos < 0:
        return None, None, None
    path = message[pos + len(marker) : -1].lstrip(".")
    kind, index, fld = path, None, None
    if "[" not in path:
        return None, None, path or None
    if "[" in path:
        kind, rest = path.split("[", 1)
        idx, _, tail = rest.partition("]")
        index = int(idx) if is_ascii_number(idx) else None
        fld = tail.lstrip(".").split(".")[0].split("[")[0] or None
    return kind or None, index, fld


def _first_bad_record(body: bytes, latest: float, schema_error: str) -> BatchRejected:
    """Re-read a batch record by record to name the first bad one in document order."""
    try:
        loose = _loose_decoder.decode(body)
    except msgspec.ValidationError:
        kind, index, fld = _path_of(schema_error)
        return BatchRejected(
            schema_error, reason="invalid_batch", kind=kind, index=index, field=fld
        )
    for kind in RECORD_KINDS:
        count = len(getattr(loose, kind))
        if count > MAX_RECORDS_PER_KIND:
            return BatchRejected(
                f"{kind}: {count} records, at most {MAX_RECORDS_PER_KIND} per kind in one batch",
                reason="too_many_records",
                kind=kind,
            )
    fillers = {
        "replies": (_fill_replies, ReplyColumns),
        "failed_tries": (_fill_failed, FailedTryColumns),
        "edges": (_fill_edges, EdgeColumns),
    }
    for kind in RECORD_KINDS:
        raws: list[msgspec.Raw] = getattr(loose, kind)
        fill, columns = fillers[kind]
        for i, raw in enumerate(raws):
            try:
                record = _record_decoders[kind].decode(raw)
            except msgspec.ValidationError as exc:
                _, _, fld = _path_of(str(exc).replace("- at `$", "- at `$.r[0]"))
                return BatchRejected(
                    f"{kind}[{i}]: {str(exc).split(' - at ')[0]}",
                    reason="invalid_record",
                    kind=kind,
                    index=i,
                    field=fld,
                )
            try:
                fill([record], latest, columns(), i)  # type: ignore[operator]
            except BatchRejected as rejected:
                return rejected
    kind, index, fld = _path_of(schema_error)
    return BatchRejected(schema_error, reason="invalid_batch", kind=kind, index=index, field=fld)


_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _too_deep(body: bytes) -> BatchRejected:
    """Name the record whose nesting made the decoder give up (about 1,000 levels).

    A scan of strings and brackets, as the decoder (and any record-by-record re-read) recurses
    out of stack here; it stops at the first record nested past the limit. In the batch, a
    record is at depth 3 and its ``data`` object at depth 4.
    """
    depth, kind, index, key = 0, None, -1, None
    last: str | None = None
    for match in _TOKEN.finditer(body):
        token = match.group()
        if token[0] == 0x22:  # a string: remember it as a possible key
            last = token[1:-1].decode("utf-8", "replace")
            continue
        if token in (b"[", b"{"):
            depth += 1
            if depth == 2:
                kind, index = last, -1
            elif depth == 3:
                index += 1
            elif depth == 4:
                key = last
            if depth > 3 + MAX_DATA_DEPTH and kind in RECORD_KINDS:
                field = key or "data"
                problem = f"{field} is nested deeper than {MAX_DATA_DEPTH} levels"
                return BatchRejected(
                    f"{kind}[{index}].{field}: {problem}",
                    reason="invalid_record",
                    kind=kind,
                    index=index,
                    field=field,
                )
        else:
            depth -= 1
    return BatchRejected("the batch is nested too deeply to read", reason="invalid_batch")


def validate_batch(
    body: bytes,
    *,
    now: float | None = None,
    future_skew_s: float = DEFAULT_FUTURE_SKEW_S,
    arrow: bool = True,
) -> ValidatedBatch:
    """Decode and check a whole batch; raise :class:`BatchRejected` at the first problem.

    ``arrow=False`` converts timestamps in plain Python, with the same result: for callers
    that must stay small, such as the report client in a crawler process, which would
    otherwise load pyarrow (tens of MB) only to check its own batches.
    """
    ts = _ts_fast if arrow else _ts_plain
    latest = (time.time() if now is None else now) + future_skew_s
    try:
        batch = _batch_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise _first_bad_record(body, latest, str(exc)) from None
    except msgspec.DecodeError as exc:
        raise BatchRejected(f"malformed JSON: {exc}", reason="malformed_json") from None
    except RecursionError:
        raise _too_deep(body) from None
    return ValidatedBatch(
        batch.botnet,
        batch.batch_id,
        _replies(batch.replies, latest, ts),
        _failed_tries(batch.failed_tries, latest, ts),
        _edges(batch.edges, latest, ts),
        source_type=batch.source_type,
    )
