"""The counting view's estimate in a real browser (Debian's chromium, headless, Playwright).

Given a server holding a generated trace of an ID-less botnet and an ID-bearing botnet of
the same countries, the counting view of the ID-less one draws IPs, IDs, ip:port and the
estimated bots with its interval as an error bar, all with the numbers of
``/api/v1/analyses/count``, says the method in one line, and draws the addresses-per-ID
curve of the calibration botnet. A screenshot lands in /tmp/count-view.png.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from botmon.auth import hash_token, new_token, token_prefix
from botmon.sim.trace import DAY, TraceModel, generate_trace
from botmon.store import open_store
from tests.fixtures.server import LiveServer, start_live_server

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOT = Path("/tmp/count-view.png")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which("chromium") is None and not Path(CHROMIUM).exists(),
        reason="LOUD SKIP: Debian's chromium is not installed (apt-get install -y chromium); "
        "the counting view's browser test did NOT run",
    ),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str, float]]:
    workdir = tmp_path_factory.mktemp("count-view")
    db = str(workdir / "botmon.duckdb")
    store = open_store(db)
    # The trace ends a few minutes ago, so the page's default range ("last 7 days") holds it.
    start = (time.time() // 60) * 60 - 3 * DAY - 600
    common: dict[str, Any] = {
        "bots": 150,
        "days": 3.0,
        "start": start,
        "countries": {"CN": 40.0, "IN": 30.0, "BR": 30.0},
        "reassign_hours": (6.0, 24.0),
        "dynamic_share": 0.7,
        "crawl_interval_s": 900,
        "foreign_crawlers": 0,
        "foreign_sensors": 0,
        "throttle": None,
    }
    try:
        store.migrate()
        generate_trace(store, TraceModel(botnet="ided", with_ids=True, **common), seed=2)
        generate_trace(store, TraceModel(botnet="plain", with_ids=False, **common), seed=3)
        viewer = new_token()
        store.create_monitor("viewer-count", "viewer", [], hash_token(viewer), token_prefix(viewer))
    finally:
        store.close()
    server = start_live_server(db, workdir)
    try:
        yield server, viewer, start
    finally:
        server.stop()


def test_counting_view_draws_the_estimate_and_its_interval(
    site: tuple[LiveServer, str, float],
) -> None:
    from playwright.sync_api import sync_playwright

    server, viewer, _ = site
    errors: list[str] = []
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1100})

            def guard(route: Any) -> None:
                parts = urlsplit(route.request.url)
                if parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1":
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            context.route("**/*", guard)
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{server.url}/login?token={viewer}")
            page.wait_for_url("**/dashboard/")
            page.goto(f"{server.url}/dashboard/#/counting/plain")
            page.wait_for_function(
                "() => document.getElementById('status').textContent.startsWith('updated')"
            )
            line = page.locator('section[data-panel="count-estimate"] .estimate')
            href = page.get_attribute('section[data-panel="count-estimate"] a.csv', "href")
            assert href and href.startswith("/api/v1/analyses/count?"), href
            query = httpx.QueryParams(urlsplit(href).query).remove("format")
            with httpx.Client(timeout=60, trust_env=False) as c:
                answer = c.get(
                    f"{server.url}/api/v1/analyses/count?{query}",
                    headers={"Authorization": f"Bearer {viewer}"},
                )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["calibration"]["botnet"] == "ided" and body["ci_low"] is not None
            for attr, key in (
                ("estimate", "estimate"),
                ("ci-low", "ci_low"),
                ("ci-high", "ci_high"),
            ):
                assert float(line.get_attribute(f"data-{attr}") or "nan") == body[key], key
            assert body["method"] in (
                page.text_content('section[data-panel="count-estimate"] .method') or ""
            )
            drawn = page.evaluate(
                """() => echarts.getInstanceByDom(document.querySelector(
                       'section[data-panel="count-estimate"] .chart')).getOption().series
                       .map((s) => s.data.map((d) => (d && d.value !== undefined ? d.value : d)))"""
            )
            assert drawn[0] == [body["ips"], body["ids"], body["ip_ports"], body["estimate"]]
            assert drawn[1] == [[3, body["ci_low"], body["ci_high"]]]
            curve = page.evaluate(
                """() => echarts.getInstanceByDom(document.querySelector(
                       'section[data-panel="count-growth"] .chart')).getOption().series
                       .find((s) => s.name === 'all').data"""
            )
            overall = [g for g in body["ips_per_id"] if g["asn"] is None]
            growth_csv = page.get_attribute('section[data-panel="count-growth"] a.csv', "href")
            assert growth_csv and "section=ips_per_id" in growth_csv, growth_csv
            with httpx.Client(timeout=60, trust_env=False) as c:
                sheet = c.get(
                    f"{server.url}{growth_csv}", headers={"Authorization": f"Bearer {viewer}"}
                )
            assert sheet.status_code == 200, sheet.text
            assert sheet.text.splitlines()[0].split(",")[:2] == ["asn", "window_s"], sheet.text
            assert curve == [[g["window_s"] / 3600, g["ips_per_id"]] for g in overall]
            assert body["ips"] > body["ci_high"] > body["ci_low"] > 0  # the IPs overstate
            page.wait_for_timeout(300)
            page.screenshot(path=str(SHOT), full_page=True)
        finally:
            browser.close()
    assert not outside, outside
    assert not errors, errors
