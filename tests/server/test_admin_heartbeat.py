"""The admin API and the heartbeat command channel."""

from __future__ import annotations

from typing import get_args

from botmon.wire import COMMAND_ARGS, CommandName
from tests.fixtures.server import LiveServer
from tests.server.helpers import JSON, client


def test_a_queued_command_reaches_its_monitor_exactly_once(live_server: LiveServer) -> None:
    crawler = live_server.token("crawler", name="crawler-7")
    other = live_server.token("crawler", name="crawler-8")
    with client(live_server, crawler) as c, client(live_server, live_server.admin_token) as a:
        first = c.post("/api/v1/heartbeat", json={"status": {"state": "running", "sent": 10}})
        assert first.status_code == 200, first.text
        assert first.json() == {"commands": []}

        queued = a.post(
            "/api/v1/admin/commands",
            json={"source": "crawler-7", "command": "set_rate", "args": {"rate": 30}},
        )
        assert queued.status_code == 201, queued.text
        a.post("/api/v1/admin/commands", json={"source": "crawler-7", "command": "resume"})

        with client(live_server, other) as o:
            assert o.post("/api/v1/heartbeat", json={"status": {}}).json() == {"commands": []}
        got = c.post("/api/v1/heartbeat", json={"status": {"state": "running"}}).json()
        assert [(x["command"], x["args"]) for x in got["commands"]] == [
            ("set_rate", {"rate": 30}),
            ("resume", {}),
        ]
        assert got["commands"][0]["id"] == queued.json()["id"]
        again = c.post("/api/v1/heartbeat", json={"status": {"state": "paused"}}).json()
        assert again == {"commands": []}


def test_heartbeat_refusals(live_server: LiveServer) -> None:
    crawler = live_server.token("crawler")
    viewer = live_server.token("viewer")
    with client(live_server, crawler) as c:
        assert c.post("/api/v1/heartbeat", content=b"{nope", headers=JSON).status_code == 400
        assert c.post("/api/v1/heartbeat", json={"status": [1]}).status_code == 422
        assert c.post("/api/v1/heartbeat", json={"state": "x"}).status_code == 422
        for wrong in (
            {"state": "crawling"},
            {"requests_per_s": "fast"},
            {"replies": -1},
            {"errors": 1.5},
            {"kind": "person"},
            {"sensor": {"contacts": "many"}},
            {"client": {"heartbeats": "x"}},
        ):
            r = c.post("/api/v1/heartbeat", json={"status": wrong})
            assert r.status_code == 422, (wrong, r.text)
            assert f"$.status.{next(iter(wrong))}" in r.json()["error"], r.text
        big = {"status": {"blob": "x" * 100_000}}
        r = c.post("/api/v1/heartbeat", json=big)
        assert r.status_code == 413 and r.json()["reason"] == "body_too_large"
    with client(live_server, viewer) as v:
        assert v.post("/api/v1/heartbeat", json={"status": {}}).status_code == 403
    with client(live_server) as anonymous:
        assert anonymous.post("/api/v1/heartbeat", json={"status": {}}).status_code == 401


def test_admin_commands_need_a_known_monitor_and_admin_role(live_server: LiveServer) -> None:
    crawler = live_server.token("crawler", name="c-1")
    with client(live_server, live_server.admin_token) as a:
        r = a.post("/api/v1/admin/commands", json={"source": "nobody", "command": "pause"})
        assert r.status_code == 422 and r.json()["field"] == "source"
        r = a.post("/api/v1/admin/commands", json={"source": "c-1", "command": ""})
        assert r.status_code == 422
    with client(live_server, crawler) as c:
        r = c.post("/api/v1/admin/commands", json={"source": "c-1", "command": "pause"})
        assert r.status_code == 403


