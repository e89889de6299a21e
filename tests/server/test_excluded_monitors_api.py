"""Excluding monitors of others through a real ``botmon serve``: the admin routes check every
address and role, and ``exclude_monitors=true`` takes exactly those monitors out of the read
API's numbers, on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from tests.cli.helpers import botmon
from tests.fixtures.server import LiveServer
from tests.server.helpers import JSON, T0, batch, client, post_batch

PATH = "/api/v1/admin/botnets/hns/excluded-monitors"
BOTS = [(f"127.1.0.{i + 1}", 4000 + i) for i in range(12)]
MONITORS = [("127.9.0.1", 5000), ("127.9.0.2", 5001)]


def _records() -> dict[str, Any]:
    """Every bot and both monitors answer once an hour for three hours; each bot lists
    both monitors and its neighbour."""
    replies, edges = [], []
    for h in range(3):
        for i, (ip, port) in enumerate([*BOTS, *MONITORS]):
            replies.append({"timestamp": T0 + h * 3600 + i, "ip": ip, "port": port})
        for i, (ip, port) in enumerate(BOTS):
            for dst_ip, dst_port in [*MONITORS, BOTS[(i + 1) % len(BOTS)]]:
                edges.append(
                    {
                        "timestamp": T0 + h * 3600 + i,
                        "src_ip": ip,
                        "src_port": port,
                        "dst_ip": dst_ip,
                        "dst_port": dst_port,
                    }
                )
    return batch("hns", replies=replies, edges=edges)


@pytest.mark.parametrize("store_url", ["duckdb"], indirect=True)
def test_admins_exclude_monitors_and_every_read_can_leave_them_out(
    live_server: LiveServer,
) -> None:
    """On DuckDB (the file a running server locks, so the command line goes through the
    API); the store's side is checked on both backends in tests/store."""
    live_server.create_botnet("hns")
    crawler = live_server.token("crawler", name="hns-crawler")
    viewer = live_server.token("viewer")
    admin = live_server.token("admin", name="alice")
    assert post_batch(live_server, crawler, _records()).status_code == 200
    window = {"start": T0 - 3600, "end": T0 + 4 * 3600, "bucket": 3600}

    with client(live_server, admin) as a, client(live_server, viewer) as v:
        # Bad input: 422 naming the field, nothing stored; roles; unknown botnet.
        for body, field in (
            ([{"ip": "127.9.0.300", "port": 1}], "monitors[0].ip"),
            ([{"ip": "127.9.0.1", "port": 1}, {"ip": "1.2.3", "port": 1}], "monitors[1].ip"),
            ([{"ip": "127.9.0.1", "port": 65536}], None),
            ([{"ip": "127.9.0.1", "port": 1, "kind": "bot"}], None),
            ([{"ip": "127.9.0.1", "port": 1, "colour": "red"}], None),
            ([], "monitors"),
            ({"monitors": [{"ip": "::1::", "port": 1}]}, "monitors[0].ip"),
        ):
            answer = a.post(PATH, json=body)
            assert answer.status_code == 422, (body, answer.text)
            if field:
                assert answer.json()["field"] == field
        assert a.post(PATH, content=b"[{", headers=JSON).status_code == 400
        assert v.get(PATH).json()["monitors"] == []
        monitors = [
            {"ip": ip, "port": p, "kind": "sensor", "note": "listed by all"} for ip, p in MONITORS
        ]
        assert v.post(PATH, json=monitors).status_code == 403
        with client(live_server) as nobody:
            assert nobody.get(PATH).status_code == 401
        assert (
            a.post("/api/v1/admin/botnets/nope/excluded-monitors", json=monitors).status_code == 404
        )
        assert v.get("/api/v1/admin/botnets/nope/excluded-monitors").status_code == 404

        # Before: the monitors count and top the most-listed peers.
        def ips(c: Any, **extra: Any) -> list[int]:
            answer = c.get("/api/v1/stats/botnets/hns/population", params=window | extra)
            assert answer.status_code == 200, answer.text
            return [r["ips"] for r in answer.json()["rows"] if r["ips"]]

        def top(c: Any, **extra: Any) -> set[tuple[str, int]]:
            answer = c.get("/api/v1/stats/botnets/hns/top-peers", params=window | extra)
            assert answer.status_code == 200, answer.text
            return {(r["ip"], r["port"]) for r in answer.json()["rows"]}

        assert ips(v) == [14, 14, 14]
        assert ips(v, exclude_monitors="true") == [14, 14, 14]  # nothing excluded yet

        stored = a.post(PATH, json={"monitors": monitors})
        assert stored.status_code == 200, stored.text
        listed = v.get(PATH).json()["monitors"]
        assert [(m["ip"], m["port"], m["kind"], m["excluded_by"]) for m in listed] == [
            (ip, p, "sensor", "alice") for ip, p in MONITORS
        ]

        # The switch: exactly the two monitors leave every count; off, they are back.
        assert ips(v, exclude_monitors="true") == [12, 12, 12]
        assert ips(v, exclude_monitors="false") == [14, 14, 14]
        assert ips(v) == [14, 14, 14]  # the default: the setting (false)
        assert set(MONITORS) <= top(v)
        assert not set(MONITORS) & top(v, exclude_monitors="true")
        core = v.get("/api/v1/botnets/hns/population", params=window | {"exclude_monitors": "yes"})
        assert [p["ips"] for p in core.json()["series"]] == [12, 12, 12]
        countries = v.get(
            "/api/v1/stats/countries", params=window | {"botnet": "hns", "exclude_monitors": "1"}
        ).json()
        assert sum(r["ips"] for r in countries["rows"]) == 12
        assert countries["params"]["exclude_monitors"] is True
        bad = v.get("/api/v1/stats/countries", params={"exclude_monitors": "maybe"})
        assert bad.status_code == 422 and bad.json()["field"] == "exclude_monitors"

        # Include one again: it is back, at once (no stale cached answer).
        assert a.delete(PATH + "/127.9.0.1/5000").status_code == 200
        assert a.delete(PATH + "/127.9.0.1/5000").status_code == 404
        assert a.delete(PATH + "/127.9.0.999/5000").status_code == 422
        assert a.delete(PATH + "/127.9.0.1/70000").status_code == 422
        assert v.delete(PATH + "/127.9.0.2/5001").status_code == 403
        assert ips(v, exclude_monitors="true") == [13, 13, 13]

        spec = v.get("/openapi.json").json()
        params = spec["paths"]["/api/v1/stats/botnets/{botnet}/population"]["get"]["parameters"]
        assert "exclude_monitors" in {p["name"] for p in params}
        assert "post" in spec["paths"]["/api/v1/admin/botnets/{botnet}/excluded-monitors"]

    # The command line works while the server runs (through its admin API on DuckDB).
    db = live_server.db
    listed = botmon("monitors", "list", "--botnet", "hns", "--db", db)
    assert listed.code == 0, listed.err
    assert [line.split()[0] for line in listed.out.splitlines()] == ["127.9.0.2:5001"]
    ran = botmon("monitors", "exclude", "--botnet", "hns", "127.9.0.1:5000", "--db", db)
    assert ran.code == 0, ran.err
    with client(live_server, viewer) as v:
        assert ips(v, exclude_monitors="true") == [12, 12, 12]
