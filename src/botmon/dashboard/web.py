"""Dashboard pages and static files served by ``botmon serve``.

The dashboard is a static single page (``static/``) that reads its data API
(:mod:`botmon.dashboard.api`) with the browser's session cookie, and its defaults (ranges,
buckets, limits) from ``/dashboard/config`` (:mod:`botmon.analysis.defaults`). Signing in is
by token: the ``/login`` form, or ``/login?token=...`` (the link ``botmon demo`` prints),
checks the token and opens a server-side session whose random id goes into an HttpOnly cookie
named :data:`botmon.web.access.SESSION_COOKIE`; the server's authentication accepts it on
reads (GET, HEAD) where a Bearer header is absent. Sign-in is refused when the request comes
from another site (its ``Origin``, ``Referer`` or ``Sec-Fetch-Site`` says so), so a foreign
page cannot sign a browser in under a token of its choosing. Everything the page loads
(ECharts, map geometry) is served from ``static/vendor/``, installed by
``scripts/assets-dashboard.sh``; nothing comes from outside the machine.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from botmon.analysis.defaults import page_config
from botmon.web.access import SESSION_COOKIE, SESSION_LIFETIME_S, Access
from botmon.web.http import ApiError, read_capped
from botmon.web.openapi import describe, operation, path_param

STATIC_DIR = Path(__file__).parent / "static"
DASHBOARD_PATH = "/dashboard/"
MAX_FORM_BYTES = 4096
READ_ROLES = ("viewer",)

_LOGIN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>botmon: sign in</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="/dashboard/static/app.css">
</head><body>
<form class="login" method="post" action="/login">
<h2>botmon dashboard</h2>
<p class="note">Sign in with a viewer or admin token
(<code>botmon token create --role viewer</code>).</p>
{error}
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" autofocus required>
<button type="submit">Sign in</button>
</form></body></html>
"""

