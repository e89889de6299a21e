"""A bug answered 500 leaves the keep-alive connection usable: the next request on the same
connection is answered (Starlette's last-resort handler re-raised and uvicorn closed it)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from botmon.server.app import _CrashGuard
from tests.fixtures.server import free_port


async def bug(request: Request) -> Response:
    raise RuntimeError("a bug")


async def fine(request: Request) -> Response:
    return PlainTextResponse("ok")


@pytest.fixture
def url() -> Iterator[str]:
    app = Starlette(
        routes=[Route("/bug", bug), Route("/fine", fine)], middleware=[Middleware(_CrashGuard)]
    )
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_500_keeps_the_connection(url: str) -> None:
    def local(r: httpx.Response) -> object:
        return r.extensions["network_stream"].get_extra_info("client_addr")

    with httpx.Client(base_url=url, trust_env=False, timeout=10) as c:
        crashed = c.get("/bug")
        assert crashed.status_code == 500 and crashed.json()["reason"] == "internal_error"
        assert "a bug" not in crashed.text
        after = c.get("/fine")
        assert after.status_code == 200
        assert local(crashed) == local(after)
