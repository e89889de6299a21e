"""Where the engine's records go: the report client, or a list for tests and dry runs.

:class:`botmon.client.ReportClient` has the same ``add`` method, so the engine takes either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from botmon.wire import Edge, FailedTry, Reply


class Reporter(Protocol):
    """Takes records without blocking; batching, sending and spooling are its business."""

    def add(
        self,
        *,
        replies: Sequence[Reply] = (),
        failed_tries: Sequence[FailedTry] = (),
        edges: Sequence[Edge] = (),
    ) -> None:
        """Queue records for the server."""


class ListReporter:
    """Keeps every record in memory (bounded by ``limit`` per kind; the rest are counted)."""

    def __init__(self, limit: int = 10_000_000) -> None:
        self.limit = limit
        self.replies: list[Reply] = []
        self.failed_tries: list[FailedTry] = []
        self.edges: list[Edge] = []
        self.dropped = 0

    def add(
        self,
        *,
        replies: Sequence[Reply] = (),
        failed_tries: Sequence[FailedTry] = (),
        edges: Sequence[Edge] = (),
    ) -> None:
        """Append, up to the limit."""
        for store, new in (
            (self.replies, replies),
            (self.failed_tries, failed_tries),
            (self.edges, edges),
        ):
            room = self.limit - len(store)
            store.extend(new[:room] if room < len(new) else new)  # type: ignore[arg-type]
            self.dropped += max(0, len(new) - max(room, 0))

    @property
    def stats(self) -> dict[str, int]:
        """Same shape as the report client's stats, for the progress display."""
        return {
            "records_stored": len(self.replies) + len(self.failed_tries) + len(self.edges),
            "replies": len(self.replies),
            "failed_tries": len(self.failed_tries),
            "edges": len(self.edges),
            "dropped": self.dropped,
        }


class CountingReporter:
    """Counts records and keeps none: for benchmarks and ``--dry-run`` crawls."""

    def __init__(self) -> None:
        self.counts = {"replies": 0, "failed_tries": 0, "edges": 0}

    def add(
        self,
        *,
        replies: Sequence[Reply] = (),
        failed_tries: Sequence[FailedTry] = (),
        edges: Sequence[Edge] = (),
    ) -> None:
        """Count only."""
        self.counts["replies"] += len(replies)
        self.counts["failed_tries"] += len(failed_tries)
        self.counts["edges"] += len(edges)

    @property
    def stats(self) -> dict[str, int]:
        """Records seen, as ``records_stored`` for the progress display."""
        return {"records_stored": sum(self.counts.values()), **self.counts}
