"""What crawlers and sensors call: ``POST /api/v1/ingest``, ``POST /api/v1/heartbeat`` and
``POST /api/v1/campaigns`` (``/{id}/end``) around each run.

Ingest is the hot path (hundreds of thousands of records a second), so it reads the raw body
and hands it to the ingest workers (:mod:`botmon.server.ingest_pool`), which validate it,
enrich it and build the store's rows in other processes; a store thread then only authorises
the botnet and writes. No per-request timers.
"""

from __future__ import annotations

import time

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from botmon.auth import check_monitor_name
from botmon.digits import is_ascii_number
from botmon.server import schemas
from botmon.server.state import ServerState
from botmon.settings import one_line
from botmon.store.base import Monitor, StoreDataError, StoreError, StoreUnavailable
from botmon.store.prepared import PreparedBatch
from botmon.validation import BatchRejected
from botmon.web.http import ApiError, JsonResponse, decode_json, read_body, undecodable_as_400
from botmon.web.openapi import describe, operation, path_param, query_param
from botmon.wire import (
    RECORD_KINDS,
    Batch,
    Campaign,
    CampaignStart,
    Command,
    HeartbeatAnswer,
    HeartbeatBody,
    JsonObject,
)


class BotnetCache:
    """Botnet names known to exist, each trusted for a short time (botnets are never deleted)."""

    def __init__(self, state: ServerState, ttl: float) -> None:
        self._state = state
        self._ttl = ttl
        self._known: dict[str, float] = {}

    def exists(self, name: str) -> bool:
        """Called from a store thread; dict reads and writes are atomic under the GIL."""
        now = time.monotonic()
        until = self._known.get(name)
        if until is not None and until > now:
            return True
        if self._state.store.get_botnet(name) is None:
            return False
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[name] = now + self._ttl
        return True


def _rejected(exc: BatchRejected) -> ApiError:
    status = 400 if exc.reason == "malformed_json" else 422
    details = {k: v for k, v in exc.to_dict().items() if k not in ("error", "reason")}
    if details["kind"] is not None and details["kind"] not in RECORD_KINDS:
        # A batch-level field (botnet, batch_id): name it as the field, not as a kind.
        details["field"], details["kind"] = details["field"] or details["kind"], None
    return ApiError(status, exc.message, exc.reason, **details)


def _check_botnet_allowed(monitor: Monitor, botnet: str) -> None:
    if monitor.role != "admin" and monitor.botnets and botnet not in monitor.botnets:
        raise ApiError(
            403,
            f"token {monitor.name!r} may not write botnet {botnet!r} "
            f"(allowed: {', '.join(monitor.botnets)})",
            "forbidden_botnet",
            field="botnet",
        )


def store_batch(
    state: ServerState, cache: BotnetCache, batch: PreparedBatch, monitor: Monitor, source: str
) -> schemas.IngestResult:
    """Authorise and store one prepared batch; runs in a store thread."""
    _check_botnet_allowed(monitor, batch.botnet)
    if not cache.exists(batch.botnet):
        raise _unknown_botnet(batch.botnet)
    try:
        result = state.store.write_prepared(batch, source)
    except StoreUnavailable:
        raise  # answered 503 with Retry-After by run_store
    except StoreDataError as exc:
        # The batch's own values: a re-send fails the same way, so 422 (the reporter sets
        # the batch aside) instead of 503 (it would retry for ever, stalling later batches).
        raise ApiError(
            422, f"the store refused a value of the batch: {one_line(exc)}", "store_refused"
        ) from None
    except StoreError as exc:
        if state.store.get_botnet(batch.botnet) is None:
            raise _unknown_botnet(batch.botnet) from None
        # Not the batch's fault: answer 5xx so the reporter keeps the batch and retries.
        raise ApiError(
            503, f"the store could not write: {one_line(exc)}", "store_unavailable"
        ) from None
    return schemas.IngestResult(batch.batch_id, result.duplicate, dict(result.stored))


def _unknown_botnet(name: str) -> ApiError:
    return ApiError(
        422,
        f"unknown botnet {name!r}: create it first (botmon botnet create {name})",
        "unknown_botnet",
        field="botnet",
    )


