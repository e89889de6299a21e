"""The report client: crawlers and sensors hand it records; it gets them into the server.

Path of a record::

    add() -> journal (disk, one write) + Batcher (memory, < one batch per kind)
          -> sealed batch (its id noted in the journal) -> spool (disk, fsync)
          -> sender (one batch in flight, oldest first) -> POST /api/v1/ingest -> acknowledged
          -> removed from the spool

A record is in the journal (:mod:`botmon.client.journal`) before ``add()`` returns, and a
batch is in the spool before its first send and leaves the disk only once the server
answered "stored" or "duplicate", so neither a server outage nor a crawler killed mid-run
loses records, and the idempotent batch id fixed at sealing (and replayed from the journal)
means a re-send never stores them twice. Beside the
sender run a flush timer (partly filled batches leave within ``flush_interval_s``) and the
heartbeat loop (status out, commands in, each command delivered once). A client given a
campaign registers it with the server before its first heartbeat (again at each heartbeat
until the server was reached), names it in every status, and ends it on :meth:`close`, after
a last heartbeat that reports the run's final state.

``add()`` is synchronous and cheap so the crawl loop never waits for the network; encoding,
checking and the fsync'd write run in a worker thread. Memory is bounded: at most one
partly filled batch per kind plus ``max_sealed_in_memory`` sealed ones; the disk spool is
bounded by ``spool_max_bytes``. When the spool is full (its cap, or the disk) nothing is
dropped: the client applies back-pressure (``on_backpressure``: the crawl pauses, and its
heartbeat says ``paused_reason: spool_full``) until the sender has made room.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import reprlib
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from botmon.client.batcher import Batcher
from botmon.client.errors import ReportClientError, SpoolError, SpoolFull
from botmon.client.journal import Journal
from botmon.client.retry import (
    Outcome,
    backoff_delay,
    classify,
    counts_against_batch,
    parse_retry_after,
)
from botmon.client.spool import Spool, SpoolEntry
from botmon.client.transport import Answer, HttpTransport, Transport, TransportFailure
from botmon.limits import BOTNET_NAME_PATTERN
from botmon.settings.client import ClientSettings
from botmon.validation import BatchRejected, validate_batch
from botmon.wire import (
    RECORD_KINDS,
    Batch,
    Campaign,
    CampaignSettings,
    CampaignStart,
    Command,
    Edge,
    FailedTry,
    HeartbeatAnswer,
    HeartbeatBody,
    HeartbeatStatus,
    Reply,
    SourceType,
)

if TYPE_CHECKING:
    from botmon.client.grpc_transport import GrpcTransport

log = logging.getLogger("botmon.client")

GRPC_SCHEMES = ("grpc://", "grpcs://")
"""Servers reached over the BMS gRPC protocol (grpcio is imported only for them)."""

INGEST_PATH = "/api/v1/ingest"
HEARTBEAT_PATH = "/api/v1/heartbeat"
CAMPAIGNS_PATH = "/api/v1/campaigns"
SPOOL_FULL = "spool_full"
"""The back-pressure reason: the spool (its cap or its disk) cannot take the next batch."""
_SPACE_RETRY_S = 1.0
"""How often a held batch is tried again when nothing else wakes the writer."""
_MAX_QUEUED_COMMANDS = 1_000
_MAX_REMEMBERED_COMMANDS = 10_000

STAT_KEYS = (
    "records_added",
    "added_replies",
    "added_failed_tries",
    "added_edges",
    "batches_sealed",
    "spooled",
    "spool_batches",
    "spool_bytes",
    "batches_sent",
    "records_stored",
    "stored_replies",
    "stored_failed_tries",
    "stored_edges",
    "duplicates",
    "replayed",
    "retries",
    "throttled",
    "rejected",
    "rejected_records",
    "split_batches",
    "invalid_records",
    "dropped_batches",
    "dropped_records",
    "spool_write_errors",
    "auth_errors",
    "heartbeats",
    "heartbeat_failures",
    "commands",
    "command_errors",
    "spool_full",
    "journal_errors",
    "journal_replayed",
)
"""Stable keys of :attr:`ReportClient.stats` (all present from the start, all integers)."""


class _Ack(msgspec.Struct):
    batch_id: str | None = None
    duplicate: bool = False
    stored: dict[str, int] = {}


_ack_decoder = msgspec.json.Decoder(_Ack)
_heartbeat_decoder = msgspec.json.Decoder(HeartbeatAnswer)
_campaign_decoder = msgspec.json.Decoder(Campaign)
_encoder = msgspec.json.Encoder()
_batch_decoder = msgspec.json.Decoder(Batch)
_ENCODE_ERRORS = (TypeError, ValueError, OverflowError, RecursionError, msgspec.MsgspecError)
"""What encoding a record with odd ``data`` (an object, a huge int, deep nesting) can raise."""
_repr = reprlib.Repr()
"""A bounded repr for records that cannot be encoded (``repr`` itself recurses)."""
_repr.maxlevel, _repr.maxdict, _repr.maxlist, _repr.maxstring, _repr.maxother = 8, 20, 20, 200, 200


def _described(record: Any) -> str:
    """A record that cannot be encoded, as bounded text for ``rejected/``."""
    if isinstance(record, msgspec.Struct):
        return _repr.repr(msgspec.structs.asdict(record))
    return _repr.repr(record)


def _problem(
    kind: str, index: int, record: Any, check: Callable[[Any], object]
) -> dict[str, Any] | None:
    """None when ``check(record)`` passes, else what ``rejected/`` keeps about the record."""
    try:
        check(record)
    except BatchRejected as exc:
        return {"kind": kind, "index": index, "error": exc.message, "record": record}
    except _ENCODE_ERRORS as exc:
        error = f"not JSON-encodable: {exc}"[:300]
        return {"kind": kind, "index": index, "error": error, "record": _described(record)}
    return None


def _short(body: bytes, limit: int = 300) -> str:
    text = body[:limit].decode("utf-8", "replace").strip()
    return text + ("..." if len(body) > limit else "")


def _listed(records: Iterable[Any], kind: type, name: str) -> list[Any]:
    items = records if isinstance(records, list) else list(records)
    for item in items:
        if type(item) is not kind:
            raise TypeError(f"{name} must hold {kind.__name__} records, got {type(item).__name__}")
    return items


class ReportClient:
    """Batches, spools and sends one monitor's records; carries heartbeats and commands.

    Call :meth:`add` from the event loop's thread (or any thread, before :meth:`start`);
    every other method is a coroutine of that loop.
    """

    def __init__(
        self,
        server_url: str,
        token: str,
        botnet: str,
        spool_dir: Path,
        ca_file: str | Path | None = None,
        batch_size: int | None = None,
        flush_interval_s: float | None = None,
        heartbeat_interval_s: float | None = None,
        *,
        settings: ClientSettings | None = None,
        spool_max_bytes: int | None = None,
        transport: Transport | None = None,
        campaign: CampaignSettings | None = None,
        source_type: SourceType = "crawler",
        monitor_id: str | None = None,
    ) -> None:
        # Explicit arguments override ``settings`` (defaults: batches of 10,000, flush every
        # 2 s, heartbeat every 10 s, see ClientSettings).
        overrides = {
            "batch_size": batch_size,
            "flush_interval_s": flush_interval_s,
            "heartbeat_interval_s": heartbeat_interval_s,
            "spool_max_bytes": spool_max_bytes,
        }
        self.settings = (settings or ClientSettings()).replace(
            **{k: v for k, v in overrides.items() if v is not None}
        )
        if not server_url.startswith(("http://", "https://", *GRPC_SCHEMES)):
            raise ReportClientError(
                "server URL must start with http://, https://, grpc:// or grpcs://: "
                f"{server_url[:120]}"
            )
        if not token:
            raise ReportClientError("an API token is required")
        if not all(33 <= ord(ch) < 127 for ch in token):
            raise ReportClientError("the API token holds spaces or characters a header cannot")
        if re.fullmatch(BOTNET_NAME_PATTERN, botnet) is None:
            raise ReportClientError(
                f"botnet name {botnet[:80]!r} is not valid (lowercase letters, digits, "
                "'_', '.', '-'; at most 64)"
            )
        self.server_url = server_url.rstrip("/")
        self.botnet = botnet
        self._token = token
        self.monitor_id = monitor_id if monitor_id is not None else self.settings.monitor_id
        """The monitor's name a grpc:// server is told (the token's name)."""
        self._ca_file = str(ca_file) if ca_file is not None else None
        self._transport = transport
        if transport is None and server_url.startswith(GRPC_SCHEMES):
            self._transport = self._grpc_transport()  # a bad URL, token or name fails here
        self.source_type: SourceType = source_type
        """Stamped on every batch: ``crawler`` or ``sensor`` (what saw the records)."""
        self._batcher = Batcher(botnet, self.settings.batch_size, source_type=source_type)
        self._spool = Spool(
            Path(spool_dir), self.settings.spool_max_bytes, self.settings.rejected_max_files
        )
        self._stats: dict[str, int] = dict.fromkeys(STAT_KEYS, 0)
        self._sealed: deque[Batch] = deque()
        self._sealed_lock = threading.Lock()
        self._writing = 0
        """Batches the writer took from ``_sealed`` and is spooling right now."""
        self._backpressure: str | None = None
        self._backpressure_handler: Callable[[str | None], Any] | None = None
        try:
            self._journal = Journal(self._spool.directory / "journal")
            self._replay_journal()
        except OSError as exc:
            self._spool.close()
            raise SpoolError(f"cannot use the journal in {self._spool.directory}: {exc}") from exc
        self._status_provider: Callable[[], HeartbeatStatus] | None = None
        self._campaign_settings = campaign
        self._campaign: Campaign | None = None
        self._command_handler: Callable[[Command], Any] | None = None
        self._queued_commands: deque[Command] = deque(maxlen=_MAX_QUEUED_COMMANDS)
        self._seen_commands: set[int] = set()
        self._seen_order: deque[int] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._work = asyncio.Event()  # sealed batches wait for the writer
        self._spooled = asyncio.Event()  # the spool has batches for the sender
        self._closing_event = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._started = False
        self._closing = False
        self._closed = False
        self._auth_error: str | None = None
        self._outage_attempts = 0

    def _grpc_transport(self) -> GrpcTransport:
        from botmon.client.grpc_transport import GrpcTransport

        return GrpcTransport(
            self.server_url,
            self.monitor_id,
            self._token,
            self.botnet,
            ca_file=self._ca_file,
            request_timeout_s=self.settings.request_timeout_s,
            connect_timeout_s=self.settings.connect_timeout_s,
            server_scope=self.settings.server_scope,
        )

    # -- public surface --------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, int]:
        """Counters under the stable keys of :data:`STAT_KEYS` (a copy)."""
        out = dict(self._stats)
        out["spool_batches"] = len(self._spool)
        out["spool_bytes"] = self._spool.total_bytes
        return out

    @property
    def error(self) -> str | None:
        """Why the client stopped sending (a rejected token), or None while all is well."""
        return self._auth_error

    @property
    def campaign(self) -> Campaign | None:
        """The campaign the server registered for this run, once it was reached."""
        return self._campaign

    @property
    def spool_dir(self) -> Path:
        """The spool directory (``pending/`` and ``rejected/`` live under it)."""
        return self._spool.directory

    def add(
        self,
        replies: Iterable[Reply] = (),
        failed_tries: Iterable[FailedTry] = (),
        edges: Iterable[Edge] = (),
    ) -> None:
        """Queue records for the server. Never waits for the network; raises TypeError on
        objects that are not botmon records (a bug in the caller, caught at its source)."""
        if self._closing:
            raise ReportClientError("report client is closed; records were not queued")
        r = _listed(replies, Reply, "replies")
        f = _listed(failed_tries, FailedTry, "failed_tries")
        e = _listed(edges, Edge, "edges")
        stats = self._stats
        stats["added_replies"] += len(r)
        stats["added_failed_tries"] += len(f)
        stats["added_edges"] += len(e)
        stats["records_added"] += len(r) + len(f) + len(e)
        r, f, e = self._journaled(r, f, e)
        full = self._batcher.add(r, f, e)
        if full:
            self._queue_sealed(full)

    def on_backpressure(self, fn: Callable[[str | None], Any]) -> None:
        """``fn(reason)`` is called in the event loop's thread when the spool is full
        (``reason`` is :data:`SPOOL_FULL`: hold the crawl back) and with None when it took
        everything held in memory again (resume)."""
        self._backpressure_handler = fn

    @property
    def backpressure(self) -> str | None:
        """Why the client asks its producer to pause (:data:`SPOOL_FULL`), or None."""
        return self._backpressure

    def set_status_provider(self, fn: Callable[[], HeartbeatStatus]) -> None:
        """``fn()`` is called for each heartbeat; the client adds the botnet, the campaign
        and its own counters to what it returns."""
        self._status_provider = fn

    def on_command(self, fn: Callable[[Command], Any]) -> None:
        """``fn(command)`` receives each server command once, in order (may be async)."""
        self._command_handler = fn
        if self._queued_commands and self._loop is not None and not self._closing:
            self._tasks.append(self._task(self._deliver_queued(), "commands"))

    async def start(self) -> None:
        """Start sending; spooled batches left by an earlier run go first.

        Sends one heartbeat first (bounded by ``start_check_timeout_s``): a token the server
        refuses raises :class:`ReportClientError` here, while an unreachable server does not
        (records are spooled until it is back).
        """
        if self._started:
            raise ReportClientError("report client already started")
        if self._closing:
            raise ReportClientError("report client is closed")
        self._started = True
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        if self._transport is None:
            self._transport = HttpTransport(
                self.server_url,
                self._token,
                ca_file=self._ca_file,
                request_timeout_s=self.settings.request_timeout_s,
                connect_timeout_s=self.settings.connect_timeout_s,
            )
        backlog = len(self._spool)
        if backlog:
            log.info(
                "replaying %d spooled batches (%d bytes) from %s",
                backlog,
                self._spool.total_bytes,
                self._spool.pending_dir,
            )
        await self._heartbeat_once(timeout_s=self.settings.start_check_timeout_s)
        if self._auth_error is not None:
            raise ReportClientError(self._auth_error)
        self._writer = self._task(self._writer_loop(), "writer")
        self._sender = self._task(self._sender_loop(), "sender")
        self._tasks = [
            self._task(self._flush_loop(), "flush"),
            self._task(self._heartbeat_loop(), "heartbeat"),
        ]
        if self._sealed:
            self._work.set()
        if len(self._spool):
            self._spooled.set()

    def _task(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=f"botmon-client-{name}")
        task.add_done_callback(self._crashed)
        return task

    def _crashed(self, task: asyncio.Task[None]) -> None:
        # A bug, not a network problem: say so; the spool keeps the records for a restart.
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "report client task %s failed; records stay in %s",
                task.get_name(),
                self._spool.pending_dir,
                exc_info=task.exception(),
            )

    async def flush(self, timeout: float = 10.0) -> bool:
        """Seal what is pending and wait until the spool is empty; False on timeout."""
        self._seal_pending()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (
                not self._sealed
                and not self._writing
                and not len(self._spool)
                and not self._batcher.pending
            ):
                return True
            if self._auth_error is not None:
                return False
            await asyncio.sleep(0.02)
        return False

    def report_crash(self) -> None:
        """The run ends on an error: a BMS server is told CLIENT_ERROR at the disconnect
        (an HTTP server learns it from the last heartbeat's state)."""
        set_end_reason = getattr(self._transport, "set_end_reason", None)
        if set_end_reason is not None:
            set_end_reason("client_error")

    async def close(self, timeout: float = 10.0) -> None:
        """Seal and spool what is pending, send what can be sent within ``timeout``.

        Whatever is not acknowledged by then stays in the spool for the next client. Safe to
        call twice, and after a failed :meth:`start`.
        """
        if self._closed:
            return
        self._closing = True
        deadline = time.monotonic() + max(0.0, timeout)
        self._seal_pending()
        if self._writer is not None:
            self._work.set()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # crashes are logged
                await self._writer
        self._persist_all_sealed()  # not started, or the writer stopped early
        self._closing_event.set()
        if self._sender is not None:
            self._spooled.set()
            remaining = max(0.0, deadline - time.monotonic())
            done, _ = await asyncio.wait({self._sender}, timeout=remaining)
            if not done:
                self._sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._sender
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        left = deadline - time.monotonic()
        if self._tasks and self._auth_error is None and left > 0:
            # The run's last word: its final state, then the end of its campaign.
            await self._heartbeat_once(timeout_s=left)
            if self._campaign is not None:
                await self._end_campaign(deadline - time.monotonic())
        if self._transport is not None:
            await self._transport.aclose()
        left = len(self._spool)
        if left:
            log.warning(
                "closing with %d batches (%d bytes) not yet acknowledged; they stay in %s "
                "and are sent by the next client started on this spool",
                left,
                self._spool.total_bytes,
                self._spool.pending_dir,
            )
        with contextlib.suppress(OSError):
            self._journal.close()
        self._spool.close()
        self._closed = True

    # -- journal ---------------------------------------------------------------------------
    def _replay_journal(self) -> None:
        """Queue the batches of journal segments an earlier client left (a killed crawler)."""
        replayed = 0
        for batch in self._journal.replay(self.botnet, self.settings.batch_size, self.source_type):
            if self._spool.holds(batch.batch_id):
                self._journal.spooled(batch.batch_id)  # spooled before the crash
                continue
            self._sealed.append(batch)
            replayed += sum(len(getattr(batch, kind)) for kind in RECORD_KINDS)
        if replayed:
            self._stats["journal_replayed"] = replayed
            log.info("replaying %d records from the journal of an earlier run", replayed)

    def _journaled(
        self, r: list[Reply], f: list[FailedTry], e: list[Edge]
    ) -> tuple[list[Reply], list[FailedTry], list[Edge]]:
        """Write records to the journal; records that cannot be encoded are set aside."""
        try:
            self._journal.append(r, f, e)
            return r, f, e
        except _ENCODE_ERRORS:
            r, f, e = self._without_unencodable(r, f, e)
        except OSError as exc:
            self._journal_failed(exc)
            return r, f, e
        try:
            self._journal.append(r, f, e)
        except OSError as exc:
            self._journal_failed(exc)
        return r, f, e

    def _journal_failed(self, exc: OSError) -> None:
        # The records stay in memory (not lost unless the process dies now); the crawl is
        # held back as for a full spool, and resumes once the spool takes batches again.
        self._stats["journal_errors"] += 1
        log.error("cannot write the journal in %s: %s", self._journal.directory, exc)
        self._hold_back(f"journal: {exc}")

    def _without_unencodable(
        self, r: list[Reply], f: list[FailedTry], e: list[Edge]
    ) -> tuple[list[Reply], list[FailedTry], list[Edge]]:
        kept: dict[str, list[Any]] = {kind: [] for kind in RECORD_KINDS}
        bad: list[dict[str, Any]] = []
        groups: tuple[list[Any], ...] = (r, f, e)
        for kind, records in zip(RECORD_KINDS, groups, strict=True):
            for index, record in enumerate(records):
                problem = _problem(kind, index, record, _encoder.encode)
                if problem is None:
                    kept[kind].append(record)
                else:
                    bad.append(problem)
        self._set_aside(self.botnet, "added", bad)
        return kept["replies"], kept["failed_tries"], kept["edges"]

    def _set_aside(self, botnet: str, name: str, bad: list[dict[str, Any]]) -> None:
        """Keep invalid records in ``rejected/`` with why, one entry each, and count them."""
        if not bad:
            return
        self._stats["invalid_records"] += len(bad)
        reason = f"{len(bad)} invalid records ({name}); first: {bad[0]['error']}"
        log.error("not sending %s (kept in %s)", reason, self._spool.rejected_dir)
        doc = {"botnet": botnet, "batch_id": name, "invalid": bad}
        try:
            body = _encoder.encode(doc)
        except _ENCODE_ERRORS:
            for item in bad:
                item["record"] = _described(item["record"])
            body = _encoder.encode(doc)
        try:
            self._spool.reject_body(f"{name}-invalid", body, len(bad), reason)
        except (OSError, SpoolFull) as exc:
            log.error("cannot keep the invalid records: %s", exc)

    # -- back-pressure ---------------------------------------------------------------------
    def _hold_back(self, why: str) -> None:
        if self._backpressure is not None:
            return
        self._backpressure = SPOOL_FULL
        self._stats["spool_full"] += 1
        log.warning(
            "SPOOL FULL (%s; %d bytes max at %s): holding the crawl back, nothing is dropped; "
            "it resumes when the server has taken batches",
            why,
            self._spool.max_bytes,
            self._spool.pending_dir,
        )
        self._tell_producer(SPOOL_FULL)

    def _maybe_release(self) -> None:
        with self._sealed_lock:
            if self._backpressure is None or self._sealed:
                return
            self._backpressure = None
        log.warning("spool has room again: the crawl resumes")
        self._tell_producer(None)

    def _tell_producer(self, reason: str | None) -> None:
        handler = self._backpressure_handler
        if handler is None:
            return
        loop = self._loop
        if loop is None or loop.is_closed() or threading.get_ident() == self._loop_thread:
            handler(reason)
        else:
            loop.call_soon_threadsafe(handler, reason)

    # -- sealing and spooling --------------------------------------------------------------
    def _seal_pending(self) -> None:
        batch = self._batcher.seal()
        if batch is not None:
            self._queue_sealed([batch])
        with contextlib.suppress(OSError):  # a failed rotation keeps writing the old segment
            self._journal.rotate()  # the batcher is empty: a segment ends here

    def _queue_sealed(self, batches: list[Batch]) -> None:
        self._stats["batches_sealed"] += len(batches)
        for batch in batches:
            n = (len(batch.replies), len(batch.failed_tries), len(batch.edges))
            try:
                self._journal.seal(batch.batch_id, n)
            except OSError as exc:
                self._journal_failed(exc)
        overflow: list[Batch] = []
        with self._sealed_lock:
            self._sealed.extend(batches)
            while (
                len(self._sealed) > self.settings.max_sealed_in_memory
                and self._backpressure is None
            ):
                overflow.append(self._sealed.popleft())
        for i, batch in enumerate(overflow):
            # The writer is behind (or not running): write here rather than grow memory.
            # While the spool is full they wait in memory: the crawl is held back meanwhile.
            if not self._persist(batch):
                with self._sealed_lock:  # back in order: the held batch, then the rest
                    held = self._sealed.popleft()
                    self._sealed.extendleft(reversed(overflow[i + 1 :]))
                    self._sealed.appendleft(held)
                break
        self._wake(self._work)

    def _wake(self, event: asyncio.Event) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            event.set()
        else:
            loop.call_soon_threadsafe(event.set)

    def _pop_sealed(self) -> Batch | None:
        with self._sealed_lock:
            return self._sealed.popleft() if self._sealed else None

    def _persist_all_sealed(self) -> None:
        while (batch := self._pop_sealed()) is not None:
            if not self._persist(batch):
                return  # the spool is full: the journal keeps them for the next client

    async def _writer_loop(self) -> None:
        while True:
            batch = self._pop_sealed()
            if batch is None:
                if self._closing:
                    return
                self._work.clear()
                if self._sealed:
                    continue
                await self._work.wait()
                continue
            # In transit between memory and disk: neither queue holds it, so flush() must
            # not report done until the write settled (spooled, or back in the queue).
            self._writing += 1
            try:
                spooled = await asyncio.to_thread(self._persist, batch)
            except Exception:  # a bug; keep the writer alive for the batches after this one
                records = sum(len(getattr(batch, kind)) for kind in RECORD_KINDS)
                self._stats["dropped_batches"] += 1
                self._stats["dropped_records"] += records
                log.exception(
                    "could not spool batch %s; its %d records stay in the journal %s",
                    batch.batch_id,
                    records,
                    self._journal.directory,
                )
                continue
            finally:
                self._writing -= 1
            self._spooled.set()
            if not spooled:
                if self._closing:
                    return  # held batches stay in the journal for the next client
                # Held: try again when the sender frees space (it wakes us) or in a while.
                self._work.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._work.wait(), _SPACE_RETRY_S)

    def _persist(self, batch: Batch) -> bool:
        """Encode, check and spool one batch (worker thread or, under pressure, the caller).

        False when the spool is full: the batch goes back to the front of the queue in
        memory and the producer is held back.
        """
        checked = self._checked(batch)
        records = sum(len(getattr(checked, kind)) for kind in RECORD_KINDS)
        if records:
            body = _encoder.encode(checked)
            try:
                self._spool.write(checked.batch_id, body, records)
            except SpoolFull as exc:
                with self._sealed_lock:
                    self._sealed.appendleft(checked)
                self._hold_back(str(exc))
                return False
            except OSError as exc:
                self._stats["spool_write_errors"] += 1
                self._stats["dropped_batches"] += 1
                self._stats["dropped_records"] += records
                log.error(
                    "cannot write to the spool %s: %s; %d records of batch %s stay in the "
                    "journal %s for the next client",
                    self._spool.pending_dir,
                    exc,
                    records,
                    checked.batch_id,
                    self._journal.directory,
                )
                return True
            self._stats["spooled"] += 1
        self._journal.spooled(batch.batch_id)
        self._maybe_release()
        self._wake(self._spooled)
        return True

    def _checked(self, batch: Batch) -> Batch:
        """The batch without records the server would refuse; those go to ``rejected/``.

        One bad record would make the server refuse the whole batch, losing up to 10,000
        good ones; checking with the server's own validation first keeps the good ones.
        Without Arrow: a crawler process never loads pyarrow (about 70 MB of its peak RSS).
        """
        try:
            validate_batch(_encoder.encode(batch), arrow=False)
            return batch
        except (BatchRejected, *_ENCODE_ERRORS):
            pass  # find the culprits one by one (rare, so the slow way is fine)
        good: dict[str, list[Any]] = {kind: [] for kind in RECORD_KINDS}
        bad: list[dict[str, Any]] = []
        for kind in RECORD_KINDS:

            def check(record: Any, kind: str = kind) -> None:
                single = Batch(
                    batch.botnet,
                    batch.batch_id,
                    **{kind: [record]},
                    source_type=batch.source_type,
                )
                validate_batch(_encoder.encode(single), arrow=False)

            for index, record in enumerate(getattr(batch, kind)):
                problem = _problem(kind, index, record, check)
                if problem is None:
                    good[kind].append(record)
                else:
                    bad.append(problem)
        self._set_aside(batch.botnet, batch.batch_id, bad)
        return Batch(batch.botnet, batch.batch_id, **good, source_type=batch.source_type)

    # -- sending ---------------------------------------------------------------------------
    async def _sender_loop(self) -> None:
        while True:
            entry = self._spool.next_to_send()
            if entry is None:
                if self._closing_event.is_set():
                    return  # closing, and the writer has spooled everything
                self._spooled.clear()
                entry = self._spool.next_to_send()
                if entry is None:
                    await self._spooled.wait()
                    continue
            try:
                await self._deliver(entry)
            finally:
                if entry.in_flight:
                    self._spool.release(entry)
            if self._auth_error is not None:
                await self._closing_event.wait()
                return

    async def _deliver(self, entry: SpoolEntry) -> None:
        """Send one spooled batch until it is acknowledged, refused, or the token fails."""
        assert self._transport is not None
        try:
            body = await asyncio.to_thread(self._spool.read, entry)
        except OSError as exc:
            log.error("spooled batch %s is unreadable (%s); dropping it", entry.path, exc)
            self._stats["dropped_batches"] += 1
            self._stats["dropped_records"] += entry.records
            self._spool.remove(entry)
            return
        attempt = 0
        answered = 0
        while True:
            try:
                answer: Answer | None = await self._transport.post(INGEST_PATH, body)
                failure = ""
            except TransportFailure as exc:
                answer, failure = None, str(exc)
            outcome = Outcome.RETRY if answer is None else classify(answer.status)
            if answer is not None and outcome is Outcome.ACK:
                self._acknowledged(entry, answer)
                return
            if answer is not None and outcome is Outcome.REJECTED:
                if answer.status == 413 and entry.records > 1:
                    await asyncio.to_thread(self._split, entry, body)
                else:
                    self._rejected(entry, answer)
                return
            if answer is not None and outcome is Outcome.AUTH:
                self._auth_failed(answer)
                return
            if answer is not None and counts_against_batch(answer.status, answer.retry_after):
                # The server is up and keeps failing on this batch: after a few answers it is
                # set aside, so one batch cannot stall every later one.
                answered += 1
                if answered >= self.settings.max_answered_attempts:
                    self._rejected(entry, answer, answered)
                    return
            attempt += 1
            self._stats["retries"] += 1
            delay = backoff_delay(attempt, self.settings.retry_base_s, self.settings.retry_max_s)
            if answer is not None and outcome is Outcome.THROTTLED:
                self._stats["throttled"] += 1
                asked = parse_retry_after(answer.retry_after, time.time())
                if asked is not None:
                    delay = min(asked, self.settings.retry_after_max_s)
                failure = f"HTTP 429 (retry after {delay:.1f} s)"
            elif answer is not None:
                failure = f"HTTP {answer.status}: {_short(answer.body)}"
            self._outage(failure, delay)
            await asyncio.sleep(delay)

    def _outage(self, failure: str, delay: float) -> None:
        self._outage_attempts += 1
        if self._outage_attempts == 1:
            log.warning(
                "cannot deliver to %s: %s; retrying with back-off (next in %.1f s), "
                "records are safe in the spool %s",
                self.server_url,
                failure,
                delay,
                self._spool.pending_dir,
            )
        else:
            log.debug("delivery attempt %d failed: %s", self._outage_attempts, failure)

    def _acknowledged(self, entry: SpoolEntry, answer: Answer) -> None:
        if self._outage_attempts:
            log.info("server reachable again after %d failed attempts", self._outage_attempts)
            self._outage_attempts = 0
        try:
            ack = _ack_decoder.decode(answer.body)
        except msgspec.DecodeError:
            log.warning("server acknowledged batch %s with an unreadable body", entry.batch_id)
            ack = _Ack()
        if ack.batch_id is not None and ack.batch_id != entry.batch_id:
            log.warning("server acknowledged %s for batch %s", ack.batch_id, entry.batch_id)
        self._spool.remove(entry)
        self._wake(self._work)  # room for a batch held back by a full spool
        stats = self._stats
        stats["batches_sent"] += 1
        if entry.replayed:
            stats["replayed"] += 1
        if ack.duplicate:
            stats["duplicates"] += 1
            return
        for kind in RECORD_KINDS:
            n = int(ack.stored.get(kind, 0))
            stats[f"stored_{kind}"] += n
            stats["records_stored"] += n

    def _split(self, entry: SpoolEntry, body: bytes) -> None:
        """A batch over the server's body limit becomes two halves, each with its own id.

        The halves' ids derive from the original's, so a crash between writing them and
        removing the original re-creates the same ids and the server still stores each once.
        """
        batch = _batch_decoder.decode(body)
        first: dict[str, list[Any]] = {}
        second: dict[str, list[Any]] = {}
        for kind in RECORD_KINDS:
            records = getattr(batch, kind)
            cut = (len(records) + 1) // 2
            first[kind], second[kind] = records[:cut], records[cut:]
        for suffix, kinds in (("a", first), ("b", second)):
            half = Batch(
                batch.botnet,
                f"{batch.batch_id}{suffix}",
                **kinds,
                source_type=batch.source_type,
            )
            n = sum(len(v) for v in kinds.values())
            if n:
                try:
                    self._spool.write(half.batch_id, _encoder.encode(half), n, over_cap=True)
                except SpoolFull as exc:
                    log.error("cannot split batch %s now (%s); retried later", entry.batch_id, exc)
                    return
        self._spool.remove(entry)
        self._stats["split_batches"] += 1
        log.warning(
            "batch %s (%d bytes) is over the server's body limit; split in two",
            entry.batch_id,
            entry.size,
        )
        self._wake(self._spooled)

    def _rejected(self, entry: SpoolEntry, answer: Answer, attempts: int = 1) -> None:
        reason = f"HTTP {answer.status}: {_short(answer.body, 4000)}"
        if attempts > 1:
            reason = f"{reason} (the same answer {attempts} times; later batches went ahead)"
        path = self._spool.reject(entry, reason)
        self._wake(self._work)
        self._stats["rejected"] += 1
        self._stats["rejected_records"] += entry.records
        log.error(
            "server REFUSED batch %s (%d records) for good: %s; kept in %s, not retried",
            entry.batch_id,
            entry.records,
            _short(answer.body),
            path,
        )

    def _auth_failed(self, answer: Answer) -> None:
        self._stats["auth_errors"] += 1
        if self._auth_error is None:
            what = "not valid" if answer.status == 401 else "not allowed to do this"
            self._auth_error = (
                f"server {self.server_url} refused the token (HTTP {answer.status}: "
                f"{what}; {_short(answer.body, 200)}); records stay in {self._spool.pending_dir}"
            )
            log.error("%s; sending stopped", self._auth_error)

    # -- timers ----------------------------------------------------------------------------
    async def _flush_loop(self) -> None:
        interval = self.settings.flush_interval_s
        while True:
            await asyncio.sleep(interval)
            self._seal_pending()
            try:
                await asyncio.to_thread(self._journal.sync)
            except OSError as exc:
                self._journal_failed(exc)

    async def _heartbeat_loop(self) -> None:
        interval = self.settings.heartbeat_interval_s
        while self._auth_error is None:
            await asyncio.sleep(interval)
            await self._heartbeat_once(timeout_s=None)

    def _status_body(self) -> bytes:
        campaign = self._campaign.id if self._campaign is not None else None
        mine: dict[str, Any] = {"botnet": self.botnet, "campaign": campaign, "client": self.stats}
        try:
            status = self._status_provider() if self._status_provider else HeartbeatStatus()
            status = msgspec.structs.replace(status, **mine)
            body = _encoder.encode(HeartbeatBody(status))
        except Exception as exc:  # the provider is the caller's code; report, do not die
            log.warning("status provider failed: %r", exc)
            status = HeartbeatStatus(**mine)
            body = _encoder.encode(HeartbeatBody(status))
        if len(body) > self.settings.max_status_bytes:
            log.warning("status too large (%d bytes); sent without its counters", len(body))
            body = _encoder.encode(HeartbeatBody(msgspec.structs.replace(status, counters={})))
        return body

    async def _start_campaign(self, settings: CampaignSettings, timeout_s: float | None) -> None:
        """Register this run's campaign; a refusal other than the token's is logged once and
        not asked again (the run goes on without one)."""
        assert self._transport is not None
        body = _encoder.encode(CampaignStart(self.botnet, settings))
        try:
            answer = await self._transport.post(CAMPAIGNS_PATH, body, timeout_s)
        except TransportFailure as exc:
            log.debug("campaign not registered yet: %s", exc)
            return
        outcome = classify(answer.status)
        if outcome is Outcome.AUTH:
            self._auth_failed(answer)
        elif outcome is Outcome.REJECTED:
            self._campaign_settings = None
            log.error("server refused the campaign: %s", _short(answer.body))
        elif outcome is Outcome.ACK:
            try:
                self._campaign = _campaign_decoder.decode(answer.body)
            except msgspec.DecodeError as exc:
                log.warning("campaign answer unreadable: %s", exc)
            self._campaign_settings = None

    async def _end_campaign(self, timeout_s: float) -> None:
        assert self._transport is not None and self._campaign is not None
        path = f"{CAMPAIGNS_PATH}/{self._campaign.id}/end"
        if timeout_s <= 0:
            log.warning("no time left to end campaign %d; it stays open", self._campaign.id)
            return
        try:
            answer = await self._transport.post(path, b"", timeout_s)
        except TransportFailure as exc:
            log.warning("could not end campaign %d: %s", self._campaign.id, exc)
            return
        if classify(answer.status) is not Outcome.ACK:
            log.warning(
                "server did not end campaign %d: %s", self._campaign.id, _short(answer.body)
            )

    async def _heartbeat_once(self, timeout_s: float | None) -> None:
        assert self._transport is not None
        if self._campaign_settings is not None:
            await self._start_campaign(self._campaign_settings, timeout_s)
            if self._auth_error is not None:
                return
        try:
            answer = await self._transport.post(HEARTBEAT_PATH, self._status_body(), timeout_s)
        except TransportFailure as exc:
            self._stats["heartbeat_failures"] += 1
            log.debug("heartbeat failed: %s", exc)
            return
        outcome = classify(answer.status)
        if outcome is Outcome.AUTH:
            self._auth_failed(answer)
            return
        if outcome is not Outcome.ACK:
            self._stats["heartbeat_failures"] += 1
            log.warning("heartbeat answered HTTP %d: %s", answer.status, _short(answer.body))
            return
        try:
            got = _heartbeat_decoder.decode(answer.body).commands
        except msgspec.DecodeError as exc:
            self._stats["heartbeat_failures"] += 1
            log.warning("heartbeat answer unreadable: %s", exc)
            return
        self._stats["heartbeats"] += 1
        if got:
            await self._deliver_commands(got)

    async def _deliver_commands(self, commands: list[Command]) -> None:
        for command in commands:
            if command.id in self._seen_commands:
                continue  # handed out twice (a retried heartbeat): deliver once
            self._remember(command.id)
            if self._command_handler is None:
                self._queued_commands.append(command)  # delivered when a handler is set
                continue
            await self._call_handler(command)

    async def _deliver_queued(self) -> None:
        while self._queued_commands and self._command_handler is not None:
            await self._call_handler(self._queued_commands.popleft())

    async def _call_handler(self, command: Command) -> None:
        handler = self._command_handler
        assert handler is not None
        self._stats["commands"] += 1
        try:
            result = handler(command)
            if inspect.isawaitable(result):
                await result
        except Exception:
            self._stats["command_errors"] += 1
            log.exception("command handler failed on %s %s", command.command, command.args)

    def _remember(self, command_id: int) -> None:
        self._seen_commands.add(command_id)
        self._seen_order.append(command_id)
        if len(self._seen_order) > _MAX_REMEMBERED_COMMANDS:
            self._seen_commands.discard(self._seen_order.popleft())