def test_tokens_and_botnets_through_the_admin_api(live_server: LiveServer) -> None:
    with client(live_server, live_server.admin_token) as a:
        assert a.post("/api/v1/admin/botnets", json={"name": "mozi"}).status_code == 201
        dup = a.post("/api/v1/admin/botnets", json={"name": "mozi"})
        assert dup.status_code == 409 and dup.json()["reason"] == "conflict"
        assert a.post("/api/v1/admin/botnets", json={"name": "Has Space"}).status_code == 422
        names = [b["name"] for b in a.get("/api/v1/admin/botnets").json()["botnets"]]
        assert names == ["mozi"]

        made = a.post(
            "/api/v1/admin/tokens", json={"name": "s1", "role": "crawler", "botnets": ["mozi"]}
        )
        assert made.status_code == 201, made.text
        token = made.json()["token"]
        assert len(token) >= 43
        assert made.json()["monitor"]["botnets"] == ["mozi"]
        assert (
            a.post("/api/v1/admin/tokens", json={"name": "s1", "role": "viewer"}).status_code == 409
        )
        unknown = a.post(
            "/api/v1/admin/tokens", json={"name": "s2", "role": "crawler", "botnets": ["nope"]}
        )
        assert unknown.status_code == 422 and "nope" in unknown.json()["error"]
        assert (
            a.post("/api/v1/admin/tokens", json={"name": "s3", "role": "root"}).status_code == 422
        )
        listed = {m["name"]: m for m in a.get("/api/v1/admin/tokens").json()["tokens"]}
        assert listed["s1"]["token_prefix"] == token[:8]
        assert "token" not in listed["s1"] and "token_hash" not in listed["s1"]

        assert a.get("/api/v1/admin/counts", params={"botnet": "nope"}).status_code == 404
        counts = a.get("/api/v1/admin/counts", params={"botnet": "mozi"}).json()["counts"]
        assert counts["replies"] == 0
    with client(live_server, token) as c:
        assert c.get("/api/v1/admin/tokens").status_code == 403
        assert c.post("/api/v1/admin/botnets", json={"name": "x"}).status_code == 403


def test_commands_are_checked_against_the_vocabulary(live_server: LiveServer) -> None:
    """An unknown command or arguments that do not fit it are refused when queued (422), so
    an admin learns at once, not from a crawler's error counter; good ones reach the crawler
    exactly as typed."""
    crawler = live_server.token("crawler", name="c-vocab")
    refused = [
        ("reboot", {}),
        ("Pause", {}),
        ("pause", {"seconds": 30}),
        ("set_rate", {}),
        ("set_rate", {"rate": "fast"}),
        ("set_rate", {"rate": -1}),
        ("set_rate", {"rate": 5, "per_target": 1}),
        ("add_seeds", {"peers": []}),
        ("add_seeds", {"peers": "127.0.0.1:6000"}),
        ("add_seeds", {"peers": ["127.0.0.1:6000", "not-an-ip:1"]}),
        ("add_seeds", {"peers": ["127.0.0.1:70000"]}),
        ("add_seeds", {"peers": [{"ip": "127.0.0.1", "port": 0}]}),
        ("add_seeds", {"peers": [{"ip": "localhost", "port": 6000}]}),
        ("stop", {"now": True}),
    ]
    accepted = [
        ("pause", {}),
        ("resume", {}),
        ("set_rate", {"rate": 0}),
        ("set_rate", {"rate": 250.5}),
        ("add_seeds", {"peers": ["127.0.0.1:6000", "127.0.0.2", "[::1]:6001"]}),
        ("add_seeds", {"peers": [{"ip": "127.0.0.3", "port": 6000}]}),
        ("stop", {}),
    ]
    with client(live_server, live_server.admin_token) as a:
        for command, args in refused:
            body = {"source": "c-vocab", "command": command, "args": args}
            r = a.post("/api/v1/admin/commands", json=body)
            assert r.status_code == 422, (command, args, r.text)
            assert r.json()["reason"] == "invalid_request", r.text
        for command, args in accepted:
            body = {"source": "c-vocab", "command": command, "args": args}
            r = a.post("/api/v1/admin/commands", json=body)
            assert r.status_code == 201, (command, args, r.text)
            assert r.json()["source"] == "c-vocab" and r.json()["args"] == args
    with client(live_server, crawler) as c:
        got = c.post("/api/v1/heartbeat", json={"status": {}}).json()["commands"]
    assert [(x["command"], x["args"]) for x in got] == accepted


def test_a_heartbeat_may_carry_keys_botmon_does_not_read(live_server: LiveServer) -> None:
    crawler = live_server.token("crawler", name="c-extra")
    viewer = live_server.token("viewer")
    status = {"state": "paused", "requests": 7, "newer_field": {"a": [1, 2]}}
    with client(live_server, crawler) as c:
        assert c.post("/api/v1/heartbeat", json={"status": status}).status_code == 200
    with client(live_server, viewer) as v:
        rows = v.get("/api/v1/stats/monitors", params={"window": 3600}).json()["rows"]
    row = next(r for r in rows if r["source"] == "c-extra")
    assert (row["state"], row["reported_requests"], row["kind"]) == ("paused", 7, "crawler")


def test_the_vocabulary_and_the_argument_types_name_the_same_commands() -> None:
    assert set(get_args(CommandName)) == set(COMMAND_ARGS)
