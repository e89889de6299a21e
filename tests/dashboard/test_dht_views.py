"""DHT client versions, the affected-devices dimension and the size estimate, through a real
``botmon serve`` on both backends, from records posted as the crawlers and sensors post them;
and the estimators against populations whose size is known."""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

import httpx
import pytest

from botmon.analysis.size import ID_SPACE, chapman, density, nearest_gaps
from tests.dashboard.dht_data import NODES, make
from tests.fixtures.server import LiveServer

API = "/api/v1/stats"


def test_estimators_cover_known_populations() -> None:
    """Chapman's and the density's 95 % intervals hold the true size about 95 % of the time."""
    rng = random.Random(7)
    n, trials, chapman_hits, density_hits = 1000, 200, 0, 0
    for _ in range(trials):
        first = {i for i in range(n) if rng.random() < 0.2}
        second = {i for i in range(n) if rng.random() < 0.2}
        estimate, se, seen = chapman(len(first), len(second), len(first & second))
        assert seen == len(first | second)
        chapman_hits += estimate - 1.96 * se <= n <= estimate + 1.96 * se
        # 30 nodes list their nearest of the n - 1 others (and one more).
        ids = [rng.getrandbits(160) for _ in range(n)]
        pairs = []
        for a in ids[:30]:
            ranked = sorted((a ^ b, b) for b in ids if b != a)
            pairs += [(f"{a:040x}", f"{b:040x}") for _, b in (ranked[0], ranked[5])]
        found = density(*nearest_gaps(pairs))
        assert found is not None
        density_hits += found[2] <= n <= found[3]
    assert 0.88 <= chapman_hits / trials <= 0.99
    assert 0.88 <= density_hits / trials <= 0.99
    assert density([ID_SPACE // 4, ID_SPACE // 4]) is None
    with pytest.raises(ValueError):
        chapman(3, 4, 5)


def test_nearest_gaps_reads_hex_node_ids_and_their_space() -> None:
    a, b, c = "00" * 20, "00" * 19 + "0f", "00" * 19 + "03"
    pairs = [(a, b), (a, c), (a, a), (b, c), ("zz" * 20, a), ("ab", a)]
    gaps, space = nearest_gaps(pairs)
    assert sorted(gaps) == [0x03, 0x0C] and space == 16
    # Nodes sharing a 24-bit prefix (as Mozi's do) live in a space of 2^136.
    rng = random.Random(3)
    ids = [f"888888{rng.getrandbits(136):034x}" for _ in range(50)]
    assert nearest_gaps(itertools.pairwise(ids))[1] == 2**136


def get(client: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    answer = client.get(API + path, params=params)
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["rows"]
    return rows


def test_clients_devices_and_size_estimate(live_server: LiveServer) -> None:
    data = make(time.time())
    for name in ("dht", "mozi", "iot"):
        live_server.create_botnet(name)
    crawler = live_server.token("crawler")
    viewer = live_server.token("viewer")
    with httpx.Client(base_url=live_server.url, timeout=60, trust_env=False) as c:
        for batch in data.batches:
            answer = c.post(
                "/api/v1/ingest", json=batch, headers={"Authorization": f"Bearer {crawler}"}
            )
            assert answer.status_code == 200, answer.text
        c.headers["Authorization"] = f"Bearer {viewer}"
        span = {"start": data.t0, "end": data.end}

        rows = get(c, "/botnets/dht/clients", **span)
        got = {(r["client"], r["version"]): r["bots"] for r in rows}
        assert got == {("unknown" if k is None else k, v): n for (k, v), n in data.clients.items()}
        assert rows[-1]["client"] == "unknown" and rows[-1]["share"] == 0.0
        lt = next(r for r in rows if (r["client"], r["version"]) == ("LT", 0x0102))
        assert lt["version_text"] == "1.2"
        assert abs(sum(r["share"] for r in rows) - 1) < 1e-4
        assert get(c, "/botnets/iot/clients", **span) == []  # not a DHT: no node IDs

        for name in ("mozi", "iot"):
            rows = get(c, f"/botnets/{name}/devices", **span)
            expected = {("unknown" if k is None else k): n for k, n in data.arches[name].items()}
            assert {r["arch"]: r["bots"] for r in rows} == expected
            assert [r["bots"] for r in rows if r["arch"] != "unknown"] == sorted(
                (n for k, n in expected.items() if k != "unknown"), reverse=True
            )
        assert get(c, "/botnets/dht/devices", **span) == [
            {"arch": "unknown", "bots": sum(data.clients.values()), "share": 0.0}
        ]
        rows = get(c, "/compare/devices", botnets="mozi,iot", **span)
        total: dict[str, int] = {}
        for name in ("mozi", "iot"):
            for k, n in data.arches[name].items():
                total["unknown" if k is None else k] = (
                    total.get("unknown" if k is None else k, 0) + n
                )
        assert {r["arch"]: r["bots"] for r in rows if r["botnet"] is None} == total
        assert {r["arch"]: r["bots"] for r in rows if r["botnet"] == "iot"} == data.arches["iot"]
        assert get(c, "/compare/devices", botnets="iot", source_type="sensor", **span) == []

        rows = get(c, "/botnets/dht/size-estimate", **span)
        methods = [r["method"] for r in rows]
        assert methods == [
            "capture-recapture (crawlers vs sensors)",
            "capture-recapture (first vs second half)",
            "node-ID density (nearest neighbours)",
        ]
        seen = sum(data.clients.values())
        for r in rows:
            assert r["observed"] == seen
            assert r["low"] <= NODES <= r["high"], r
            assert r["low"] <= r["estimate"] <= r["high"] and r["explanation"]
        assert rows[2]["samples"] == 80
        # A wider range: the halves are those of the time it holds replies in.
        wide = get(c, "/botnets/dht/size-estimate", start=data.t0 - 3 * 86400, end=data.end)
        assert wide[1]["method"] == methods[1]
        assert wide[1]["low"] <= NODES <= wide[1]["high"] and wide[1]["both"] > 0
        # Random listings say nothing of the density: no such row; no IDs: no estimate.
        mozi = get(c, "/botnets/mozi/size-estimate", **span)
        assert [r["method"] for r in mozi] == [methods[1]]
        assert mozi[0]["observed"] == 60
        assert get(c, "/botnets/iot/size-estimate", **span) == []
        crawled = get(c, "/botnets/dht/size-estimate", source_type="crawler", **span)
        assert [r["method"] for r in crawled] == methods[1:]
        assert crawled[0]["observed"] < seen
        csv = c.get(API + "/botnets/dht/size-estimate", params={**span, "format": "csv"})
        assert csv.text.splitlines()[0].startswith("method,estimate,low,high,stderr,observed")

        assert c.get(API + "/botnets/nope/clients").status_code == 404
        assert c.get(API + "/compare/devices", params={"botnets": "nope"}).status_code == 404
        doc = c.get("/openapi.json").json()["paths"]
        for path in ("clients", "devices", "size-estimate"):
            assert "get" in doc[f"{API}/botnets/{{botnet}}/{path}"]
        assert "get" in doc[f"{API}/compare/devices"]
