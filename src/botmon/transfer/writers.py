"""Incremental export writers: Arrow record batches in, bytes of the file out.

Each writer hands back the bytes produced so far after every batch, so the same code streams
an HTTP response and writes a file, and neither ever holds a whole export in memory.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from botmon.csvsafe import FORMULA_ESCAPE, formula_pattern
from botmon.transfer.formats import FORMATS, KIND_FIELDS, TransferError

_JSON_TEXT_COLUMNS = frozenset({"data"})
"""Columns holding JSON text in the store; JSON lines embed them as objects."""


_FORMULA_PATTERN = formula_pattern()


def _safe_text(column: pa.Array) -> pa.Array:
    """A text column with every cell a spreadsheet would run as a formula prefixed by ``'``.

    Bots choose ``bot_id``, ``reason`` and more, and exports are opened in spreadsheets: a
    cell ``=HYPERLINK(...)`` must show as text, not run. Cells that already start with
    ``'`` before such a character get one more, so reading a CSV export back in
    (:mod:`botmon.transfer.readers`) drops exactly one and gives every value back as it was.
    """
    risky = pc.match_substring_regex(column, _FORMULA_PATTERN)
    return pc.if_else(risky, pc.binary_join_element_wise(FORMULA_ESCAPE, column, ""), column)


def _safe_cells(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with :func:`_safe_text` applied to each of its text columns."""
    arrays = [
        _safe_text(col)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
        else col
        for col in batch.columns
    ]
    return pa.RecordBatch.from_arrays(arrays, schema=batch.schema)


class _Sink:
    """A write-only file object that collects bytes until they are taken."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._pos = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._pos += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def writable(self) -> bool:
        return True

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def order_columns(batch: pa.RecordBatch, kind: str) -> pa.RecordBatch:
    """Record fields first in the documented order, then any context columns the store adds."""
    names = batch.schema.names
    first = [n for n in KIND_FIELDS[kind] if n in names]
    rest = [n for n in names if n not in first]
    if names == first + rest:
        return batch
    return batch.select(first + rest)


class ExportWriter:
    """Base class: ``write`` each batch, then ``finish``; both return bytes to emit."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> bytes:
        raise NotImplementedError

    def finish(self) -> bytes:
        return b""


class JsonLinesWriter(ExportWriter):
    """One JSON object per line; timestamps RFC 3339 UTC, ``data`` as an object."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self._encoder = msgspec.json.Encoder()

    def write(self, batch: pa.RecordBatch) -> bytes:
        batch = order_columns(batch, self.kind)
        rows: list[dict[str, Any]] = batch.to_pylist()
        json_cols = [c for c in batch.schema.names if c in _JSON_TEXT_COLUMNS]
        out = bytearray()
        for row in rows:
            for col in json_cols:
                value = row[col]
                if isinstance(value, str):
                    row[col] = msgspec.Raw(value.encode())
            self._encoder.encode_into(row, out, len(out))
            out += b"\n"
        self.rows += len(rows)
        return bytes(out)


class CsvWriter(ExportWriter):
    """CSV with a header row; null is an empty field, ``data`` is JSON text, formulas defused."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self._sink = _Sink()
        self._writer: pa_csv.CSVWriter | None = None

    def write(self, batch: pa.RecordBatch) -> bytes:
        batch = _safe_cells(order_columns(batch, self.kind))
        if self._writer is None:
            self._writer = pa_csv.CSVWriter(self._sink, batch.schema)
        self._writer.write_batch(batch)
        self.rows += batch.num_rows
        return self._sink.take()

    def finish(self) -> bytes:
        if self._writer is None:
            header = ",".join(f'"{name}"' for name in KIND_FIELDS[self.kind])
            return (header + "\n").encode()
        self._writer.close()
        return self._sink.take()


class ParquetWriter(ExportWriter):
    """Parquet, one row group per batch the store hands out (zstd compressed)."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self._sink = _Sink()
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None

    def write(self, batch: pa.RecordBatch) -> bytes:
        batch = order_columns(batch, self.kind)
        if self._writer is None:
            self._schema = batch.schema
            self._writer = pq.ParquetWriter(self._sink, batch.schema, compression="zstd")
        if batch.schema != self._schema:
            batch = batch.cast(self._schema)
        self._writer.write_batch(batch)
        self.rows += batch.num_rows
        return self._sink.take()

    def finish(self) -> bytes:
        if self._writer is None:
            fields = [pa.field(name, pa.string()) for name in KIND_FIELDS[self.kind]]
            self._writer = pq.ParquetWriter(self._sink, pa.schema(fields))
        self._writer.close()
        return self._sink.take()


def writer_for(fmt: str, kind: str) -> ExportWriter:
    """The writer of one export format for one record kind."""
    if kind not in KIND_FIELDS:
        raise TransferError(f"unknown record kind {kind!r}: one of {', '.join(KIND_FIELDS)}")
    if fmt == "jsonl":
        return JsonLinesWriter(kind)
    if fmt == "csv":
        return CsvWriter(kind)
    if fmt == "parquet":
        return ParquetWriter(kind)
    raise TransferError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
