"""Validated batch columns as the Arrow tables the DuckDB store inserts.

DuckDB copies Arrow columns in bulk (NOTES.md: 1-2.7M rows/s), so the store registers these
tables and inserts them with one ``INSERT ... SELECT`` per kind. Building them needs pyarrow
only, not DuckDB: the server's ingest workers build them (:mod:`botmon.store.prepared`).
Arrow has no 128-bit integer, so every address travels as two UBIGINT halves.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from botmon.validation import EdgeColumns, FailedTryColumns, ReplyColumns, ValidatedBatch

U64 = (1 << 64) - 1
_TS = pa.timestamp("us")


def ip_halves(values: list[int]) -> tuple[pa.Array, pa.Array]:
    """Split 128-bit IPs into (hi, lo) UBIGINT columns; hi is all-null for IPv4-only batches.

    IPv4-mapped addresses are below 2**64, so the common case costs one ``max`` and one
    Arrow conversion instead of two Python passes.
    """
    n = len(values)
    if not values or max(values) <= U64:
        return pa.nulls(n, pa.uint64()), pa.array(values, pa.uint64())
    return (
        pa.array([v >> 64 for v in values], pa.uint64()),
        pa.array([v & U64 for v in values], pa.uint64()),
    )


def replies_table(c: ReplyColumns) -> pa.Table:
    hi, lo = ip_halves(c.ip)
    n = len(c)
    return pa.table(
        {
            "ts": pa.array(c.ts_us, _TS),
            "ip_hi": hi,
            "ip_lo": lo,
            "port": pa.array(c.port, pa.uint16()),
            "bot_id": pa.array(c.bot_id, pa.string()),
            "data": pa.array(c.data, pa.string()),
            "country": pa.array(c.country, pa.string())
            if c.country is not None
            else pa.nulls(n, pa.string()),
            "asn": pa.array(c.asn, pa.uint32()) if c.asn is not None else pa.nulls(n, pa.uint32()),
        }
    )


def failed_table(c: FailedTryColumns) -> pa.Table:
    hi, lo = ip_halves(c.ip)
    return pa.table(
        {
            "ts": pa.array(c.ts_us, _TS),
            "ip_hi": hi,
            "ip_lo": lo,
            "port": pa.array(c.port, pa.uint16()),
            "bot_id": pa.array(c.bot_id, pa.string()),
            "reason": pa.array(c.reason, pa.string()),
            "data": pa.array(c.data, pa.string()),
        }
    )


def edges_table(c: EdgeColumns) -> pa.Table:
    src_hi, src_lo = ip_halves(c.src_ip)
    dst_hi, dst_lo = ip_halves(c.dst_ip)
    return pa.table(
        {
            "ts": pa.array(c.ts_us, _TS),
            "src_ip_hi": src_hi,
            "src_ip_lo": src_lo,
            "src_port": pa.array(c.src_port, pa.uint16()),
            "src_id": pa.array(c.src_id, pa.string()),
            "dst_ip_hi": dst_hi,
            "dst_ip_lo": dst_lo,
            "dst_port": pa.array(c.dst_port, pa.uint16()),
            "dst_id": pa.array(c.dst_id, pa.string()),
        }
    )


def as_table(as_names: dict[int, str]) -> pa.Table:
    """AS numbers and names from enrichment, NUL characters dropped (PostgreSQL parity)."""
    asns = sorted(as_names)
    return pa.table(
        {
            "asn": pa.array(asns, pa.uint32()),
            "name": pa.array([as_names[a].replace("\x00", "") for a in asns], pa.string()),
        }
    )


def batch_rows(batch: ValidatedBatch) -> dict[str, Any]:
    """One Arrow table per record kind; None for a kind the batch does not hold."""
    return {
        "replies": replies_table(batch.replies) if len(batch.replies) else None,
        "failed_tries": failed_table(batch.failed_tries) if len(batch.failed_tries) else None,
        "edges": edges_table(batch.edges) if len(batch.edges) else None,
    }
