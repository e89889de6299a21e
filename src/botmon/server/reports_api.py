"""``GET /api/v1/reports/{botnet}/{daily|weekly}``: a report as a zip (admin, viewer).

The same report ``botmon report`` writes (per-network CSV files, summary with charts,
methodology, ``SHA256SUMS``), built by :mod:`botmon.reports` on the read threads into a
temporary zip on disk and streamed from there, so memory stays bounded however many
networks the report holds. At most :data:`CONCURRENT_BUILDS` reports are built at once;
further requests wait their turn rather than crowd out the dashboard's reads.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from botmon.limits import BOTNET_NAME_PATTERN
from botmon.reports.archive import build_zip, zip_name
from botmon.reports.options import PERS, TLPS, Per, ReportError, ReportRequest
from botmon.reports.period import Kind, PeriodError, parse_day, period_for
from botmon.settings import one_line
from botmon.store.base import StoreError
from botmon.web.access import Access
from botmon.web.http import ApiError, store_unavailable
from botmon.web.openapi import describe, operation, path_param, query_param

log = logging.getLogger("botmon.server")

PREFIX = "/api/v1/reports"
VIEW = ("viewer",)
CONCURRENT_BUILDS = 2
CHUNK = 256 * 1024


def _invalid(message: str, field: str) -> ApiError:
    return ApiError(422, message, "invalid_parameter", field=field)


def _request(request: Request, kind: Kind) -> ReportRequest:
    botnet = request.path_params["botnet"]
    if not re.fullmatch(BOTNET_NAME_PATTERN, botnet):
        raise _invalid("botnet must be a botnet name", "botnet")
    q = request.query_params
    for key in q:
        if key not in ("date", "per", "tlp"):
            raise _invalid(f"unknown parameter {key[:40]!r} (date, per, tlp)", key[:40])
    per = q.get("per") or "asn"
    if per not in PERS:
        raise _invalid("per must be asn or country", "per")
    tlp = q.get("tlp") or "amber"
    if tlp not in TLPS:
        raise _invalid(f"tlp must be one of {', '.join(TLPS)}", "tlp")
    try:
        day = parse_day(q["date"]) if q.get("date") else None
        period = period_for(kind, day)
    except PeriodError as exc:
        raise _invalid(str(exc), "date") from None
    chosen: Per = per  # type: ignore[assignment]
    return ReportRequest(botnet, period, chosen, tlp)  # type: ignore[arg-type]


def routes(st: Access) -> list[BaseRoute]:
    """One route per report kind."""
    builds = asyncio.Semaphore(CONCURRENT_BUILDS)

    def endpoint(kind: Kind):  # type: ignore[no-untyped-def]
        async def report(request: Request) -> Response:
            await st.authenticate(request, VIEW)
            req = _request(request, kind)
            if await st.run_read(st.store.get_botnet, req.botnet) is None:
                raise ApiError(
                    404, f"unknown botnet {req.botnet!r}", "unknown_botnet", field="botnet"
                )
            try:
                async with builds:
                    path = await st.run_read(build_zip, st.store, req)
            except ReportError as exc:
                raise ApiError(404, str(exc), "unknown_botnet", field="botnet") from None
            except StoreError as exc:
                log.warning("report of %s: store error: %s", req.botnet, one_line(exc))
                raise store_unavailable() from None
            return StreamingResponse(
                _stream(path),
                media_type="application/zip",
                headers={
                    "Content-Disposition": f'attachment; filename="{zip_name(req)}"',
                    "Content-Length": str(path.stat().st_size),
                },
            )

        report.__name__ = f"report_{kind}"
        return report

    def doc(kind: Kind) -> dict[str, object]:
        span = (
            "UTC day"
            if kind == "daily"
            else "seven UTC days (an ISO week when it ends on a Sunday)"
        )
        default = "yesterday" if kind == "daily" else "the last full ISO week"
        return operation(
            f"The {kind} report of a botnet, as a zip",
            description=(
                f"The {span} ending with `date` (default: {default}): one CSV per AS or "
                "country in the event4_sinkhole layout, summary.md/.html/.json with charts "
                "(PNG and SVG), methodology.md and the SHA256SUMS manifest "
                "(botmon report verify checks it)."
            ),
            params=[
                path_param("botnet", "Botnet name"),
                query_param(
                    "date",
                    "The last day of the period, YYYY-MM-DD (UTC, before today).",
                    {"type": "string", "format": "date"},
                ),
                query_param(
                    "per",
                    "One file per AS or per country.",
                    {"type": "string", "enum": list(PERS), "default": "asn"},
                ),
                query_param(
                    "tlp",
                    "The TLP label the files carry.",
                    {"type": "string", "enum": list(TLPS), "default": "amber"},
                ),
            ],
            content={"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            roles=VIEW,
            errors=(404, 422, 503),
            tags=("reports",),
        )

    return [
        describe(
            Route(f"{PREFIX}/{{botnet}}/{kind}", endpoint(kind), methods=["GET"]),
            {"get": doc(kind)},
        )
        for kind in ("daily", "weekly")
    ]


async def _stream(path: Path) -> AsyncIterator[bytes]:
    """The zip's bytes, then the file is gone (also when the client leaves midway)."""
    try:
        with path.open("rb") as f:
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                yield chunk
    finally:
        path.unlink(missing_ok=True)
