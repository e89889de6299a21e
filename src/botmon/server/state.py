"""What every route of ``botmon serve`` shares: the store, settings, enrichment and auth.

Route modules (core API, read API, dashboard) receive one :class:`ServerState` and use only
this surface, so they can be written and tested apart.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.requests import Request

from botmon.auth import hash_token, looks_like_token
from botmon.server.ingest_pool import IngestPool, WorkerSetup, default_worker_count
from botmon.store.base import Monitor, Store, StoreUnavailable
from botmon.web.access import COOKIE_METHODS, SESSION_COOKIE, SESSION_LIFETIME_S
from botmon.web.http import ApiError, store_unavailable
from botmon.web.sessions import Sessions

T = TypeVar("T")

_CACHE_LIMIT = 10_000
"""Most token lookups kept; a flood of random tokens empties the cache instead of growing it."""


_log = logging.getLogger("botmon.server")


def unavailable(exc: StoreUnavailable) -> ApiError:
    """The 503 answer while the database is away; clients retry after ``Retry-After``.

    The text is the stable one every caller gets (driver messages name hosts, databases and
    paths); the cause goes to the server log."""
    _log.warning("store unavailable: %s", exc)
    error = store_unavailable()
    error.headers = {"Retry-After": str(exc.retry_after_s)}
    return error


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, "unauthorized", {"WWW-Authenticate": 'Bearer realm="botmon"'})


@dataclass
class ServerState:
    """Shared server state: one per app, built by :func:`botmon.server.app.create_app`."""

    store: Store
    settings: Any
    enricher: Any | None = None
    """A :class:`botmon.enrich.Enricher` (or None when enrichment is off)."""
    enricher_factory: Callable[[], Any] | None = None
    """Builds an enricher like ``enricher`` in an ingest worker process (picklable); None:
    workers do not enrich."""
    started_at: float = 0.0
    metrics: Any | None = None
    """The app's :class:`botmon.server.metrics.Metrics` (its own Prometheus registry)."""
    analysis: Any | None = None
    """The ``analysis`` settings (:class:`botmon.settings.AnalysisSettings`): the analyses'
    defaults and schedule; None: loaded from the environment when the app is built."""
    _executor: ThreadPoolExecutor | None = field(default=None, repr=False)
    _read_executor: ThreadPoolExecutor | None = field(default=None, repr=False)
    _ingest_pool: IngestPool | None = field(default=None, repr=False)
    _tokens: dict[str, tuple[float, Monitor | None]] = field(default_factory=dict, repr=False)
    _sessions: Sessions = field(default_factory=lambda: Sessions(SESSION_LIFETIME_S), repr=False)

    @property
    def executor(self) -> ThreadPoolExecutor:
        if self._executor is None:
            threads = int(getattr(self.settings, "store_threads", 4))
            self._executor = ThreadPoolExecutor(threads, thread_name_prefix="botmon-store")
        return self._executor

    @property
    def read_executor(self) -> ThreadPoolExecutor:
        """Threads of the read API and dashboard (the store threads when ``read_threads`` is
        0): a burst of heavy reads queues here and never takes a thread ingest needs."""
        threads = int(getattr(self.settings, "read_threads", 2))
        if threads == 0:
            return self.executor
        if self._read_executor is None:
            self._read_executor = ThreadPoolExecutor(threads, thread_name_prefix="botmon-read")
        return self._read_executor

    @property
    def ingest_pool(self) -> IngestPool:
        """Where ingest bodies are validated, enriched and turned into rows."""
        if self._ingest_pool is None:
            workers = getattr(self.settings, "ingest_workers", None)
            workers = default_worker_count() if workers is None else int(workers)
            if self.enricher is not None and self.enricher_factory is None:
                workers = 0  # workers could not enrich as the server does: prepare here
            metrics = self.metrics
            self._ingest_pool = IngestPool(
                workers,
                WorkerSetup(
                    backend=self.store.backend,
                    future_skew_s=float(getattr(self.settings, "future_skew_s", 300.0)),
                    enricher_factory=self.enricher_factory if self.enricher is not None else None,
                ),
                self.executor,
                local_enricher=self.enricher,
                on_restart=metrics.ingest_worker_restarts.inc if metrics is not None else None,
            )
        return self._ingest_pool

    async def run_store(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking store call in the store's worker threads and return its result.

        While the database is away this answers 503 with ``Retry-After`` (ApiError) at once:
        the caller keeps its data and comes back, nobody waits on a dead connection.
        """
        return await self._run(self.executor, fn, *args)

    async def run_read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a read-only store call (read API, dashboard) in the read threads."""
        return await self._run(self.read_executor, fn, *args)

    @staticmethod
    async def _run(executor: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, functools.partial(fn, *args))
        except StoreUnavailable as exc:
            raise unavailable(exc) from None

    def shutdown(self) -> None:
        """Stop the ingest workers and the store threads (waiting for running calls)."""
        if self._ingest_pool is not None:
            self._ingest_pool.close()
            self._ingest_pool = None
        if self._read_executor is not None:  # queued reads are for requests already gone
            self._read_executor.shutdown(wait=True, cancel_futures=True)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._read_executor = self._executor = None

    def forget_tokens(self) -> None:
        """Drop cached token lookups, so a revocation made here takes effect at once."""
        self._tokens.clear()

    async def monitor_for_token(self, token: str) -> Monitor | None:
        """The active monitor holding ``token``, cached for ``settings.token_cache_s``."""
        if not looks_like_token(token):
            return None
        return await self._monitor_for_hash(hash_token(token))

    async def monitor_for_hash(self, digest: str) -> Monitor | None:
        """The active monitor whose token hashes to ``digest`` (cached like a token): how a
        BMS session checks, batch by batch, that its token was not revoked meanwhile."""
        return await self._monitor_for_hash(digest)

    def open_session(self, token: str) -> str:
        """A dashboard session for ``token`` (already checked); returns the cookie's id."""
        return self._sessions.open(hash_token(token), time.time())

    def close_session(self, session_id: str) -> None:
        """End a dashboard session (sign-out)."""
        self._sessions.close(session_id)

    async def _monitor_for_hash(self, digest: str) -> Monitor | None:
        now = time.monotonic()
        hit = self._tokens.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        monitor = await self.run_store(self.store.monitor_by_token_hash, digest)
        if len(self._tokens) >= _CACHE_LIMIT:
            self._tokens.clear()
        ttl = float(getattr(self.settings, "token_cache_s", 2.0))
        self._tokens[digest] = (now + ttl, monitor)
        return monitor

    async def authenticate(self, request: Request, roles: Collection[str]) -> Monitor:
        """The caller's monitor (Bearer header, or the dashboard's session cookie on reads).

        The cookie is sent by the browser with any request to this server, including ones a
        foreign page makes it send, so it counts only on GET and HEAD, which change nothing.
        Raises starlette HTTPException 401 without a valid token and 403 when the token's role
        is not in ``roles`` (admin is always allowed).
        """
        header = request.headers.get("authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise _unauthorized("the Authorization header must be 'Bearer <token>'")
            monitor = await self.monitor_for_token(token.strip())
        else:
            cookie = request.cookies.get(SESSION_COOKIE)
            if not cookie or request.method not in COOKIE_METHODS:
                raise _unauthorized("a token is required: send 'Authorization: Bearer <token>'")
            digest = self._sessions.token_hash(cookie, time.time())
            monitor = None if digest is None else await self._monitor_for_hash(digest)
        if monitor is None:
            raise _unauthorized("the token is not valid (unknown or revoked)")
        if monitor.role != "admin" and monitor.role not in roles:
            allowed = ", ".join(sorted({"admin", *roles}))
            raise ApiError(
                403,
                f"role {monitor.role!r} may not do this; it needs one of: {allowed}",
                "forbidden_role",
            )
        return monitor
