"""The admin API: tokens, botnets, commands and counts (role admin).

The CLI uses these routes when ``botmon serve`` holds the DuckDB file, so every CLI
administration task must have a route here and answer with the same information.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from botmon.auth import TokenRefused, issue_token
from botmon.feeds.model import FeedScope
from botmon.server import schemas
from botmon.server.state import ServerState
from botmon.store.base import Botnet, Monitor, StoreError
from botmon.web.http import ApiError, JsonResponse, decode_json, read_body
from botmon.web.openapi import describe, operation, path_param, query_param
from botmon.wire import COMMAND_ARGS, Command, CommandError, command_args

ADMIN = ("admin",)


def _create_token(state: ServerState, spec: schemas.TokenIn) -> schemas.TokenCreated:
    try:
        scope = FeedScope(
            asns=tuple(spec.asns), cidrs=tuple(spec.cidrs), countries=tuple(spec.countries)
        )
        token, monitor = issue_token(state.store, spec.name, spec.role, spec.botnets, scope)
    except TokenRefused as exc:
        status = 409 if exc.kind == "conflict" else 422
        raise ApiError(status, str(exc), exc.kind, field=exc.field) from None
    return schemas.TokenCreated(token, monitor)


def _queue_command(state: ServerState, spec: schemas.CommandIn) -> Command:
    try:
        command_args(spec.command, spec.args)
    except CommandError as exc:
        raise ApiError(422, str(exc), "invalid_request", field="args") from None
    active = {m.name for m in state.store.list_monitors() if not m.revoked}
    if spec.source not in active:
        raise ApiError(
            422, f"no active monitor named {spec.source!r}", "unknown_source", field="source"
        )
    return state.store.add_command(spec.source, spec.command, spec.args, time.time())


def _monitors(state: ServerState) -> list[Monitor]:
    return state.store.list_monitors()


def routes(state: ServerState) -> list[BaseRoute]:
    """The admin routes."""
    limit = state.settings.max_admin_body_bytes

    async def tokens(request: Request) -> Response:
        """Create a token (POST) or list the token holders (GET)."""
        await state.authenticate(request, ADMIN)
        if request.method == "GET":
            monitors = await state.run_store(_monitors, state)
            return JsonResponse(schemas.TokenList(monitors))
        spec = decode_json(await read_body(request, limit), schemas.TokenIn)
        created = await state.run_store(_create_token, state, spec)
        return JsonResponse(created, status_code=201)

    async def revoke(request: Request) -> Response:
        """Revoke a token by its holder's name."""
        await state.authenticate(request, ADMIN)
        name = request.path_params["name"]
        if not await state.run_store(state.store.revoke_monitor, name):
            raise ApiError(404, f"no active token named {name!r}", "not_found")
        state.forget_tokens()
        return JsonResponse({"revoked": name})

    async def botnets(request: Request) -> Response:
        """Create a botnet (POST) or list botnets (GET)."""
        await state.authenticate(request, ADMIN)
        if request.method == "GET":
            found = await state.run_store(state.store.list_botnets)
            return JsonResponse(schemas.BotnetList(found))
        spec = decode_json(await read_body(request, limit), schemas.BotnetIn)
        try:
            botnet = await state.run_store(state.store.create_botnet, spec.name, spec.description)
        except StoreError as exc:
            raise ApiError(409, str(exc), "conflict", field="name") from None
        return JsonResponse(botnet, status_code=201)

    async def commands(request: Request) -> Response:
        """Queue a command for a monitor; it gets it on its next heartbeat."""
        await state.authenticate(request, ADMIN)
        spec = decode_json(await read_body(request, limit), schemas.CommandIn)
        command = await state.run_store(_queue_command, state, spec)
        return JsonResponse(command, status_code=201)

    async def counts(request: Request) -> Response:
        """Stored rows per record kind (and batches), for one botnet or all."""
        await state.authenticate(request, ADMIN)
        botnet = request.query_params.get("botnet") or None
        if botnet is not None and await state.run_store(state.store.get_botnet, botnet) is None:
            raise ApiError(404, f"unknown botnet {botnet!r}", "unknown_botnet", field="botnet")
        found = await state.run_store(state.store.count_records, botnet)
        return JsonResponse(schemas.Counts(found))

    tag: Sequence[str] = ("admin",)
    return [
        describe(
            Route("/api/v1/admin/tokens", tokens, methods=["GET", "POST"]),
            {
                "get": operation("List token holders", response=schemas.TokenList, tags=tag),
                "post": operation(
                    "Create a token (shown once)",
                    body=schemas.TokenIn,
                    response=schemas.TokenCreated,
                    status=201,
                    errors=(400, 409, 422),
                    tags=tag,
                ),
            },
        ),
        describe(
            Route("/api/v1/admin/tokens/{name}", revoke, methods=["DELETE"]),
            {
                "delete": operation(
                    "Revoke a token",
                    params=[path_param("name", "The token holder's name")],
                    errors=(404,),
                    tags=tag,
                )
            },
        ),
        describe(
            Route("/api/v1/admin/botnets", botnets, methods=["GET", "POST"]),
            {
                "get": operation("List botnets", response=schemas.BotnetList, tags=tag),
                "post": operation(
                    "Create a botnet",
                    body=schemas.BotnetIn,
                    response=Botnet,
                    status=201,
                    errors=(400, 409, 422),
                    tags=tag,
                ),
            },
        ),
        describe(
            Route("/api/v1/admin/commands", commands, methods=["POST"]),
            {
                "post": operation(
                    "Queue a command for a monitor",
                    description=(
                        "The monitor receives it with its next heartbeat answer. args must fit "
                        "the command: pause, resume and stop take none (NoArgs), set_rate "
                        "takes SetRate, add_seeds takes AddSeeds. An unknown command or "
                        "arguments that do not fit it answer 422."
                    ),
                    body=schemas.CommandIn,
                    response=Command,
                    status=201,
                    errors=(400, 422),
                    tags=tag,
                )
            },
            sorted(set(COMMAND_ARGS.values()), key=lambda t: t.__name__),
        ),
        describe(
            Route("/api/v1/admin/counts", counts, methods=["GET"]),
            {
                "get": operation(
                    "Stored rows per kind",
                    params=[query_param("botnet", "Only this botnet")],
                    response=schemas.Counts,
                    errors=(404,),
                    tags=tag,
                )
            },
        ),
    ]
