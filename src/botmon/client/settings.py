"""Every tunable of the report client in one place, checked once when a client is built.

Defaults follow the original BMS (batches of at most 10,000 records per kind) and what a
crawler needs on a flaky link: a disk spool big enough for hours of an outage, back-off that
stops hammering a struggling server, and short enough timers that records reach the server
within seconds of being measured.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from botmon.validation import MAX_RECORDS_PER_KIND


class ClientSettingsError(ValueError):
    """A setting that cannot work; the message names the setting and the accepted range."""


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """Settings of :class:`botmon.client.ReportClient`; times in seconds, sizes in bytes."""

    batch_size: int = MAX_RECORDS_PER_KIND
    """Records per kind in one batch (the server accepts at most 10,000)."""
    flush_interval_s: float = 2.0
    """A partly filled batch is sealed and sent after at most this long."""
    heartbeat_interval_s: float = 10.0
    """Time between two heartbeats (status out, commands in)."""
    spool_max_bytes: int = 1 << 30
    """Bound of the disk spool. When a new batch would not fit, the OLDEST unsent batches are
    dropped (counted and logged as an error): recent observations matter most to a monitor and
    ``add()`` must never block the crawl loop."""
    rejected_max_files: int = 200
    """Batches the server refused for good are kept for inspection, at most this many."""
    max_sealed_in_memory: int = 4
    """Sealed batches waiting for the spool writer; beyond this ``add()`` writes them itself."""
    request_timeout_s: float = 30.0
    """Read/write timeout of one HTTP request."""
    connect_timeout_s: float = 5.0
    """Connect timeout of one HTTP request."""
    retry_base_s: float = 0.5
    """First back-off delay; doubles per attempt, with jitter."""
    retry_max_s: float = 30.0
    """Longest back-off delay between two attempts of one batch."""
    retry_after_max_s: float = 300.0
    """Longest wait a server's ``Retry-After`` may impose."""
    start_check_timeout_s: float = 5.0
    """How long ``start()`` waits for its first heartbeat, which catches a bad token early."""
    max_status_bytes: int = 60_000
    """A status larger than this (encoded) is replaced by a short error note."""

    def __post_init__(self) -> None:
        if not 1 <= self.batch_size <= MAX_RECORDS_PER_KIND:
            raise ClientSettingsError(
                f"batch_size must be 1..{MAX_RECORDS_PER_KIND}, got {self.batch_size}"
            )
        positive = (
            "flush_interval_s",
            "heartbeat_interval_s",
            "request_timeout_s",
            "connect_timeout_s",
            "retry_base_s",
            "retry_max_s",
            "retry_after_max_s",
            "start_check_timeout_s",
        )
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ClientSettingsError(f"{name} must be a positive number, got {value!r}")
        if self.retry_max_s < self.retry_base_s:
            raise ClientSettingsError("retry_max_s must be at least retry_base_s")
        if self.spool_max_bytes < 1 << 20:
            raise ClientSettingsError(
                f"spool_max_bytes must be at least 1 MiB, got {self.spool_max_bytes}"
            )
        for name in ("rejected_max_files", "max_sealed_in_memory", "max_status_bytes"):
            if getattr(self, name) < 1:
                raise ClientSettingsError(f"{name} must be at least 1")

    def replace(self, **changes: object) -> ClientSettings:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
