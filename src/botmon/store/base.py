"""The one small interface every storage backend implements (DuckDB and PostgreSQL).

The server, the CLI, importers, exporters and analyses talk to a :class:`Store` only, never to
a database driver, so both backends pass the same test suite. Methods are synchronous: the
server calls them from worker threads, and the CLI calls them directly. IP addresses cross
this interface as 128-bit integers (:mod:`botmon.ipaddr`) in validated batches and as text in
query results; timestamps as UTC epoch seconds (float) in results.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal, Protocol

import msgspec
import pyarrow as pa

from botmon.store.prepared import PreparedBatch
from botmon.validation import ValidatedBatch

Role = Literal["admin", "crawler", "viewer"]
MonitorKind = Literal["crawler", "sensor", "person"]
RecordKind = Literal["replies", "failed_tries", "edges"]


class StoreError(Exception):
    """A store operation that cannot be done (unknown botnet, name taken, ...): a clear message."""


class Botnet(msgspec.Struct, frozen=True):
    """A monitored botnet; ``name`` is what batches and URLs use (``hns``, ``mozi``)."""

    id: int
    name: str
    description: str
    created_at: float


class Monitor(msgspec.Struct, frozen=True):
    """A token holder: a crawler, a sensor or a person. The token itself is never stored."""

    id: int
    name: str
    role: Role
    botnets: list[str]
    """Botnets a crawler token may write; empty means all."""
    created_at: float
    revoked: bool
    token_prefix: str
    """The first characters of the token, to tell tokens apart in listings."""


class WriteResult(msgspec.Struct, frozen=True):
    """What an ingest stored: ``duplicate`` is true when the batch id was stored before."""

    duplicate: bool
    stored: dict[str, int]


class PopulationPoint(msgspec.Struct, frozen=True):
    """Distinct counts in one time bucket starting at ``t`` (epoch seconds)."""

    t: float
    ips: int
    ids: int
    ip_ports: int
    replies: int


class BotnetSummary(msgspec.Struct, frozen=True):
    """A botnet with first/last seen and counts over the recent window."""

    name: str
    description: str
    first_seen: float | None
    last_seen: float | None
    recent_window_s: int
    recent_ips: int
    recent_ids: int
    recent_replies: int


class Heartbeat(msgspec.Struct, frozen=True):
    """The last status a crawler or sensor reported."""

    source: str
    at: float
    status: dict[str, Any]


class Command(msgspec.Struct, frozen=True):
    """An instruction the server hands a monitor on its next heartbeat (pause, rate, seeds)."""

    id: int
    source: str
    command: str
    args: dict[str, Any]
    created_at: float


class Store(Protocol):
    """Storage of botnets, monitors, records and coordination state."""

    backend: str
    """``duckdb`` or ``postgresql``."""

    # -- life cycle ------------------------------------------------------------------------
    def migrate(self) -> int:
        """Bring the schema to the newest version; return that version. Idempotent."""

    def schema_version(self) -> int:
        """The schema version the database is at (0 for an empty database)."""

    def close(self) -> None:
        """Release connections and file locks."""

    # -- botnets ---------------------------------------------------------------------------
    def create_botnet(self, name: str, description: str = "") -> Botnet:
        """Create a botnet; StoreError when the name is taken or invalid."""

    def get_botnet(self, name: str) -> Botnet | None:
        """The botnet of that name, if any."""

    def list_botnets(self) -> list[Botnet]:
        """Every botnet, by name."""

    # -- monitors and tokens ---------------------------------------------------------------
    def create_monitor(
        self, name: str, role: Role, botnets: Sequence[str], token_hash: str, token_prefix: str
    ) -> Monitor:
        """Store a new token holder; StoreError when the name is taken or a botnet unknown."""

    def list_monitors(self) -> list[Monitor]:
        """Every monitor, revoked ones included."""

    def revoke_monitor(self, name: str) -> bool:
        """Revoke a monitor's token; False when there is no such active monitor."""

    def monitor_by_token_hash(self, token_hash: str) -> Monitor | None:
        """The active (not revoked) monitor holding a token with that hash."""

    # -- ingest ----------------------------------------------------------------------------
    def write_batch(self, batch: ValidatedBatch, source: str) -> WriteResult:
        """Store a whole batch atomically, once per batch id (per source).

        The botnet must exist (StoreError otherwise). Bulk writes only. The same as
        :meth:`write_prepared` of :func:`botmon.store.prepared.prepare_batch`'s result.
        """

    def write_prepared(self, batch: PreparedBatch, source: str) -> WriteResult:
        """Store a batch whose rows were built for this backend (possibly in another
        process); as :meth:`write_batch` in every other respect."""

    # -- reads -----------------------------------------------------------------------------
    def count_records(self, botnet: str | None = None) -> dict[str, int]:
        """Stored rows per record kind (and ``batches``), for tests and metrics."""

    def population(
        self, botnet: str, bucket_s: int, start: float, end: float
    ) -> list[PopulationPoint]:
        """Distinct IPs, IDs, ip:port pairs and reply counts per bucket in [start, end)."""

    def botnet_summaries(self, now: float, recent_window_s: int = 3600) -> list[BotnetSummary]:
        """Every botnet with first/last seen and counts over the last ``recent_window_s``
        (inclusive of ``now``), from the summary tables: of the replies, only those in the
        partial hours at the window's edges are read (by time range), never a scan."""

    def export(
        self, kind: RecordKind, botnet: str, start: float | None = None, end: float | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Stored records of one kind as Arrow batches, IPs as text, timestamps as UTC."""

    def refresh_summaries(self, *, full: bool = False) -> int:
        """Bring the dashboard's summary tables (``seen_ips``, ``seen_ids`` and the window
        tables of :mod:`botmon.store.windows`) up to date with every stored batch; return the
        spans merged (0: nothing new, -1: a full build).

        Rows written behind botmon's back (not by :meth:`write_batch`) are only picked up by
        a full build: ``full=True`` rebuilds the tables from every reply."""

    # -- windows: exact distinct counts from the summaries (botmon.store.windows) ----------
    # Botnets are given by id; buckets are indexed from Monday 1970-01-05 00:00 UTC
    # (index = floor((epoch - 4 * 86400) / bucket_s)); windows are [start, end) epoch seconds.
    # Each brings the summaries up to date first.
    def distinct_per_bucket(
        self, botnet_ids: Sequence[int], start: float, end: float, bucket_s: int
    ) -> dict[tuple[int, int], tuple[int, int]]:
        """Distinct IPs and bot IDs per (botnet id, bucket) with any reply. Hour buckets and
        buckets of whole days (a day, an ISO week) are answered from the summaries."""

    def distinct_in_window(
        self, botnet_ids: Sequence[int] | None, start: float, end: float
    ) -> dict[int, tuple[int, int]]:
        """Distinct IPs and bot IDs per botnet id (None: every botnet) over the window."""

    def bucket_counts(
        self, botnet_ids: Sequence[int], start: float, end: float, bucket_s: int
    ) -> dict[tuple[int, int], tuple[int, int, int, int]]:
        """Distinct IPs, bot IDs, ip:port pairs and replies per (botnet id, bucket); hour
        buckets from the summaries, other sizes from the replies."""

    def countries_per_hour(
        self, botnet_ids: Sequence[int], start: float, end: float
    ) -> dict[tuple[int, int], list[tuple[str | None, int]]]:
        """Distinct IPs per reply country per (botnet id, hour bucket)."""

    def countries_in_window(
        self, botnet_ids: Sequence[int] | None, start: float, end: float
    ) -> list[tuple[str | None, int]]:
        """Distinct IPs per country (None: unknown) over the window, each address in the
        country of its latest located reply, once per botnet (None: every botnet)."""

    def ases_in_window(
        self, botnet_ids: Sequence[int] | None, start: float, end: float, limit: int
    ) -> list[tuple[Any, ...]]:
        """The ``limit`` ASes with most distinct IPs over the window: (asn, AS name, ips,
        main country, total ips), by the AS of each address's latest located reply."""

    def overlap_in_window(
        self, botnet_ids: Sequence[int], start: float, end: float
    ) -> list[tuple[int, int]]:
        """(mask, addresses): how many addresses were seen by exactly the botnets whose
        position in ``botnet_ids`` is set in the mask."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read-only query for analyses and the dashboard's read API (backend SQL)."""

    # -- coordination ----------------------------------------------------------------------
    def record_heartbeat(self, source: str, at: float, status: dict[str, Any]) -> None:
        """Keep a monitor's latest status."""

    def heartbeats(self) -> list[Heartbeat]:
        """The latest status of every monitor that reported one."""

    def add_command(self, source: str, command: str, args: dict[str, Any], at: float) -> Command:
        """Queue a command for a monitor."""

    def take_commands(self, source: str) -> list[Command]:
        """Hand out and mark delivered the commands queued for a monitor, oldest first."""
