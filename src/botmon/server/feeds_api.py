"""The feed routes: bots of a network owner's networks in the formats CERTs read, the
schema of every format, and the delivery log.

``GET /api/v1/feeds/infected`` streams: the format's writer runs in the read threads and
pulls the store's pages (:meth:`Store.feed_rows`) as it goes, so one chunk of the answer is
in memory at a time. With ``limit``, the rows (at most ``limit``) are read first, because
the next cursor goes in the headers (``Link: <...>; rel="next"``, ``X-Botmon-Next-Cursor``).
Every answer, refused ones included, is logged in ``feed_deliveries``.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any
from urllib.parse import urlencode

import anyio
import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from botmon.feeds.formats import FORMAT_NAMES, feed_format
from botmon.feeds.model import FeedContext, FeedField, FeedFormat, FeedRow
from botmon.feeds.request import (
    MAX_LIMIT,
    PARAMETERS,
    TLPS,
    FeedRequest,
    encode_cursor,
    parse_request,
)
from botmon.server.state import ServerState
from botmon.settings import one_line
from botmon.store.base import Monitor, StoreError
from botmon.store.feeds import FeedDelivery
from botmon.web.http import ApiError, JsonResponse, parse_int, parse_time
from botmon.web.openapi import describe, operation, query_param

log = logging.getLogger("botmon.server")

FEED_ROLES = ("feed", "viewer")
"""Who reads feeds: network owners (their scope), viewers and admins (everything)."""
SCHEMA_ROLES = ("feed", "viewer")
ADMIN = ("admin",)


class FormatSchema(msgspec.Struct):
    """One format: its ``format=`` name, media type and fields."""

    name: str
    media_type: str
    extension: str
    description: str
    available: bool
    """False when this installation lacks the format's module or library."""
    fields: list[FeedField]


class FeedSchema(msgspec.Struct):
    """Every feed format's fields, the confidence rule and the labels."""

    formats: list[FormatSchema]
    confidence: str
    tlp: list[str]
    origins: dict[str, str]


class DeliveryList(msgspec.Struct):
    deliveries: list[FeedDelivery]


CONFIDENCE_RULE = (
    "high: seen by both a crawler and a sensor, or by at least two vantage points on at "
    "least two days; medium: by several vantage points or on several days; low: one monitor "
    "on one day"
)


def _format_or_422(name: str) -> FeedFormat:
    try:
        return feed_format(name)
    except (ImportError, AttributeError) as exc:
        raise ApiError(
            422,
            f"format {name!r} is not available in this installation ({one_line(exc)})",
            "invalid_parameter",
            field="format",
        ) from None


def _schema() -> FeedSchema:
    formats: list[FormatSchema] = []
    for name in FORMAT_NAMES:
        try:
            fmt = feed_format(name)
        except (ImportError, AttributeError):
            formats.append(FormatSchema(name, "", "", "not installed", False, []))
            continue
        fields = list(getattr(fmt, "fields", ()))
        formats.append(
            FormatSchema(name, fmt.media_type, fmt.extension, fmt.description, True, fields)
        )
    return FeedSchema(
        formats=formats,
        confidence=CONFIDENCE_RULE,
        tlp=list(TLPS),
        origins={
            "p2p-crawler": "a botmon crawler got replies from the bot (active crawl)",
            "p2p-sensor": "the bot contacted a botmon sensor (passive listening; n6 p2p-drone)",
        },
    )


class _Counted:
    """Rows as the writer pulls them, counted for the delivery log."""

    def __init__(self, rows: Iterable[FeedRow]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[FeedRow]:
        for row in self.rows:
            self.count += 1
            yield row


def _printable(text: str) -> str:
    """Parameters as logged: control characters (a NUL, which PostgreSQL cannot store)
    become U+FFFD, so an odd request is still logged."""
    return "".join(c if c.isprintable() else "\ufffd" for c in text)


def _params(request: Request) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        out.setdefault(key, []).append(value)
    return out


def _file_name(req: FeedRequest, fmt: FeedFormat) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(req.query.until))
    return f"botmon-feed-{stamp}.{fmt.extension}"


