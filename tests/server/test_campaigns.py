"""Campaigns through the API: a crawler token registers its run, ends it, and only its own."""

from __future__ import annotations

from tests.fixtures.server import LiveServer
from tests.server.helpers import JSON, client

SETTINGS = {
    "protocol": "hns",
    "version": "1.0",
    "rounds": 3,
    "interval_s": 60.0,
    "rate": 0.0,
    "timeouts": [4.0, 8.0],
    "scope": ["127.0.0.0/8"],
    "seeds": 12,
}


def test_a_crawler_registers_and_ends_its_campaign(live_server: LiveServer) -> None:
    live_server.create_botnet("hns")
    live_server.create_botnet("mozi")
    crawler = live_server.token("crawler", botnets=("hns",), name="crawler-c")
    other = live_server.token("crawler", name="crawler-d")
    viewer = live_server.token("viewer")
    with client(live_server, crawler) as c:
        r = c.post("/api/v1/campaigns", json={"botnet": "hns", "settings": SETTINGS})
        assert r.status_code == 201, r.text
        campaign = r.json()
        assert campaign["source"] == "crawler-c" and campaign["botnet"] == "hns"
        assert campaign["settings"] == SETTINGS and campaign["ended_at"] is None

        with client(live_server, viewer) as v:
            rows = v.get("/api/v1/stats/monitors", params={"window": 60}).json()["rows"]
        row = next(r for r in rows if r["source"] == "crawler-c")
        assert row["campaign"] == campaign["id"]
        assert row["campaign_settings"] == "hns: 3 rounds every 60 s, 12 seeds, scope 127.0.0.0/8"
        assert row["campaign_started_at"] == campaign["started_at"]
        assert row["campaign_ended_at"] is None and row["state"] is None  # no heartbeat yet

        with client(live_server, other) as o:  # not its campaign
            assert o.post(f"/api/v1/campaigns/{campaign['id']}/end").status_code == 404
        for bad in ("999999", "x", "-1", "99999999999999999999", "¹", "١٢"):
            assert c.post(f"/api/v1/campaigns/{bad}/end").status_code == 404, bad
        ended = c.post(f"/api/v1/campaigns/{campaign['id']}/end")
        assert ended.status_code == 200, ended.text
        assert ended.json()["ended_at"] >= campaign["started_at"]
        again = c.post(f"/api/v1/campaigns/{campaign['id']}/end")
        assert again.status_code == 404 and again.json()["reason"] == "not_found"

        with client(live_server, viewer) as v:
            rows = v.get("/api/v1/stats/monitors", params={"window": 60}).json()["rows"]
        row = next(r for r in rows if r["source"] == "crawler-c")
        assert row["campaign_ended_at"] == ended.json()["ended_at"]


def test_campaign_refusals(live_server: LiveServer) -> None:
    live_server.create_botnet("hns")
    crawler = live_server.token("crawler", botnets=("hns",), name="crawler-e")
    viewer = live_server.token("viewer")
    with client(live_server, crawler) as c:
        forbidden = c.post("/api/v1/campaigns", json={"botnet": "mozi", "settings": SETTINGS})
        assert forbidden.status_code == 403 and forbidden.json()["reason"] == "forbidden_botnet"
        for body in (
            {"botnet": "hns"},
            {"botnet": "hns", "settings": {}},  # no protocol
            {"botnet": "hns", "settings": SETTINGS | {"rounds": "three"}},
            {"botnet": "hns", "settings": SETTINGS | {"rate": -5}},
            {"botnet": "hns", "settings": SETTINGS | {"scope": "127.0.0.0/8"}},
            {"botnet": "hns", "settings": SETTINGS, "extra": 1},
        ):
            r = c.post("/api/v1/campaigns", json=body)
            assert r.status_code == 422 and r.json()["reason"] == "invalid_request", (body, r.text)
        assert c.post("/api/v1/campaigns", content=b"{nope", headers=JSON).status_code == 400
    admin = live_server.admin_token
    with client(live_server, admin) as a:
        unknown = a.post("/api/v1/campaigns", json={"botnet": "nope", "settings": SETTINGS})
        assert unknown.status_code == 422 and unknown.json()["reason"] == "unknown_botnet"
    with client(live_server, viewer) as v:
        r = v.post("/api/v1/campaigns", json={"botnet": "hns", "settings": SETTINGS})
        assert r.status_code == 403


def test_the_wire_contract_is_in_the_openapi_document(live_server: LiveServer) -> None:
    with client(live_server) as c:
        doc = c.get("/openapi.json").json()
    paths, schemas = doc["paths"], doc["components"]["schemas"]
    assert paths["/api/v1/campaigns"]["post"]["responses"].keys() >= {"201", "403", "422"}
    assert paths["/api/v1/campaigns/{id}/end"]["post"]["responses"].keys() >= {"200", "404"}
    assert schemas["CommandIn"]["properties"]["command"]["enum"] == [
        "add_seeds",
        "pause",
        "resume",
        "set_rate",
        "stop",
    ]
    assert {"NoArgs", "SetRate", "AddSeeds", "SeedAddress", "CampaignSettings"} <= schemas.keys()
    state = schemas["HeartbeatStatus"]["properties"]["state"]["anyOf"][0]["enum"]
    assert state == ["paused", "running", "stopped", "stopping"]
