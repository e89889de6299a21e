"""Public views over the real app and a real store (both backends), filled through the real
ingest: every public endpoint (found from the app's routes) answers without a token and
never carries an address, a bot ID or a monitor's name; what is not public is 404; the admin
routes mark and unmark; answers are cached for ``public.cache_s`` and each client address is
rate limited."""

from __future__ import annotations

import ipaddress
import itertools
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from starlette.routing import Route
from starlette.testclient import TestClient

from botmon import enrich
from botmon.analysis import public as catalogue
from botmon.auth import hash_token, new_token, token_prefix
from botmon.server.app import create_app
from botmon.server.state import ServerState
from botmon.settings import PublicSettings, ServerSettings
from botmon.store import open_store
from botmon.store.base import Store
from tests.dashboard import public_data
from tests.fixtures.pg import database_url
from tests.fixtures.stores import STORE_PARAMS

PUBLIC = "pubnet"
PRIVATE = "hidden"
SHOWN = ("overview", "geo", "ases", "facets", "churn")
"""Views made public for PUBLIC; diurnal stays private (as does every view of PRIVATE)."""
IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
IPV6 = re.compile(r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}")


@dataclass
class Site:
    client: TestClient
    store: Store
    tokens: dict[str, str]
    records: public_data.Records
    names: set[str]
    """Every monitor (token) name: none may appear publicly."""

    def admin(self, method: str, path: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens['admin']}"}
        return self.client.request(method, path, headers=headers)


def _site(db: str, public: PublicSettings, fill: bool = True) -> Iterator[Site]:
    store = open_store(db)
    store.migrate()
    tokens, names = {}, set()
    for role, name in (
        ("admin", "pub-admin-x"),
        ("crawler", "crawler-vantage-a"),
        ("viewer", "view-z"),
    ):
        token = new_token()
        store.create_monitor(name, role, [], hash_token(token), token_prefix(token))
        tokens[role], names = token, names | {name}
    for botnet in (PUBLIC, PRIVATE):
        store.create_botnet(botnet, "secret description 10.9.8.7")
    records = public_data.make(time.time()) if fill else public_data.Records()
    state = ServerState(
        store=store,
        settings=ServerSettings(db=db, ingest_workers=0),
        enricher=enrich.Enricher.default(),
        public=public,
    )
    try:
        with TestClient(create_app(state), raise_server_exceptions=False) as client:

            def send(role: str, body: bytes) -> int:
                answer = client.post(
                    "/api/v1/ingest",
                    content=body,
                    headers={
                        "Authorization": f"Bearer {tokens['crawler']}",
                        "Content-Type": "application/json",
                    },
                )
                return answer.status_code

            public_data.post(records, send)
            site = Site(client, store, tokens, records, names)
            for view in SHOWN:
                assert site.admin("PUT", f"/api/v1/admin/public-views/{PUBLIC}/{view}").is_success
            yield site
    finally:
        store.close()


