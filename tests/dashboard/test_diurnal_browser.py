"""The single botnet's "Daily cycle" panel in a real browser (Debian's chromium, headless,
Playwright): over stored data with a known cycle and a throttled country it draws each
country's hour-of-day curve in UTC and in local time, lists strength and peaks, and marks
the throttled country, and only it, in red with its evidence. The panel's screenshot is
written to /tmp/diurnal-panel.png (and test-artifacts/screenshots/)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from botmon.store import open_store
from tests.analysis.test_diurnal import write_cycle
from tests.dashboard.guarded_page import guarded_page
from tests.dashboard.test_browser import pytestmark, shoot, wait_loaded
from tests.fixtures.server import LiveServer, start_live_server

__all__ = ["pytestmark"]

PANEL = 'section[data-panel="diurnal"]'
TABLE = f'{PANEL} table[data-view="diurnal-regions"]'


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    db = str(tmp_path / "botmon.duckdb")
    store = open_store(db)
    try:
        store.migrate()
        day = 86400.0
        write_cycle(store, "cyc", days=3, start=(time.time() // day - 3) * day)
    finally:
        store.close()
    live = start_live_server(db, tmp_path)
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def page(server: LiveServer) -> Iterator[Any]:
    with guarded_page() as (pg, _):
        yield pg


def panel_drawn(page: Any) -> bool:
    drawn: bool = page.evaluate(
        f"""() => [...document.querySelectorAll('{PANEL} .chart canvas')].some((c) => {{
               if (!c.width || !c.height) return false;
               const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
               let n = 0;
               for (let i = 3; i < d.length; i += 16) if (d[i] > 0) n++;
               return n > 500;
           }})"""
    )
    return drawn


def red_pixels(page: Any) -> int:
    """Pixels of the throttle red (#ff4d5a) on the panel's chart."""
    n: int = page.evaluate(
        f"""() => {{
            let n = 0;
            for (const c of document.querySelectorAll('{PANEL} .chart canvas')) {{
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                const near = (i, r, g, b) => Math.abs(d[i] - r) < 8
                    && Math.abs(d[i + 1] - g) < 8 && Math.abs(d[i + 2] - b) < 8;
                for (let i = 0; i < d.length; i += 4) if (near(i, 255, 77, 90)) n++;
            }}
            return n;
        }}"""
    )
    return n


def test_daily_cycle_panel_marks_the_throttled_country(page: Any, server: LiveServer) -> None:
    page.goto(f"{server.url}/login?token={server.admin_token}")
    page.wait_for_url("**/dashboard/")
    page.goto(f"{server.url}/dashboard/#/botnet/cyc")
    wait_loaded(page)
    page.wait_for_selector(f"{TABLE} tbody tr")
    rows = page.evaluate(
        f"""() => [...document.querySelectorAll('{TABLE} tbody tr')]
               .map((tr) => [tr.dataset.country, tr.classList.contains('throttled'),
                             tr.querySelector('td[data-col="throttling_suspected"]').textContent])"""
    )
    assert {r[0] for r in rows} == {"CN", "IN", "BR", "US"}
    assert [r[0] for r in rows if r[1]] == ["CN"]
    assert [r[2] for r in rows if r[1]] == ["⚠ suspected 10:00–14:00 UTC"]
    alert = page.text_content(f'{PANEL} .throttle-alert[data-country="CN"]')
    assert "10:00–14:00 UTC" in alert and "18:00–22:00 local" in alert
    assert page.locator(f"{PANEL} .throttle-alert").count() == 1
    assert panel_drawn(page)
    assert red_pixels(page) > 200  # the throttled curve and its window
    page.select_option(f"{PANEL} select.diurnal-clock", "local")
    page.wait_for_timeout(200)
    assert panel_drawn(page) and red_pixels(page) > 200
    page.locator(PANEL).screenshot(path="/tmp/diurnal-panel-local.png")
    page.select_option(f"{PANEL} select.diurnal-clock", "utc")
    page.wait_for_timeout(300)
    page.locator(PANEL).screenshot(path="/tmp/diurnal-panel.png")
    shoot(page, "diurnal")
    href = page.get_attribute(f"{PANEL} a.csv", "href")
    assert href and href.startswith("/api/v1/analyses/diurnal?") and "format=csv" in href
