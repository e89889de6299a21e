"""Connection hygiene of ``botmon serve``: silent and half-sent connections are closed, the
number of concurrent connections is capped, trailing-slash URLs never redirect to the host a
caller names, and heavy reads never hold the threads ingest needs."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from botmon.auth import issue_token
from botmon.server.app import create_app
from botmon.server.state import ServerState
from botmon.settings import ServerSettings
from botmon.store import open_store
from tests.fixtures.server import LiveServer, start_live_server
from tests.server.helpers import batch

CLOSE_WITHIN_S = 8.0
"""With 1 s timeouts a held connection must be closed well within this (held forever before)."""


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setenv("BOTMON_SERVER_HEADER_TIMEOUT_S", "1")
    monkeypatch.setenv("BOTMON_SERVER_BODY_IDLE_TIMEOUT_S", "1")
    monkeypatch.setenv("BOTMON_SERVER_KEEP_ALIVE_S", "1")
    monkeypatch.setenv("BOTMON_SERVER_MAX_CONNECTIONS", "60")
    s = start_live_server(str(tmp_path / "conn.duckdb"), tmp_path, ["--ingest-workers", "0"])
    try:
        yield s
    finally:
        s.stop()


def _connect(server: LiveServer, first: bytes = b"") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=CLOSE_WITHIN_S)
    if first:
        sock.sendall(first)
    return sock


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """True when the server closes ``sock`` before ``deadline`` (it may answer first)."""
    try:
        while True:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    finally:
        sock.close()


def test_silent_and_half_sent_connections_are_closed(server: LiveServer) -> None:
    head = b"POST /api/v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n"
    socks = [_connect(server) for _ in range(10)]  # nothing sent at all
    socks += [_connect(server, b"GET /healthz HTTP/1.1\r\nHo") for _ in range(10)]
    socks += [_connect(server, head) for _ in range(10)]  # headers never finished
    socks += [_connect(server, head + b"\r\n" + b"{" * 100) for _ in range(10)]  # body stops
    # While they are held, a normal request still works.
    with httpx.Client(base_url=server.url, timeout=10, trust_env=False) as c:
        assert c.get("/healthz").status_code == 200
    deadline = time.monotonic() + CLOSE_WITHIN_S
    held = [i for i, s in enumerate(socks) if not _closed_by_server(s, deadline)]
    assert held == []


def test_endless_headers_are_refused(server: LiveServer) -> None:
    sock = _connect(server, b"GET /healthz HTTP/1.1\r\n")
    answer = b""
    try:
        for i in range(200):  # 200 x 1 KB headers, well past the 64 KB cap
            sock.sendall(b"X-Pad-%d: %s\r\n" % (i, b"a" * 1000))
        sock.settimeout(CLOSE_WITHIN_S)
        answer = sock.recv(65536)
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        sock.close()
    assert answer == b"" or answer.startswith(b"HTTP/1.1 431")


def test_connections_beyond_the_cap_get_503(server: LiveServer) -> None:
    socks = [_connect(server) for _ in range(65)]
    try:
        with httpx.Client(base_url=server.url, timeout=10, trust_env=False) as c:
            assert c.get("/healthz").status_code == 503
    finally:
        for s in socks:
            s.close()


def test_trailing_slash_never_redirects_to_the_callers_host(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10, trust_env=False) as c:
        for path in ("/healthz/", "/api/v1/botnets/", "/openapi.json/"):
            answer = c.get(path, headers={"Host": "evil.example"})
            assert answer.status_code == 404, (path, answer.status_code, answer.headers)
            assert "evil.example" not in answer.headers.get("location", "")


def test_an_ingest_completes_while_slow_reads_hold_every_read_thread(store_url: str) -> None:
    """Reads (read API, dashboard) have threads of their own: with more slow reads running
    than there are threads, an ingest still gets a store thread and completes."""
    store = open_store(store_url)
    store.migrate()
    store.create_botnet("hns")
    token, _ = issue_token(store, "admin", "admin")
    gate = threading.Event()
    real = store.botnet_summaries

    def slow_summaries(now: float, window: int = 3600) -> object:
        gate.wait(30)
        return real(now, window)

    store.botnet_summaries = slow_summaries  # type: ignore[method-assign]
    settings = ServerSettings(
        db=store_url, store_threads=2, ingest_workers=0
    )  # and the default 2 read threads: 6 slow reads fill them and queue
    state = ServerState(store=store, settings=settings)
    app = create_app(state)
    headers = {"Authorization": f"Bearer {token}"}

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", headers=headers, timeout=60
        ) as c:
            reads = [asyncio.create_task(c.get("/api/v1/botnets")) for _ in range(6)]
            await asyncio.sleep(0.3)
            body = msgspec.json.encode(batch(replies=10))
            ingest = await asyncio.wait_for(
                c.post(
                    "/api/v1/ingest",
                    content=body,
                    headers={"Content-Type": "application/json"},
                ),
                timeout=10,
            )
            assert ingest.status_code == 200, ingest.text
            assert not any(r.done() for r in reads), "the slow reads were not running"
            gate.set()
            assert all(r.status_code == 200 for r in await asyncio.gather(*reads))

    try:
        asyncio.run(scenario())
    finally:
        gate.set()
        state.shutdown()
        store.close()
