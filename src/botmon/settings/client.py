"""The ``client`` section: every tunable of the report client, checked when a client is built.

Defaults follow the original BMS (batches of at most 10,000 records per kind) and what a
crawler needs on a flaky link: a disk spool big enough for hours of an outage, back-off that
stops hammering a struggling server, and short enough timers that records reach the server
within seconds of being measured.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, ClassVar

import msgspec

from botmon.settings.loader import Settings, setting
from botmon.validation import MAX_RECORDS_PER_KIND


class ClientSettings(Settings, frozen=True, kw_only=True):
    """Settings of :class:`botmon.client.ReportClient`; times in seconds, sizes in bytes."""

    section: ClassVar[str] = "client"

    batch_size: Annotated[
        int,
        setting(
            "Records per kind in one batch (the server accepts at most 10,000).",
            ge=1,
            le=MAX_RECORDS_PER_KIND,
        ),
    ] = MAX_RECORDS_PER_KIND
    flush_interval_s: Annotated[
        float, setting("A partly filled batch is sealed and sent after at most this long.", gt=0)
    ] = 2.0
    heartbeat_interval_s: Annotated[
        float, setting("Time between two heartbeats (status out, commands in).", gt=0)
    ] = 10.0
    spool_max_bytes: Annotated[
        int,
        setting(
            "Bound of the disk spool. When a new batch would not fit (or the disk is full), "
            "nothing is dropped: the client holds the crawl back (paused, reason spool_full) "
            "until the server has taken batches.",
            ge=1 << 20,
        ),
    ] = 1 << 30
    rejected_max_files: Annotated[
        int,
        setting(
            "Batches the server refused for good kept for inspection, at most this many.", ge=1
        ),
    ] = 200
    max_sealed_in_memory: Annotated[
        int,
        setting(
            "Sealed batches waiting for the spool writer; beyond this add() writes them itself.",
            ge=1,
        ),
    ] = 4
    max_answered_attempts: Annotated[
        int,
        setting(
            "Failed answers (5xx without Retry-After) a batch may get before it is moved to "
            "rejected/ with the server's answer and later batches go ahead; connection "
            "failures, 502/504, 429 and answers with Retry-After never count.",
            ge=1,
        ),
    ] = 8
    request_timeout_s: Annotated[
        float, setting("Read/write timeout of one HTTP request.", gt=0)
    ] = 30.0
    connect_timeout_s: Annotated[float, setting("Connect timeout of one HTTP request.", gt=0)] = 5.0
    retry_base_s: Annotated[
        float, setting("First back-off delay; doubles per attempt, with jitter.", gt=0)
    ] = 0.5
    retry_max_s: Annotated[
        float, setting("Longest back-off delay between two attempts of one batch.", gt=0)
    ] = 30.0
    retry_after_max_s: Annotated[
        float, setting("Longest wait a server's Retry-After may impose.", gt=0)
    ] = 300.0
    start_check_timeout_s: Annotated[
        float,
        setting(
            "How long start() waits for its first heartbeat, which catches a bad token early.", gt=0
        ),
    ] = 5.0
    max_status_bytes: Annotated[
        int,
        setting("A status larger than this (encoded) is replaced by a short error note.", ge=1),
    ] = 60_000
    monitor_id: Annotated[
        str,
        setting(
            "The monitor's name for a grpc:// or grpcs:// server (BMS metadata "
            "auth-monitor-id): the name of the botmon token, which the token itself does not "
            "carry. Not used over HTTP.",
            option="--monitor-id",
            max_length=64,
        ),
    ] = ""
    server_scope: Annotated[
        tuple[str, ...],
        setting(
            "CIDR ranges a grpc:// or grpcs:// server may resolve to; the client refuses "
            "to connect anywhere else (tests and lab set-ups pin it to loopback).",
            min_length=1,
        ),
    ] = ("0.0.0.0/0", "::/0")

    def problems(self) -> Iterator[tuple[str, str]]:
        """The longest back-off cannot be shorter than the first; the server scope is CIDRs."""
        if self.retry_max_s < self.retry_base_s:
            yield "retry_max_s", f"must be at least retry_base_s ({self.retry_base_s})"
        for cidr in self.server_scope:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                yield "server_scope", f"{cidr!r} is not a CIDR network"

    def replace(self, **changes: object) -> ClientSettings:
        """A copy with some settings changed, validated again."""
        return msgspec.structs.replace(self, **changes).validate()


def default_spool_dir(botnet: str) -> Path:
    """Where a crawler spools unsent batches unless told: the user's state directory
    (``$XDG_STATE_HOME/botmon``, else ``~/.local/state/botmon``), not wherever it was started,
    so records never land in a shared or world-readable working directory."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "botmon" / f"spool-{botnet}"
