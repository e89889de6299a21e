"""The public page in a real browser (Debian's chromium, headless, Playwright) with no token
and no cookie: a live ``botmon serve`` holds records ingested through its API from a crawler
and a sensor; an admin marks some views of one botnet public with ``botmon public add``
(through the server, by ``--server`` and by the server file beside ``--db``). The page lists
that botnet only, draws exactly the views marked (a view not marked is absent), shows the
period and what the numbers mean, never an address or a bot ID; another botnet's page is
404, and nothing is requested outside 127.0.0.1. Screenshots land in
test-artifacts/screenshots/public-*.png.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.dashboard import public_data
from tests.dashboard.guarded_page import guarded_page
from tests.dashboard.test_browser import pytestmark, shoot
from tests.fixtures.server import LiveServer, botmon_argv, start_live_server

__all__ = ["pytestmark"]

PUBLIC, PRIVATE = "pubnet", "hidden"
MARKED = ("overview", "geo", "ases", "facets", "churn")
"""Marked public for PUBLIC; diurnal is not (and no view of PRIVATE is)."""
ADDRESS = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Any]]:
    workdir = tmp_path_factory.mktemp("public-browser")
    live = start_live_server(str(workdir / "botmon.duckdb"), workdir)
    try:
        for name in (PUBLIC, PRIVATE):
            live.create_botnet(name)
        token = live.token("crawler", name="crawler-browser-a")
        records = public_data.make(time.time())
        with httpx.Client(base_url=live.url, timeout=60, trust_env=False) as c:

            def send(role: str, body: bytes) -> int:
                headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
                return c.post("/api/v1/ingest", content=body, headers=headers).status_code

            public_data.post(records, send)
        for view, how in (
            ("overview", ["--server", live.url, "--token", live.admin_token]),
            ("geo", ["--db", live.db]),  # the server holds the file: through its admin API
        ):
            ran = subprocess.run(
                [*botmon_argv(), "public", "add", "--botnet", PUBLIC, "--view", view, *how],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=workdir,
            )
            assert ran.returncode == 0, ran.stderr
            assert f"{view} of {PUBLIC} is public" in ran.stdout
        for view in MARKED[2:]:
            path = f"/api/v1/admin/public-views/{PUBLIC}/{view}"
            assert live._admin("PUT", path).status_code == 200
        yield live, records
    finally:
        live.stop()


def _addresses(text: str) -> list[str]:
    out = []
    for m in ADDRESS.findall(text):
        try:
            ipaddress.ip_address(m)
        except ValueError:
            continue
        out.append(m)
    return out


def test_no_token_sees_the_chosen_views_and_nothing_else(
    server: tuple[LiveServer, Any],
) -> None:
    live, records = server
    with guarded_page(expected_errors=("status of 404",)) as (page, requested):
        answer = page.goto(f"{live.url}/public")
        assert answer is not None and answer.status == 200
        page.wait_for_function("() => document.body.dataset.loaded === 'listing'")
        cards = page.locator(".botnet-list a.card")
        assert [cards.nth(i).get_attribute("data-botnet") for i in range(cards.count())] == [PUBLIC]
        shoot(page, "public-listing")

        cards.first.click()
        page.wait_for_url(f"**/public/{PUBLIC}")
        page.wait_for_function(f"() => document.body.dataset.loaded === '{PUBLIC}:7d'")
        shown = page.eval_on_selector_all("section.panel", "els => els.map(e => e.dataset.view)")
        assert sorted(shown) == sorted(MARKED)  # diurnal: not marked, not there
        for view in MARKED:
            panel = page.locator(f'section.panel[data-view="{view}"]')
            assert "UTC (last 7 days" in panel.locator(".period").text_content()
            assert len(panel.locator(".explains").text_content()) > 40
        assert page.locator('section[data-view="overview"] canvas').count() >= 1
        assert page.locator('section[data-view="geo"] tbody tr').count() >= 4
        assert page.locator('section[data-view="ases"] tbody tr').count() >= 4
        arch = page.locator('.facet[data-facet="arch"]')
        assert "bots tell it" in arch.text_content()
        assert page.text_content("#status") == ""
        shoot(page, "public-botnet")

        page.select_option("#range", "30d")
        page.wait_for_function(f"() => document.body.dataset.loaded === '{PUBLIC}:30d'")
        assert any("range=30d" in u for u in requested)
        assert "last 30 days" in page.locator('section[data-view="geo"] .period').text_content()

        text = page.content()
        assert not _addresses(page.inner_text("body")), _addresses(page.inner_text("body"))
        assert not [b for b in records.bot_ids if b in text]
        assert not [ip for ip in records.ips if ip in text]
        assert "crawler-browser-a" not in text
        assert page.context.cookies() == []  # nothing set, nothing needed

        missing = page.goto(f"{live.url}/public/{PRIVATE}")
        assert missing is not None and missing.status == 404
        assert "not public" in page.text_content("body")
        shoot(page, "public-not-found")
    assert all("/api/v1/stats" not in u and "/login" not in u for u in requested)
