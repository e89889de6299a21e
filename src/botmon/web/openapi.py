"""The OpenAPI 3.1 document of a running app, built from its routes and msgspec structs.

Any route may carry its own description: set ``route.openapi`` to a mapping of lower-case
HTTP method -> OpenAPI operation object, and ``route.openapi_types`` to the msgspec structs
its operations reference as ``#/components/schemas/<Name>`` (use :func:`describe`, or
:func:`operation` to build an operation). Routes without a description are still listed, with
their endpoint's docstring as the summary, so the document names every route the app serves.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import msgspec
from starlette.routing import BaseRoute, Mount, Route

from botmon import __version__

REF = "#/components/schemas/{name}"
R = TypeVar("R", bound=BaseRoute)

BEARER: list[dict[str, list[str]]] = [{"bearer": []}]


def ref(type_: type) -> dict[str, str]:
    """A JSON-schema reference to a struct documented in ``components/schemas``."""
    return {"$ref": REF.format(name=type_.__name__)}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def operation(
    summary: str,
    *,
    response: type | None = None,
    status: int = 200,
    body: type | None = None,
    roles: Sequence[str] | None = ("admin",),
    params: Sequence[dict[str, Any]] = (),
    errors: Sequence[int] = (),
    description: str | None = None,
    content: dict[str, Any] | None = None,
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """One OpenAPI operation: summary, auth roles, parameters, body and answers.

        ``roles=None`` marks a route that needs no token. ``errors`` lists the status codes the
        operation can answer with the ``Error`` body (401/403 are added when a token is needed, 415
    when there is a body).
    """
    op: dict[str, Any] = {"summary": summary}
    if description:
        op["description"] = description
    if tags:
        op["tags"] = list(tags)
    if params:
        op["parameters"] = list(params)
    codes = set(errors)
    if body is not None:
        op["requestBody"] = {"required": True, "content": json_content(ref(body))}
        codes.add(415)
    answers: dict[str, Any] = {}
    if content is not None:
        answers[str(status)] = {"description": "OK", "content": content}
    elif response is not None:
        answers[str(status)] = {"description": "OK", "content": json_content(ref(response))}
    else:
        answers[str(status)] = {"description": "OK"}
    if roles is not None:
        op["security"] = BEARER
        op["x-botmon-roles"] = sorted({"admin", *roles})
        codes |= {401, 403}
    for code in sorted(codes):
        answers[str(code)] = {
            "description": _REASONS.get(code, "Error"),
            "content": json_content(ref_error()),
        }
    op["responses"] = answers
    return op


_REASONS = {
    400: "Malformed request (not JSON)",
    401: "No valid token",
    403: "The token's role or botnets do not allow this",
    404: "No such botnet, kind or token",
    409: "The name is taken",
    413: "The body is larger than the limit",
    415: "The body is not declared JSON (Content-Type: application/json)",
    422: "The request is well-formed JSON but invalid",
    503: "The store is unavailable",
}


def ref_error() -> dict[str, str]:
    return {"$ref": REF.format(name="Error")}


def query_param(
    name: str, description: str, schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def describe(route: R, operations: dict[str, dict[str, Any]], types: Iterable[type] = ()) -> R:
    """Attach OpenAPI operations (and the structs they reference) to a route; returns it."""
    route.openapi = operations  # type: ignore[attr-defined]
    route.openapi_types = tuple(types)  # type: ignore[attr-defined]
    return route


def _walk(routes: Iterable[BaseRoute], prefix: str = "") -> Iterable[tuple[str, BaseRoute]]:
    for route in routes:
        if isinstance(route, Mount):
            inner = getattr(route, "routes", None) or []
            if inner:
                yield from _walk(inner, prefix + route.path)
            else:
                yield prefix + route.path + "/{path}", route
        elif isinstance(route, Route):
            yield prefix + route.path, route
        else:
            path = getattr(route, "path", None)
            if isinstance(path, str):
                yield prefix + path, route


def _fallback(route: BaseRoute) -> dict[str, dict[str, Any]]:
    endpoint = getattr(route, "endpoint", None) or getattr(route, "app", None)
    doc = inspect.getdoc(endpoint) if endpoint is not None else None
    summary = (doc or "Undocumented route").splitlines()[0]
    methods = sorted(getattr(route, "methods", None) or {"GET"})
    return {
        m.lower(): {"summary": summary, "responses": {"200": {"description": "OK"}}}
        for m in methods
        if m != "HEAD"
    }


def build_document(routes: Iterable[BaseRoute], core_types: Iterable[type]) -> dict[str, Any]:
    """The OpenAPI 3.1 document for ``routes``; struct schemas from msgspec."""
    paths: dict[str, dict[str, Any]] = {}
    types: list[type] = list(core_types)
    for path, route in _walk(routes):
        operations = getattr(route, "openapi", None) or _fallback(route)
        types.extend(t for t in getattr(route, "openapi_types", ()) if t not in types)
        paths.setdefault(path, {}).update(operations)
    _, components = msgspec.json.schema_components(types, ref_template=REF)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "botmon API",
            "version": __version__,
            "description": (
                "Botnet monitoring: crawlers and sensors report batches of replies, failed "
                "tries and edges; viewers read populations and exports. Authenticate with "
                "'Authorization: Bearer <token>' (tokens are made with 'botmon token create')."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
