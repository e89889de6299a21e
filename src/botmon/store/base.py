"""The one small interface every storage backend implements (DuckDB and PostgreSQL).

The server, the CLI, importers, exporters and analyses talk to a :class:`Store` only, never to
a database driver, so both backends pass the same test suite. Methods are synchronous: the
server calls them from worker threads, and the CLI calls them directly. IP addresses cross
this interface as 128-bit integers (:mod:`botmon.ipaddr`) in validated batches and as text in
query results; timestamps as UTC epoch seconds (float) in results.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec
import pyarrow as pa

from botmon.feeds.model import FeedQuery, FeedRow, FeedScope
from botmon.limits import Role
from botmon.store.prepared import PreparedBatch
from botmon.validation import ValidatedBatch
from botmon.wire import Campaign, Command

if TYPE_CHECKING:  # the read port's mixin builds on this module's types
    from botmon.store.configs import Config, ConfigAlert, ConfigBot, ConfigStats
    from botmon.store.exclusions import ExcludedMonitor, MonitorToExclude
    from botmon.store.feeds import FeedDelivery
    from botmon.store.public_views import PublicView
    from botmon.store.reads import (
        CountedKind,
        Dimension,
        Ids,
        Measure,
        OverlapMeasure,
        SourceFilter,
        SpanKind,
    )

RecordKind = Literal["replies", "failed_tries", "edges"]


class StoreError(Exception):
    """A store operation that cannot be done (unknown botnet, name taken, ...): a clear message."""


class StoreUnavailable(StoreError):
    """The database is away (down, unreachable): nothing was done, the same call may succeed
    later. Servers answer 503 with ``Retry-After: retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreDataError(StoreError):
    """The database refused a value of the batch (a number or text it cannot hold).

    The batch's fault, not the store's: sending it again cannot succeed, so the server
    answers 422 rather than 503. Validation rejects what it knows of before this happens.
    """


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
    scope: FeedScope = FeedScope()
    """The networks a ``feed`` token covers (at least one entry); empty for other roles."""


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
        self,
        name: str,
        role: Role,
        botnets: Sequence[str],
        token_hash: str,
        token_prefix: str,
        scope: FeedScope | None = None,
    ) -> Monitor:
        """Store a new token holder; StoreError when the name is taken or a botnet unknown,
        or when ``scope`` does not fit the role (a feed token needs one, others none)."""

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

    # -- the read port of analyses (SQL in store/reads.py; buckets as botmon.buckets) -----
    # Counts over the replies come from the window summaries (store/windows.py) wherever
    # they keep the answer, so a past or never-asked window reads at most two partial hours
    # of replies; failed tries, edges and bucket sizes they do not keep read the records.
    # ``source`` (crawler or sensor) reads one kind of monitor's records, from the records
    # (the summaries keep both kinds together); None reads both.
    def batch_spans(
        self, kind: SpanKind, ids: Ids, start: float, end: float, bucket_s: int
    ) -> list[tuple[int, int, int, int]]:
        """(botnet id, first bucket, last bucket, batches) of the stored batches holding
        records of ``kind`` within [start, end): the check behind every cached answer."""

    def batch_source_types(self, ids: Ids, start: float, end: float) -> dict[int, set[str]]:
        """Per botnet id: source types of the stored batches with replies meeting
        [start, end) (from the ``batches`` table)."""

    def summary_watermark(self) -> int | None:
        """The seen tables' watermark (moves with every refresh that merged something)."""

    def bucket_counts(
        self,
        kind: CountedKind,
        ids: Ids,
        start: float,
        end: float,
        bucket_s: int,
        measure: Measure,
        source: SourceFilter = None,
    ) -> dict[tuple[int, int], int]:
        """``measure`` per (botnet id, bucket) over the records of ``kind`` in [start, end)."""

    def range_counts(
        self,
        kind: CountedKind,
        ids: Ids,
        start: float,
        end: float,
        measures: Sequence[Measure],
        source: SourceFilter = None,
    ) -> dict[int, tuple[int, ...]]:
        """``measures`` per botnet id over the records of ``kind`` in [start, end)."""

    def source_counts(
        self, kind: SpanKind, ids: Ids, start: float, end: float, source: SourceFilter = None
    ) -> dict[str, int]:
        """Records of ``kind`` in [start, end) per source name."""

    def top_peers(
        self, botnet_id: int, start: float, end: float, limit: int, source: SourceFilter = None
    ) -> list[tuple[str, int, str | None, int, int]]:
        """Most listed peers: (ip, port, bot ID, distinct bots listing it, mentions)."""

    def hour_profile(
        self, ids: Sequence[int], start: float, end: float, source: SourceFilter = None
    ) -> dict[tuple[int, int], list[tuple[str | None, int]]]:
        """Per (botnet id, hour bucket): distinct addresses per country."""

    def seen_bounds(
        self, source: SourceFilter = None
    ) -> dict[int, tuple[float | None, float | None]]:
        """First and last reply per botnet id (seen tables)."""

    def seen_since(
        self, ids: Sequence[int], since: float, source: SourceFilter = None
    ) -> dict[int, tuple[int, int]]:
        """Per botnet id: addresses and bot IDs last seen at or after ``since``."""

    def first_seen_counts(
        self,
        botnet_id: int,
        by: Literal["ip", "id"],
        start: float,
        end: float,
        bucket_s: int,
        source: SourceFilter = None,
    ) -> dict[int, int]:
        """Per bucket: addresses or bot IDs whose first reply ever falls in it."""

    def ips_per_country(
        self, ids: Ids, start: float, end: float, *, from_seen: bool, source: SourceFilter = None
    ) -> list[tuple[str | None, int]]:
        """Distinct addresses per country (None: not located) seen in [start, end)."""

    def ips_per_as(
        self,
        ids: Ids,
        start: float,
        end: float,
        limit: int,
        *,
        from_seen: bool,
        source: SourceFilter = None,
    ) -> list[tuple[int | None, str | None, int, str | None, int]]:
        """Top ASes: (asn, name, ips, main country, total addresses over every AS)."""

    def ip_overlap(
        self,
        ids: Sequence[int],
        start: float,
        end: float,
        *,
        from_seen: bool,
        source: SourceFilter = None,
    ) -> dict[frozenset[int], int]:
        """Addresses seen in [start, end) per exact set of these botnets having them."""

    def source_overlap(
        self,
        ids: Ids,
        start: float,
        end: float,
        bucket_s: int | None,
        measure: OverlapMeasure,
        source: SourceFilter = None,
    ) -> dict[tuple[int, int], tuple[int, int, int]]:
        """Per (botnet id, bucket; 0 for the whole range when ``bucket_s`` is None): distinct
        addresses or bot IDs seen by crawlers only, by sensors only, and by both."""

    def data_values(
        self,
        ids: Ids,
        start: float,
        end: float,
        dimension: Dimension | str,
        source: SourceFilter = None,
    ) -> dict[tuple[int, str | None], int]:
        """Per (botnet id, value of ``dimension`` in the replies' data; None: none): distinct
        bots, each counted by its latest reply in the range that has a value. ``dimension``
        is a named dimension or a plugin's facet key."""

    def facet_values(
        self,
        ids: Ids,
        start: float,
        end: float,
        keys: Sequence[str],
        source: SourceFilter = None,
    ) -> dict[tuple[int, str, str | None], int]:
        """Per (botnet id, facet key, value of ``data[key]``; None: none): distinct bots, each
        counted by its latest reply in the range with a value of that key; in one pass."""

    def listed_ids(
        self, botnet_id: int, start: float, end: float, limit: int, source: SourceFilter = None
    ) -> list[tuple[str, str]]:
        """(src_id, dst_id) of the edges in the range, smallest src_id first."""

    # -- whole record sets for research analyses (AnalysisPort in store/reads.py) ----------
    def sightings(
        self,
        botnet_id: int,
        kind: CountedKind,
        start: float,
        end: float,
        bucket_s: int,
        source: SourceFilter = None,
    ) -> pa.Table:
        """Replies or failed tries per (bucket, ip, port, bot ID): ``SIGHTINGS_SCHEMA``."""

    def edge_pairs(
        self, botnet_id: int, start: float, end: float, source: SourceFilter = None
    ) -> pa.Table:
        """Distinct (src, dst) pairs of the edges with counts: ``EDGE_PAIRS_SCHEMA``."""

    def contacts(
        self, botnet_id: int, start: float, end: float, source: SourceFilter = "sensor"
    ) -> pa.Table:
        """Every reply ``source`` monitors recorded: ``CONTACTS_SCHEMA``."""

    # -- configurations bots carry, and their alerts (store/configs.py) --------------------
    def configs(self, botnet: str) -> list[Config] | None:
        """Every configuration of ``botnet`` with first/last sighting and bot counts; None
        for an unknown botnet."""

    def config_bots(self, botnet: str, digest: str, limit: int = ...) -> list[ConfigBot]:
        """Bots that carried one configuration, most recently seen first."""

    def config_alerts(
        self,
        botnet: str | None = None,
        since: float | None = None,
        kind: str | None = None,
        *,
        unacked: bool = False,
        limit: int = ...,
    ) -> list[ConfigAlert]:
        """Configuration alerts, newest first."""

    def ack_config_alert(self, alert_id: int, by: str, at: float) -> ConfigAlert | None:
        """Acknowledge an alert; None when there is none with that id."""

    def config_stats(self) -> ConfigStats:
        """Alert and configuration counts per botnet, for ``/metrics``."""

    # -- monitors of others left out of counts and views (store/exclusions.py) -----------
    def exclude_monitors(
        self, botnet: str, monitors: Sequence[MonitorToExclude], by: str, at: float
    ) -> list[ExcludedMonitor]:
        """Exclude ip:port monitors from ``botnet``'s counts and views (upsert); the stored
        rows. StoreError for an unknown botnet or a bad value."""

    def include_monitor(self, botnet: str, ip: str, port: int) -> bool:
        """Count ``ip:port`` in ``botnet``'s views again; False when it was not excluded."""

    def excluded_monitors(self, botnet: str | None = None) -> list[ExcludedMonitor]:
        """The excluded monitors of ``botnet`` (None: every botnet)."""

    def exclusion_revision(self) -> str:
        """A fingerprint of the whole exclusion list (changes with every change)."""

    # -- dashboard views served without a token (store/public_views.py) -------------------
    def publish_view(self, botnet: str, view: str, by: str, at: float) -> PublicView:
        """Serve ``view`` of ``botnet`` publicly (upsert); StoreError for an unknown botnet."""

    def unpublish_view(self, botnet: str, view: str) -> bool:
        """Stop serving ``view`` of ``botnet`` publicly; False when it was not public."""

    def public_views(self, botnet: str | None = None) -> list[PublicView]:
        """The public views of ``botnet`` (None: every botnet), by botnet and view."""

    # -- feeds for network owners (store/feeds.py) -----------------------------------------
    def feed_rows(self, query: FeedQuery) -> Iterator[list[FeedRow]]:
        """The bots in ``query``'s scope seen in ``[since, until)``, one row per (botnet,
        ip), ordered by (botnet, ip), in pages of ``query.page_size`` (bounded memory);
        scope filtered in SQL, paged after ``query.after``, at most ``query.limit`` rows."""

    def record_feed_delivery(self, delivery: FeedDelivery) -> None:
        """Log one feed answer (the delivery log admins read)."""

    def feed_deliveries(
        self, *, since: float | None = None, monitor: str | None = None, limit: int = 1000
    ) -> list[FeedDelivery]:
        """Logged feed answers, newest first."""

    # -- coordination ----------------------------------------------------------------------
    def record_heartbeat(self, source: str, at: float, status: dict[str, Any]) -> None:
        """Keep a monitor's latest status."""

    def heartbeats(self) -> list[Heartbeat]:
        """The latest status of every monitor that reported one."""

    def add_command(self, source: str, command: str, args: dict[str, Any], at: float) -> Command:
        """Queue a command for a monitor."""

    def take_commands(self, source: str) -> list[Command]:
        """Hand out and mark delivered the commands queued for a monitor, oldest first."""

    def start_campaign(
        self, botnet: str, source: str, settings: dict[str, Any], at: float
    ) -> Campaign:
        """Record that a crawl or sensor run of ``source`` began; StoreError for an unknown
        botnet."""

    def end_campaign(self, campaign_id: int, source: str, at: float) -> Campaign | None:
        """Mark a running campaign of ``source`` ended; None when it has no such running
        campaign (unknown, another monitor's, or ended before)."""

    def last_record_times(self, botnet: str, source: str) -> dict[str, float | None]:
        """Per record kind (:data:`botmon.wire.RECORD_KINDS`): the latest timestamp
        ``source`` stored on ``botnet`` (None: none), so a restarted monitor resumes."""

    def latest_campaigns(self) -> list[Campaign]:
        """The newest campaign of every monitor that registered one, running or ended."""

    def campaigns_between(self, botnet: str, start: float, end: float) -> list[Campaign]:
        """The campaigns of ``botnet`` that ran during part of [start, end) (started before
        ``end``, not ended before ``start``), oldest first: a report's vantage points."""
