"""The dashboard's "hide suspected monitors" switch in a real browser (chromium, Playwright).

Given a botnet of 20 bots and three monitors of others (two of them excluded), ticking the
switch takes exactly the two excluded monitors out of the single-botnet view's numbers and
most-listed peers, puts ``exclude_monitors=true`` on every request and in the page's
address, and the count beside it says how many are excluded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from botmon.auth import hash_token, new_token, token_prefix
from botmon.store import open_store
from botmon.store.exclusions import MonitorToExclude
from botmon.wire import Edge, Reply
from tests.dashboard.test_browser import (
    ARGS,
    CHROMIUM,
    TIMEOUT_MS,
    pytestmark,
    shoot,
    wait_loaded,
)
from tests.fixtures.server import LiveServer, start_live_server
from tests.store.helpers import make_batch

__all__ = ["pytestmark"]

BOTS = [(f"127.1.0.{i + 1}", 4000 + i) for i in range(20)]
EXCLUDED = [("127.9.0.1", 5000), ("127.9.0.2", 5001)]
KEPT = ("127.9.0.3", 5002)


def _batch(now: float) -> Any:
    """Three hours: every bot and monitor answers each hour; every bot lists every monitor."""
    replies, edges = [], []
    for h in range(3):
        t = now - (3 - h) * 3600
        for i, (ip, port) in enumerate([*BOTS, *EXCLUDED, KEPT]):
            replies.append(Reply(t + i, ip, port))
        for i, (ip, port) in enumerate(BOTS):
            for dst_ip, dst_port in [*EXCLUDED, KEPT]:
                edges.append(Edge(t + i, ip, port, dst_ip, dst_port))
    return make_batch("hns", "b1", replies, edges=edges)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    workdir = tmp_path_factory.mktemp("exclude")
    db = str(workdir / "botmon.duckdb")
    store = open_store(db)
    try:
        store.migrate()
        store.create_botnet("hns")
        store.write_batch(_batch(time.time()), "crawler-1")
        store.exclude_monitors(
            "hns", [MonitorToExclude(ip=ip, port=p, kind="sensor") for ip, p in EXCLUDED], "t", 0
        )
        viewer = new_token()
        store.create_monitor("viewer-x", "viewer", [], hash_token(viewer), token_prefix(viewer))
    finally:
        store.close()
    server = start_live_server(db, workdir)
    try:
        yield server, viewer
    finally:
        server.stop()


@pytest.fixture
def page(site: tuple[LiveServer, str]) -> Iterator[tuple[Any, list[str], list[str]]]:
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1000})

            def guard(route: Any) -> None:
                requests.append(route.request.url)
                if urlsplit(route.request.url).hostname == "127.0.0.1":
                    route.continue_()
                else:
                    route.abort()

            context.route("**/*", guard)
            pg = context.new_page()
            pg.set_default_timeout(TIMEOUT_MS)
            pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            pg.on("pageerror", lambda e: errors.append(str(e)))
            yield pg, requests, errors
        finally:
            browser.close()
    assert not errors, errors
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in requests), requests


def _shown(page: Any, panel: str) -> list[dict[str, str]]:
    sel = f'section[data-panel="{panel}"]'
    rows: list[dict[str, str]] = page.evaluate(
        f"""() => [...document.querySelectorAll('{sel} table tbody tr')].map((tr) =>
               Object.fromEntries([...tr.querySelectorAll('td[data-col]')]
                 .map((td) => [td.dataset.col, td.textContent])))"""
    )
    return rows


def _most_ips(page: Any) -> int:
    return max(int(r["ips"] or 0) for r in _shown(page, "population"))


def test_hiding_suspected_monitors_takes_exactly_them_out(
    site: tuple[LiveServer, str], page: tuple[Any, list[str], list[str]]
) -> None:
    server, viewer = site
    pg, requests, _ = page
    pg.goto(f"{server.url}/login?token={viewer}")
    pg.wait_for_url("**/dashboard/")
    pg.goto(f"{server.url}/dashboard/#/botnet/hns")
    wait_loaded(pg)
    pg.wait_for_function("() => document.getElementById('excluded-count').dataset.count === '2'")
    assert pg.text_content("#excluded-count") == "(2 excluded)"
    assert not pg.is_checked("#exclude-monitors")  # the server's default: false
    everyone = _most_ips(pg)
    assert everyone == len(BOTS) + 3
    peers = {(r["ip"], r["port"]) for r in _shown(pg, "peers")}
    assert {(ip, str(p)) for ip, p in EXCLUDED} <= peers

    requests.clear()
    pg.check("#exclude-monitors")
    pg.wait_for_function(
        """() => document.querySelector('section[data-panel="population"] a.csv')
                 .getAttribute('href').includes('exclude_monitors=true')"""
    )
    wait_loaded(pg)
    assert "exclude_monitors=true" in pg.url
    assert _most_ips(pg) == everyone - len(EXCLUDED)
    peers = {(r["ip"], r["port"]) for r in _shown(pg, "peers")}
    assert not {(ip, str(p)) for ip, p in EXCLUDED} & peers
    assert (KEPT[0], str(KEPT[1])) in peers
    # Every read of records (a botnet's configurations come from their own table, kept at
    # ingest, and take no filter of any kind).
    stats = [
        u
        for u in requests
        if urlsplit(u).path.startswith("/api/v1/stats/")
        and not u.split("?")[0].endswith("/configs")
    ]
    missing = [u for u in stats if ("exclude_monitors", "true") not in parse_qsl(urlsplit(u).query)]
    assert stats and not missing, missing

    pg.reload()  # the switch is kept in the address
    wait_loaded(pg)
    assert pg.is_checked("#exclude-monitors")
    assert _most_ips(pg) == everyone - len(EXCLUDED)
    pg.uncheck("#exclude-monitors")
    pg.wait_for_function(
        """() => !document.querySelector('section[data-panel="population"] a.csv')
                 .getAttribute('href').includes('exclude_monitors')"""
    )
    wait_loaded(pg)
    assert "exclude_monitors" not in pg.url
    assert _most_ips(pg) == everyone
    pg.check("#exclude-monitors")
    wait_loaded(pg)
    shoot(pg, "single-botnet-hiding-suspected-monitors")
