"""Core read routes (role viewer): botnet summaries, population series and record exports.

Exports stream: the store hands Arrow batches one at a time (each fetched in a store thread)
and the format writer turns each into bytes, so an export of any size holds one batch in
memory.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import pyarrow as pa
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from botmon.analysis.population import population_points
from botmon.server import schemas
from botmon.server.state import ServerState
from botmon.store.base import RecordKind
from botmon.transfer.formats import FORMATS, MEDIA_TYPES
from botmon.transfer.writers import writer_for
from botmon.web.http import ApiError, JsonResponse, parse_int, parse_time
from botmon.web.openapi import describe, operation, path_param, query_param
from botmon.web.source_filter import (
    EXCLUDE_MONITORS_PARAM,
    SOURCE_TYPE_PARAM,
    exclude_default,
    read_filter,
)
from botmon.wire import RECORD_KINDS

VIEW = ("viewer",)


async def _botnet_or_404(state: ServerState, name: str) -> None:
    if await state.run_store(state.store.get_botnet, name) is None:
        raise ApiError(404, f"unknown botnet {name!r}", "unknown_botnet", field="botnet")


def _next_batch(it: Iterator[pa.RecordBatch]) -> pa.RecordBatch | None:
    return next(it, None)


def routes(state: ServerState) -> list[BaseRoute]:
    """The core read routes."""
    settings = state.settings
    exclude = exclude_default(state)

    async def botnets(request: Request) -> Response:
        """Every botnet with first/last seen and recent counts."""
        await state.authenticate(request, VIEW)
        window = parse_int("window", request.query_params.get("window"), 3600, 60, 30 * 86400)
        found = await state.run_read(state.store.botnet_summaries, time.time(), window)
        return JsonResponse(schemas.BotnetSummaries(found))

    async def population(request: Request) -> Response:
        """Distinct IPs, bot IDs and ip:port pairs per time bucket."""
        await state.authenticate(request, VIEW)
        name = request.path_params["botnet"]
        q = request.query_params
        bucket = parse_int(
            "bucket", q.get("bucket"), settings.default_population_bucket_s, 1, 366 * 86400
        )
        now = time.time()
        end = parse_time("end", q.get("end"), now)
        start = parse_time("start", q.get("start"), end - settings.default_population_window_s)
        if start >= end:
            raise ApiError(422, "start must be before end", "invalid_parameter", field="start")
        buckets = (end - start) / bucket
        if buckets > settings.max_population_buckets:
            raise ApiError(
                422,
                f"{int(buckets)} buckets asked, at most {settings.max_population_buckets}: "
                "use a larger bucket or a shorter range",
                "invalid_parameter",
                field="bucket",
            )
        source, _ = await read_filter(state, q, exclude)
        await _botnet_or_404(state, name)
        series = await state.run_read(
            population_points, state.store, name, start, end, bucket, source
        )
        return JsonResponse(schemas.Population(name, bucket, start, end, series))

    async def records(request: Request) -> Response:
        """Stored records of one kind, streamed as JSON lines, CSV or Parquet."""
        await state.authenticate(request, VIEW)
        name = request.path_params["botnet"]
        kind = request.path_params["kind"]
        if kind not in RECORD_KINDS:
            raise ApiError(
                404, f"unknown record kind {kind!r}: one of {', '.join(RECORD_KINDS)}", "not_found"
            )
        q = request.query_params
        fmt = q.get("format", "jsonl")
        if fmt not in FORMATS:
            raise ApiError(
                422,
                f"format must be one of {', '.join(FORMATS)}",
                "invalid_parameter",
                field="format",
            )
        start = parse_time("start", q.get("start"), 0.0) if q.get("start") else None
        end = parse_time("end", q.get("end"), 0.0) if q.get("end") else None
        await _botnet_or_404(state, name)
        record_kind: RecordKind = kind  # type: ignore[assignment]
        it = await state.run_read(lambda: iter(state.store.export(record_kind, name, start, end)))
        writer = writer_for(fmt, kind)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                while True:
                    batch = await state.run_read(_next_batch, it)
                    if batch is None:
                        break
                    data = writer.write(batch)
                    if data:
                        yield data
                tail = writer.finish()
                if tail:
                    yield tail
            finally:
                close = getattr(it, "close", None)
                if close is not None:
                    await state.run_read(close)

        filename = f"{name}-{kind}.{fmt}"
        return StreamingResponse(
            chunks(),
            media_type=MEDIA_TYPES[fmt],
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    botnet_param = path_param("botnet", "Botnet name")
    time_doc = "Epoch seconds or RFC 3339 (2024-05-01T00:00:00Z)"
    tag = ("read",)
    return [
        describe(
            Route("/api/v1/botnets", botnets, methods=["GET"]),
            {
                "get": operation(
                    "Botnets with first/last seen and recent counts",
                    response=schemas.BotnetSummaries,
                    roles=VIEW,
                    params=[query_param("window", "Recent window in seconds (default 3600)")],
                    errors=(422,),
                    tags=tag,
                )
            },
        ),
        describe(
            Route("/api/v1/botnets/{botnet}/population", population, methods=["GET"]),
            {
                "get": operation(
                    "Population per time bucket",
                    description=(
                        "Buckets holding replies, each labelled with its start: hours on the "
                        "hour, days at 00:00 UTC, weeks from Monday 00:00 UTC (ISO weeks), as "
                        "every botmon series. Defaults: the last 24 hours in 1-hour buckets."
                    ),
                    response=schemas.Population,
                    roles=VIEW,
                    params=[
                        botnet_param,
                        query_param("bucket", "Bucket length in seconds", {"type": "integer"}),
                        query_param("start", time_doc),
                        query_param("end", time_doc),
                        SOURCE_TYPE_PARAM,
                        EXCLUDE_MONITORS_PARAM,
                    ],
                    errors=(404, 422),
                    tags=tag,
                )
            },
        ),
        describe(
            Route("/api/v1/botnets/{botnet}/records/{kind}", records, methods=["GET"]),
            {
                "get": operation(
                    "Export stored records (streamed)",
                    roles=VIEW,
                    params=[
                        botnet_param,
                        path_param("kind", "replies, failed_tries or edges"),
                        query_param("start", time_doc),
                        query_param("end", time_doc),
                        query_param(
                            "format",
                            "jsonl (default), csv or parquet",
                            {"type": "string", "enum": list(FORMATS)},
                        ),
                    ],
                    content={MEDIA_TYPES[f]: {"schema": {"type": "string"}} for f in FORMATS},
                    errors=(404, 422),
                    tags=tag,
                )
            },
        ),
    ]
