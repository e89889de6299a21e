"""Sans-I/O batching: records in, sealed batches (with their idempotency ids) out.

A batch is sealed as soon as any kind reaches the batch size, or when the caller asks (the
flush timer, close). Sealing is where the batch id is fixed: from then on every re-send of
those records carries the same id, so the server stores them once however often they travel.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

from botmon.wire import Batch, Edge, FailedTry, Reply, SourceType


def new_batch_id() -> str:
    """A random 128-bit id; unique without coordination between crawlers or restarts."""
    return uuid.uuid4().hex


class Batcher:
    """Accumulates records of one botnet and cuts them into batches of bounded size."""

    def __init__(
        self,
        botnet: str,
        batch_size: int,
        new_id: Callable[[], str] = new_batch_id,
        source_type: SourceType = "crawler",
    ) -> None:
        self.botnet = botnet
        self.source_type: SourceType = source_type
        self.batch_size = batch_size
        self._new_id = new_id
        self._replies: list[Reply] = []
        self._failed: list[FailedTry] = []
        self._edges: list[Edge] = []

    @property
    def pending(self) -> int:
        """Records added but not yet sealed (all kinds)."""
        return len(self._replies) + len(self._failed) + len(self._edges)

    def add(
        self,
        replies: Iterable[Reply] = (),
        failed_tries: Iterable[FailedTry] = (),
        edges: Iterable[Edge] = (),
    ) -> list[Batch]:
        """Take records; return the batches that became full (usually none)."""
        self._replies.extend(replies)
        self._failed.extend(failed_tries)
        self._edges.extend(edges)
        size = self.batch_size
        if len(self._replies) < size and len(self._failed) < size and len(self._edges) < size:
            return []
        full: list[Batch] = []
        while len(self._replies) >= size or len(self._failed) >= size or len(self._edges) >= size:
            full.append(self._cut(size))
        return full

    def seal(self) -> Batch | None:
        """Seal whatever is pending into one batch (None when nothing is)."""
        if not self.pending:
            return None
        return self._cut(self.batch_size)

    def _cut(self, size: int) -> Batch:
        replies, self._replies = self._replies[:size], self._replies[size:]
        failed, self._failed = self._failed[:size], self._failed[size:]
        edges, self._edges = self._edges[:size], self._edges[size:]
        return Batch(self.botnet, self._new_id(), replies, failed, edges, self.source_type)
