"""Routes that exclude monitors of others from a botnet's counts and views, and list them.

``POST`` (admin) excludes a list of ip:port monitors, ``DELETE`` (admin) counts one in
again, ``GET`` (viewer or admin; the dashboard shows the count beside its "hide suspected
monitors" switch) lists them. Addresses are checked strictly (:mod:`botmon.ipaddr`) and
answered in canonical text; any bad value is a 422 naming the field, and nothing of a
refused list is stored.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from botmon.ipaddr import int_to_ip, ip_to_int
from botmon.limits import BOTNET_NAME_PATTERN
from botmon.server.state import ServerState
from botmon.store.base import StoreError
from botmon.store.exclusions import (
    MAX_EXCLUDED,
    MAX_NOTE,
    ExcludedMonitor,
    MonitorKind,
    MonitorToExclude,
)
from botmon.web.http import ApiError, JsonResponse, decode_json, read_body
from botmon.web.openapi import describe, operation, path_param

ADMIN = ("admin",)
VIEW = ("viewer",)
PATH = "/api/v1/admin/botnets/{botnet}/excluded-monitors"


class MonitorIn(msgspec.Struct, forbid_unknown_fields=True):
    """One monitor to exclude: its address and port, and optionally what it is (crawler or
    sensor), a detection's score and evidence, and a note for other users."""

    ip: Annotated[str, msgspec.Meta(max_length=64)]
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)]
    kind: MonitorKind | None = None
    note: Annotated[str, msgspec.Meta(max_length=MAX_NOTE)] = ""
    score: float | None = None
    evidence: dict[str, Any] | None = None


class ExcludeIn(msgspec.Struct, forbid_unknown_fields=True):
    """The monitors to exclude (a bare JSON list of them is accepted too)."""

    monitors: list[MonitorIn]


class ExcludedMonitors(msgspec.Struct):
    """A botnet's excluded monitors, by address and port."""

    botnet: str
    monitors: list[ExcludedMonitor]


def _monitors(body: list[MonitorIn]) -> list[MonitorToExclude]:
    if not 1 <= len(body) <= MAX_EXCLUDED:
        raise ApiError(422, f"send 1..{MAX_EXCLUDED} monitors", "invalid_request", field="monitors")
    out: list[MonitorToExclude] = []
    for i, m in enumerate(body):
        try:
            ip = int_to_ip(ip_to_int(m.ip))
        except ValueError:
            raise ApiError(
                422,
                f"monitors[{i}].ip: {m.ip[:64]!r} is not an IPv4 or IPv6 address",
                "invalid_request",
                field=f"monitors[{i}].ip",
            ) from None
        if m.score is not None and not -1e12 < m.score < 1e12:
            raise ApiError(
                422,
                f"monitors[{i}].score must be a finite number",
                "invalid_request",
                field=f"monitors[{i}].score",
            )
        out.append(
            MonitorToExclude(
                ip=ip, port=m.port, kind=m.kind, score=m.score, evidence=m.evidence, note=m.note
            )
        )
    return out


def _botnet(request: Request) -> str:
    import re

    name = str(request.path_params["botnet"])
    if not re.match(BOTNET_NAME_PATTERN, name):
        raise ApiError(422, "botnet must be a botnet name", "invalid_parameter", field="botnet")
    return name


def routes(state: ServerState) -> list[BaseRoute]:
    """The excluded-monitors routes."""
    store = state.store
    limit = state.settings.max_admin_body_bytes

    async def known(name: str) -> None:
        if await state.run_store(store.get_botnet, name) is None:
            raise ApiError(404, f"unknown botnet {name!r}", "unknown_botnet", field="botnet")

    async def listing(request: Request) -> Response:
        """List (GET, viewer) or exclude (POST, admin) a botnet's monitors of others."""
        if request.method == "GET":
            await state.authenticate(request, VIEW)
            name = _botnet(request)
            await known(name)
            found = await state.run_read(store.excluded_monitors, name)
            return JsonResponse(ExcludedMonitors(name, found))
        caller = await state.authenticate(request, ADMIN)
        name = _botnet(request)
        body = decode_json(await read_body(request, limit), ExcludeIn | list[MonitorIn])  # type: ignore[arg-type]
        monitors = _monitors(body.monitors if isinstance(body, ExcludeIn) else body)
        await known(name)
        try:
            stored = await state.run_store(
                store.exclude_monitors, name, monitors, caller.name, time.time()
            )
        except StoreError as exc:
            raise ApiError(422, str(exc), "invalid_request", field="monitors") from None
        return JsonResponse(ExcludedMonitors(name, stored))

    async def include(request: Request) -> Response:
        """Count one monitor in the botnet's views again."""
        await state.authenticate(request, ADMIN)
        name = _botnet(request)
        text = str(request.path_params["ip"])
        try:
            ip = int_to_ip(ip_to_int(text))
        except ValueError:
            raise ApiError(
                422,
                f"{text[:64]!r} is not an IPv4 or IPv6 address",
                "invalid_parameter",
                field="ip",
            ) from None
        port_text = str(request.path_params["port"])
        if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
            raise ApiError(422, "port must be 0..65535", "invalid_parameter", field="port")
        await known(name)
        if not await state.run_store(store.include_monitor, name, ip, int(port_text)):
            raise ApiError(404, f"{ip} port {port_text} is not excluded for {name}", "not_found")
        return JsonResponse({"botnet": name, "ip": ip, "port": int(port_text), "excluded": False})

    botnet = path_param("botnet", "Botnet name.")
    tag = ("admin",)
    return [
        describe(
            Route(PATH, listing, methods=["GET", "POST"]),
            {
                "get": operation(
                    "Monitors of others excluded from a botnet's counts and views",
                    description=(
                        "Every read route leaves their records out when asked "
                        "(exclude_monitors=true, or the server's analysis.exclude_monitors)."
                    ),
                    params=[botnet],
                    response=ExcludedMonitors,
                    roles=(*VIEW, *ADMIN),
                    errors=(404, 422),
                    tags=tag,
                ),
                "post": operation(
                    "Exclude monitors of others from a botnet's counts and views",
                    description=(
                        "{monitors: [{ip, port, kind?, note?, score?, evidence?}, ...]} (or the "
                        "bare list): kind is "
                        "crawler or sensor; a monitor excluded before takes the new details. "
                        "Nothing is deleted: their records return when they are included "
                        "again. Any bad address or value answers 422 and stores nothing."
                    ),
                    params=[botnet],
                    body=ExcludeIn,
                    response=ExcludedMonitors,
                    roles=ADMIN,
                    errors=(400, 404, 422),
                    tags=tag,
                ),
            },
            [ExcludeIn, MonitorIn, ExcludedMonitor, ExcludedMonitors],
        ),
        describe(
            Route(PATH + "/{ip}/{port}", include, methods=["DELETE"]),
            {
                "delete": operation(
                    "Count an excluded monitor in a botnet's views again",
                    params=[
                        botnet,
                        path_param("ip", "The monitor's address (IPv4 or IPv6)."),
                        path_param("port", "The monitor's port."),
                    ],
                    roles=ADMIN,
                    errors=(404, 422),
                    tags=tag,
                )
            },
        ),
    ]
