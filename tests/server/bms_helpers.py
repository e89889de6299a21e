"""A BMS gRPC server on loopback for tests, and the records a BMS monitor sends.

The server is the real one (:func:`botmon.server.grpc_server.start_grpc` on a real store)
in its own event loop thread; tests talk to it with the client stubs generated from
botmon's ``.proto``, as a BMS monitor would.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc

from botmon.auth import issue_token, token_bytes
from botmon.bms import bms_storage_pb2 as pb
from botmon.bms import bms_storage_pb2_grpc as pbg
from botmon.server.grpc_server import start_grpc
from botmon.server.state import ServerState
from botmon.settings import ServerSettings
from botmon.store.base import Store

NOW = 1_750_000_000


@dataclass
class Clock:
    """The sessions' clock; a test moves it to expire a session."""

    now: float = float(NOW + 3600)

    def __call__(self) -> float:
        return self.now


@dataclass
class BmsServer:
    """A running BMS API: its port, its store and a stub on a channel to it."""

    port: int
    store: Store
    clock: Clock
    channel: grpc.Channel
    stub: pbg.BMSStorageServiceStub
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, name: str, role: str = "crawler", botnets: Sequence[str] = ()) -> str:
        token, _ = issue_token(self.store, name, role, botnets)  # type: ignore[arg-type]
        self.tokens[name] = token
        return token

    def register(
        self, botnet: str = "hns", name: str = "vantage", **fields: Any
    ) -> pb.RegisterSessionResponse:
        """Register ``name`` (its token made on first use) on ``botnet``."""
        if name not in self.tokens:
            self.token(name)
        request = pb.RegisterSessionRequest(botnet_id=botnet, **fields)
        answer: pb.RegisterSessionResponse = self.stub.RegisterSession(
            request, metadata=auth(name, self.tokens[name]), timeout=20
        )
        return answer


def auth(name: str, token: str) -> list[tuple[str, str | bytes]]:
    """The metadata a BMS monitor registers with: its ID and the token's 32 bytes."""
    return [("auth-monitor-id", name), ("auth-token-bin", token_bytes(token))]


def session(answer: pb.RegisterSessionResponse) -> list[tuple[str, bytes]]:
    """The metadata of every call after registration."""
    return [("session-token-bin", answer.session_token.token)]


@contextmanager
def running_bms(
    store: Store, settings: ServerSettings | None = None, **overrides: Any
) -> Iterator[BmsServer]:
    """Serve the BMS API over ``store`` on 127.0.0.1 (plaintext unless TLS is configured)."""
    if settings is None:
        options: dict[str, Any] = {
            "db": "unused",
            "host": "127.0.0.1",
            "grpc_port": 0,
            "grpc_plaintext": True,
            "ingest_workers": 0,
            "future_skew_s": 300.0,
        }
        options.update(overrides)
        settings = ServerSettings(**options)
    state = ServerState(store=store, settings=settings)
    clock = Clock()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        try:
            box["server"], box["port"] = await start_grpc(state, clock)
        except BaseException as exc:
            box["error"] = exc
            started.set()
            return
        box["stop"] = asyncio.Event()
        started.set()
        await box["stop"].wait()
        await box["server"].stop(2)

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(20), "the gRPC server did not start"
    if "error" in box:
        thread.join(5)
        loop.close()
        raise box["error"]
    channel = grpc.insecure_channel(f"127.0.0.1:{box['port']}")
    try:
        stub = pbg.BMSStorageServiceStub(channel)  # type: ignore[no-untyped-call]
        yield BmsServer(box["port"], store, clock, channel, stub)
    finally:
        channel.close()
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(20)
        loop.close()
        state.shutdown()


# -- what a BMS monitor sends ----------------------------------------------------------------


def ts(seconds: int, nanos: int = 0) -> pb.Timestamp:
    return pb.Timestamp(unix_seconds=seconds, unix_nano_seconds=nanos)


def v4(text: str) -> pb.IPAddress:
    a, b, c, d = (int(x) for x in text.split("."))
    return pb.IPAddress(v4=pb.IPv4Address(address=(a << 24) | (b << 16) | (c << 8) | d))


def v6(raw: bytes) -> pb.IPAddress:
    return pb.IPAddress(v6=pb.IPv6Address(address=raw))


def port(number: int) -> pb.Port:
    return pb.Port(port=number)


def reply(i: int, **fields: Any) -> pb.DatedBotReply:
    """The i-th reply of a crawl: bot 10.0.i/256.i%256, port 6000 + i, its ID and extras."""
    values: dict[str, Any] = {
        "timestamp": ts(NOW + i, 123_456_789),
        "bot_id": f"bot-{i}",
        "ip": v4(f"10.0.{i // 256}.{i % 256}"),
        "port": port(6000 + i % 1000),
        "other_data": pb.JSON(json_string=f'{{"round": {i % 7}, "version": "1.2"}}'),
    }
    values.update(fields)
    return pb.DatedBotReply(**values)


def failed_try(i: int, **fields: Any) -> pb.DatedFailedTry:
    values: dict[str, Any] = {
        "timestamp": ts(NOW + i),
        "ip": v4(f"10.1.{i // 256}.{i % 256}"),
        "port": port(7000),
        "reason": "timeout",
    }
    values.update(fields)
    return pb.DatedFailedTry(**values)


def edge(i: int, **fields: Any) -> pb.DatedEdge:
    values: dict[str, Any] = {
        "timestamp": ts(NOW + i),
        "src_bot_id": f"bot-{i}",
        "src_ip": v4(f"10.0.0.{i % 256}"),
        "src_port": port(6000),
        "dst_ip": v6(bytes(15) + bytes([i % 256])),
        "dst_port": port(6001),
    }
    values.update(fields)
    return pb.DatedEdge(**values)


def replies_batch(
    batch_id: int, items: Sequence[pb.DatedBotReply]
) -> pb.StoreDatedBotReplyBatchRequest:
    return pb.StoreDatedBotReplyBatchRequest(batch_id=batch_id, replies=list(items))
