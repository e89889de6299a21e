"""The public views: dashboard views an admin made public, served to anyone, read-only.

``/public`` and ``/public/{botnet}`` are a page (``static/public.html``) that draws them;
``/api/v1/public/views``, ``/api/v1/public/botnets/{botnet}`` and
``/api/v1/public/botnets/{botnet}/{view}`` are its JSON. No token and no cookie is read or
set. Whatever is not marked public (a botnet, a view, a view name that does not exist)
answers 404, never 403, so a stranger cannot learn what exists. The numbers are the
aggregates of :mod:`botmon.analysis.public`, which never carry an address, a bot ID or a
monitor's name.

Anyone may call these routes, so each answer is computed at most once per ``public.cache_s``
per (botnet, view, range), shared by every visitor (and offered to browsers and proxies with
``Cache-Control: public, max-age`` and an ``ETag``), and each client address is rate limited
(``public.rate_per_minute``, ``public.burst``; 429 with ``Retry-After``). The client address
is the connection's peer: behind a reverse proxy, let the proxy limit instead.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from botmon.analysis import public as catalogue
from botmon.analysis.table import UnknownBotnet
from botmon.dashboard.web import STATIC_DIR
from botmon.settings import AnalysisSettings, PublicSettings, load, one_line
from botmon.store.base import StoreError
from botmon.store.public_views import PublicView
from botmon.web.access import Access
from botmon.web.http import ApiError, error_response, store_unavailable
from botmon.web.openapi import describe, operation, path_param, query_param
from botmon.web.ratelimit import RateLimiter, retry_after
from botmon.web.source_filter import exclude_default, read_filter
from botmon.web.ttlcache import TtlCache

log = logging.getLogger("botmon.public")

API = "/api/v1/public"
PAGE = "/public"
TAG = "public"
MARKS_TTL_S = 2.0
"""How long the list of public views is reused: an admin's change shows within this."""

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_NOT_FOUND_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>botmon: not found</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/dashboard/static/app.css">
<link rel="stylesheet" href="/dashboard/static/public.css"></head>
<body><main class="public-missing"><h1>Not found</h1>
<p>{what} is not public. <a href="/public">See what is.</a></p></main></body></html>
"""


class PublicViewLink(msgspec.Struct):
    """A public view of a botnet: its name, title, what its numbers mean and its JSON URL."""

    view: str
    title: str
    explains: str
    url: str


class PublicBotnet(msgspec.Struct):
    """A botnet with public views, and those views."""

    botnet: str
    page: str
    views: list[PublicViewLink]


class PublicListing(msgspec.Struct):
    """Every botnet with public views; the ranges a view can be asked for (``range=``)."""

    botnets: list[PublicBotnet]
    ranges: list[str]
    default_range: str
    cache_s: float


_encoder = msgspec.json.Encoder()


class _Answer:
    """A rendered public answer: its body and ETag, shared by every visitor."""

    __slots__ = ("body", "etag")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} is not public", "not_found", {"Cache-Control": "no-cache"})


def _client(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def routes(st: Access) -> list[BaseRoute]:
    """The public page's and public API's routes."""
    settings: PublicSettings = getattr(st, "public", None) or load(PublicSettings).settings
    analysis: AnalysisSettings = getattr(st, "analysis", None) or load(AnalysisSettings).settings
    exclude = exclude_default(st)
    limiter = RateLimiter(settings.rate_per_minute / 60.0, settings.burst, settings.max_clients)
    answers: TtlCache[tuple[Any, ...], _Answer] = TtlCache(settings.cache_s, settings.max_cached)
    marks: TtlCache[str, list[PublicView]] = TtlCache(MARKS_TTL_S, 1)
    running: dict[tuple[Any, ...], asyncio.Future[_Answer]] = {}

    async def public_views() -> list[PublicView]:
        """Every public (botnet, view) whose view this server can show."""
        hit = marks.get("all", time.monotonic())
        if hit is not None:
            return hit[0]
        order = {name: i for i, name in enumerate(catalogue.catalogue())}
        found = [v for v in await st.run_read(st.store.public_views) if v.view in order]
        found.sort(key=lambda v: (v.botnet, order[v.view]))
        marks.put("all", found, time.monotonic())
        return found

    async def botnet_views(name: str) -> list[str]:
        return [v.view for v in await public_views() if v.botnet == name]

    def link(botnet: str, view: str) -> PublicViewLink:
        spec = catalogue.catalogue()[view]
        return PublicViewLink(view, spec.title, spec.explains, f"{API}/botnets/{botnet}/{view}")

    def cached(body: bytes, request: Request, max_age: float, etag: str | None = None) -> Response:
        tag = etag or '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {
            **_HEADERS,
            "Cache-Control": f"public, max-age={max(0, int(max_age))}",
            "ETag": tag,
        }
        if tag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/json", headers=headers)

    def limited(handler: Callable[[Request], Awaitable[Response]]) -> Any:
        """``handler`` behind the per-client rate limit, with the error handling of every
        public route (errors carry the security headers, and nothing says more than 404)."""

        async def endpoint(request: Request) -> Response:
            wait = limiter.take(_client(request), time.monotonic())
            if wait > 0:
                error = ApiError(
                    429,
                    "too many requests from this address; try again later",
                    "rate_limited",
                    {"Retry-After": retry_after(wait), "Cache-Control": "no-store"},
                )
                return error_response(error)
            try:
                return await handler(request)
            except ApiError as exc:
                exc.headers = {**_HEADERS, **(exc.headers or {})}
                return error_response(exc)
            except UnknownBotnet:
                return error_response(_not_found("this botnet"))
            except StoreError as exc:
                log.warning("public view: store error: %s", one_line(exc))
                return error_response(store_unavailable())

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return endpoint

    def only(request: Request, allowed: tuple[str, ...]) -> None:
        for key in request.query_params:
            if key not in allowed:
                raise ApiError(
                    422,
                    f"unknown parameter {key[:40]!r}"
                    + (f" (this route takes: {', '.join(allowed)})" if allowed else ""),
                    "invalid_parameter",
                    field=key[:40],
                )

    async def listing(request: Request) -> Response:
        """Every botnet with public views, and its views."""
        only(request, ())
        by_botnet: dict[str, list[PublicViewLink]] = {}
        for v in await public_views():
            by_botnet.setdefault(v.botnet, []).append(link(v.botnet, v.view))
        body = PublicListing(
            botnets=[PublicBotnet(b, f"{PAGE}/{b}", views) for b, views in by_botnet.items()],
            ranges=list(catalogue.RANGES),
            default_range=catalogue.DEFAULT_RANGE,
            cache_s=settings.cache_s,
        )
        return cached(_encoder.encode(body), request, min(settings.cache_s, MARKS_TTL_S))

    async def botnet(request: Request) -> Response:
        """One botnet's public views."""
        only(request, ())
        name = str(request.path_params["botnet"])
        views = await botnet_views(name)
        if not views:
            raise _not_found("this botnet")
        body = PublicBotnet(name, f"{PAGE}/{name}", [link(name, v) for v in views])
        return cached(_encoder.encode(body), request, min(settings.cache_s, MARKS_TTL_S))

    async def compute(name: str, view: str, range_name: str) -> _Answer:
        source, _ = await read_filter(st, {}, exclude)
        answer = await st.run_read(
            catalogue.compute, st.store, name, view, range_name, time.time(), source, analysis
        )
        return _Answer(_encoder.encode(answer))

    async def view(request: Request) -> Response:
        """One public view of one botnet: its aggregates over the range asked for."""
        only(request, ("range",))
        name = str(request.path_params["botnet"])
        view_name = str(request.path_params["view"])
        if view_name not in await botnet_views(name):
            raise _not_found("this view")
        range_name = request.query_params.get("range") or catalogue.DEFAULT_RANGE
        if range_name not in catalogue.RANGES:
            raise ApiError(
                422,
                f"range must be one of {', '.join(catalogue.RANGES)}",
                "invalid_parameter",
                field="range",
            )
        key = (name, view_name, range_name)
        now = time.monotonic()
        hit = answers.get(key, now)
        if hit is not None:
            return cached(hit[0].body, request, hit[1], hit[0].etag)
        pending = running.get(key)
        if pending is None:  # the first visitor computes; the others wait for its answer
            task = asyncio.ensure_future(compute(name, view_name, range_name))
            running[key] = task
            try:
                found = await asyncio.shield(task)
                answers.put(key, found, time.monotonic())
            finally:
                running.pop(key, None)
        else:
            found = await asyncio.shield(pending)
        return cached(found.body, request, settings.cache_s, found.etag)

    async def page(request: Request) -> Response:
        """The public page: every public view (of one botnet under /public/{botnet})."""
        name = request.path_params.get("botnet")
        if name is not None and not await botnet_views(str(name)):
            text = _NOT_FOUND_PAGE.format(what=f"Botnet {html.escape(str(name)[:80])!s}")
            return HTMLResponse(
                text, status_code=404, headers={**_HEADERS, "Cache-Control": "no-cache"}
            )
        body = (STATIC_DIR / "public.html").read_bytes()
        headers = {**_HEADERS, "Cache-Control": f"public, max-age={int(settings.cache_s)}"}
        return HTMLResponse(body, headers=headers)

    botnet_p = path_param("botnet", "Botnet name.")
    view_p = path_param("view", f"View name: one of {', '.join(catalogue.all_view_names())}.")
    range_p = query_param(
        "range",
        f"The period up to now: {', '.join(catalogue.RANGES)} (default {catalogue.DEFAULT_RANGE}).",
        {"type": "string", "enum": list(catalogue.RANGES), "default": catalogue.DEFAULT_RANGE},
    )
    html_content = {"text/html": {"schema": {"type": "string"}}}
    errors = (404, 422, 429)
    about = (
        " No token; aggregated numbers only. Cached (Cache-Control: public, max-age; ETag, "
        "If-None-Match answers 304) and rate limited per client address (429, Retry-After)."
    )

    def op(summary: str, **kw: Any) -> dict[str, Any]:
        return {
            "get": operation(summary, roles=None, tags=[TAG], description=summary + about, **kw)
        }

    return [
        describe(
            Route(f"{API}/views", limited(listing), methods=["GET"]),
            op(
                "Every botnet with public views, and its views",
                response=PublicListing,
                errors=(422, 429),
            ),
            [PublicListing, PublicBotnet, PublicViewLink],
        ),
        describe(
            Route(f"{API}/botnets/{{botnet}}", limited(botnet), methods=["GET"]),
            op(
                "One botnet's public views", response=PublicBotnet, params=[botnet_p], errors=errors
            ),
            [PublicBotnet, PublicViewLink],
        ),
        describe(
            Route(f"{API}/botnets/{{botnet}}/{{view}}", limited(view), methods=["GET"]),
            op(
                "One public view of a botnet: aggregates over a period",
                response=catalogue.PublicAnswer,
                params=[botnet_p, view_p, range_p],
                errors=errors,
            ),
            [catalogue.PublicAnswer],
        ),
        describe(
            Route(PAGE, limited(page), methods=["GET"]),
            op("The public page: every public view", content=html_content, errors=(429,)),
        ),
        describe(
            Route(f"{PAGE}/{{botnet}}", limited(page), methods=["GET"]),
            op(
                "The public page of one botnet",
                content=html_content,
                params=[botnet_p],
                errors=(404, 429),
            ),
        ),
    ]
