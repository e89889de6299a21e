"""The Monitors of others view in a real browser (Debian's chromium, headless, Playwright),
over a server holding the hand-built botnet of tests/analysis/detect_data.py in the last
day: the suspects table shows exactly the API's suspects (kind, address, score, evidence
in words), the degree scatter is drawn, the "How visible is botmon" panel shows botmon's
own sensor and crawler with the API's scores, the CSV link is the API's, and nothing
leaves 127.0.0.1. Screenshot: test-artifacts/screenshots/monitors-view.png and
/tmp/monitors-view.png.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from botmon.auth import hash_token, new_token, token_prefix
from botmon.store import open_store
from tests.analysis import detect_data as hand
from tests.dashboard.guarded_page import guarded_page
from tests.dashboard.test_browser import (
    SHOTS,
    charts_drawn,
    pytestmark,
    wait_loaded,
)
from tests.fixtures.server import LiveServer, start_live_server

__all__ = ["pytestmark"]


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LiveServer, str]]:
    db = str(tmp_path / "botmon.duckdb")
    store = open_store(db)
    try:
        store.migrate()
        hand.load(store, t0=time.time() - hand.SPAN - 600)
        viewer = new_token()
        store.create_monitor("viewer-ui", "viewer", [], hash_token(viewer), token_prefix(viewer))
    finally:
        store.close()
    # botmon's own crawler, as a deployment names it (the server reads the setting)
    monkeypatch.setenv(
        "BOTMON_ANALYSIS_OWN_MONITORS", f"{hand.OWN_CRAWLER[0]}:{hand.OWN_CRAWLER[1]}"
    )
    live = start_live_server(db, tmp_path)
    try:
        yield live, viewer
    finally:
        live.stop()


@pytest.fixture
def page(server: tuple[LiveServer, str]) -> Iterator[tuple[Any, list[str]]]:
    with guarded_page() as (pg, seen):
        yield pg, seen


def _address(ip: str, port: int) -> str:
    return f"{ip}:{port}"


def test_monitors_of_others_view(
    page: tuple[Any, list[str]], server: tuple[LiveServer, str]
) -> None:
    pg, seen = page
    live, viewer = server
    pg.goto(f"{live.url}/login?token={viewer}")
    pg.wait_for_url("**/dashboard/")
    wait_loaded(pg)
    pg.click('#nav a[data-view="monitors"]')
    wait_loaded(pg)
    assert pg.locator("#botnet").input_value() == hand.BOTNET
    asked = [u for u in seen if urlsplit(u).path == "/api/v1/analyses/detect"]
    assert asked, "the view did not ask the analyses API"
    query = dict(parse_qsl(urlsplit(asked[-1]).query))
    assert query["botnet"] == hand.BOTNET
    with httpx.Client(timeout=60, trust_env=False) as c:
        api = c.get(
            f"{live.url}/api/v1/analyses/detect",
            params=query,
            headers={"Authorization": f"Bearer {viewer}"},
        )
        bad = c.get(
            f"{live.url}/api/v1/analyses/detect/{hand.BOTNET}",
            params={"own": "sensor.example:80"},
            headers={"Authorization": f"Bearer {viewer}"},
        )
    assert api.status_code == 200, api.text
    body = api.json()
    assert bad.status_code == 422 and "own: 'sensor.example:80' is not an address" in bad.text

    suspects = pg.locator('section[data-panel="suspects"] tbody tr')
    shown = [
        (
            suspects.nth(i).get_attribute("data-kind"),
            suspects.nth(i).get_attribute("data-address"),
            suspects.nth(i).locator('td[data-col="score"] .val').text_content(),
            suspects.nth(i).locator('td[data-col="why"]').text_content(),
        )
        for i in range(suspects.count())
    ]
    assert shown == [
        (s["kind"], _address(s["ip"], s["port"]), f"{s['score']:.2f}", s["why"])
        for s in body["suspects"]
    ]
    assert {(k, a) for k, a, _, _ in shown} == {
        ("sensor", _address(*hand.FOREIGN_SENSOR)),
        ("crawler", _address(*hand.FOREIGN_CRAWLER)),
        ("crawler", _address(*hand.DEVIANT_CRAWLER)),
    }
    # the score bar's width is the score
    width = pg.evaluate(
        """() => document.querySelector('section[data-panel="suspects"] tbody tr .fill')
                 .style.width"""
    )
    assert width == f"{round(body['suspects'][0]['score'] * 100)}%"
    assert charts_drawn(pg) == 1  # the degree scatter

    cards = pg.locator('section[data-panel="self"] .total')
    own = {
        (cards.nth(i).get_attribute("data-kind"), cards.nth(i).get_attribute("data-address")): (
            cards.nth(i).get_attribute("data-flagged")
        )
        for i in range(cards.count())
    }
    assert own == {
        (o["kind"], _address(o["ip"], o["port"])): str(o["flagged"]).lower() for o in body["self"]
    }
    assert set(own) == {
        ("sensor", _address(*hand.OWN_SENSOR)),
        ("crawler", _address(*hand.OWN_CRAWLER)),
    }
    assert "would be flagged" in pg.locator('section[data-panel="self"]').text_content()

    csv_href = pg.locator('section[data-panel="suspects"] a.csv').get_attribute("href")
    with httpx.Client(timeout=60, trust_env=False) as c:
        csv = c.get(f"{live.url}{csv_href}", headers={"Authorization": f"Bearer {viewer}"})
    assert csv.status_code == 200
    assert csv.text.splitlines()[0].startswith("kind,ip,port,score")
    assert len(csv.text.strip().splitlines()) == 1 + len(body["suspects"])

    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.wait_for_timeout(300)
    pg.screenshot(path=str(SHOTS / "monitors-view.png"), full_page=True)
    shutil.copyfile(SHOTS / "monitors-view.png", "/tmp/monitors-view.png")