def routes(state: ServerState) -> list[BaseRoute]:
    """The ingest and heartbeat routes."""
    settings = state.settings
    cache = BotnetCache(state, settings.botnet_cache_s)
    metrics = state.metrics

    async def ingest(request: Request) -> Response:
        """Store a batch of replies, failed tries and edges."""
        try:
            monitor = await state.authenticate(request, ("crawler",))
            source = monitor.name
            on_behalf = request.query_params.get("source")
            if on_behalf is not None:
                if monitor.role != "admin":
                    raise ApiError(403, "only an admin token may set source", "forbidden_role")
                try:
                    source = check_monitor_name(on_behalf)
                except ValueError as exc:
                    raise ApiError(422, str(exc), "invalid_parameter", field="source") from None
            body = await read_body(request, settings.max_body_bytes)
            try:
                with undecodable_as_400():
                    batch = await state.ingest_pool.prepare(body)
            except BatchRejected as exc:
                raise _rejected(exc) from None
            except ValueError as exc:
                # A value the checks let through but a converter refuses (a NUL in an
                # address): the batch's fault, so 422 and the reporter sets it aside.
                raise ApiError(422, f"invalid batch: {one_line(exc)}", "invalid_batch") from None
            result = await state.run_store(store_batch, state, cache, batch, monitor, source)
        except ApiError as exc:
            if metrics is not None:
                metrics.count_rejected(exc.reason)
            raise
        if metrics is not None:
            metrics.count_stored(result.stored, result.duplicate)
        return JsonResponse(result)

    async def heartbeat(request: Request) -> Response:
        """Report a monitor's status; answer with the commands queued for it."""
        monitor = await state.authenticate(request, ("crawler",))
        body = await read_body(request, settings.max_heartbeat_bytes)
        decode_json(body, HeartbeatBody)  # 422 names the first known field of a wrong type
        status = decode_json(body, schemas.RawHeartbeat).status  # stored with its extras
        commands = await state.run_store(_beat, state, monitor.name, status)
        if metrics is not None:
            metrics.heartbeats.inc()
        return JsonResponse(HeartbeatAnswer(commands))

    async def campaigns(request: Request) -> Response:
        """Register the start of the caller's crawl or sensor run."""
        monitor = await state.authenticate(request, ("crawler",))
        body = await read_body(request, settings.max_heartbeat_bytes)
        spec = decode_json(body, CampaignStart)
        campaign = await state.run_store(_start_campaign, state, monitor, spec)
        return JsonResponse(campaign, status_code=201)

    async def campaign_end(request: Request) -> Response:
        """Mark one of the caller's campaigns ended."""
        monitor = await state.authenticate(request, ("crawler",))
        text = request.path_params["id"]
        ended = None
        if is_ascii_number(text) and len(text) < 12:
            ended = await state.run_store(
                state.store.end_campaign, int(text), monitor.name, time.time()
            )
        if ended is None:
            raise ApiError(
                404, f"{monitor.name!r} has no running campaign {text[:20]!r}", "not_found"
            )
        return JsonResponse(ended)

    ingest_doc = operation(
        "Store a batch of records",
        description=(
            "The whole batch is validated before anything is written; the first bad record "
            "is named by kind, index and field. A batch id already stored answers "
            "duplicate=true and stores nothing. The records' source is the token's name "
            "(an admin token may set it with ?source=). At most 10,000 records per kind."
        ),
        response=schemas.IngestResult,
        roles=("crawler",),
        params=[query_param("source", "Admin only: store the records under this source.")],
        errors=(400, 413, 415, 422, 503),
        tags=("ingest",),
    )
    ingest_doc["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}},
    }
    return [
        describe(Route("/api/v1/ingest", ingest, methods=["POST"]), {"post": ingest_doc}, [Batch]),
        describe(
            Route("/api/v1/heartbeat", heartbeat, methods=["POST"]),
            {
                "post": operation(
                    "Report status, receive commands",
                    description=(
                        "The status's known fields (HeartbeatStatus) must have their types "
                        "(422 otherwise); other keys are kept with it. Each queued command is "
                        "handed out exactly once."
                    ),
                    body=HeartbeatBody,
                    response=HeartbeatAnswer,
                    roles=("crawler",),
                    errors=(400, 413, 422),
                    tags=("ingest",),
                )
            },
        ),
        describe(
            Route("/api/v1/campaigns", campaigns, methods=["POST"]),
            {
                "post": operation(
                    "Register the start of a crawl or sensor run (a campaign)",
                    description=(
                        "A monitor calls this when a run starts, with the parameters it runs "
                        "with, and reports the campaign's id in its heartbeats; the health "
                        "table shows each monitor's latest campaign. The campaign belongs "
                        "to the token's holder."
                    ),
                    body=CampaignStart,
                    response=Campaign,
                    status=201,
                    roles=("crawler",),
                    errors=(400, 413, 422, 503),
                    tags=("ingest",),
                )
            },
        ),
        describe(
            Route("/api/v1/campaigns/{id}/end", campaign_end, methods=["POST"]),
            {
                "post": operation(
                    "Mark a campaign ended",
                    description="Only the monitor that started a campaign may end it, once.",
                    params=[path_param("id", "The campaign's id")],
                    response=Campaign,
                    roles=("crawler",),
                    errors=(404,),
                    tags=("ingest",),
                )
            },
        ),
    ]


def _beat(state: ServerState, source: str, status: JsonObject) -> list[Command]:
    state.store.record_heartbeat(source, time.time(), status)
    return state.store.take_commands(source)


def _start_campaign(state: ServerState, monitor: Monitor, spec: CampaignStart) -> Campaign:
    _check_botnet_allowed(monitor, spec.botnet)
    settings = msgspec.to_builtins(spec.settings)
    try:
        return state.store.start_campaign(spec.botnet, monitor.name, settings, time.time())
    except StoreUnavailable:
        raise  # answered 503 with Retry-After by run_store
    except StoreError as exc:
        if state.store.get_botnet(spec.botnet) is None:
            raise _unknown_botnet(spec.botnet) from None
        raise ApiError(
            503, f"the store could not write: {one_line(exc)}", "store_unavailable"
        ) from None
