"""Names (botnet, token holder, source) are whole-string matches: a trailing newline, which
Python's ``$`` lets through, is refused everywhere a name enters."""

from __future__ import annotations

import re

from botmon.limits import BOTNET_NAME_PATTERN, MONITOR_NAME_PATTERN
from tests.fixtures.server import LiveServer
from tests.server.helpers import batch, client


def test_the_name_patterns_refuse_a_trailing_newline() -> None:
    assert re.match(BOTNET_NAME_PATTERN, "hns")
    assert not re.match(BOTNET_NAME_PATTERN, "hns\n")
    assert re.match(MONITOR_NAME_PATTERN, "lab@site")
    assert not re.match(MONITOR_NAME_PATTERN, "lab@site\n")


def test_no_route_accepts_a_name_with_a_trailing_newline(live_server: LiveServer) -> None:
    live_server.create_botnet("hns")
    with client(live_server, live_server.admin_token) as a:
        r = a.post("/api/v1/admin/botnets", json={"name": "zeus\n"})
        assert r.status_code == 422, r.text
        r = a.post("/api/v1/admin/tokens", json={"name": "lab\n", "role": "viewer"})
        assert r.status_code == 422, r.text
        r = a.post("/api/v1/ingest", params={"source": "lab\n"}, json=batch(replies=1))
        assert r.status_code == 422 and r.json()["field"] == "source", r.text
        r = a.post("/api/v1/ingest", json=batch("hns\n", replies=1))
        assert r.status_code == 422 and r.json()["field"] == "botnet", r.text
        r = a.post("/api/v1/ingest", json=batch(replies=1, batch_id="b-1\n"))
        assert r.status_code == 422 and "batch_id" in r.text, r.text
        r = a.get("/api/v1/stats/countries", params={"botnet": "hns\n"})
        assert r.status_code == 422, r.text
        names = [b["name"] for b in a.get("/api/v1/admin/botnets").json()["botnets"]]
        holders = [m["name"] for m in a.get("/api/v1/admin/tokens").json()["tokens"]]
    assert names == ["hns"]
    assert not [n for n in holders if n.endswith("\n")]
    assert live_server.counts()["replies"] == 0
