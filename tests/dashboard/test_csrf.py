"""Cross-site request forgery: a foreign page can make the admin's browser send requests with
the dashboard's cookie, but the cookie opens only reads, every write needs a JSON body and a
Bearer token, sign-in refuses requests from other sites, and the cookie holds a session id
that ends with sign-out or with its token's revocation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from tests.fixtures.server import LiveServer
from tests.server.helpers import batch, client

EVIL = "http://evil.example"
FORGED = {"Content-Type": "text/plain", "Origin": EVIL}


@contextmanager
def _signed_in(server: LiveServer, token: str) -> Iterator[httpx.Client]:
    """A browser-like client signed in to the dashboard with ``token``."""
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as c:
        answer = c.get("/login", params={"token": token})
        assert answer.status_code == 303, answer.text
        yield c


def test_the_admin_cookie_cannot_forge_writes(live_server: LiveServer) -> None:
    live_server.create_botnet("hns")
    crawler = live_server.token("crawler", name="crawler-csrf")
    with client(live_server, live_server.admin_token) as a:
        holders_before = a.get("/api/v1/admin/tokens").json()["tokens"]
    with _signed_in(live_server, live_server.admin_token) as browser:
        assert browser.get("/api/v1/admin/counts").status_code == 200  # reads work
        forged = {
            "/api/v1/admin/commands": b'{"source": "crawler-csrf", "command": "stop"}',
            "/api/v1/admin/tokens": b'{"name": "evil", "role": "admin"}',
            "/api/v1/ingest?source=crawler-csrf": httpx.Request(
                "POST", "/", json=batch(replies=3)
            ).read(),
        }
        for path, body in forged.items():
            for headers in (FORGED, {"Content-Type": "application/json", "Origin": EVIL}):
                r = browser.post(path, content=body, headers=headers)
                assert r.status_code in (401, 415), (path, r.status_code, r.text)
        cookie = browser.cookies["botmon_session"]
    assert cookie != live_server.admin_token
    with client(live_server, cookie) as c:  # the cookie is no token
        assert c.get("/api/v1/admin/counts").status_code == 401
    with client(live_server, crawler) as c:
        beat = c.post("/api/v1/heartbeat", json={"status": {"state": "running"}})
        assert beat.json() == {"commands": []}
        # With its token, a text/plain body is refused too: no write takes a form's type.
        r = c.post("/api/v1/ingest", content=b"{}", headers={"Content-Type": "text/plain"})
        assert r.status_code == 415 and r.json()["reason"] == "unsupported_media_type"
    with client(live_server, live_server.admin_token) as a:
        assert a.get("/api/v1/admin/tokens").json()["tokens"] == holders_before
    assert live_server.counts("hns")["replies"] == 0


def test_sign_in_from_another_site_is_refused(duckdb_server: LiveServer) -> None:
    viewer = duckdb_server.token("viewer")
    with httpx.Client(base_url=duckdb_server.url, timeout=30, trust_env=False) as c:
        attempts = [
            c.post("/login", data={"token": viewer}, headers={"Origin": EVIL}),
            c.post("/login", data={"token": viewer}, headers={"Referer": EVIL + "/page"}),
            c.get("/login", params={"token": viewer}, headers={"Sec-Fetch-Site": "cross-site"}),
            c.get("/login", params={"token": viewer}, headers={"Referer": EVIL + "/"}),
        ]
        for r in attempts:
            assert r.status_code == 403 and "set-cookie" not in r.headers, r.text
        own = c.post("/login", data={"token": viewer}, headers={"Origin": duckdb_server.url})
        assert own.status_code == 303 and "botmon_session=" in own.headers["set-cookie"]


def test_a_session_ends_with_sign_out_and_with_its_token(duckdb_server: LiveServer) -> None:
    viewer = duckdb_server.token("viewer", name="viewer-session")
    with _signed_in(duckdb_server, viewer) as browser:
        session = browser.cookies["botmon_session"]
        assert browser.get("/dashboard/session").status_code == 200
        browser.get("/logout")
    with httpx.Client(base_url=duckdb_server.url, timeout=30, trust_env=False) as c:
        c.cookies.set("botmon_session", session)  # a copy kept from before sign-out
        assert c.get("/dashboard/session").status_code == 401
    with _signed_in(duckdb_server, viewer) as browser:
        assert browser.get("/api/v1/stats/overview").status_code == 200
        with client(duckdb_server, duckdb_server.admin_token) as a:
            assert a.delete("/api/v1/admin/tokens/viewer-session").status_code == 200
        assert browser.get("/api/v1/stats/overview").status_code == 401
