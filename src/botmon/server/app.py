"""The Starlette application of ``botmon serve``: every route, error handling and metrics.

The app is built from a :class:`ServerState` (store, settings, enrichment); route modules add
their routes from that state, and the OpenAPI document is generated from the finished route
list so it names every route the app serves. This module composes: the dashboard (its page
and its data API, :mod:`botmon.dashboard`) is written against :mod:`botmon.web` only and
never imports the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from botmon.analysis import runs
from botmon.analysis.warmup import warm_up
from botmon.dashboard import api as dashboard_api
from botmon.dashboard import configs_api
from botmon.dashboard import public as public_web
from botmon.dashboard import web as dashboard_web
from botmon.enrich.freshness import geo_status
from botmon.server import (
    admin,
    analyses_api,
    exclusions_api,
    feeds_api,
    ingest,
    public_admin,
    queries,
    reports_api,
    schemas,
)
from botmon.server.analysis_schedule import Schedule
from botmon.server.metrics import CONTENT_TYPE, LatencyMiddleware, Metrics
from botmon.server.state import ServerState
from botmon.settings import AnalysisSettings, PublicSettings, load, one_line
from botmon.web.http import ApiError, JsonResponse, error_response, store_unavailable
from botmon.web.openapi import build_document, describe, operation

log = logging.getLogger("botmon.server")

_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}


async def _http_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, ApiError):
        return error_response(exc)
    assert isinstance(exc, HTTPException)
    body = {"error": exc.detail, "reason": _REASONS.get(exc.status_code, "error")}
    return JsonResponse(body, status_code=exc.status_code, headers=exc.headers)


class _CrashGuard:
    """Answer an unexpected error with a 500 and keep the connection open.

    Starlette's handler of last resort sends its 500 and then re-raises, and uvicorn closes
    the keep-alive connection without a ``Connection: close``: the caller's next request on
    it fails. Here the error is logged and answered, and only a response that had already
    started (a stream cut off midway) still ends its connection, as it must.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if started:
                raise
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            crash = JsonResponse(
                {"error": "internal server error (see the server log)", "reason": "internal_error"},
                status_code=500,
            )
            await crash(scope, receive, send)


def _service_routes(state: ServerState, app_routes: list[BaseRoute]) -> list[BaseRoute]:
    metrics = state.metrics
    assert metrics is not None
    document: dict[str, Any] = {}

    async def healthz(request: Request) -> Response:
        """Liveness and store reachability; no token needed."""
        try:
            await state.run_store(state.store.schema_version)
        except ApiError as exc:  # the database is away: 503 with Retry-After, at once
            return error_response(exc)
        except Exception as exc:  # any store failure means "not healthy"
            log.warning("health check: store unavailable: %s", one_line(exc))
            return error_response(store_unavailable())
        uptime = time.time() - state.started_at if state.started_at else 0.0
        return JsonResponse(
            schemas.Health("ok", state.store.backend, round(uptime, 3), geo_status())
        )

    async def prometheus(request: Request) -> Response:
        """Prometheus text format; no token needed (bind to loopback or filter in front)."""
        try:
            metrics.show_configs(await state.run_read(state.store.config_stats))
        except Exception as exc:  # the other metrics still answer while the store is away
            log.warning("metrics: configuration counts unavailable: %s", one_line(exc))
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def openapi(request: Request) -> Response:
        """The OpenAPI 3.1 document of this server."""
        if not document:
            document.update(build_document(app_routes, schemas.SCHEMA_TYPES))
        return JsonResponse(document)

    tag = ("service",)
    return [
        describe(
            Route("/healthz", healthz, methods=["GET"]),
            {
                "get": operation(
                    "Health", response=schemas.Health, roles=None, errors=(503,), tags=tag
                )
            },
        ),
        describe(
            Route("/metrics", prometheus, methods=["GET"]),
            {
                "get": operation(
                    "Prometheus metrics",
                    roles=None,
                    content={"text/plain": {"schema": {"type": "string"}}},
                    tags=tag,
                )
            },
        ),
        describe(
            Route("/openapi.json", openapi, methods=["GET"]),
            {
                "get": operation(
                    "This OpenAPI document",
                    roles=None,
                    content={"application/json": {"schema": {"type": "object"}}},
                    tags=tag,
                )
            },
        ),
    ]


