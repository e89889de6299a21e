"""Builders for ingest batches and a small HTTP client for the server tests."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import msgspec

from tests.fixtures.server import LiveServer

JSON = {"Content-Type": "application/json"}
"""Headers of a raw JSON body (every write route answers 415 without them)."""

T0 = 1_700_000_000.0
"""2023-11-14T22:13:20Z: a fixed, valid observation time."""


def reply(i: int = 0, **over: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "timestamp": T0 + i,
        "ip": f"127.1.{(i >> 8) & 255}.{i & 255}",
        "port": 1000 + i % 50000,
        "bot_id": f"{i:08x}",
        "data": {"version": 3, "n": i},
    }
    r.update(over)
    return r


def failed_try(i: int = 0, **over: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "timestamp": T0 + i,
        "ip": f"127.2.{(i >> 8) & 255}.{i & 255}",
        "port": 2000 + i % 50000,
        "reason": "timeout",
    }
    r.update(over)
    return r


def edge(i: int = 0, **over: Any) -> dict[str, Any]:
    r: dict[str, Any] = {
        "timestamp": T0 + i,
        "src_ip": f"127.1.0.{i & 255}",
        "src_port": 1000,
        "dst_ip": "::1" if i % 2 else f"127.3.0.{i & 255}",
        "dst_port": 3000 + i % 1000,
        "src_id": f"{i:08x}",
    }
    r.update(over)
    return r


def batch(
    botnet: str = "hns",
    *,
    replies: int | list[dict[str, Any]] = 0,
    failed_tries: int | list[dict[str, Any]] = 0,
    edges: int | list[dict[str, Any]] = 0,
    batch_id: str | None = None,
) -> dict[str, Any]:
    def many(value: int | list[dict[str, Any]], make: Any) -> list[dict[str, Any]]:
        return [make(i) for i in range(value)] if isinstance(value, int) else value

    return {
        "botnet": botnet,
        "batch_id": batch_id or uuid.uuid4().hex,
        "replies": many(replies, reply),
        "failed_tries": many(failed_tries, failed_try),
        "edges": many(edges, edge),
    }


def client(server: LiveServer, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(
        base_url=server.url, headers=headers, timeout=60.0, trust_env=False, verify=False
    )


def post_batch(server: LiveServer, token: str | None, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else msgspec.json.encode(body)
    with client(server, token) as c:
        return c.post("/api/v1/ingest", content=content, headers=JSON)


def wait_until(check: Any, timeout: float = 10.0, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return bool(check())
