"""Signing in to the dashboard: by link or form, into an HttpOnly cookie the read API accepts;
wrong, revoked-looking or non-reading tokens are refused with a page, never a crash."""

from __future__ import annotations

import socket

import httpx

from botmon.analysis.defaults import page_config
from tests.fixtures.server import LiveServer


def test_login_sets_a_cookie_the_read_api_accepts(duckdb_server: LiveServer) -> None:
    viewer = duckdb_server.token("viewer")
    crawler = duckdb_server.token("crawler")
    with httpx.Client(base_url=duckdb_server.url, timeout=10, trust_env=False) as c:
        page = c.get("/dashboard/")
        assert page.status_code == 303 and page.headers["location"] == "/login"
        assert c.get("/").headers["location"] == "/dashboard/"
        form = c.get("/login")
        assert form.status_code == 200 and 'name="token"' in form.text
        assert c.get("/login", params={"token": "x" * 43}).status_code == 401
        refused = c.get("/login", params={"token": crawler})
        assert refused.status_code == 403 and "crawler token cannot" in refused.text
        assert c.post("/login", content=b"token=" + b"a" * 5000).status_code == 413
        assert c.get("/api/v1/stats/overview").status_code == 401
        assert c.get("/dashboard/config").status_code == 401

        signed = c.get("/login", params={"token": viewer})
        assert signed.status_code == 303 and signed.headers["location"] == "/dashboard/"
        cookie = signed.headers["set-cookie"]
        assert "botmon_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert viewer not in cookie  # the cookie holds a session id, never the token
        page = c.get("/dashboard/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert c.get("/api/v1/stats/overview").status_code == 200
        assert c.get("/dashboard/session").json()["role"] == "viewer"
        assert c.get("/dashboard/config").json() == page_config()  # the page's defaults
        assert c.get("/dashboard/static/vendor/echarts.min.js").status_code == 200
        assert c.get("/dashboard/static/vendor/world.geo.json").status_code == 200

        out = c.get("/logout")
        assert out.status_code == 303
        assert c.get("/api/v1/stats/overview").status_code == 401

        by_form = c.post("/login", data={"token": viewer})
        assert by_form.status_code == 303
        assert c.get("/dashboard/").status_code == 200


def _post_login_raw(server: LiveServer, head: bytes, body: bytes) -> bytes:
    """Send a /login request's head and the first part of its body, then read the answer;
    the rest of the body is never sent, so only a server that does not wait for it answers."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\n" + head + b"\r\n" + body)
        s.settimeout(5)
        try:
            return s.recv(4096)
        except TimeoutError:
            return b"(no answer in 5 s)"


def test_login_refuses_a_large_body_before_reading_it(duckdb_server: LiveServer) -> None:
    form = b"Content-Type: application/x-www-form-urlencoded\r\n"
    declared = _post_login_raw(
        duckdb_server, form + b"Content-Length: 300000000\r\n", b"token=" + b"a" * 10_000
    )
    assert declared.startswith(b"HTTP/1.1 413"), declared[:200]
    chunked = _post_login_raw(
        duckdb_server,
        form + b"Transfer-Encoding: chunked\r\n",
        b"".join(b"1000\r\n" + b"a" * 4096 + b"\r\n" for _ in range(4)),
    )
    assert chunked.startswith(b"HTTP/1.1 413"), chunked[:200]