@pytest.fixture(scope="module", params=STORE_PARAMS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """One filled store and app per backend for the module (filling takes seconds)."""
    settings = PublicSettings(cache_s=1.0, burst=10_000, rate_per_minute=600_000)
    if request.param == "duckdb":
        yield from _site(str(tmp_path_factory.mktemp("public") / "botmon.duckdb"), settings)
        return
    dsn: str = request.getfixturevalue("pg_dsn")
    name = f"botmon_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield from _site(database_url(dsn, name), settings)
    finally:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _stored_addresses(store: Store) -> set[str]:
    """Every address the store holds, as the store gives it back in text."""
    found: set[str] = set()
    for query in (
        "SELECT DISTINCT ip FROM replies",
        "SELECT DISTINCT ip FROM failed_tries",
        "SELECT DISTINCT src_ip FROM edges",
        "SELECT DISTINCT dst_ip FROM edges",
    ):
        found.update(str(ip) for (ip,) in store.query(query))
    return found


def _public_paths(site: Site) -> list[str]:
    """Every concrete URL of every public route: each public route's path template with
    every botnet (public, private, unknown) and view name (each known one and an unknown
    one) filled in, and each range."""
    app: Any = site.client.app
    templates = [
        r.path
        for r in app.routes
        if isinstance(r, Route)
        and (r.path.startswith("/api/v1/public") or r.path.startswith("/public"))
    ]
    assert len(templates) >= 5, templates
    for t in templates:  # every one of them is documented as needing no token
        ops = site.client.get("/openapi.json").json()["paths"][t]
        assert ops["get"].get("security") is None, t
    botnets = (PUBLIC, PRIVATE, "nosuch")
    views = (*catalogue.all_view_names(), "nosuch")
    out: list[str] = []
    for t in templates:
        names = re.findall(r"{(\w+)}", t)
        choices = [botnets if n == "botnet" else views for n in names]
        for values in itertools.product(*choices):
            path = t
            for n, v in zip(names, values, strict=True):
                path = path.replace("{" + n + "}", v)
            out.append(path)
            if "view" in names:
                out += [f"{path}?range={r}" for r in catalogue.RANGES]
    return out


def _leaks(text: str, site: Site) -> list[str]:
    found = []
    for m in IPV4.findall(text) + IPV6.findall(text):
        try:
            ipaddress.ip_address(m)
        except ValueError:
            continue
        found.append(m)
    lowered = text.lower()
    found += [ip for ip in site.records.ips if ip.lower() in lowered]
    found += [b for b in site.records.bot_ids if b in lowered]
    found += [n for n in site.names if n in text]
    if "secret description" in text:
        found.append("a botnet's description")
    return found


def test_every_public_endpoint_is_aggregates_only(site: Site) -> None:
    site.records.ips |= _stored_addresses(site.store)
    assert len(site.records.ips) > 30
    paths = _public_paths(site)
    statuses: dict[str, int] = {}
    for path in paths:
        for method in ("GET", "HEAD"):
            answer = site.client.request(method, path)
            assert answer.status_code in (200, 404), (path, answer.status_code, answer.text)
            headers = "\n".join(f"{k}: {v}" for k, v in answer.headers.items())
            leaks = _leaks(answer.text, site) + _leaks(headers, site)
            assert not leaks, (path, leaks)
            assert "set-cookie" not in answer.headers, path
            statuses[f"{method} {path}"] = answer.status_code
    ok = {p for p, s in statuses.items() if s == 200 and p.startswith("GET")}
    for view in SHOWN:  # what was made public answers, with its numbers
        assert f"GET /api/v1/public/botnets/{PUBLIC}/{view}" in ok
    assert f"GET /public/{PUBLIC}" in ok and "GET /public" in ok
    for path, status in statuses.items():  # and nothing else does
        if status == 200 and "/botnets/" in path:
            assert f"/botnets/{PUBLIC}" in path, path
            tail = path.split(f"/botnets/{PUBLIC}")[1].split("?")[0].strip("/")
            assert tail in ("", *SHOWN), path
        if path.startswith("GET /public/") and status == 200:
            assert path == f"GET /public/{PUBLIC}"


def test_public_numbers_are_the_dashboards(site: Site) -> None:
    """The public answer shows what the viewer's read API shows for the same period."""
    c = site.client
    geo = c.get(f"/api/v1/public/botnets/{PUBLIC}/geo?range=7d").json()
    assert geo["start"] < geo["end"] and geo["end"] - geo["start"] == 7 * 86400
    viewer = {"Authorization": f"Bearer {site.tokens['viewer']}"}
    params = {"botnet": PUBLIC, "start": geo["start"], "end": geo["end"]}
    table = c.get("/api/v1/stats/countries", params=params, headers=viewer).json()
    assert [(r["country"], r["ips"]) for r in table["rows"]] == [
        (r["country"], r["ips"]) for r in geo["data"]["countries"]
    ]
    stored = {str(ip) for (ip,) in site.store.query("SELECT DISTINCT ip FROM replies")}
    assert geo["data"]["ips"] == len(stored) > 0
    ases = c.get(f"/api/v1/public/botnets/{PUBLIC}/ases").json()["data"]["ases"]
    assert ases and all(set(r) == {"asn", "as_name", "ips", "share", "country"} for r in ases)
    overview = c.get(f"/api/v1/public/botnets/{PUBLIC}/overview?range=1d").json()
    assert overview["bucket_s"] == 3600 and overview["data"]["has_ids"]
    assert max(p["ips"] for p in overview["data"]["series"]) == overview["data"]["peak_ips"] > 0
    facets = c.get(f"/api/v1/public/botnets/{PUBLIC}/facets").json()["data"]["facets"]
    arch = next(f for f in facets if f["key"] == "arch")
    values = {v["value"] for v in arch["values"]}
    assert values == {"arm7", "mips", "x86"}  # the hostile value is withheld, its bot counted
    assert arch["more_bots"] >= 1
    churn = c.get(f"/api/v1/public/botnets/{PUBLIC}/churn").json()["data"]
    assert churn["bots"] > 0 and "vantage_points" not in churn


def test_not_public_is_404_and_bad_input_422(site: Site) -> None:
    c = site.client
    for path in (
        f"/api/v1/public/botnets/{PRIVATE}",
        f"/api/v1/public/botnets/{PRIVATE}/geo",
        f"/api/v1/public/botnets/{PUBLIC}/diurnal",
        f"/api/v1/public/botnets/{PUBLIC}/nosuch",
        "/api/v1/public/botnets/nosuch/geo",
    ):
        answer = c.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["reason"] == "not_found"
    assert c.get(f"/public/{PRIVATE}").status_code == 404
    bad = c.get(f"/api/v1/public/botnets/{PUBLIC}/geo?range=2y")
    assert bad.status_code == 422 and bad.json()["field"] == "range"
    assert c.get(f"/api/v1/public/botnets/{PUBLIC}/geo?start=0").status_code == 422
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        assert c.request(method, f"/api/v1/public/botnets/{PUBLIC}/geo").status_code == 405
    # A token changes nothing: the public routes neither need nor read one.
    viewer = {"Authorization": f"Bearer {site.tokens['viewer']}"}
    assert c.get(f"/api/v1/public/botnets/{PRIVATE}/geo", headers=viewer).status_code == 404


def test_admin_marks_and_unmarks(site: Site) -> None:
    c = site.client
    listed = site.admin("GET", "/api/v1/admin/public-views").json()
    assert {(v["botnet"], v["view"]) for v in listed["views"]} == {(PUBLIC, v) for v in SHOWN}
    assert "diurnal" in listed["available"]
    assert site.admin("PUT", f"/api/v1/admin/public-views/{PUBLIC}/nosuch").status_code == 422
    assert site.admin("PUT", "/api/v1/admin/public-views/nosuch/geo").status_code == 404
    assert site.admin("DELETE", f"/api/v1/admin/public-views/{PUBLIC}/diurnal").status_code == 404
    viewer = {"Authorization": f"Bearer {site.tokens['viewer']}"}
    assert c.put(f"/api/v1/admin/public-views/{PRIVATE}/geo", headers=viewer).status_code == 403
    assert c.put(f"/api/v1/admin/public-views/{PRIVATE}/geo").status_code == 401
    assert site.admin("PUT", f"/api/v1/admin/public-views/{PRIVATE}/geo").json()["view"] == "geo"
    deadline = time.monotonic() + 10
    while c.get(f"/api/v1/public/botnets/{PRIVATE}/geo").status_code != 200:
        assert time.monotonic() < deadline, "a view made public did not show"
        time.sleep(0.2)
    gone = site.admin("DELETE", f"/api/v1/admin/public-views/{PRIVATE}/geo")
    assert gone.json() == {"botnet": PRIVATE, "view": "geo", "public": False}
    while c.get(f"/api/v1/public/botnets/{PRIVATE}/geo").status_code != 404:
        assert time.monotonic() < deadline, "a view made private still showed"
        time.sleep(0.2)


def test_cache_serves_the_same_answer_within_the_ttl_and_a_fresh_one_after(site: Site) -> None:
    """(Last in the module: it stores more records.)"""
    c, path = site.client, f"/api/v1/public/botnets/{PUBLIC}/geo?range=1d"
    time.sleep(1.1)  # whatever an earlier test left in the cache has expired
    first = c.get(path)
    assert first.headers["cache-control"] == "public, max-age=1"
    etag = first.headers["etag"]
    assert c.get(path, headers={"If-None-Match": etag}).status_code == 304
    # New records arrive; within the TTL the cached answer is served unchanged.
    now = time.time()
    more = {
        "botnet": PUBLIC,
        "batch_id": "late",
        "replies": [{"timestamp": now - 5, "ip": f"192.0.2.{i}", "port": 1} for i in range(50)],
    }
    stored = c.post(
        "/api/v1/ingest",
        json=more,
        headers={"Authorization": f"Bearer {site.tokens['crawler']}"},
    )
    assert stored.status_code == 200, stored.text
    again = c.get(path)
    assert again.content == first.content and again.headers["etag"] == etag
    time.sleep(1.1)
    fresh = c.get(path)
    assert fresh.headers["etag"] != etag
    assert fresh.json()["data"]["ips"] == first.json()["data"]["ips"] + 50


def test_each_client_address_is_rate_limited(tmp_path: Path) -> None:
    db = str(tmp_path / "botmon.duckdb")
    for site in _site(db, PublicSettings(burst=5, rate_per_minute=60), fill=False):
        c = site.client
        answers = [c.get("/api/v1/public/views") for _ in range(8)]
        assert [a.status_code for a in answers[:5]] == [200] * 5
        limited = answers[5:]
        assert all(a.status_code == 429 for a in limited)
        assert all(1 <= int(a.headers["retry-after"]) <= 2 for a in limited)
        assert limited[0].json()["reason"] == "rate_limited"
        # The admin and read APIs are not limited by the public routes' budget.
        assert site.admin("GET", "/api/v1/admin/public-views").status_code == 200
        time.sleep(1.1)
        assert c.get("/api/v1/public/views").status_code == 200
