"""Read record rows from CSV, JSON lines or Parquet, each with where it came from.

Rows come out as plain dicts plus a location (``line 17`` or ``row 17``) so an import can
report every bad row by its place in the file. Values are coerced only as far as the format
demands (CSV has no types); judging them is :func:`botmon.validation.validate_batch`'s job.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import msgspec

from botmon.csvsafe import FORMULA_ESCAPE, formula_pattern
from botmon.digits import is_ascii_number
from botmon.transfer.formats import KIND_FIELDS, REQUIRED_FIELDS, TransferError
from botmon.wire import SOURCE_TYPES, SourceType

MAX_LINE_BYTES = 1 << 20
"""Longest JSON line or CSV field accepted; a record is far smaller, garbage can be endless."""


class RowProblem(ValueError):
    """A row that cannot even be turned into a record (bad JSON in ``data``, not an object)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class SourceRow(msgspec.Struct):
    """One row of the file: its location for messages and its record (or why there is none)."""

    where: str
    record: dict[str, Any] | None
    problem: RowProblem | None = None
    source_type: SourceType = "crawler"
    """What saw the record (an export's ``source_type`` column; absent: ``crawler``)."""


def _timestamp(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            return number if math.isfinite(number) else text
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return text  # validation names the field
        return parsed.timestamp() if parsed.tzinfo is not None else text
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def _port(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if is_ascii_number(text) and len(text) < 10:
            return int(text)
        return text
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_ESCAPED_FORMULA = re.compile(FORMULA_ESCAPE + formula_pattern()[1:])


def _text(value: Any, from_csv: bool) -> Any:
    if from_csv and value == "":
        return None
    if from_csv and isinstance(value, str) and _ESCAPED_FORMULA.match(value):
        return value[1:]  # a CSV export prefixed it so that spreadsheets show it as text
    return value


def _data(value: Any, from_csv: bool) -> Any:
    if value is None or (from_csv and value == ""):
        return None
    if isinstance(value, str):
        try:
            return msgspec.json.decode(value)
        except msgspec.DecodeError:
            raise RowProblem("data", "data is not valid JSON") from None
    return value


_CONVERTERS = {
    "timestamp": "ts",
    "port": "port",
    "src_port": "port",
    "dst_port": "port",
    "data": "data",
}


def to_record(kind: str, row: dict[str, Any], from_csv: bool) -> dict[str, Any]:
    """The record fields of ``row`` with format-level coercions; extra columns are dropped."""
    missing = REQUIRED_FIELDS[kind] - row.keys()
    if missing:
        name = sorted(missing)[0]
        raise RowProblem(name, f"{name} is missing")
    out: dict[str, Any] = {}
    for name in KIND_FIELDS[kind]:
        if name not in row:
            continue
        value = row[name]
        conv = _CONVERTERS.get(name)
        if conv == "ts":
            value = _timestamp(value)
        elif conv == "port":
            value = _port(value)
        elif conv == "data":
            value = _data(value, from_csv)
        else:
            value = _text(value, from_csv)
        if value is None and name not in REQUIRED_FIELDS[kind]:
            continue
        out[name] = value
    return out


def _source_type(row: dict[str, Any]) -> SourceType:
    value = row.get("source_type")
    if value is None or value == "":
        return "crawler"
    if value not in SOURCE_TYPES:
        raise RowProblem("source_type", "source_type must be crawler or sensor")
    return value  # type: ignore[no-any-return]


def _row(kind: str, where: str, row: Any, from_csv: bool) -> SourceRow:
    if not isinstance(row, dict):
        return SourceRow(where, None, RowProblem(None, "a row must be a JSON object"))
    try:
        return SourceRow(where, to_record(kind, row, from_csv), source_type=_source_type(row))
    except RowProblem as problem:
        return SourceRow(where, None, problem)


def read_csv(stream: IO[str], kind: str) -> Iterator[SourceRow]:
    """Rows of a CSV file with a header line; locations are the row's first line number."""
    csv.field_size_limit(MAX_LINE_BYTES)
    reader = csv.reader(stream)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise TransferError(f"line 1: not a CSV header: {exc}") from None
    if not header:
        return
    header = [name.strip() for name in header]
    missing = REQUIRED_FIELDS[kind] - set(header)
    if missing:
        raise TransferError(
            f"line 1: the CSV header lacks {', '.join(sorted(missing))} "
            f"(needs {', '.join(KIND_FIELDS[kind])})"
        )
    width = len(header)
    while True:
        line = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield SourceRow(f"line {line}", None, RowProblem(None, f"bad CSV: {exc}"))
            continue
        if not values:
            continue
        if len(values) != width:
            problem = RowProblem(None, f"{len(values)} fields where the header has {width}")
            yield SourceRow(f"line {line}", None, problem)
            continue
        yield _row(kind, f"line {line}", dict(zip(header, values, strict=True)), True)


def read_jsonl(stream: IO[bytes], kind: str) -> Iterator[SourceRow]:
    """Rows of a JSON-lines file; blank lines are skipped."""
    for number, line in enumerate(stream, start=1):
        if len(line) > MAX_LINE_BYTES:
            yield SourceRow(f"line {number}", None, RowProblem(None, "line is too long"))
            continue
        if not line.strip():
            continue
        try:
            value = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            yield SourceRow(f"line {number}", None, RowProblem(None, f"malformed JSON: {exc}"))
            continue
        yield _row(kind, f"line {number}", value, False)


def read_parquet(path: Path, kind: str) -> Iterator[SourceRow]:
    """Rows of a Parquet file; locations are 1-based row numbers."""
    import pyarrow.parquet as pq

    try:
        reader = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise TransferError(f"{path}: not a readable Parquet file ({exc})") from None
    names = set(reader.schema_arrow.names)
    missing = REQUIRED_FIELDS[kind] - names
    if missing:
        raise TransferError(f"{path}: the Parquet schema lacks {', '.join(sorted(missing))}")
    columns = [n for n in (*KIND_FIELDS[kind], "source_type") if n in names]
    number = 0
    for batch in reader.iter_batches(batch_size=10_000, columns=columns):
        for row in batch.to_pylist():
            number += 1
            yield _row(kind, f"row {number}", row, False)


def read_rows(path: str, fmt: str, kind: str) -> Iterator[SourceRow]:
    """Every row of the file at ``path`` (``-`` is standard input for CSV and JSON lines)."""
    if kind not in KIND_FIELDS:
        raise TransferError(f"unknown record kind {kind!r}: one of {', '.join(KIND_FIELDS)}")
    if fmt == "parquet":
        if path == "-":
            raise TransferError("Parquet cannot be read from standard input")
        yield from read_parquet(Path(path), kind)
        return
    import sys

    binary: IO[bytes]
    try:
        binary = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise TransferError(f"cannot read {path}: {exc.strerror}") from None
    try:
        if fmt == "jsonl":
            yield from read_jsonl(binary, kind)
        else:
            text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
            try:
                yield from read_csv(text, kind)
            except UnicodeDecodeError as exc:
                raise TransferError(f"{path}: not UTF-8 text ({exc.reason})") from None
            finally:
                text.detach()
    finally:
        if binary is not sys.stdin.buffer:
            binary.close()
