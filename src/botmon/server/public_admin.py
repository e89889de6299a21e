"""Admin routes that make dashboard views of a botnet public, stop that, and list them.

``PUT /api/v1/admin/public-views/{botnet}/{view}`` serves the view to anyone (under
``/public`` and ``/api/v1/public``), ``DELETE`` stops it, ``GET /api/v1/admin/public-views``
lists what is public and which views may be. Admin only: what strangers may read is an
admin's decision. A view name outside the catalogue is a 422 naming the choices, an unknown
botnet a 404.
"""

from __future__ import annotations

import re
import time

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from botmon.analysis import public as catalogue
from botmon.limits import BOTNET_NAME_PATTERN
from botmon.server.state import ServerState
from botmon.store.base import StoreError
from botmon.store.public_views import PublicView
from botmon.web.http import ApiError, JsonResponse
from botmon.web.openapi import describe, operation, path_param

ADMIN = ("admin",)
PATH = "/api/v1/admin/public-views"


class PublicViews(msgspec.Struct):
    """What is public (``views``) and every view that may be made public (``available``)."""

    views: list[PublicView]
    available: list[str]


class Unpublished(msgspec.Struct):
    """A view that is no longer public."""

    botnet: str
    view: str
    public: bool


def _target(request: Request) -> tuple[str, str]:
    botnet = str(request.path_params["botnet"])
    view = str(request.path_params["view"])
    if not re.match(BOTNET_NAME_PATTERN, botnet):
        raise ApiError(422, "botnet must be a botnet name", "invalid_parameter", field="botnet")
    known = catalogue.catalogue()
    if view not in known:
        raise ApiError(
            422,
            f"no view {view[:40]!r} can be public; choose one of {', '.join(known)}",
            "invalid_parameter",
            field="view",
        )
    return botnet, view


def routes(state: ServerState) -> list[BaseRoute]:
    """The public-views admin routes."""
    store = state.store

    async def known(name: str) -> None:
        if await state.run_store(store.get_botnet, name) is None:
            raise ApiError(
                404,
                f"unknown botnet {name!r}: create it first (botmon botnet create {name})",
                "unknown_botnet",
                field="botnet",
            )

    async def listing(request: Request) -> Response:
        """Every public view, and the views that may be public."""
        await state.authenticate(request, ADMIN)
        found = await state.run_read(store.public_views)
        return JsonResponse(PublicViews(found, list(catalogue.catalogue())))

    async def change(request: Request) -> Response:
        """Make a view of a botnet public (PUT) or private again (DELETE)."""
        caller = await state.authenticate(request, ADMIN)
        botnet, view = _target(request)
        await known(botnet)
        try:
            if request.method == "PUT":
                stored = await state.run_store(
                    store.publish_view, botnet, view, caller.name, time.time()
                )
                return JsonResponse(stored)
            if not await state.run_store(store.unpublish_view, botnet, view):
                raise ApiError(404, f"{view} of {botnet} is not public", "not_found")
        except StoreError as exc:
            raise ApiError(422, str(exc), "invalid_request") from None
        return JsonResponse(Unpublished(botnet, view, False))

    params = [
        path_param("botnet", "Botnet name."),
        path_param("view", f"View: one of {', '.join(catalogue.all_view_names())}."),
    ]
    tag = ("admin",)
    return [
        describe(
            Route(PATH, listing, methods=["GET"]),
            {
                "get": operation(
                    "Dashboard views served publicly, and the views that may be",
                    response=PublicViews,
                    roles=ADMIN,
                    tags=tag,
                )
            },
            [PublicViews, PublicView],
        ),
        describe(
            Route(PATH + "/{botnet}/{view}", change, methods=["PUT", "DELETE"]),
            {
                "put": operation(
                    "Serve a view of a botnet publicly (read-only, no token, aggregates only)",
                    description=(
                        "The view then answers under /api/v1/public/botnets/{botnet}/{view} "
                        "and on the page /public/{botnet}, within two seconds. Making a "
                        "public view public again records the new time and admin."
                    ),
                    response=PublicView,
                    params=params,
                    roles=ADMIN,
                    errors=(404, 422),
                    tags=tag,
                ),
                "delete": operation(
                    "Stop serving a view of a botnet publicly",
                    description="404 when the view was not public.",
                    response=Unpublished,
                    params=params,
                    roles=ADMIN,
                    errors=(404, 422),
                    tags=tag,
                ),
            },
            [PublicView, Unpublished],
        ),
    ]
