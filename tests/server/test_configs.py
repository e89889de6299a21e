"""Botnet configurations and their alerts through the real ingest API, read API and /metrics.

Records are built as the Mozi plugin builds them (tests/server/mozi_data.py) and posted with a
crawler token (and a sensor's batch), on both backends.
"""

from __future__ import annotations

import re
from typing import Any

from tests.fixtures.server import LiveServer
from tests.server.helpers import T0, batch, client, post_batch, reply
from tests.server.mozi_data import config, mozi_reply, node_id

V1 = config({"cpu": "arm7", "hp": "http://127.0.0.1:80/a"}, 1)
V2 = config({"cpu": "arm7", "count": "http://127.0.0.1:80/c"}, 2)
STOP = config({"ud": "http://127.0.0.1:80/stop"}, 3)
FORGED = config({"cpu": "mips", "dr": ""}, 2, forged=True)

HOSTILE: list[Any] = [
    {"version": 1},  # no digest
    {"digest": V1["digest"]},  # no version
    {"digest": "f" * 64, "version": "9"},  # version of the wrong type
    {"digest": "f" * 64, "version": True},
    {"digest": "f" * 64, "version": -1},
    {"digest": "f" * 64, "version": 2**63},
    {"digest": "not hex at all, not hex at all, not hex at all, not hex at all!!", "version": 4},
    {"digest": 7, "version": 4},
    [V1],  # a list, not an object
    "stop",
    None,
]


def _post(server: LiveServer, token: str, replies: list[dict[str, Any]], **extra: Any) -> str:
    body = batch("mozi", replies=replies) | extra
    r = post_batch(server, token, body)
    assert r.status_code == 200, r.text
    return str(body["batch_id"])


