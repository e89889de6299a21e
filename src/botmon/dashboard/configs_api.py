"""Read API of botnet configurations and their alerts, and the admin's acknowledgement.

- ``GET /api/v1/stats/botnets/{botnet}/configs`` (viewer): every configuration the botnet's
  bots carried, with first/last sighting and bot counts; ``?digest=`` narrows it to one
  configuration and lists the bots that carried it.
- ``GET /api/v1/alerts`` (viewer): configuration alerts, newest first; ``botnet=``,
  ``since=``, ``kind=`` and ``unacked=true`` filter them. The dashboard's banner reads it.
- ``POST /api/v1/admin/alerts/{id}/ack`` (admin, Bearer token): acknowledge one alert.

What is stored and when alerts are raised: :mod:`botmon.store.configs`.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from botmon.csvsafe import safe_cell
from botmon.digits import is_ascii_number
from botmon.limits import BOTNET_NAME_PATTERN
from botmon.settings import one_line
from botmon.store.base import StoreError
from botmon.store.configs import ALERT_KINDS, MAX_ALERTS, Config, ConfigAlert, ConfigBot
from botmon.web.access import Access
from botmon.web.http import (
    ApiError,
    JsonResponse,
    error_response,
    parse_int,
    parse_time,
    store_unavailable,
)
from botmon.web.openapi import describe, operation, path_param, query_param, ref

log = logging.getLogger("botmon.dashboard")

VIEWER_ROLES = ("viewer",)
_DIGEST = re.compile(r"[0-9a-fA-F]{16,128}")


class BotnetConfigs(msgspec.Struct):
    """A botnet's configurations, newest first sighting first. With ``digest``, only that
    configuration, and ``bots`` lists the bots that carried it (most recently seen first,
    at most ``limit``); without, ``bots`` is null."""

    botnet: str
    digest: str | None
    configs: list[Config]
    bots: list[ConfigBot] | None


class AlertList(msgspec.Struct):
    """Configuration alerts, newest first. Kinds: new_config (info), new_version (warning),
    bad_signature (high), stop_order (critical)."""

    alerts: list[ConfigAlert]


def _botnet(text: str | None, field: str) -> str:
    if text is None or not re.fullmatch(BOTNET_NAME_PATTERN, text):
        raise ApiError(422, f"{field} must be a botnet name", "invalid_parameter", field=field)
    return text


CONFIG_COLUMNS = (
    "digest",
    "version",
    "signatures",
    "stop",
    "bots",
    "unlisted_sightings",
    "first_seen",
    "last_seen",
    "current",
    "tags",
)
BOT_COLUMNS = ("bot", "first_seen", "last_seen")


def _csv(found: BotnetConfigs) -> Response:
    """The configurations (or, with a digest, the bots) as CSV; tags as JSON text, and text
    a spreadsheet would run as a formula quoted (:func:`botmon.csvsafe.safe_cell`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if found.bots is None:
        writer.writerow(CONFIG_COLUMNS)
        for c in found.configs:
            row = msgspec.structs.asdict(c) | {"tags": json.dumps(c.tags, sort_keys=True)}
            writer.writerow([safe_cell(row[k]) for k in CONFIG_COLUMNS])
        name = f"botmon-configs-{found.botnet}"
    else:
        writer.writerow(BOT_COLUMNS)
        writer.writerows([safe_cell(b.bot), b.first_seen, b.last_seen] for b in found.bots)
        name = f"botmon-configs-{found.botnet}-{(found.digest or '')[:16]}"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


def _configs(st: Access, botnet: str, digest: str | None, limit: int) -> BotnetConfigs:
    found = st.store.configs(botnet)
    if found is None:
        raise ApiError(404, f"no botnet named {botnet!r}", "unknown_botnet")
    if digest is None:
        return BotnetConfigs(botnet, None, found, None)
    digest = digest.lower()
    one = [c for c in found if c.digest == digest]
    if not one:
        raise ApiError(404, f"botnet {botnet!r} has no configuration {digest}", "not_found")
    return BotnetConfigs(botnet, digest, one, st.store.config_bots(botnet, digest, limit))


def _guarded(handler: Callable[[Request], Awaitable[Response]]) -> Any:
    """``handler`` whose store failures answer 503 (logged), like the other read routes."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except StoreError as exc:
            log.warning("%s: store error: %s", request.url.path, one_line(exc))
            return error_response(store_unavailable())

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


def routes(st: Access) -> list[BaseRoute]:
    """The configuration and alert routes."""

    async def configs(request: Request) -> Response:
        """A botnet's configurations, or the bots of one."""
        await st.authenticate(request, VIEWER_ROLES)
        botnet = _botnet(request.path_params.get("botnet"), "botnet")
        digest = request.query_params.get("digest") or None
        if digest is not None and not _DIGEST.fullmatch(digest):
            raise ApiError(
                422, "digest must be 16..128 hex digits", "invalid_parameter", field="digest"
            )
        limit = parse_int("limit", request.query_params.get("limit"), 1000, 1, 1000)
        fmt = request.query_params.get("format", "json")
        if fmt not in ("json", "csv"):
            raise ApiError(422, "format must be json or csv", "invalid_parameter", field="format")
        found = await st.run_read(_configs, st, botnet, digest, limit)
        return _csv(found) if fmt == "csv" else JsonResponse(found)

    async def alerts(request: Request) -> Response:
        """Configuration alerts."""
        await st.authenticate(request, VIEWER_ROLES)
        qp = request.query_params
        botnet = _botnet(qp["botnet"], "botnet") if qp.get("botnet") else None
        since = parse_time("since", qp.get("since"), 0.0) if qp.get("since") else None
        kind = qp.get("kind") or None
        if kind is not None and kind not in ALERT_KINDS:
            raise ApiError(
                422,
                "kind must be one of " + ", ".join(ALERT_KINDS),
                "invalid_parameter",
                field="kind",
            )
        unacked = qp.get("unacked", "false")
        if unacked not in ("true", "false"):
            raise ApiError(
                422, "unacked must be true or false", "invalid_parameter", field="unacked"
            )
        limit = parse_int("limit", qp.get("limit"), MAX_ALERTS, 1, MAX_ALERTS)
        found = await st.run_read(_alerts, st, botnet, since, kind, unacked == "true", limit)
        return JsonResponse(AlertList(found))

    async def ack(request: Request) -> Response:
        """Acknowledge an alert (the first acknowledgement stays)."""
        monitor = await st.authenticate(request, ("admin",))
        text = request.path_params["id"]
        if not is_ascii_number(text) or len(text) > 18:
            raise ApiError(404, f"no alert {text[:40]!r}", "not_found")
        found = await st.run_store(st.store.ack_config_alert, int(text), monitor.name, time.time())
        if found is None:
            raise ApiError(404, f"no alert {text}", "not_found")
        return JsonResponse(found)

    bp = path_param("botnet", "Botnet name.")
    viewer: dict[str, Any] = {"roles": VIEWER_ROLES, "tags": ["read"]}
    return [
        describe(
            Route("/api/v1/stats/botnets/{botnet}/configs", _guarded(configs), methods=["GET"]),
            {
                "get": operation(
                    "A botnet's configurations.",
                    description=(
                        "Every distinct configuration the botnet's bots carried (digest, "
                        "version, tags, signature status, stop order), its first and last "
                        "sighting, the bots listed as carrying it and sightings by bots "
                        "beyond that list; 'current' marks the one seen last. With digest, "
                        "that configuration and the bots that carried it."
                    ),
                    params=[
                        bp,
                        query_param("digest", "Only this configuration, with its bots."),
                        query_param("limit", "Most bots to list (1..1000).", {"type": "integer"}),
                        query_param(
                            "format",
                            "json (default) or csv (the configurations, tags as JSON text; "
                            "with digest, its bots).",
                            {"type": "string", "enum": ["json", "csv"]},
                        ),
                    ],
                    content={
                        "application/json": {"schema": ref(BotnetConfigs)},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                    errors=(404, 422, 503),
                    **viewer,
                )
            },
            [BotnetConfigs, Config, ConfigBot],
        ),
        describe(
            Route("/api/v1/alerts", _guarded(alerts), methods=["GET"]),
            {
                "get": operation(
                    "Configuration alerts, newest first.",
                    params=[
                        query_param("botnet", "Only this botnet."),
                        query_param(
                            "since", "Only alerts at or after this time (epoch s or RFC 3339)."
                        ),
                        query_param("kind", "Only this kind.", {"enum": list(ALERT_KINDS)}),
                        query_param(
                            "unacked",
                            "true: only alerts not acknowledged yet.",
                            {"enum": ["true", "false"]},
                        ),
                        query_param("limit", "Most alerts (1..1000).", {"type": "integer"}),
                    ],
                    response=AlertList,
                    errors=(422, 503),
                    **viewer,
                )
            },
            [AlertList, ConfigAlert],
        ),
        describe(
            Route("/api/v1/admin/alerts/{id}/ack", ack, methods=["POST"]),
            {
                "post": operation(
                    "Acknowledge a configuration alert",
                    params=[path_param("id", "The alert's id.")],
                    response=ConfigAlert,
                    errors=(404,),
                    tags=["admin"],
                )
            },
            [ConfigAlert],
        ),
    ]


def _alerts(
    st: Access, botnet: str | None, since: float | None, kind: str | None, unacked: bool, n: int
) -> list[ConfigAlert]:
    return st.store.config_alerts(botnet, since, kind, unacked=unacked, limit=n)
