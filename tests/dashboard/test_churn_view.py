"""The dashboard's Churn view in a real browser, over a generated trace in the server's store.

Given two days of a modelled botnet (known sessions and lifetimes), the view draws its four
charts, shows the figures the analyses API answers (peers, medians, every class, every
country), offers each section as CSV from that API, and logs no console error. The page,
browser and request guard are the dashboard suite's own (tests/dashboard/test_browser.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from botmon.auth import hash_token, new_token, token_prefix
from botmon.sim.trace import DAY, TraceModel, generate_trace
from botmon.store import open_store
from tests.dashboard.test_browser import (  # noqa: F401  (fixtures used by name)
    SHOTS,
    Site,
    browser,
    charts_drawn,
    page,
    pytestmark,
    sign_in,
    wait_loaded,
)
from tests.fixtures.server import start_live_server

SCREENSHOT = "/tmp/churn-view.png"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server whose store holds a two-day trace ending a minute ago."""
    workdir = tmp_path_factory.mktemp("churn-view")
    db = str(workdir / "botmon.duckdb")
    store = open_store(db)
    try:
        store.migrate()
        model = TraceModel(
            botnet="churny", bots=150, days=2.0, start=time.time() - 2 * DAY - 60, throttle=None
        )
        generate_trace(store, model, seed=2)
        viewer, crawler = new_token(), new_token()
        store.create_monitor("viewer-ui", "viewer", [], hash_token(viewer), token_prefix(viewer))
        store.create_monitor(
            "crawler-ui", "crawler", [], hash_token(crawler), token_prefix(crawler)
        )
    finally:
        store.close()
    server = start_live_server(db, workdir)
    try:
        yield Site(server, viewer, crawler)
    finally:
        server.stop()


def test_churn_view_draws_the_api_result(page: Any, site: Site) -> None:  # noqa: F811
    sign_in(page, site, "#/churn/churny")
    wait_loaded(page)
    page.wait_for_function("() => document.querySelectorAll('.churn-totals .total').length === 4")
    assert charts_drawn(page) >= 4

    csv = page.get_attribute('section[data-panel="churn-classes"] a.csv', "href")
    assert csv and csv.startswith("/api/v1/analyses/churn?"), csv
    params = [(k, v) for k, v in httpx.QueryParams(csv.split("?", 1)[1]).multi_items()]
    json_params = [(k, v) for k, v in params if k not in ("format", "section")]
    answer = site.api(f"{site.server.url}/api/v1/analyses/churn?{httpx.QueryParams(json_params)}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["bots"] > 100 and body["median_session_s"] is not None

    totals = page.inner_text(".churn-totals")
    assert str(body["bots"]) in totals and f"{body['sessions']} sessions" in totals
    shown = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll(
               'section[data-panel="churn-classes"] tbody tr')].map((tr) =>
               [tr.children[0].textContent, Number(tr.children[1].textContent)]))"""
    )
    assert shown == body["classes"]
    countries = page.locator('section[data-panel="churn-countries"] tbody tr')
    assert countries.count() == len(body["by_country"])
    ases = page.locator('section[data-panel="churn-ases"] tbody tr')
    assert ases.count() == len(body["by_as"]) > 0
    first = body["by_country"][0]
    assert countries.nth(0).locator('td[data-col="bots"]').inner_text() == str(first["bots"])
    note = page.inner_text('section[data-panel="churn-summary"] .note')
    assert "bot ID" in note and "trace-crawler" in note

    with httpx.Client(timeout=30, trust_env=False) as c:
        got = c.get(f"{site.server.url}{csv}", headers={"Authorization": f"Bearer {site.viewer}"})
    assert got.status_code == 200 and "dangling" in got.text

    # Another range is computed for it: its start and end are in the request, and half the
    # trace has fewer sessions.
    page.select_option("#range", str(DAY))
    page.wait_for_function(
        """() => (document.querySelector('section[data-panel="churn-classes"] a.csv')
                  .getAttribute('href') || '').includes('start=')"""
    )
    wait_loaded(page)
    day = page.inner_text(".churn-totals")
    assert f"{body['sessions']} sessions" not in day and " sessions" in day

    page.select_option("#range", str(7 * DAY))
    wait_loaded(page)
    week = f"{body['sessions']} sessions"
    page.wait_for_function(
        f"() => document.querySelector('.churn-totals').innerText.includes('{week}')"
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "churn.png"), full_page=True)
    page.screenshot(path=SCREENSHOT, full_page=True)
