"""The facets read route through a real ``botmon serve`` on both backends: what each botnet's
protocol reveals, counted from records posted as the crawlers post them (Mozi replies built
by the Mozi plugin's own configuration code) and checked against plain Python over the same
records; every facet of every installed plugin, read from the registry, never named here."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx

from botmon.analysis.facets import known_facets
from tests.fixtures.server import LiveServer
from tests.server.helpers import T0, reply
from tests.server.mozi_data import config, mozi_reply

API = "/api/v1/stats"
ARCHES = ("mips", "arm7", "mips", "x86_64", None)
SPAN = {"start": T0 - 3600, "end": T0 + 3 * 3600}


def _mozi() -> tuple[list[dict[str, Any]], Counter[str | None]]:
    """Bots whose configurations name their CPU (one kind names none); the first five move
    to a configuration naming another CPU an hour later: their latest is what counts."""
    configs = {a: config({"cpu": a} if a else {}, 1) for a in set(ARCHES)}
    moved = config({"cpu": "ppc"}, 2)
    replies, latest = [], {}
    for i in range(30):
        arch = ARCHES[i % len(ARCHES)]
        replies.append(mozi_reply(i, configs[arch], at=60.0 + i))
        latest[i] = arch
        if i < 5:
            replies.append(mozi_reply(i, moved, at=3600.0 + i))
            latest[i] = "ppc"
    # A reply outside the range counts for nothing.
    replies.append(mozi_reply(99, configs["mips"], at=-7200.0))
    return replies, Counter(latest.values())


def _every_facet() -> tuple[list[dict[str, Any]], dict[str, Counter[str]]]:
    """Bots telling a value of every facet the installed plugins declare (and one bot
    telling none), as a protocol's replies would carry them."""
    keys = [f.key for f in known_facets()]
    replies: list[dict[str, Any]] = []
    want: dict[str, Counter[str]] = {k: Counter() for k in keys}
    for i in range(20):
        data = {k: f"{k}-{(i + j) % 3}" for j, k in enumerate(keys)}
        replies.append(reply(i, bot_id=None, data=data))
        for k, v in data.items():
            want[k][v] += 1
    replies.append(reply(50, bot_id=None, data={"message": "request"}))
    return replies, want


def test_facets_of_each_botnet_from_the_registry(live_server: LiveServer) -> None:
    server = live_server
    known = {f.key: f for f in known_facets()}
    assert "arch" in known and "mozi" in known["arch"].protocols
    mozi, arches = _mozi()
    every, want = _every_facet()
    crawler = server.token("crawler")
    viewer = server.token("viewer")
    batches = {
        "mozi": mozi,
        "every": every,
        "plain": [reply(i, data={"version": 3}) for i in range(5)],
    }
    with httpx.Client(base_url=server.url, timeout=60, trust_env=False) as c:
        for name, replies in batches.items():
            server.create_botnet(name)
            body = {"botnet": name, "batch_id": f"b-{name}", "replies": replies}
            answer = c.post(
                "/api/v1/ingest", json=body, headers={"Authorization": f"Bearer {crawler}"}
            )
            assert answer.status_code == 200, answer.text
        c.headers["Authorization"] = f"Bearer {viewer}"

        answer = c.get(f"{API}/botnets/mozi/facets", params=SPAN)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"view", "params", "facets"} and body["view"] == "facets"
        assert body["params"]["botnet"] == "mozi" and body["params"]["start"] == SPAN["start"]
        (arch,) = body["facets"]  # only the CPU: Mozi's replies carry no other facet
        assert set(arch) == {
            *("key", "label", "doc", "protocols", "bots", "unknown", "values"),
            *("more_values", "more_bots"),
        }
        assert (arch["more_values"], arch["more_bots"]) == (0, 0)
        assert (arch["key"], arch["label"], arch["doc"]) == (
            "arch",
            known["arch"].label,
            known["arch"].doc,
        )
        told = {a: n for a, n in arches.items() if a is not None}
        assert {v["value"]: v["bots"] for v in arch["values"]} == told
        assert arch["unknown"] == arches[None] and arch["bots"] == sum(told.values())
        counts = [v["bots"] for v in arch["values"]]
        assert counts == sorted(counts, reverse=True)
        assert abs(sum(v["share"] for v in arch["values"]) - 1) < 1e-4
        for v in arch["values"]:
            assert abs(v["share"] - v["bots"] / arch["bots"]) < 1e-5

        # Every facet the installed plugins declare, each once, in the registry's order.
        found = c.get(f"{API}/botnets/every/facets", params=SPAN).json()["facets"]
        assert [f["key"] for f in found] == list(known)
        for f in found:
            assert {v["value"]: v["bots"] for v in f["values"]} == dict(want[f["key"]])
            assert f["unknown"] == 1 and f["protocols"] == list(known[f["key"]].protocols)

        assert c.get(f"{API}/botnets/plain/facets", params=SPAN).json()["facets"] == []
        # The source filter and the range apply as on every other route.
        assert (
            c.get(f"{API}/botnets/mozi/facets", params={**SPAN, "source_type": "sensor"}).json()[
                "facets"
            ]
            == []
        )
        early = {"start": T0 - 3600, "end": T0 + 1800}
        (arch_early,) = c.get(f"{API}/botnets/mozi/facets", params=early).json()["facets"]
        assert "ppc" not in {v["value"] for v in arch_early["values"]}

        csv = c.get(f"{API}/botnets/mozi/facets", params={**SPAN, "format": "csv"})
        lines = csv.text.splitlines()
        assert lines[0] == "key,label,value,bots,share"
        assert len(lines) == 1 + len(told) + 1 and lines[-1].startswith("arch,")
        assert lines[-1].split(",")[2:4] == ["unknown", str(arches[None])]

        assert c.get(f"{API}/botnets/nope/facets").status_code == 404
        for bad in (
            {"start": T0, "end": T0 - 1},
            {"source_type": "robots"},
            {"format": "xml"},
            {"start": "yesterday"},
        ):
            answer = c.get(f"{API}/botnets/mozi/facets", params=bad)
            assert answer.status_code == 422, (bad, answer.text)
        assert c.get(f"{API}/botnets/no%20such/facets").status_code == 422
        del c.headers["Authorization"]
        assert c.get(f"{API}/botnets/mozi/facets").status_code == 401

        doc = c.get("/openapi.json").json()
        op = doc["paths"][f"{API}/botnets/{{botnet}}/facets"]["get"]
        schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/FacetsView"}
        assert {"404", "422"} <= set(op["responses"])
        names = {p["name"] for p in op["parameters"]}
        assert {"botnet", "start", "end", "source_type", "exclude_monitors", "format"} <= names
        shapes = doc["components"]["schemas"]
        assert set(shapes["FacetCounts"]["properties"]) == set(arch)
        assert set(shapes["FacetValue"]["properties"]) == {"value", "bots", "share"}
