"""A validated batch in the form its store writes, built away from the write path.

Turning validated columns into a backend's rows (Arrow tables for DuckDB, ``COPY`` text for
PostgreSQL) is CPU work that needs no connection. Keeping it apart from the write lets
``botmon serve`` do it in its ingest worker processes (:mod:`botmon.server.ingest_pool`), so
the one process that holds the database spends its time writing. A :class:`PreparedBatch`
pickles cheaply: its rows are Arrow buffers or bytes, not Python objects per record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botmon.store.configs import SeenConfig, seen_configs
from botmon.validation import ValidatedBatch
from botmon.wire import RECORD_KINDS, SourceType


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """What :meth:`botmon.store.base.Store.write_prepared` takes."""

    backend: str
    """The backend whose row format ``rows`` holds (``duckdb`` or ``postgresql``)."""
    botnet: str
    batch_id: str
    counts: dict[str, int]
    """Records per kind, keyed as in :data:`botmon.wire.RECORD_KINDS`."""
    first_us: int | None
    """Earliest record timestamp (UTC epoch microseconds); None for an empty batch."""
    last_us: int | None
    rows: dict[str, Any]
    """Per kind, the backend's rows (None when the batch has no record of that kind)."""
    as_names: dict[int, str] = field(default_factory=dict)
    """AS names enrichment found, for the store's AS table."""
    source_type: SourceType = "crawler"
    """What saw every record of the batch; stored on each of its records."""
    configs: tuple[SeenConfig, ...] = ()
    """Configurations its replies carry (:mod:`botmon.store.configs`), merged per digest."""


def batch_span(batch: ValidatedBatch) -> tuple[int | None, int | None]:
    """First and last timestamp (microseconds) over every record of a batch."""
    columns = [batch.replies.ts_us, batch.failed_tries.ts_us, batch.edges.ts_us]
    lows = [min(c) for c in columns if len(c)]
    highs = [max(c) for c in columns if len(c)]
    return (min(lows), max(highs)) if lows else (None, None)


def prepare_batch(backend: str, batch: ValidatedBatch) -> PreparedBatch:
    """Build ``backend``'s rows for a validated batch.

    Imports only the row builder of that backend (pyarrow or nothing), never a database
    driver, so a worker process that prepares batches stays small and starts quickly.
    """
    if backend == "duckdb":
        from botmon.store.duckdb_rows import batch_rows
    elif backend == "postgresql":
        from botmon.store.pg_copy import batch_rows
    else:
        raise ValueError(f"unknown store backend {backend!r}")
    first_us, last_us = batch_span(batch)
    counts = batch.counts()
    assert tuple(counts) == RECORD_KINDS
    return PreparedBatch(
        backend=backend,
        botnet=batch.botnet,
        batch_id=batch.batch_id,
        counts=counts,
        first_us=first_us,
        last_us=last_us,
        rows=batch_rows(batch),
        as_names=dict(batch.as_names),
        source_type=batch.source_type,
        configs=seen_configs(batch.replies),
    )
