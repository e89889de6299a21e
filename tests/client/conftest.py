"""Helpers for the report client's tests: record makers, read-back, a fault-injecting transport.

The fault transport wraps the real HTTP transport to the real server; it injects only what a
healthy loopback server cannot be made to do on cue (a lost answer after a stored batch, 503s,
429 with Retry-After). Everything else in these tests is the real server and store.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from botmon.client.transport import Answer, HttpTransport, TransportFailure
from botmon.wire import Edge, FailedTry, Reply
from tests.fixtures.server import LiveServer, start_live_server

T0 = time.time() - 3600


def make_replies(n: int, start: int = 0) -> list[Reply]:
    """``n`` distinct replies from 127.1.x.y (distinct by ip and timestamp)."""
    return [
        Reply(T0 + i * 1e-3, f"127.{1 + i // 65536}.{(i >> 8) & 255}.{i & 255}", 6000)
        for i in range(start, start + n)
    ]


def make_edges(n: int) -> list[Edge]:
    return [
        Edge(T0 + i * 1e-3, "127.1.0.1", 6000, f"127.2.{i >> 8 & 255}.{i & 255}", 6001)
        for i in range(n)
    ]


def make_failed(n: int) -> list[FailedTry]:
    return [
        FailedTry(T0 + i * 1e-3, f"127.3.{i >> 8 & 255}.{i & 255}", 6000, reason="timeout")
        for i in range(n)
    ]


def read_back(url: str, admin_token: str, botnet: str, kind: str) -> list[dict[str, Any]]:
    """Every stored record of one kind, through the read API."""
    r = httpx.get(
        f"{url}/api/v1/botnets/{botnet}/records/{kind}",
        params={"format": "jsonl", "start": "2000-01-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=30,
        trust_env=False,
    )
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines() if line.strip()]


def queue_command(
    url: str, admin_token: str, source: str, command: str, args: dict[str, Any]
) -> None:
    r = httpx.post(
        f"{url}/api/v1/admin/commands",
        json={"source": source, "command": command, "args": args},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=10,
        trust_env=False,
    )
    assert r.status_code in (200, 201), r.text


class FaultTransport:
    """The real transport, with scripted faults on the next ingest calls.

    Script actions: ``ok`` (forward), ``lose`` (forward, then drop the answer as a cut
    connection would), ``down`` (refuse without forwarding), ``500``, ``503``,
    ``503:retry-after`` (an outage the server knows of), ``429:<seconds>``.
    """

    def __init__(self, url: str, token: str, script: list[str]) -> None:
        self.inner = HttpTransport(url, token, request_timeout_s=10, connect_timeout_s=2)
        self.script: deque[str] = deque(script)
        self.ingest_calls: list[tuple[float, str]] = []

    async def post(self, path: str, body: bytes, timeout_s: float | None = None) -> Answer:
        if not path.endswith("/ingest") or not self.script:
            return await self.inner.post(path, body, timeout_s)
        action = self.script.popleft()
        self.ingest_calls.append((time.monotonic(), action))
        if action == "ok":
            return await self.inner.post(path, body, timeout_s)
        if action == "lose":
            await self.inner.post(path, body, timeout_s)
            raise TransportFailure("connection reset after the request was sent (injected)")
        if action == "down":
            raise TransportFailure("connection refused (injected)")
        if action == "503":
            return Answer(503, b'{"error": "overloaded (injected)"}')
        if action == "503:retry-after":
            return Answer(503, b'{"error": "store unavailable (injected)"}', retry_after="0")
        if action == "500":
            return Answer(500, b'{"error": "internal error (injected)"}')
        if action.startswith("429:"):
            return Answer(429, b'{"error": "slow down (injected)"}', retry_after=action[4:])
        raise AssertionError(action)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "spool"


class Handle:
    """A live server plus the botnet this test writes (tests that share a server differ)."""

    def __init__(self, live: LiveServer, botnet: str) -> None:
        self.live = live
        self.botnet = botnet
        live.create_botnet(botnet)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.live, name)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the tests that never stop it (saves a server start per test)."""
    workdir = tmp_path_factory.mktemp("shared-server")
    live = start_live_server(str(workdir / "botmon.duckdb"), workdir)
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def server(shared_server: LiveServer) -> Handle:
    return Handle(shared_server, f"t{uuid.uuid4().hex[:12]}")


@pytest.fixture
def own_server(duckdb_server: LiveServer) -> Handle:
    """A server of this test's own, for tests that stop it."""
    return Handle(duckdb_server, "hns")


@pytest.fixture
def any_server(live_server: LiveServer) -> Handle:
    """The server on each store backend, for the tests where the store's part matters."""
    return Handle(live_server, "hns")
