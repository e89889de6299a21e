"""A PostgreSQL outage under a real ``botmon serve``: fast 503s, recovery, a quick stop.

The test runs its own throwaway cluster (``scripts/pg.sh``) so it can crash it
(``pg_ctl stop -m immediate``) and start it again without disturbing other tests. Before the
outage breaker, requests hung 30 s and then answered 500, and the server took 58.7 s to stop.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import psycopg
import pytest

from tests.fixtures.server import LiveServer, free_port, start_live_server
from tests.server.helpers import batch, wait_until

PG_SH = Path(__file__).resolve().parents[2] / "scripts" / "pg.sh"
FAST_S = 5.0
"""An answer during the outage must come well before the old 30 s hang."""
STOP_S = 10.0
"""The server must stop within this long even while PostgreSQL is away (58.7 s before)."""


class Cluster:
    """A PostgreSQL cluster of this test alone, on its own port."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def pg(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(PG_SH), *args], capture_output=True, text=True, timeout=120
        )

    def start(self) -> None:
        done = self.pg("start", str(self.root), str(self.port))
        if done.returncode == 3:
            pytest.skip("PostgreSQL binaries not installed")
        assert done.returncode == 0, done.stderr
        # pg.sh turns synchronous commit off for speed; a crash would then lose the last
        # commits, which is PostgreSQL's business, not botmon's: commit durably here.
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("ALTER ROLE postgres SET synchronous_commit = on")

    def crash(self) -> None:
        self.pg("stop", str(self.root), "immediate")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    root = Path(tempfile.mkdtemp(prefix="botmon-pg-outage-"))
    c = Cluster(root, free_port())
    try:
        c.start()
        yield c
    finally:
        c.pg("stop", str(root), "immediate")
        shutil.rmtree(root, ignore_errors=True)


def _timed(
    call: httpx.Client, method: str, path: str, **kw: object
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = call.request(method, path, **kw)  # type: ignore[arg-type]
    return response, time.monotonic() - started


@pytest.fixture
def server(cluster: Cluster, tmp_path: Path) -> Iterator[LiveServer]:
    s = start_live_server(cluster.url, tmp_path, ["--ingest-workers", "0"])
    try:
        yield s
    finally:
        s.stop()


def test_outage_answers_503_fast_recovers_and_stops_quickly(
    cluster: Cluster, server: LiveServer
) -> None:
    server.create_botnet("hns")
    token = server.token("crawler")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    first = msgspec.json.encode(batch(replies=20))
    with httpx.Client(base_url=server.url, timeout=120.0, trust_env=False) as c:
        assert c.post("/api/v1/ingest", content=first, headers=headers).status_code == 200

        cluster.crash()
        time.sleep(2.5)  # past the token cache: the token lookup needs the database too
        during = msgspec.json.encode(batch(replies=20))
        timings: list[float] = []
        for _ in range(3):
            answer, took = _timed(c, "POST", "/api/v1/ingest", content=during, headers=headers)
            timings.append(took)
            assert answer.status_code == 503, answer.text
            assert answer.json()["reason"] == "store_unavailable"
            assert int(answer.headers["Retry-After"]) > 0
            health, took = _timed(c, "GET", "/healthz")
            timings.append(took)
            assert health.status_code == 503
            assert "Retry-After" in health.headers
        print(f"answer times during the outage: {[round(t, 2) for t in timings]} s")
        assert max(timings) < FAST_S, timings

        cluster.start()
        assert wait_until(lambda: c.get("/healthz").status_code == 200, timeout=30.0)
        again = c.post("/api/v1/ingest", content=during, headers=headers)
        assert again.status_code == 200, again.text
        assert again.json()["duplicate"] is False
    assert server.counts()["replies"] == 40

    cluster.crash()
    with httpx.Client(base_url=server.url, timeout=60.0, trust_env=False) as c:
        assert c.get("/healthz").status_code == 503
    proc = server.process
    assert proc is not None
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    stop_s = time.monotonic() - started
    server.process = None
    print(f"stop time during the outage: {stop_s:.2f} s")
    assert stop_s < STOP_S


def test_breaker_fails_fast_and_closes_when_the_database_is_back(cluster: Cluster) -> None:
    """The store itself: after one call finds PostgreSQL away, calls fail at once; a
    background probe notices the restart and calls succeed again without reopening."""
    from botmon.store import open_store
    from botmon.store.base import StoreUnavailable

    store = open_store(cluster.url)
    try:
        store.migrate()
        cluster.crash()
        with pytest.raises(StoreUnavailable):
            store.list_botnets()
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            store.list_botnets()
        assert time.monotonic() - started < 0.5
        assert caught.value.retry_after_s > 0
        cluster.start()

        def works() -> bool:
            try:
                store.list_botnets()
            except StoreUnavailable:
                return False
            return True

        assert wait_until(works, timeout=30.0)
    finally:
        started = time.monotonic()
        store.close()
        assert time.monotonic() - started < 5.0


def test_a_busy_pool_is_not_an_outage(pg_database_url: str) -> None:
    """Every connection held (as by long streamed exports) answers "busy, retry" without
    tripping the breaker: the next call after the connection is free works at once."""
    from botmon.store.base import StoreUnavailable
    from botmon.store.pg_store import open_postgres

    store = open_postgres(pg_database_url, pool_size=1)
    try:
        store.migrate()
        store.create_botnet("hns")
        with store._conn():  # the pool's only connection, held
            with pytest.raises(StoreUnavailable) as caught:
                store.list_botnets()
            assert "busy" in str(caught.value)
        started = time.monotonic()
        assert [b.name for b in store.list_botnets()] == ["hns"]
        assert time.monotonic() - started < 0.5
    finally:
        store.close()
