"""Read API of the research analyses: ``GET /api/v1/analyses/{name}[/{botnet}]``.

One route per installed analysis (so ``/openapi.json`` documents each one's options and
result), viewer or admin token as the other read routes. Query: ``botnet`` (or the path),
``start``/``end`` (epoch seconds or RFC 3339; default the analysis's range up to the next
full minute), ``source_type``, ``format`` json|csv, ``section`` (the CSV's table), and each
option of the analysis under its own name. JSON is the result struct's fields; CSV one of
its sections; an analysis's own file formats (``graphml``) are the format's bytes. A request
naming no range, options or monitor kind is answered from the server's schedule while its
result is fresh; the headers ``X-Botmon-Scheduled`` (true or
false) and ``X-Botmon-Result-Age`` (seconds since the result was computed) say which.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from botmon.analysis import framework, runs
from botmon.analysis.framework import Analysis, AnalysisRequest, OptionError, ResultBase
from botmon.analysis.table import UnknownBotnet
from botmon.csvsafe import safe_cell
from botmon.limits import BOTNET_NAME_PATTERN
from botmon.server.analysis_schedule import Schedule
from botmon.settings import one_line
from botmon.settings.analysis import AnalysisSettings
from botmon.store.base import StoreError
from botmon.web.access import Access
from botmon.web.http import (
    ApiError,
    JsonResponse,
    error_response,
    parse_time,
    store_unavailable,
)
from botmon.web.openapi import describe, operation, path_param, query_param, ref
from botmon.web.source_filter import SOURCE_TYPE_PARAM, parse_source

log = logging.getLogger("botmon.server")

PREFIX = "/api/v1/analyses"
VIEWER_ROLES = ("viewer",)
MAX_RANGE_S = 400 * 86400
"""The longest range one request may cover (as the dashboard's tables)."""
FORMATS = ("json", "csv")
COMMON = ("botnet", "start", "end", "source_type", "format", "section")
"""Query parameters every analysis route takes; any other must be one of its options."""
_BOTNET_SCHEMA = {"type": "string", "pattern": BOTNET_NAME_PATTERN}
SCHEDULED_HEADER = "X-Botmon-Scheduled"
AGE_HEADER = "X-Botmon-Result-Age"


def _invalid(message: str, field: str) -> ApiError:
    return ApiError(422, message, "invalid_parameter", field=field)


def _botnet(request: Request) -> str:
    name = request.path_params.get("botnet") or request.query_params.get("botnet")
    if not name:
        raise _invalid("botnet is required", "botnet")
    if not re.fullmatch(BOTNET_NAME_PATTERN, name):
        raise _invalid("botnet must be a botnet name", "botnet")
    return name


def _options(analysis: Analysis, request: Request) -> dict[str, Any]:
    """The options the query names, parsed; 422 naming the parameter for a bad value or a
    parameter the analysis does not take."""
    out: dict[str, Any] = {}
    known = {o.name: o for o in analysis.options}
    for key in request.query_params:
        if key in COMMON:
            continue
        opt = known.get(key)
        if opt is None:
            names = ", ".join(sorted(known)) or "none"
            raise _invalid(
                f"{analysis.name} has no option {key[:40]!r} (its options: {names})", key[:40]
            )
        try:
            out[key] = runs.parse_option(opt, request.query_params.get(key) or "")
        except OptionError as exc:
            raise _invalid(str(exc), key) from None
    return out


def section_csv(result: ResultBase, name: str | None) -> tuple[str, str]:
    """(section name, CSV text) of the result's main section or the one named; lists and
    objects in a cell as JSON text, formula-like text quoted for spreadsheets."""
    table = framework.section(result, name)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_cell(v) for v in row])
    return table.name, out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return safe_cell(json.dumps(value, sort_keys=True, default=str))
    return safe_cell(value)


def _section_names(result: ResultBase) -> list[str]:
    return [s.name for s in result.sections()]


def _render(result: ResultBase, fmt: str, section: str | None, headers: dict[str, str]) -> Response:
    if section is not None and section not in _section_names(result):
        names = ", ".join(_section_names(result))
        raise _invalid(
            f"{result.analysis} has no section {section[:40]!r} (one of {names})", "section"
        )
    if fmt == "csv":
        name, text = section_csv(result, section)
        filename = (
            f"botmon-{result.analysis}-{result.botnet}-{name}-{int(result.start)}-{int(result.end)}"
        )
        headers = {**headers, "Content-Disposition": f'attachment; filename="{filename}.csv"'}
        return Response(text, media_type="text/csv; charset=utf-8", headers=headers)
    return JsonResponse(framework.to_json(result), headers=headers)


