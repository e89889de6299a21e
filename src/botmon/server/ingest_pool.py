"""Ingest workers: decoding, checking, enrichment and row building in separate processes.

Most of an ingest batch's cost is Python work under the GIL: decoding 10,000 records,
checking them, looking up their country and AS, building the backend's rows. Only the write
needs the process that holds the database (a DuckDB file has one writer). So ``botmon serve``
hands each request body to a worker process, which returns a
:class:`~botmon.store.prepared.PreparedBatch` (Arrow buffers or ``COPY`` bytes: cheap to
pickle), and the server only writes. On this project's 2-core machine that moved HTTP ingest
into DuckDB from about 190k to over 250k replies/s (``benchmarks/ingest.py``).

With 0 workers the same steps run in the server's store threads: one code path
(:func:`prepare_body`) either way. A worker that dies (killed, out of memory) breaks the
pool; the pool is replaced, the batch in hand is prepared in the server itself, and the
request still succeeds.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from botmon.settings import MAX_INGEST_WORKERS
from botmon.store.prepared import PreparedBatch, prepare_batch
from botmon.validation import validate_batch

log = logging.getLogger("botmon.server")

BodyConverter = Callable[[bytes], bytes]
"""Turns another transport's batch into an ingest JSON body (the BMS gRPC API's batches);
picklable (a module-level function or a partial of one), as it runs in the workers."""

PARENT_CHECK_S = 0.5
"""How often a worker checks that the server that started it is still there."""


def default_worker_count() -> int:
    """One worker per core beyond the first (that one writes), at most 4; 0 on one core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(0, min(4, (cores or 1) - 1))


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker process needs to prepare batches like the server would (picklable)."""

    backend: str
    future_skew_s: float
    enricher_factory: Callable[[], Any] | None = None
    """Builds the worker's own enricher (module-level function or partial); None: no
    enrichment. Enrichers hold open databases, so each process opens its own."""


def prepare_body(
    body: bytes, backend: str, future_skew_s: float, enricher: Any | None
) -> PreparedBatch:
    """Validate, enrich and build rows for one request body.

    Raises :class:`botmon.validation.BatchRejected` for a bad batch.
    """
    batch = validate_batch(body, future_skew_s=future_skew_s)
    if enricher is not None:
        enricher.enrich_batch(batch)
    return prepare_batch(backend, batch)


# -- inside a worker process -----------------------------------------------------------------
_worker_setup: WorkerSetup | None = None
_worker_enricher: Any | None = None


def _exit_with(parent: int) -> None:
    """A worker waits on its task pipe and would outlive a killed server; end it instead."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(0)


def _start_worker(setup: WorkerSetup) -> None:
    global _worker_setup, _worker_enricher
    # Ctrl-C in a terminal reaches the whole process group; the server decides when its
    # workers stop (it shuts the pool down), so a worker must not die mid-batch on SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    _worker_setup = setup
    if setup.enricher_factory is not None:
        try:
            _worker_enricher = setup.enricher_factory()
        except Exception:
            # The server opened the same data a moment ago; should a worker still fail, its
            # batches go unenriched rather than the pool failing on every restart.
            log.exception("an ingest worker could not load enrichment; it stores without")


def _prepare_in_worker(body: bytes, convert: BodyConverter | None = None) -> PreparedBatch:
    setup = _worker_setup
    assert setup is not None, "worker started without its setup"
    if convert is not None:
        body = convert(body)
    return prepare_body(body, setup.backend, setup.future_skew_s, _worker_enricher)


def _worker_ready() -> int:
    """A no-op task; submitting it makes the pool start its processes ahead of ingest."""
    return os.getpid()


# -- in the server ---------------------------------------------------------------------------
class IngestPool:
    """Prepares request bodies in ``workers`` processes (or in ``threads`` when 0)."""

    def __init__(
        self,
        workers: int,
        setup: WorkerSetup,
        threads: Executor,
        local_enricher: Any | None = None,
        on_restart: Callable[[], None] | None = None,
    ) -> None:
        if not 0 <= workers <= MAX_INGEST_WORKERS:
            raise ValueError(f"ingest workers must be 0..{MAX_INGEST_WORKERS}, not {workers}")
        self.workers = workers
        self._setup = setup
        self._threads = threads
        self._local_enricher = local_enricher
        self._on_restart = on_restart
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _process_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the ingest pool is closed")
            if self._pool is None:
                # spawn, not fork: the server has DuckDB and event-loop threads, and a forked
                # child would inherit their locks in whatever state they were.
                self._pool = ProcessPoolExecutor(
                    self.workers,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(self._setup,),
                )
            return self._pool

    def start(self) -> None:
        """Start the worker processes now, so the first batch does not wait for them."""
        if self.workers:
            pool = self._process_pool()
            for _ in range(self.workers):
                pool.submit(_worker_ready)

    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (for tests and operators)."""
        pool = self._pool
        processes = getattr(pool, "_processes", None) or {}
        return sorted(p.pid for p in processes.values() if p.pid is not None and p.is_alive())

    async def prepare(self, body: bytes, convert: BodyConverter | None = None) -> PreparedBatch:
        """The prepared batch for ``body``; raises BatchRejected for a bad batch.

        ``convert``: first turn ``body`` into an ingest JSON body (in the worker too, so a
        batch of another transport costs the server process no more than an HTTP one)."""
        loop = asyncio.get_running_loop()
        if self.workers:
            pool = self._process_pool()
            try:
                return await loop.run_in_executor(pool, _prepare_in_worker, body, convert)
            except BrokenProcessPool:
                self._replace(pool)
        return await loop.run_in_executor(
            self._threads, functools.partial(self._prepare_here, body, convert)
        )

    def _prepare_here(self, body: bytes, convert: BodyConverter | None) -> PreparedBatch:
        if convert is not None:
            body = convert(body)
        return prepare_body(
            body, self._setup.backend, self._setup.future_skew_s, self._local_enricher
        )

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is not broken:
                return  # another request replaced it already
            self._pool = None
        log.warning("an ingest worker died; starting new ones (this batch is prepared here)")
        broken.shutdown(wait=False, cancel_futures=True)
        if self._on_restart is not None:
            self._on_restart()
        if not self._closed:
            self.start()

    def close(self) -> None:
        """Stop the workers (running batches finish first)."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