_SECURITY_HEADERS = {
    # The page only ever talks to this server: a strict policy makes that a browser guarantee.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Same-origin: the page's own form posts carry their Origin (checked at sign-in), and
    # nothing goes to other sites.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _login_page(error: str = "", status: int = 200) -> HTMLResponse:
    block = f'<p class="err">{html.escape(error)}</p>' if error else ""
    return HTMLResponse(
        _LOGIN_PAGE.format(error=block), status_code=status, headers=_SECURITY_HEADERS
    )


def _signed_in(request: Request, session_id: str) -> Response:
    response = RedirectResponse(DASHBOARD_PATH, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=SESSION_LIFETIME_S,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


def _host(url: str) -> str:
    """``host[:port]`` of a URL, without the scheme's default port."""
    parts = urlsplit(url)
    netloc = parts.netloc.lower()
    default = {"http": ":80", "https": ":443"}.get(parts.scheme, "")
    return netloc.removesuffix(default) if default else netloc


def _from_another_site(request: Request) -> bool:
    """Whether the browser says this request was made by another site's page.

    Current browsers send ``Sec-Fetch-Site``; older ones ``Origin`` on form posts, and
    ``Referer``. A request with none of them (a link opened from a terminal, ``curl``) is
    first-hand. The host is compared, not the scheme, so a TLS-terminating proxy in front
    that keeps the ``Host`` header changes nothing.
    """
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    source = request.headers.get("origin") or request.headers.get("referer")
    if source is None:
        return False
    return _host(source) != _host(f"http://{request.headers.get('host', '')}")


def routes(st: Access) -> list[BaseRoute]:
    """The dashboard page's routes (sign-in, page, session, defaults, static files)."""

    async def check(token: str) -> str | None:
        """None when the token may read, else the reason to show."""
        monitor = await st.monitor_for_token(token.strip())
        if monitor is None:
            return "That token is not valid (unknown or revoked)."
        if monitor.role not in ("viewer", "admin"):
            return f"A {monitor.role} token cannot open the dashboard; use a viewer or admin token."
        return None

    async def login(request: Request) -> Response:
        """Sign in to the dashboard: a form, or ``?token=`` to set the session cookie."""
        if _from_another_site(request):
            return _login_page("Sign in from this server's own page.", 403)
        if request.method == "POST":
            try:
                body = await read_capped(request, MAX_FORM_BYTES)
            except ApiError as exc:
                return _login_page(str(exc.detail), exc.status_code)
            token = (parse_qs(body.decode("utf-8", "replace")).get("token") or [""])[0]
        else:
            token = request.query_params.get("token", "")
            if not token:
                return _login_page()
        problem = await check(token) if token else "Enter a token."
        if problem:
            return _login_page(problem, 401 if "not valid" in problem or not token else 403)
        return _signed_in(request, st.open_session(token.strip()))

    async def logout(request: Request) -> Response:
        """Sign out of the dashboard (ends the session, clears its cookie)."""
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            st.close_session(session_id)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def page(request: Request) -> Response:
        """The dashboard page (signed-in users; others are sent to /login)."""
        try:
            await st.authenticate(request, READ_ROLES)
        except ApiError:
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC_DIR / "index.html", headers=_SECURITY_HEADERS)

    async def session(request: Request) -> Response:
        """Who is signed in (name and role), for the page header."""
        try:
            monitor = await st.authenticate(request, READ_ROLES)
        except ApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.status_code)
        return JSONResponse({"name": monitor.name, "role": monitor.role})

    async def config(request: Request) -> Response:
        """The dashboard's defaults, which the page reads instead of hard-coding them."""
        try:
            await st.authenticate(request, READ_ROLES)
        except ApiError as exc:
            return JSONResponse(exc.body(), status_code=exc.status_code)
        return JSONResponse(page_config())

    async def to_dashboard(request: Request) -> Response:
        """Redirect to the dashboard."""
        return RedirectResponse(DASHBOARD_PATH, status_code=307)

    def login_doc(summary: str, answers: dict[int, str]) -> dict[str, Any]:
        """A sign-in operation with the statuses it answers (HTML pages, not JSON errors)."""
        op = operation(summary, roles=None, status=303, tags=["dashboard"])
        html_page = {"text/html": {"schema": {"type": "string"}}}
        op["responses"] = {
            "303": {"description": "Signed in: the session cookie is set, on to the dashboard"},
            **{
                str(code): {"description": why, "content": html_page}
                for code, why in answers.items()
            },
        }
        return op

    refused = {
        401: "The form again: no token, or one unknown or revoked",
        403: "The form again: the token may not read the dashboard",
    }
    login_route = describe(
        Route("/login", login, methods=["GET", "POST"]),
        {
            "get": login_doc(
                "Dashboard sign-in: a form, or ?token= sets the session cookie and redirects.",
                {200: "The sign-in form", **refused},
            ),
            "post": {
                **login_doc(
                    "Dashboard sign-in form (token=...): sets the session cookie and redirects.",
                    {**refused, 413: "The form again: the body is over its size limit"},
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {"token": {"type": "string"}},
                                "required": ["token"],
                            }
                        }
                    },
                },
            },
        },
    )
    static_route = describe(
        Mount("/dashboard/static", app=StaticFiles(directory=STATIC_DIR), name="dashboard-static"),
        {
            "get": {
                "summary": "The dashboard page's static files (script, styles, charts, maps).",
                "tags": ["dashboard"],
                "parameters": [path_param("path", "File path under the static folder")],
                "responses": {
                    "200": {"description": "The file"},
                    "404": {"description": "No such file"},
                },
            }
        },
    )

    def doc(route: Route, summary: str, status: int = 200, **kw: Any) -> Route:
        return describe(
            route,
            {"get": operation(summary, roles=None, status=status, tags=["dashboard"], **kw)},
        )

    def json_doc(route: Route, summary: str) -> Route:
        """A JSON route for signed-in viewers."""
        return describe(
            route,
            {
                "get": operation(
                    summary,
                    roles=READ_ROLES,
                    content={"application/json": {"schema": {"type": "object"}}},
                    tags=["dashboard"],
                )
            },
        )

    return [
        login_route,
        doc(Route("/logout", logout, methods=["GET"]), "Sign out (clears the cookie).", 303),
        doc(Route("/", to_dashboard, methods=["GET"]), "Redirect to the dashboard.", 307),
        doc(Route("/dashboard", to_dashboard, methods=["GET"]), "Redirect to /dashboard/.", 307),
        doc(
            Route("/dashboard/", page, methods=["GET"]),
            "The dashboard page (needs the session cookie or a viewer token; else /login).",
            content={"text/html": {"schema": {"type": "string"}}},
        ),
        json_doc(
            Route("/dashboard/session", session, methods=["GET"]),
            "The signed-in monitor's name and role.",
        ),
        json_doc(
            Route("/dashboard/config", config, methods=["GET"]),
            "The dashboard's defaults: ranges, buckets, limits, refresh interval.",
        ),
        static_route,
    ]
