"""The warm-up computes the page's default requests, so that afterwards the read API answers
every one of them from the cache or the seen tables, without reading the replies again."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import msgspec
import pytest
from starlette.applications import Starlette

from botmon.analysis.defaults import default_requests
from botmon.analysis.table import Table
from botmon.analysis.warmup import compute, planned, warm_up
from botmon.auth import hash_token, new_token, token_prefix
from botmon.dashboard import api
from botmon.server.state import ServerState
from botmon.settings import ServerSettings
from botmon.store.base import Store
from tests.dashboard import dht_data
from tests.dashboard.data import make, write

SCANS = (
    "bucket_counts",
    "range_counts",
    "hour_profile",
    "top_peers",
    "ip_overlap",
    "data_values",
    "facet_values",
    "listed_ids",
    "source_overlap",
)
"""Read-port methods that read the replies, failed tries or edges themselves."""


@pytest.fixture
def warmed(store: Store) -> tuple[Store, float]:
    now = time.time()
    data = make(now)
    for name in ("alpha", "beta"):
        store.create_botnet(name)
        write(store, name, f"first-{name}", data.replies[name])
    store.create_botnet("dht")  # a DHT crawl: its nodes' client versions, its size estimate
    write(store, "dht", "first-dht", dht_data.make(now).batches[0]["replies"])
    return store, now


def count_scans(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every read of the records from now on, except the overview's live counts of
    the last hour's records (an index range, never cached)."""
    scans: list[str] = []
    for name in SCANS:
        real = getattr(store, name)

        def counted(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
            if not (_name == "range_counts" and tuple(args[-1]) == ("rows",)):
                scans.append(_name)
            return _real(*args, **kw)

        monkeypatch.setattr(store, name, counted)
    return scans


def test_the_plan_is_the_pages_default_requests(warmed: tuple[Store, float]) -> None:
    store, now = warmed
    plan = planned(store, now)
    # alpha reports bot IDs, beta does not: the page counts alpha's returning bots by ID;
    # dht is a DHT: the page asks for its size estimate.
    names = ["alpha", "beta", "dht"]
    assert plan == default_requests(now, names, with_ids=["alpha", "dht"], dhts=["dht"])
    assert any(r.path == "/botnets/dht/size-estimate" for r in plan)
    assert warm_up(store, now) == len(plan)
    assert warm_up(store, now, deadline_s=-1.0) == 0  # gives up cleanly at its deadline


def read_all(store: Store, paths: list[tuple[str, dict[str, str]]]) -> list[httpx.Response]:
    """GET each path from the dashboard's read API, served in process over the same store
    object (so the same cache) as a viewer."""
    token = new_token()
    store.create_monitor("viewer", "viewer", [], hash_token(token), token_prefix(token))
    state = ServerState(store=store, settings=ServerSettings())
    app = Starlette(routes=api.routes(state))

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://127.0.0.1",
            headers={"Authorization": f"Bearer {token}"},
        ) as c:
            return [await c.get(api.PREFIX + path, params=params) for path, params in paths]

    try:
        return asyncio.run(run())
    finally:
        state.executor.shutdown()


def test_after_the_warm_up_the_read_api_answers_the_page_from_the_cache(
    warmed: tuple[Store, float], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, now = warmed
    warm_up(store, now)
    plan = [r for r in planned(store, now) if r.path != "/monitors"]  # live, never cached
    scans = count_scans(store, monkeypatch)
    answers = read_all(store, [(r.path, dict(r.params)) for r in plan])
    for request, answer in zip(plan, answers, strict=True):
        assert answer.status_code == 200, answer.text
        found = compute(store, request)
        if isinstance(found, Table):
            assert answer.json()["rows"] == found.dicts()
        else:  # the facets: a list of them, not a table
            assert answer.json()["facets"] == msgspec.to_builtins(found)
    assert scans == []
