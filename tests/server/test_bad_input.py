"""Hostile bodies get a 4xx with a reason, never a 500, and the connection stays usable.

Each class here answered 500 before (and the 500 closed the keep-alive connection without
saying so): nesting about 1,000 deep, invalid UTF-8, a NUL in an address, a status or a
command's arguments. Every bad request is followed by a good one on the same connection.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.fixtures.server import LiveServer
from tests.server.helpers import JSON, client

DEEP = "[" * 1000 + "]" * 1000


def _record(**over: object) -> dict[str, object]:
    return {"timestamp": 1_700_000_000.0, "ip": "127.0.0.1", "port": 1, **over}


def _ingest(**kinds: object) -> bytes:
    return json.dumps({"botnet": "hns", "batch_id": "bad-input", **kinds}).encode()


INGEST = {
    "deep data": _ingest(replies=[_record()]).replace(
        b'"port": 1', b'"port": 1, "data": {"x": ' + DEEP.encode() + b"}"
    ),
    "deep body": b'{"botnet": "hns", "batch_id": "d", "replies": ' + DEEP.encode() + b"}",
    "bad UTF-8 bot_id": _ingest(replies=[_record(bot_id="@@")]).replace(b"@@", b"\xff\xfe"),
    "bad UTF-8 data": _ingest(replies=[_record(data={"k": "@@"})]).replace(b"@@", b"\xc3"),
    "NUL in ip": _ingest(replies=[_record(ip="127.0.0.1\x00")]),
    "NUL in edge ip": _ingest(
        edges=[
            {
                "timestamp": 1_700_000_000.0,
                "src_ip": "127.0.0.2\x00",
                "src_port": 1,
                "dst_ip": "127.0.0.3",
                "dst_port": 2,
            }
        ]
    ),
}
HEARTBEAT = {
    "deep status": b'{"status": {"x": ' + DEEP.encode() + b"}}",
    "NUL in status": json.dumps({"status": {"note": "a\x00b"}}).encode(),
    "NUL in a status key": json.dumps({"status": {"n\x00": 1}}).encode(),
    "bad UTF-8 status": b'{"status": {"note": "\xff"}}',
}


def _same_connection(bad: httpx.Response, good: httpx.Response) -> bool:
    def port(r: httpx.Response) -> object:
        return r.extensions["network_stream"].get_extra_info("client_addr")

    return port(bad) == port(good)


@pytest.mark.parametrize("case", sorted(INGEST))
def test_bad_ingest_bodies_get_4xx_and_the_connection_stays(
    live_server: LiveServer, case: str
) -> None:
    live_server.create_botnet("hns")
    crawler = live_server.token("crawler")
    with client(live_server, crawler) as c:
        bad = c.post("/api/v1/ingest", content=INGEST[case], headers=JSON)
        assert 400 <= bad.status_code < 500, bad.text
        assert bad.json()["reason"] in ("malformed_json", "invalid_batch", "invalid_record")
        good = c.post("/api/v1/heartbeat", json={"status": {"state": "running"}})
        assert good.status_code == 200, good.text
        assert _same_connection(bad, good)
    assert live_server.counts("hns")["replies"] == 0


@pytest.mark.parametrize("case", sorted(HEARTBEAT))
def test_bad_heartbeats_get_4xx_and_the_connection_stays(
    live_server: LiveServer, case: str
) -> None:
    crawler = live_server.token("crawler")
    with client(live_server, crawler) as c:
        bad = c.post("/api/v1/heartbeat", content=HEARTBEAT[case], headers=JSON)
        assert bad.status_code in (400, 422), bad.text
        good = c.post("/api/v1/heartbeat", json={"status": {"state": "running"}})
        assert good.status_code == 200, good.text
        assert _same_connection(bad, good)


@pytest.mark.parametrize(
    "args",
    [
        '{"peers": ' + DEEP + "}",
        '{"peers": [{"ip": "127.0.0.1", "note": "a\\u0000"}]}',
        '{"peers": ["127.0.0.1\\u0000:80"]}',
    ],
)
def test_bad_command_arguments_get_4xx(live_server: LiveServer, args: str) -> None:
    live_server.token("crawler", name="crawler-9")
    body = '{"source": "crawler-9", "command": "add_seeds", "args": ' + args + "}"
    with client(live_server, live_server.admin_token) as a:
        bad = a.post("/api/v1/admin/commands", content=body.encode(), headers=JSON)
        assert bad.status_code in (400, 422), bad.text
        good = a.get("/api/v1/admin/counts")
        assert good.status_code == 200 and _same_connection(bad, good)