def _endpoint(
    st: Access, analysis: Analysis, settings: AnalysisSettings, schedule: Schedule | None
) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            await st.authenticate(request, VIEWER_ROLES)
            qp = request.query_params
            botnet = _botnet(request)
            fmt = qp.get("format") or "json"
            formats = [*FORMATS, *analysis.exports]
            if fmt not in formats:
                raise _invalid(f"format must be one of {', '.join(formats)}", "format")
            section = qp.get("section") or None
            source = parse_source(qp.get("source_type"))
            options = _options(analysis, request)
            now = time.time()
            start = parse_time("start", qp.get("start"), 0.0) if qp.get("start") else None
            end = parse_time("end", qp.get("end"), now) if qp.get("end") else None
            exporting = fmt in analysis.exports
            plain = start is None and end is None and not options and source is None
            plain = plain and not exporting
            found = schedule.fresh(analysis.name, botnet, now) if plain and schedule else None
            if found is not None:
                age = max(0.0, now - found.result.computed_at)
                return _render(
                    found.result,
                    fmt,
                    section,
                    {SCHEDULED_HEADER: "true", AGE_HEADER: f"{age:.1f}"},
                )
            try:
                req = runs.build_request(
                    analysis, botnet, start, end, source, options, settings, now
                )
            except OptionError as exc:
                field = "end" if "end" in str(exc) and "start" in str(exc) else "options"
                raise _invalid(str(exc), field) from None
            if req.end - req.start > MAX_RANGE_S:
                raise _invalid(f"the range may span at most {MAX_RANGE_S // 86400} days", "start")
            if exporting:
                data = await st.run_read(_export, st, analysis, req, fmt)
                name = f"botmon-{analysis.name}-{botnet}-{int(req.start)}-{int(req.end)}.{fmt}"
                return Response(
                    data,
                    media_type="application/octet-stream",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'},
                )
            try:
                result = await st.run_read(runs.compute, st.store, analysis, req)
            except OptionError as exc:
                raise _invalid(str(exc), "options") from None
            age = max(0.0, time.time() - result.computed_at)
            return _render(
                result, fmt, section, {SCHEDULED_HEADER: "false", AGE_HEADER: f"{age:.1f}"}
            )
        except ApiError as exc:
            return error_response(exc)
        except UnknownBotnet as exc:
            return error_response(
                ApiError(404, f"no botnet named {str(exc.args[0])[:80]!r}", "unknown_botnet")
            )
        except StoreError as exc:
            log.warning("analysis %s: store error: %s", analysis.name, one_line(exc))
            return error_response(store_unavailable())

    endpoint.__name__ = f"analysis_{analysis.name}"
    endpoint.__doc__ = analysis.title
    return endpoint


def _export(st: Access, analysis: Analysis, request: AnalysisRequest, fmt: str) -> bytes:
    out = io.BytesIO()
    runs.export(st.store, analysis, request, fmt, out)
    return out.getvalue()


def _params(analysis: Analysis, with_botnet_query: bool) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    if with_botnet_query:
        params.append(
            {
                **query_param("botnet", "The botnet to analyse (required).", _BOTNET_SCHEMA),
                "required": True,
            }
        )
    params += [
        query_param(
            "start",
            "Range start: epoch seconds or RFC 3339 "
            f"(default: end - {analysis.default_range_s // 86400} days).",
        ),
        query_param(
            "end", "Range end, exclusive: epoch seconds or RFC 3339 (default: the next minute)."
        ),
        SOURCE_TYPE_PARAM,
        query_param(
            "format",
            "json (default: the whole result), csv (one section)"
            + "".join(f", {f}" for f in analysis.exports)
            + (" (the analysis's own file formats)." if analysis.exports else "."),
            {"type": "string", "enum": [*FORMATS, *analysis.exports], "default": "json"},
        ),
        query_param(
            "section",
            "The section the CSV holds (default: the main one, listed first).",
        ),
    ]
    for opt in analysis.options:
        params.append(query_param(opt.name, opt.help, opt.schema()))
    return params


def _operation(analysis: Analysis, with_botnet_query: bool) -> dict[str, Any]:
    return operation(
        analysis.title,
        description=(
            f"{analysis.summary} Without start, end, options and source_type the answer may "
            f"come from the server's schedule: header {SCHEDULED_HEADER} says whether it did "
            f"and {AGE_HEADER} how many seconds old the result is."
        ),
        params=(
            (
                []
                if with_botnet_query
                else [{**path_param("botnet", "The botnet to analyse."), "schema": _BOTNET_SCHEMA}]
            )
            + _params(analysis, with_botnet_query)
        ),
        content={
            "application/json": {"schema": ref(analysis.result_type)},
            "text/csv": {"schema": {"type": "string"}},
            **(
                {"application/octet-stream": {"schema": {"type": "string"}}}
                if analysis.exports
                else {}
            ),
        },
        errors=(404, 422, 503),
        roles=VIEWER_ROLES,
        tags=["analyses"],
    )


def routes(
    st: Access,
    settings: AnalysisSettings,
    schedule: Schedule | None = None,
    analyses: list[Analysis] | None = None,
) -> list[BaseRoute]:
    """Two routes per installed analysis: botnet in the query and in the path."""
    out: list[BaseRoute] = []
    for analysis in runs.available() if analyses is None else analyses:
        endpoint = _endpoint(st, analysis, settings, schedule)
        base = f"{PREFIX}/{analysis.name}"
        out.append(
            describe(
                Route(base, endpoint, methods=["GET"]),
                {"get": _operation(analysis, True)},
                [analysis.result_type],
            )
        )
        out.append(
            describe(
                Route(base + "/{botnet}", endpoint, methods=["GET"]),
                {"get": _operation(analysis, False)},
                [analysis.result_type],
            )
        )
    return out
