"""Builders for store tests: batches go through the real validation path, as ingest does."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from botmon.validation import ValidatedBatch, validate_batch
from botmon.wire import Batch, Edge, FailedTry, Reply, SourceType

NOW = 1_750_000_000.0
"""A fixed 'now' (2025-06-15) so timestamps are reproducible and never 'in the future'."""


def make_batch(
    botnet: str,
    batch_id: str,
    replies: Sequence[Reply] = (),
    failed_tries: Sequence[FailedTry] = (),
    edges: Sequence[Edge] = (),
    source_type: SourceType = "crawler",
) -> ValidatedBatch:
    """A validated batch built from records, exactly as the server would receive it."""
    body = msgspec.json.encode(
        Batch(botnet, batch_id, list(replies), list(failed_tries), list(edges), source_type)
    )
    return validate_batch(body, now=NOW + 10 * 365 * 86400)


def simple_replies(n: int, start: float = NOW, step: float = 1.0) -> list[Reply]:
    """``n`` replies from distinct loopback IPv4 addresses, one per ``step`` seconds."""
    return [
        Reply(
            timestamp=start + i * step,
            ip=f"127.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}",
            port=1000 + i % 50_000,
            bot_id=f"{i:08x}",
        )
        for i in range(n)
    ]