async def _refresh_summaries(state: ServerState) -> None:
    """Keep the dashboard's summary tables current: once at start (after an upgrade this is
    the full build, done before anyone opens the dashboard), then every
    ``summary_refresh_s``. After the first refresh, the dashboard's default views are
    computed once (:func:`botmon.analysis.warmup.warm_up`), so its first visitor does not
    wait for them. A failure is logged and retried on the next round."""
    interval = state.settings.summary_refresh_s
    metrics = state.metrics
    warmed = False
    while True:
        started = time.perf_counter()
        try:
            merged = await state.run_store(state.store.refresh_summaries)
            outcome = "merged" if merged else "idle"
        except Exception as exc:
            log.warning("summary refresh failed: %s", one_line(exc))
            outcome = "failed"
        if metrics is not None:
            metrics.summary_refreshes.labels(outcome).inc()
            metrics.summary_seconds.observe(time.perf_counter() - started)
        if not warmed and outcome != "failed":
            warmed = True
            started = time.perf_counter()
            try:
                await state.run_store(warm_up, state.store, time.time())
            except Exception as exc:
                log.warning("dashboard warm-up failed: %s", one_line(exc))
            if metrics is not None:
                metrics.warm_up_seconds.set(time.perf_counter() - started)
        if interval <= 0:
            return
        await asyncio.sleep(interval)


def create_app(state: ServerState) -> Starlette:
    """The whole server app for ``state``; the caller owns (opens and closes) the store."""
    if state.metrics is None:
        state.metrics = Metrics()
        group_commit = getattr(state.store, "group_commit", None)
        if group_commit is not None:  # DuckDB; PostgreSQL commits batches concurrently
            state.metrics.watch_group_commit(group_commit)
        state.metrics.watch_geo_age(lambda: geo_status().age_days)
    metrics = state.metrics
    if not state.started_at:
        state.started_at = time.time()
    if state.analysis is None:  # before the read routes: exclude_monitors defaults from it
        state.analysis = load(AnalysisSettings).settings
    if state.public is None:
        state.public = load(PublicSettings).settings
    all_routes: list[BaseRoute] = []
    all_routes.extend(_service_routes(state, all_routes))
    all_routes.extend(ingest.routes(state))
    all_routes.extend(admin.routes(state))
    all_routes.extend(queries.routes(state))
    all_routes.extend(dashboard_api.routes(state))
    all_routes.extend(configs_api.routes(state))
    all_routes.extend(exclusions_api.routes(state))
    all_routes.extend(public_admin.routes(state))
    all_routes.extend(public_web.routes(state))
    all_routes.extend(reports_api.routes(state))
    all_routes.extend(feeds_api.routes(state))
    schedule = Schedule(state.analysis, runs.available())
    all_routes.extend(analyses_api.routes(state, state.analysis, schedule, schedule.analyses))
    all_routes.extend(dashboard_web.routes(state))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.ingest_pool.start()
        metrics.ingest_workers.set(state.ingest_pool.workers)
        refresher = asyncio.create_task(_refresh_summaries(state))
        scheduler = asyncio.create_task(schedule.run(state, metrics))
        try:
            yield
        finally:
            for task in (scheduler, refresher):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            state.shutdown()

    app = Starlette(
        routes=all_routes,
        middleware=[
            Middleware(_CrashGuard),
            Middleware(LatencyMiddleware, metrics=state.metrics),
        ],
        exception_handlers={HTTPException: _http_error},
        lifespan=lifespan,
    )
    # Starlette would redirect "/path/" to "/path" with an absolute URL built from the
    # request's Host header (an open redirect to any host a caller names): answer 404.
    app.router.redirect_slashes = False
    app.state.botmon = state
    app.state.analysis_schedule = schedule
    return app
