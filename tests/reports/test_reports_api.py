"""``GET /api/v1/reports/{botnet}/{daily|weekly}`` of a real server on both backends: records
ingested through the real API, the report back as a zip that verifies, clear refusals."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx

from botmon.reports import manifest
from botmon.reports.archive import unpack
from tests.fixtures.server import LiveServer
from tests.reports.data import DAY, DAY_START, csv_ips
from tests.server.helpers import client, post_batch


def _reply(ip: str, t: float, port: int) -> dict[str, object]:
    return {"timestamp": t, "ip": ip, "port": port, "bot_id": None, "data": None}


def test_report_zip_over_the_api(live_server: LiveServer, tmp_path: Path) -> None:
    live_server.create_botnet("hns")
    crawler = live_server.token("crawler", ["hns"])
    sensor = live_server.token("crawler", ["hns"])
    crawled = [_reply(f"127.1.0.{i}", DAY_START + 600 * i, 3000) for i in range(1, 6)]
    crawled += [_reply(f"127.2.0.{i}", DAY_START + 900 * i, 3000) for i in range(1, 4)]
    body = {"botnet": "hns", "batch_id": "c1", "replies": crawled}
    assert post_batch(live_server, crawler, body).status_code == 200
    sensed = [_reply("127.3.0.7", DAY_START + 100, 4000), _reply("127.1.0.1", DAY_START + 50, 3000)]
    body = {"botnet": "hns", "batch_id": "s1", "replies": sensed, "source_type": "sensor"}
    assert post_batch(live_server, sensor, body).status_code == 200
    viewer = live_server.token("viewer")

    path = "/api/v1/reports/hns/daily"
    with client(live_server, viewer) as c:
        response = c.get(path, params={"date": DAY.isoformat(), "per": "asn"})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/zip"
        assert "botmon-hns-daily-2025-06-10.zip" in response.headers["content-disposition"]
        archive = tmp_path / "r.zip"
        archive.write_bytes(response.content)
        out = tmp_path / "report"
        out.mkdir()
        unpack(archive, out)
        assert manifest.verify(out).ok
        names = {p.name for p in out.glob("as*.csv")}
        assert names == {"as64512.csv", "as64517.csv", "as64521.csv"}
        cn = {r["src_ip"] for r in csv_ips((out / "as64512.csv").read_bytes())}
        assert cn == {f"127.1.0.{i}" for i in range(1, 6)}
        assert {r["src_ip"] for r in csv_ips((out / "as64521.csv").read_bytes())} == {"127.3.0.7"}

        per_country = c.get(path, params={"date": DAY.isoformat(), "per": "country"})
        members = zipfile.ZipFile(io.BytesIO(per_country.content)).namelist()
        assert {"country-CN.csv", "country-US.csv", "country-IN.csv"} <= set(members)

        for params, field in (
            ({"date": "2025-02-30"}, "date"),
            ({"date": "2999-01-01"}, "date"),
            ({"per": "city"}, "per"),
            ({"tlp": "purple"}, "tlp"),
            ({"since": "1"}, "since"),
        ):
            bad = c.get(path, params=params)
            assert bad.status_code == 422, (params, bad.text)
            assert bad.json()["field"] == field
        assert c.get("/api/v1/reports/nope/daily").status_code == 404
        assert c.get("/api/v1/reports/hns/monthly").status_code == 404

    with client(live_server, crawler) as c:
        assert c.get(path).status_code == 403
    with httpx.Client(base_url=live_server.url, trust_env=False) as anonymous:
        assert anonymous.get(path).status_code == 401
        doc = anonymous.get("/openapi.json").json()
    for kind in ("daily", "weekly"):
        op = doc["paths"][f"/api/v1/reports/{{botnet}}/{kind}"]["get"]
        assert {p["name"] for p in op["parameters"]} == {"botnet", "date", "per", "tlp"}
        assert "application/zip" in op["responses"]["200"]["content"]