def routes(state: ServerState) -> list[BaseRoute]:
    """The feed routes."""

    async def log_delivery(
        monitor: Monitor, fmt: str, params: dict[str, list[str]], rows: int, size: int, status: int
    ) -> None:
        delivery = FeedDelivery(
            delivered_at=time.time(),
            monitor=monitor.name,
            role=monitor.role,
            format=fmt,
            parameters={
                _printable(k)[:64]: _printable(",".join(v))[:512] for k, v in params.items()
            },
            rows=rows,
            bytes=size,
            status=status,
        )
        try:
            await state.run_store(state.store.record_feed_delivery, delivery)
        except Exception as exc:  # the answer was given; a lost log line is logged
            log.warning("feed delivery log failed: %s", one_line(exc))

    async def infected(request: Request) -> Response:
        """The bots of the caller's networks in the period, in one of the feed formats."""
        monitor = await state.authenticate(request, FEED_ROLES)
        params = _params(request)
        fmt_name = (params.get("format") or ["csv"])[0][:32]
        try:
            known = [b.name for b in await state.run_read(state.store.list_botnets)]
            req = parse_request(params, monitor, time.time(), known)
            fmt = _format_or_422(req.format)
        except ApiError as exc:
            await log_delivery(monitor, fmt_name, params, 0, 0, exc.status_code)
            raise
        context = FeedContext(
            generated_at=time.time(),
            since=req.query.since,
            until=req.query.until,
            recipient=monitor.name if monitor.role == "feed" else None,
            tlp=req.tlp,
            scope=req.query.scope,
        )
        headers = {
            "Content-Disposition": f'attachment; filename="{_file_name(req, fmt)}"',
            "X-Botmon-TLP": req.tlp.upper(),
            "Cache-Control": "no-store",
        }
        pages = state.store.feed_rows(req.query)
        try:
            first = await state.run_read(next, pages, [])
        except StoreError as exc:
            await log_delivery(monitor, req.format, params, 0, 0, 422)
            raise ApiError(422, str(exc), "invalid_parameter") from None
        rows: Iterable[FeedRow]
        if req.limited:
            limit = (req.query.limit or 1) - 1
            held = list(first)
            while len(held) <= limit:
                page = await state.run_read(next, pages, None)
                if page is None:
                    break
                held.extend(page)
            if len(held) > limit:
                held = held[:limit]
                cursor = encode_cursor(held[-1].cursor)
                query = [(k, v) for k, vs in params.items() if k != "cursor" for v in vs]
                url = request.url.replace(query=urlencode([*query, ("cursor", cursor)]))
                headers["Link"] = f'<{url}>; rel="next"'
                headers["X-Botmon-Next-Cursor"] = cursor
            rows = held
        else:
            rows = itertools.chain(first, itertools.chain.from_iterable(pages))
        counted = _Counted(rows)
        chunks = iter(fmt.write(counted, context))

        async def body() -> AsyncIterator[bytes]:
            size, status = 0, 499
            try:
                while True:
                    chunk = await state.run_read(next, chunks, None)
                    if chunk is None:
                        break
                    size += len(chunk)
                    yield chunk
                status = 200
            except Exception as exc:
                status = 500
                log.warning("feed stream failed after %d bytes: %s", size, one_line(exc))
                raise
            finally:
                # Shielded: a client that went away cancels this generator, and the log
                # line (status 499) and the cursor's release must still happen.
                with anyio.CancelScope(shield=True):
                    close = getattr(pages, "close", None)
                    # ValueError: a read of it still runs in a thread (the client left
                    # meanwhile); the generator then closes when it is freed.
                    with contextlib.suppress(ValueError, ApiError):
                        if close is not None:
                            await state.run_read(close)
                    await log_delivery(monitor, req.format, params, counted.count, size, status)

        return StreamingResponse(body(), media_type=fmt.media_type, headers=headers)

    async def schema(request: Request) -> Response:
        """Every field of every feed format."""
        await state.authenticate(request, SCHEMA_ROLES)
        return JsonResponse(_schema())

    async def deliveries(request: Request) -> Response:
        """The feed delivery log, newest first (admins)."""
        await state.authenticate(request, ADMIN)
        q = request.query_params
        since = parse_time("since", q.get("since"), 0.0) if q.get("since") else None
        limit = parse_int("limit", q.get("limit"), 1000, 1, 100_000)
        name = q.get("monitor") or None
        try:
            found = await state.run_read(
                lambda: state.store.feed_deliveries(since=since, monitor=name, limit=limit)
            )
        except StoreError as exc:
            raise ApiError(422, str(exc), "invalid_parameter", field="monitor") from None
        return JsonResponse(DeliveryList(found))

    time_doc = "Epoch seconds or RFC 3339 (2024-05-01T00:00:00Z)"
    repeat = "; repeat the parameter or separate values by commas"
    tag = ("feeds",)
    formats = {"type": "string", "enum": list(FORMAT_NAMES)}
    params: list[dict[str, Any]] = [
        query_param("since", f"{time_doc}; default: until minus 24 hours"),
        query_param("until", f"{time_doc}; default: now"),
        query_param("format", "The output format (default csv)", formats),
        query_param("asn", f"Only these AS numbers (inside a feed token's){repeat}"),
        query_param("cidr", f"Only these networks, e.g. 198.51.100.0/24{repeat}"),
        query_param("country", f"Only these ISO 3166-1 alpha-2 countries{repeat}"),
        query_param("botnet", f"Only these botnets{repeat}"),
        query_param("cursor", "Continue after the previous answer (its Link header)"),
        query_param(
            "limit",
            f"At most this many rows (1..{MAX_LIMIT}); a cut answer names the next cursor",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        ),
        query_param("tlp", "The TLP label (default amber)", {"type": "string", "enum": list(TLPS)}),
    ]
    assert [p["name"] for p in params] == list(PARAMETERS)
    media = {"text/csv", "application/json", "application/x-ndjson"}
    return [
        describe(
            Route("/api/v1/feeds/infected", infected, methods=["GET"]),
            {
                "get": operation(
                    "Infected hosts of the caller's networks (streamed)",
                    description=(
                        "One row per bot and botnet seen in [since, until): first and last "
                        "sighting, observations, ports, bot IDs, AS, country, origins "
                        "(p2p-crawler, p2p-sensor), confidence. A feed token's answer is "
                        "always inside its networks; naming a network or botnet outside them "
                        "answers 403. Formats: csv and json (Shadowserver event4_sinkhole "
                        "columns), n6, intelmq (JSON lines), stix, misp, xarf; "
                        "GET /api/v1/feeds/schema lists every field."
                    ),
                    roles=FEED_ROLES,
                    params=params,
                    content={m: {"schema": {"type": "string"}} for m in sorted(media)},
                    errors=(403, 422),
                    tags=tag,
                )
            },
        ),
        describe(
            Route("/api/v1/feeds/schema", schema, methods=["GET"]),
            {
                "get": operation(
                    "Every field of every feed format",
                    response=FeedSchema,
                    roles=SCHEMA_ROLES,
                    tags=tag,
                )
            },
            [FeedSchema, FormatSchema, FeedField],
        ),
        describe(
            Route("/api/v1/feeds/deliveries", deliveries, methods=["GET"]),
            {
                "get": operation(
                    "The feed delivery log (newest first)",
                    response=DeliveryList,
                    params=[
                        query_param("since", time_doc),
                        query_param("monitor", "Only this token holder's deliveries"),
                        query_param(
                            "limit", "At most this many (default 1000)", {"type": "integer"}
                        ),
                    ],
                    errors=(422,),
                    tags=tag,
                )
            },
            [DeliveryList, FeedDelivery],
        ),
    ]