def _kinds(alerts: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return sorted((a["kind"], a["version"]) for a in alerts)


def _metric(text: str, name: str) -> float | None:
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else None


def test_configurations_raise_each_alert_once_and_an_admin_acknowledges(
    live_server: LiveServer,
) -> None:
    live_server.create_botnet("mozi")
    live_server.create_botnet("hns")
    crawler = live_server.token("crawler", botnets=("mozi",), name="mozi-crawler")
    sensor = live_server.token("crawler", botnets=("mozi",), name="mozi-sensor")
    viewer = live_server.token("viewer")

    # Round 1: five bots on version 1, one ordinary DHT node, hostile configurations.
    first = [mozi_reply(i, V1, at=i) for i in range(5)] + [mozi_reply(50, None)]
    first += [
        reply(60 + k, bot_id=node_id(60 + k), data={"node_id": node_id(60 + k), "config": h})
        for k, h in enumerate(HOSTILE)
    ]
    first.append(reply(81, data={"other": {"config": STOP}}))  # not a reply's configuration
    _post(live_server, crawler, first)
    # Round 2: the same bots again, two bots moved to version 2; sent twice (a retry).
    second = [mozi_reply(i, V1, at=100 + i) for i in range(3)]
    second += [mozi_reply(i, V2, at=100 + i) for i in (3, 4)]
    body = batch("mozi", replies=second)
    for _ in range(2):
        assert post_batch(live_server, crawler, body).status_code == 200
    # Round 3, from a sensor: a stop order and a forged configuration.
    _post(
        live_server,
        sensor,
        [mozi_reply(5, STOP, at=200), mozi_reply(6, FORGED, at=201)],
        source_type="sensor",
    )
    _post(live_server, crawler, [mozi_reply(5, STOP, at=300)])  # seen again: no new alert

    with client(live_server, viewer) as v:
        alerts = v.get("/api/v1/alerts").json()["alerts"]
        assert _kinds(alerts) == [
            ("bad_signature", 2),
            ("new_config", 1),
            ("new_config", 2),
            ("new_config", 2),
            ("new_config", 3),
            ("new_version", 2),
            ("new_version", 3),
            ("stop_order", 3),
        ]
        stop = next(a for a in alerts if a["kind"] == "stop_order")
        assert stop["severity"] == "critical" and stop["digest"] == STOP["digest"]
        assert stop["at"] == T0 + 200 and stop["acked_at"] is None and stop["botnet"] == "mozi"
        bad = next(a for a in alerts if a["kind"] == "bad_signature")
        assert bad["digest"] == FORGED["digest"] and bad["severity"] == "high"
        assert v.get("/api/v1/alerts", params={"kind": "stop_order"}).json()["alerts"] == [stop]
        since = v.get("/api/v1/alerts", params={"since": T0 + 150}).json()["alerts"]
        assert _kinds(since) == [
            ("bad_signature", 2),
            ("new_config", 2),
            ("new_config", 3),
            ("new_version", 3),
            ("stop_order", 3),
        ]
        assert v.get("/api/v1/alerts", params={"botnet": "hns"}).json()["alerts"] == []
        for bad_params in ({"kind": "boom"}, {"since": "yesterday"}, {"botnet": "a b"}):
            assert v.get("/api/v1/alerts", params=bad_params).status_code == 422

        configs = v.get("/api/v1/stats/botnets/mozi/configs").json()
        by_digest = {c["digest"]: c for c in configs["configs"]}
        assert set(by_digest) == {V1["digest"], V2["digest"], STOP["digest"], FORGED["digest"]}
        one = by_digest[V1["digest"]]
        assert (one["version"], one["bots"], one["unlisted_sightings"]) == (1, 5, 0)
        assert (one["first_seen"], one["last_seen"]) == (T0, T0 + 102)
        assert one["tags"] == V1["tags"] and one["signatures"] == "valid" and not one["stop"]
        assert by_digest[V2["digest"]]["bots"] == 2
        assert by_digest[STOP["digest"]]["stop"] and by_digest[STOP["digest"]]["current"]
        assert by_digest[STOP["digest"]]["last_seen"] == T0 + 300
        assert by_digest[FORGED["digest"]]["signatures"] == "invalid"
        assert [c["current"] for c in configs["configs"]].count(True) == 1
        bots = v.get(
            "/api/v1/stats/botnets/mozi/configs", params={"digest": V1["digest"].upper()}
        ).json()
        assert [c["digest"] for c in bots["configs"]] == [V1["digest"]]
        assert sorted(b["bot"] for b in bots["bots"]) == [node_id(i) for i in range(5)]
        assert {b["bot"]: (b["first_seen"], b["last_seen"]) for b in bots["bots"]}[node_id(3)] == (
            T0 + 3,
            T0 + 3,
        )
        table = v.get("/api/v1/stats/botnets/mozi/configs", params={"format": "csv"})
        lines = table.text.splitlines()
        assert table.headers["content-type"].startswith("text/csv") and len(lines) == 5
        assert lines[0].startswith("digest,version,signatures,stop,bots,")
        assert any(line.startswith(f"{V1['digest']},1,valid,False,5,0,") for line in lines)
        listed = v.get(
            "/api/v1/stats/botnets/mozi/configs", params={"digest": V1["digest"], "format": "csv"}
        ).text.splitlines()
        assert listed[0] == "bot,first_seen,last_seen" and len(listed) == 6
        assert v.get("/api/v1/stats/botnets/hns/configs").json()["configs"] == []
        assert v.get("/api/v1/stats/botnets/nope/configs").status_code == 404
        missing = v.get("/api/v1/stats/botnets/mozi/configs", params={"digest": "ab" * 32})
        assert missing.status_code == 404
        wrong = v.get("/api/v1/stats/botnets/mozi/configs", params={"digest": "xyz"})
        assert wrong.status_code == 422
        assert v.post(f"/api/v1/admin/alerts/{stop['id']}/ack").status_code == 403
        metrics = v.get("/metrics").text
    assert _metric(metrics, 'botmon_config_alerts_total{botnet="mozi",kind="new_config"}') == 4
    assert _metric(metrics, 'botmon_config_alerts_total{botnet="mozi",kind="stop_order"}') == 1
    assert _metric(metrics, 'botmon_botnet_stop_order{botnet="mozi"}') == 1
    assert _metric(metrics, 'botmon_botnet_configs{botnet="mozi"}') == 4
    # Hostile configurations stored nothing, the records themselves were kept.
    assert live_server.counts("mozi")["replies"] == len(first) + len(second) + 3

    with client(live_server, live_server.admin_token) as a:
        for bad_id in ("999999", "x", "-1", "99999999999999999999", "¹"):
            assert a.post(f"/api/v1/admin/alerts/{bad_id}/ack").status_code == 404, bad_id
        acked = a.post(f"/api/v1/admin/alerts/{stop['id']}/ack")
        assert acked.status_code == 200, acked.text
        assert acked.json()["acked_by"] == "fixture-admin" and acked.json()["acked_at"]
        again = a.post(f"/api/v1/admin/alerts/{stop['id']}/ack").json()
        assert again["acked_at"] == acked.json()["acked_at"]
        unacked = a.get("/api/v1/alerts", params={"unacked": "true"}).json()["alerts"]
        assert stop["id"] not in {x["id"] for x in unacked} and len(unacked) == 7
        metrics = a.get("/metrics").text
    assert _metric(metrics, 'botmon_botnet_stop_order{botnet="mozi"}') == 0
    assert _metric(metrics, 'botmon_config_alerts_total{botnet="mozi",kind="stop_order"}') == 1
