"""The configuration alert banner and the single botnet's Configurations panel in a real
browser (Debian's chromium, headless, Playwright), fed through the real ingest API with
records as the Mozi plugin builds them. Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.dashboard.guarded_page import guarded_page
from tests.dashboard.test_browser import (
    charts_drawn,
    pytestmark,
    shoot,
    wait_loaded,
)
from tests.fixtures.server import LiveServer
from tests.server.helpers import T0, batch, client, post_batch
from tests.server.mozi_data import config, mozi_reply

__all__ = ["pytestmark"]

V1 = config({"cpu": "arm7", "hp": "http://127.0.0.1:80/a"}, 1)
V2 = config({"cpu": "arm7", "count": "2"}, 2)
STOP = config({"ud": "http://127.0.0.1:80/stop"}, 3)
FORGED = config({"cpu": "mips", "dr": ""}, 2, forged=True)


def _feed(server: LiveServer, crawler: str) -> None:
    """Two days of a Mozi botnet moving from version 1 to 2, then a stop order and a forgery."""
    ago = time.time() - T0  # mozi_reply counts from T0

    def at(hours: float) -> float:
        return ago - hours * 3600

    rounds = [
        [mozi_reply(i, V1, at(48 - i)) for i in range(8)],
        [mozi_reply(i, V1, at(30)) for i in range(3)]
        + [mozi_reply(i, V2, at(20)) for i in range(3, 8)],
        [mozi_reply(i, V2, at(4)) for i in range(3, 6)]
        + [mozi_reply(8, STOP, at(1)), mozi_reply(9, FORGED, at(0.5))],
    ]
    for replies in rounds:
        assert post_batch(server, crawler, batch("mozi", replies=replies)).status_code == 200


@pytest.fixture
def page(duckdb_server: LiveServer) -> Iterator[Any]:
    with guarded_page() as (pg, _):
        yield pg


def test_alert_banner_and_configurations_panel(page: Any, duckdb_server: LiveServer) -> None:
    server = duckdb_server
    server.create_botnet("mozi")
    server.create_botnet("hns")
    crawler = server.token("crawler", name="mozi-crawler")
    viewer = server.token("viewer", name="viewer-ui")
    _feed(server, crawler)

    page.goto(f"{server.url}/login?token={viewer}")
    page.wait_for_url("**/dashboard/")
    wait_loaded(page)
    banner = page.locator("#alerts")
    banner.wait_for()
    assert banner.get_attribute("class") == "alerts critical"
    assert banner.get_attribute("data-count") == "8"  # 4 new, 2 newer versions, stop, forgery
    first = banner.locator("li").first
    assert first.get_attribute("data-kind") == "stop_order" and "STOP ORDER" in first.text_content()
    assert "mozi" in first.text_content() and STOP["digest"][:12] in first.text_content()
    shoot(page, "config-alert-banner")

    page.goto(f"{server.url}/dashboard/#/botnet/mozi")
    wait_loaded(page)
    configs = page.locator('section[data-panel="configs"]')
    configs.wait_for()
    rows = configs.locator("tbody tr")
    assert rows.count() == 4
    digests = [rows.nth(i).locator('td[data-col="digest"]').text_content() for i in range(4)]
    assert digests == [FORGED["digest"], STOP["digest"], V2["digest"], V1["digest"]]
    bots = [rows.nth(i).locator('td[data-col="bots"]').text_content() for i in range(4)]
    assert bots == ["1", "1", "5", "8"]
    signatures = [rows.nth(i).locator('td[data-col="signatures"]').text_content() for i in range(4)]
    assert signatures == ["invalid", "valid", "valid", "valid"]
    tags = configs.locator(".tags")
    assert tags.get_attribute("data-digest") == FORGED["digest"]  # seen last: the current one
    assert "[cpu] mips" in tags.text_content()
    drawn = page.evaluate(
        """() => { const c = document.querySelector('section[data-panel="configs"] canvas');
               const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
               let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n; }"""
    )
    assert drawn > 1000
    # the five panels of every botnet, this one, and those the records' node IDs and [cpu]
    # bring: DHT client versions, estimated size, what the protocol reveals (the CPU); and
    # the daily cycle
    assert charts_drawn(page) == 10
    assert page.locator("#alerts").is_visible()
    shoot(page, "config-panel")

    page.goto(f"{server.url}/dashboard/#/botnet/hns")
    wait_loaded(page)
    assert page.locator('section[data-panel="configs"]').is_hidden()  # hns has none
    assert page.locator("#alerts").is_visible()

    with client(server, server.admin_token) as a:
        for alert in a.get("/api/v1/alerts").json()["alerts"]:
            assert a.post(f"/api/v1/admin/alerts/{alert['id']}/ack").status_code == 200
    page.reload()
    wait_loaded(page)
    page.wait_for_function("() => document.getElementById('alerts').hidden")
    with httpx.Client(trust_env=False) as c:  # the banner reads what a viewer may read
        assert c.get(f"{server.url}/api/v1/alerts").status_code == 401
