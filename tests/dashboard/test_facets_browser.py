"""The single botnet's "what the protocol reveals" panel in a real browser (Debian's chromium,
headless, Playwright), fed by what botmon really records: a real ``botmon crawl mozi`` of a
``botmon simulate mozi`` botnet on loopback (the bots' signed configurations name their CPU),
and replies telling every facet the installed plugins declare. The panel shows one chart per
facet with the API's numbers, the emulator's truth agrees, and a botnet whose bots tell
nothing shows no panel. Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from botmon.analysis.facets import known_facets
from botmon.sim.truth import read_truth
from tests.dashboard.guarded_page import guarded_page
from tests.dashboard.test_browser import pytestmark, shoot, wait_loaded
from tests.e2e.conftest import BOTMON, read_records, spawn_fast, stop_process
from tests.fixtures.server import LiveServer
from tests.sim.helpers import free_port

__all__ = ["pytestmark"]

BOTS = 60


def _crawl_mozi(server: LiveServer, tmp_path: Path) -> dict[str, dict[str, Any]]:
    """Emulated Mozi bots and one crawl round reported to ``server``; the bots' truth."""
    token = server.token("crawler", botnets=("mozi",), name="facets-mozi-crawler")
    seeds, keys, truth = (tmp_path / n for n in ("seeds.txt", "keys.txt", "truth.jsonl"))
    sim = spawn_fast(
        [*BOTMON, "simulate", "mozi", "--bots", str(BOTS), "--seed-rng", "4",
         "--port", str(free_port()), "--seeds", "8", "--seeds-file", str(seeds),
         "--public-keys", str(keys), "--truth", str(truth), "--duration", "90"],
        tmp_path / "mozi-sim.log",
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not all(p.exists() and p.stat().st_size for p in (seeds, keys, truth)):
            assert sim.poll() is None, (tmp_path / "mozi-sim.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the emulator did not start in 30 s"
            time.sleep(0.05)
        key_1, key_2 = keys.read_text().split()
        crawl = spawn_fast(
            [*BOTMON, "crawl", "mozi", "--botnet", "mozi", "--peerlist", str(seeds),
             "--rounds", "1", "--per-target-rate", "50",
             "--protocol-option", f"public_key_1={key_1}",
             "--protocol-option", f"public_key_2={key_2}",
             "--server", server.url, "--token", token,
             "--spool", str(tmp_path / "spool"), "--progress", "none"],
            tmp_path / "crawl.log",
        )  # fmt: skip
        try:
            assert crawl.wait(60) == 0, (tmp_path / "crawl.log").read_text()[-3000:]
        except subprocess.TimeoutExpired:
            stop_process(crawl)
            pytest.fail((tmp_path / "crawl.log").read_text()[-3000:])
    finally:
        stop_process(sim)
    return {b["node_id"]: b for b in read_truth(truth)}


def _post(server: LiveServer, botnet: str, replies: list[dict[str, Any]]) -> None:
    server.create_botnet(botnet)
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as c:
        body = {"botnet": botnet, "batch_id": f"b-{botnet}", "replies": replies}
        answer = c.post("/api/v1/ingest", json=body, headers=server.headers())
        assert answer.status_code == 200, answer.text


@pytest.fixture
def page() -> Iterator[Any]:
    with guarded_page() as (pg, _):
        yield pg


def _panel(page: Any) -> dict[str, Any]:
    """What the panel shows: per facet its title, doc, counts note and drawn pixels; the
    table's rows."""
    shown: dict[str, Any] = page.evaluate(
        """() => {
          const p = document.querySelector('section[data-panel="facets"]');
          const drawn = (c) => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
            return n;
          };
          const told = (f) => f.querySelector('.told');
          return { hidden: p.hidden,
            facets: [...p.querySelectorAll('.facet')].map((f) => ({ key: f.dataset.facet,
              label: f.querySelector('h3 span').textContent,
              doc: f.querySelector('.doc').textContent,
              bots: Number(told(f).dataset.bots), unknown: Number(told(f).dataset.unknown),
              told: told(f).textContent, pixels: drawn(f.querySelector('canvas')) })),
            rows: [...p.querySelectorAll('tbody tr')].map((tr) => Object.fromEntries(
              [...tr.querySelectorAll('td[data-col]')]
                .map((td) => [td.dataset.col, td.textContent]))),
            csv: p.querySelector('a.csv').getAttribute('href') };
        }"""
    )
    return shown


def _api(server: LiveServer, viewer: str, href: str) -> Any:
    with httpx.Client(base_url=server.url, timeout=30, trust_env=False) as c:
        params = [(k, v) for k, v in httpx.QueryParams(href.split("?", 1)[1]).multi_items()]
        answer = c.get(
            href.split("?", 1)[0],
            params=[(k, v) for k, v in params if k != "format"],
            headers={"Authorization": f"Bearer {viewer}"},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


def _matches_api(shown: dict[str, Any], body: dict[str, Any]) -> None:
    assert [f["key"] for f in shown["facets"]] == [f["key"] for f in body["facets"]]
    flat = []
    for f, s in zip(body["facets"], shown["facets"], strict=True):
        assert (s["label"], s["doc"], s["bots"], s["unknown"]) == (
            f["label"],
            f["doc"],
            f["bots"],
            f["unknown"],
        )
        assert s["pixels"] > 500, f"the chart of {f['key']} is empty"
        flat += [(f["key"], v["value"], str(v["bots"]), str(v["share"])) for v in f["values"]]
        if f["unknown"]:
            flat.append((f["key"], "unknown", str(f["unknown"]), "0"))
    assert [(r["key"], r["value"], r["bots"], r["share"]) for r in shown["rows"]] == flat


def test_panel_shows_what_the_protocol_reveals(
    page: Any, duckdb_server: LiveServer, tmp_path: Path
) -> None:
    server = duckdb_server
    server.create_botnet("mozi")
    truth = _crawl_mozi(server, tmp_path)
    crawled = read_records(server, "mozi", "replies")
    found = {r["bot_id"] for r in crawled}
    assert found and found <= set(truth), "the crawl recorded a bot the emulator does not have"
    assert len(found) >= 0.9 * BOTS
    arches = Counter(truth[b]["arch"] for b in found)

    known = [f.key for f in known_facets()]
    now = time.time()
    every = [
        {
            "timestamp": now - 600 - i,
            "ip": f"127.5.0.{i + 1}",
            "port": 7000,
            "data": {k: str((i * (j + 1)) % (3 + 2 * j)) for j, k in enumerate(known)},
        }
        for i in range(40)
    ]
    _post(server, "every", every)
    _post(server, "plain", [{"timestamp": now - 60, "ip": "127.5.1.1", "port": 1}])
    viewer = server.token("viewer", name="facets-viewer")

    page.goto(f"{server.url}/login?token={viewer}")
    page.wait_for_url("**/dashboard/")
    page.goto(f"{server.url}/dashboard/#/botnet/mozi")
    wait_loaded(page)
    page.wait_for_selector('section[data-panel="facets"] .facet')
    shown = _panel(page)
    body = _api(server, viewer, shown["csv"])
    assert not shown["hidden"]
    _matches_api(shown, body)
    (arch,) = body["facets"]
    assert {v["value"]: v["bots"] for v in arch["values"]} == dict(arches), "not the truth"
    assert arch["unknown"] == 0 and "every bot" in shown["facets"][0]["told"]
    page.locator('section[data-panel="facets"]').scroll_into_view_if_needed()
    shoot(page, "facets-mozi")

    page.goto(f"{server.url}/dashboard/#/botnet/every")
    wait_loaded(page)
    page.wait_for_function(
        f"() => document.querySelectorAll('section[data-panel=\"facets\"] .facet').length"
        f" === {len(known)}"
    )
    shown = _panel(page)
    _matches_api(shown, _api(server, viewer, shown["csv"]))
    page.locator('section[data-panel="facets"]').scroll_into_view_if_needed()
    shoot(page, "facets-every")

    page.goto(f"{server.url}/dashboard/#/botnet/plain")
    wait_loaded(page)
    assert _panel(page)["hidden"], "a botnet whose bots tell nothing shows no facets"
