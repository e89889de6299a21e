"""Turn file rows into validated batches, through the same check as HTTP ingest.

Rows are grouped 10,000 at a time into the JSON body of an ingest batch and handed to
:func:`botmon.validation.validate_batch`, so a file can never store what the API would refuse.
When a batch is refused, its rows are checked one by one to name *every* bad row by its line,
not just the first. Batch ids are derived from the batch's content, so importing the same file
twice stores it once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import msgspec

from botmon.digits import is_ascii_number
from botmon.transfer.readers import SourceRow
from botmon.validation import MAX_RECORDS_PER_KIND, BatchRejected, ValidatedBatch, validate_batch
from botmon.wire import SourceType

_encode = msgspec.json.encode


@dataclass(frozen=True)
class BadRow:
    """A row that will not be stored, and why."""

    where: str
    field: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class CheckedBatch:
    """Up to 10,000 good rows as an ingest body and its validated form, plus the bad rows."""

    body: bytes
    batch: ValidatedBatch | None
    rows: int
    bad: list[BadRow] = field(default_factory=list)


def _position(row: BadRow) -> int:
    """Where a row is in the file ("line 12", "row 7"), for listing bad rows in file order."""
    number = row.where.rsplit(" ", 1)[-1]
    return int(number) if is_ascii_number(number) else 0


def _body(botnet: str, kind: str, records: list[bytes], source_type: SourceType) -> bytes:
    """An ingest body; a crawler's batch keeps the id an import before source types gave it,
    so re-importing an old file still stores it once."""
    joined = b"[" + b",".join(records) + b"]"
    seed = botnet.encode() + b"\0" + kind.encode() + b"\0" + joined
    head: dict[str, str] = {"botnet": botnet}
    if source_type != "crawler":
        seed += b"\0" + source_type.encode()
        head["source_type"] = source_type
    head["batch_id"] = f"import-{hashlib.sha256(seed).hexdigest()[:40]}"
    return _encode(head)[:-1] + b',"' + kind.encode() + b'":' + joined + b"}"


def _check_rows(
    botnet: str, kind: str, rows: list[SourceRow], now: float | None, source_type: SourceType
) -> tuple[list[bytes], list[BadRow]]:
    """Validate each row alone; the slow path, taken only for a refused batch."""
    good: list[bytes] = []
    bad: list[BadRow] = []
    for row in rows:
        encoded = _encode(row.record)
        try:
            validate_batch(_body(botnet, kind, [encoded], source_type), now=now)
        except BatchRejected as exc:
            if exc.index is None:
                raise
            detail = exc.message.split(": ", 1)[-1]
            label = f"{exc.field}: " if exc.field and not detail.startswith(exc.field) else ""
            bad.append(BadRow(row.where, exc.field, f"{label}{detail}"))
            continue
        good.append(encoded)
    return good, bad


def check_batches(
    rows: Iterable[SourceRow],
    botnet: str,
    kind: str,
    *,
    now: float | None = None,
    batch_size: int = MAX_RECORDS_PER_KIND,
) -> Iterator[CheckedBatch]:
    """Group rows into validated batches; ``BatchRejected`` only for batch-wide problems.

    A batch holds rows of one source type. Crawler and sensor rows fill batches of their
    own side by side, so an export that interleaves both (sorted by time) still imports in
    full batches, not in one batch per change of type."""
    pending: dict[SourceType, list[SourceRow]] = {}
    early_bad: list[BadRow] = []

    def flush(source_type: SourceType) -> CheckedBatch:
        rows = pending.pop(source_type)
        encoded = [_encode(r.record) for r in rows]
        body = _body(botnet, kind, encoded, source_type)
        bad = list(early_bad)
        early_bad.clear()
        try:
            checked = validate_batch(body, now=now)
        except BatchRejected as exc:
            if exc.index is None and exc.reason != "invalid_record":
                raise
            good, more = _check_rows(botnet, kind, rows, now, source_type)
            bad.extend(more)
            bad.sort(key=_position)
            body = _body(botnet, kind, good, source_type)
            again = validate_batch(body, now=now) if good else None
            return CheckedBatch(body, again, len(good), bad)
        return CheckedBatch(body, checked, len(rows), bad)

    for row in rows:
        if row.record is None:
            problem = row.problem
            message = problem.message if problem is not None else "unreadable row"
            early_bad.append(BadRow(row.where, problem.field if problem else None, message))
            continue
        side = pending.setdefault(row.source_type, [])
        side.append(row)
        if len(side) >= batch_size:
            yield flush(row.source_type)
    for source_type in list(pending):
        yield flush(source_type)
    if early_bad:
        yield CheckedBatch(b"", None, 0, list(early_bad))
