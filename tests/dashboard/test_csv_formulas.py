"""The dashboard's CSV downloads show hostile text as text: a cell a spreadsheet would run as
a formula (``=``, ``+``, ``-``, ``@``, a leading tab or CR) starts with ``'``; numbers are
left as numbers."""

from __future__ import annotations

import csv
import io

from tests.fixtures.server import LiveServer
from tests.server.helpers import client

FORMULA = '=HYPERLINK("http://127.0.0.1/x","click")'


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_dashboard_csv_quotes_formulas(live_server: LiveServer) -> None:
    crawler = live_server.token("crawler", name="crawler-csv")
    with client(live_server, live_server.admin_token) as a:
        r = a.post("/api/v1/admin/botnets", json={"name": "hns", "description": FORMULA})
        assert r.status_code == 201, r.text
    with client(live_server, crawler) as c:
        status = {"state": "running", "version": "@SUM(1+1)*cmd|' /C calc'!A0", "replies": 7}
        assert c.post("/api/v1/heartbeat", json={"status": status}).status_code == 200
    with client(live_server, live_server.admin_token) as a:
        overview = a.get("/api/v1/stats/overview", params={"format": "csv"})
        monitors = a.get("/api/v1/stats/monitors", params={"format": "csv"})
    assert overview.status_code == 200 and monitors.status_code == 200
    (botnet,) = _rows(overview.text)
    assert botnet["description"] == "'" + FORMULA
    assert botnet["replies"] == "0"
    (monitor,) = _rows(monitors.text)
    assert monitor["version"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert monitor["reported_replies"] == "7"
    for row in _rows(overview.text) + _rows(monitors.text):
        assert not [v for v in row.values() if v[:1] in ("=", "+", "@", "\t", "\r")], row
