"""The report client over the BMS gRPC protocol (``grpc://``, ``grpcs://``).

Records cross as botmon's own BMS server reads them; a botmon token works in either base64
form; a wrong token, a missing monitor name or a server outside the client's server scope is
a clear error before anything is sent; the session is registered with the run's campaign and
ended with the reason the run ended for. Against a real ``botmon serve --grpc-port`` unless
the point is what the client puts on the wire (then a recording servicer on loopback).
"""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import msgspec
import pytest

from botmon.bms import bms_storage_pb2 as pb
from botmon.bms import bms_storage_pb2_grpc as pb_grpc
from botmon.bms.convert import request_batch_id, wire_body
from botmon.client import ClientSettings, ReportClient, ReportClientError
from botmon.client.bms_records import BATCH_BUILDERS
from botmon.client.grpc_transport import split_target, token_bytes
from botmon.settings.crawl import DEFAULT_SCOPE
from botmon.wire import Batch, CampaignSettings, Edge, FailedTry, Reply
from tests.client.conftest import T0, make_edges, make_failed, make_replies
from tests.e2e.grpc_support import start_bms_server
from tests.fixtures.server import LiveServer, botmon_argv

pytestmark = pytest.mark.timeout(120)

FAST = ClientSettings(
    retry_base_s=0.05, retry_max_s=0.4, start_check_timeout_s=3.0, flush_interval_s=0.1
)
RAW = bytes(range(32))
URLSAFE = base64.urlsafe_b64encode(RAW).decode().rstrip("=")
STANDARD = base64.b64encode(RAW).decode()


# -- what goes on the wire -----------------------------------------------------------------
def test_records_cross_as_botmons_bms_server_reads_them() -> None:
    """Encoded here, decoded by the server's converter: the same records, to the microsecond
    (a time with more digits is rounded, as BMS keeps microseconds)."""
    sent: dict[str, list[Any]] = {
        "replies": [
            Reply(timestamp=T0 + 0.1234567, ip="127.0.0.5", port=1, bot_id="b1", data={"v": [1]}),
            Reply(timestamp=T0, ip="::1", port=65535),
        ],
        "failed_tries": [
            FailedTry(timestamp=T0 + 2, ip="fe80::2", port=80, reason="timeout"),
            FailedTry(timestamp=T0 + 3, ip="127.0.0.9", port=8, bot_id="x", data={"n": None}),
        ],
        "edges": [
            Edge(timestamp=T0, src_ip="127.0.0.1", src_port=1, dst_ip="::1", dst_port=2),
            Edge(
                timestamp=T0, src_ip="::1", src_port=3, dst_ip="127.0.0.2", dst_port=4,
                src_id="s", dst_id="d",
            ),
        ],
    }  # fmt: skip
    for kind, records in sent.items():
        raw = BATCH_BUILDERS[kind](7, records).SerializeToString()
        got = msgspec.json.decode(wire_body(kind, "hns", raw), type=Batch)
        assert got.batch_id.startswith(f"bms-hns-{kind}-")
        assert request_batch_id(kind, raw) == 7
        back = getattr(got, kind)
        assert len(back) == len(records)
        for before, after in zip(records, back, strict=True):
            assert round(after.timestamp * 1e6) == round(before.timestamp * 1e6), kind
            assert msgspec.structs.replace(after, timestamp=0.0) == msgspec.structs.replace(
                before, timestamp=0.0
            )


def test_a_token_is_taken_in_either_base64_form() -> None:
    assert token_bytes(URLSAFE) == token_bytes(STANDARD) == RAW
    assert token_bytes(base64.urlsafe_b64encode(b"\xfb" * 32).decode()) == b"\xfb" * 32
    for bad in ("short", URLSAFE[:-2], URLSAFE + "AAAA", "#" * 43):
        with pytest.raises(ReportClientError, match="32 bytes"):
            token_bytes(bad)


def test_a_grpc_url_needs_host_and_port() -> None:
    assert split_target("grpc://127.0.0.1:8083") == ("127.0.0.1", 8083, False)
    assert split_target("grpcs://[::1]:443") == ("::1", 443, True)
    for bad in ("grpc://127.0.0.1", "grpc://:80", "grpc://h:99999", "grpc://h:1/path"):
        with pytest.raises(ReportClientError, match="grpc://HOST:PORT"):
            split_target(bad)


def test_grpc_needs_the_monitor_name(tmp_path: Path) -> None:
    with pytest.raises(ReportClientError, match="--monitor-id"):
        ReportClient("grpc://127.0.0.1:1", URLSAFE, "hns", tmp_path / "s")


def test_a_server_outside_the_server_scope_is_refused_before_connecting(tmp_path: Path) -> None:
    """Tests pin the server scope to loopback, as the crawl scope is: 192.0.2.1 is refused
    with a line that names the scope, and no connection is tried (it would hang: nothing
    routes there)."""
    settings = FAST.replace(server_scope=DEFAULT_SCOPE, connect_timeout_s=60.0)

    async def start(url: str) -> None:
        client = ReportClient(
            url, URLSAFE, "hns", tmp_path / "spool", settings=settings, monitor_id="m"
        )
        try:
            await asyncio.wait_for(client.start(), 5)
        finally:
            await client.close(timeout=1)

    with pytest.raises(ReportClientError, match=r"192\.0\.2\.1.*outside .*server scope"):
        asyncio.run(start("grpc://192.0.2.1:8083"))
    with pytest.raises(ReportClientError, match="outside"):
        asyncio.run(start("grpcs://[2001:db8::1]:8083"))


class Recorder(pb_grpc.BMSStorageServiceServicer):
    """A BMS peer that accepts everything and remembers what it was told."""

    def __init__(self) -> None:
        self.registrations: list[tuple[dict[str, Any], pb.RegisterSessionRequest]] = []
        self.reasons: list[int] = []
        self.batches: list[int] = []

    async def RegisterSession(
        self, request: pb.RegisterSessionRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterSessionResponse:
        self.registrations.append((dict(context.invocation_metadata() or ()), request))
        return pb.RegisterSessionResponse(
            session_token=pb.SessionToken(token=b"\x00\x01\x02\x03"), session_timeout=60
        )

    async def StoreDatedBotReplyBatch(
        self,
        requests: AsyncIterator[pb.StoreDatedBotReplyBatchRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[pb.StoreDatedBotReplyBatchResponse]:
        async for request in requests:
            self.batches.append(len(request.replies))
            yield pb.StoreDatedBotReplyBatchResponse(batch_id=request.batch_id)

    async def Disconnect(
        self, request: pb.DisconnectRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisconnectResponse:
        self.reasons.append(request.reason)
        return pb.DisconnectResponse()


@pytest.mark.parametrize("crash", [False, True])
def test_session_carries_the_campaign_and_ends_with_the_runs_reason(
    tmp_path: Path, crash: bool
) -> None:
    recorder = Recorder()
    campaign = CampaignSettings(protocol="hns", interval_s=59.5, listen=["127.0.0.1:4321"])

    async def main() -> None:
        server = grpc.aio.server()
        pb_grpc.add_BMSStorageServiceServicer_to_server(recorder, server)  # type: ignore[no-untyped-call]
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            client = ReportClient(
                f"grpc://127.0.0.1:{port}",
                STANDARD,
                "hns",
                tmp_path / "spool",
                settings=FAST.replace(batch_size=250),
                campaign=campaign,
                monitor_id="sensor-7",
            )
            await client.start()
            client.add(replies=make_replies(600))
            assert await client.flush(10)
            if crash:
                client.report_crash()
            await client.close(timeout=5)
        finally:
            await server.stop(None)

    asyncio.run(main())
    metadata, request = recorder.registrations[0]
    assert metadata["auth-monitor-id"] == "sensor-7" and metadata["auth-token-bin"] == RAW
    assert request.botnet_id == "hns" and request.campaign_id.startswith("hns-")
    assert request.frequency == 60 and request.monitor_port.port == 4321
    assert msgspec.json.decode(request.config_json.json_string) == msgspec.to_builtins(campaign)
    assert len(recorder.registrations) == 1  # one run, one session
    assert recorder.batches == [250, 250, 100]  # at most batch_size items each
    want = pb.DISCONNECT_REASON_CLIENT_ERROR if crash else pb.DISCONNECT_REASON_FINISHED
    assert recorder.reasons == [want]


# -- against botmon's own BMS server ----------------------------------------------------------
@pytest.fixture(scope="module")
def bms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, int]]:
    server, port = start_bms_server(tmp_path_factory.mktemp("bms"))
    try:
        server.create_botnet("hns")
        yield server, port
    finally:
        server.stop()


def test_a_wrong_token_is_a_clear_error_at_start(
    bms: tuple[LiveServer, int], tmp_path: Path
) -> None:
    server, port = bms
    server.token(botnets=("hns",), name="right-name")
    other = server.token(botnets=("hns",))

    async def start(token: str, name: str) -> None:
        client = ReportClient(
            f"grpc://127.0.0.1:{port}", token, "hns", tmp_path / name, settings=FAST,
            monitor_id=name,
        )  # fmt: skip
        try:
            await client.start()
        finally:
            await client.close(timeout=2)

    for token in (URLSAFE, other):  # unknown, and another monitor's
        with pytest.raises(ReportClientError, match=r"refused the token.*UNAUTHENTICATED"):
            asyncio.run(start(token, "right-name"))


def test_the_standard_base64_form_reports_every_kind(
    bms: tuple[LiveServer, int], tmp_path: Path
) -> None:
    server, port = bms
    token = server.token(botnets=("hns",), name="bms-style")
    standard = base64.b64encode(token_bytes(token)).decode()
    before = server.counts("hns")

    async def main() -> dict[str, int]:
        client = ReportClient(
            f"grpc://127.0.0.1:{port}", standard, "hns", tmp_path / "spool", settings=FAST,
            monitor_id="bms-style",
        )  # fmt: skip
        await client.start()
        client.add(replies=make_replies(300), failed_tries=make_failed(20), edges=make_edges(40))
        assert await client.flush(20), client.stats
        await client.close(timeout=5)
        return client.stats

    stats = asyncio.run(main())
    after = server.counts("hns")
    assert stats["records_stored"] == 360 and stats["spool_batches"] == 0
    for kind, n in (("replies", 300), ("failed_tries", 20), ("edges", 40)):
        assert after.get(kind, 0) - before.get(kind, 0) == n, kind


def test_crawl_command_says_why_when_the_token_is_wrong(
    bms: tuple[LiveServer, int], tmp_path: Path
) -> None:
    _, port = bms
    base = [*botmon_argv(), "crawl", "hns", "--botnet", "hns", "--seed", "127.0.0.1:9"]
    base += ["--server", f"grpc://127.0.0.1:{port}", "--token", URLSAFE, "--rounds", "1"]
    base += ["--spool", str(tmp_path / "spool"), "--progress", "none"]
    env = {**os.environ, "BOTMON_CLIENT_START_CHECK_TIMEOUT_S": "5"}
    wrong = subprocess.run([*base, "--monitor-id", "nobody"], capture_output=True, env=env)
    assert wrong.returncode == 1, wrong.stderr
    assert b"refused the token" in wrong.stderr and b"UNAUTHENTICATED" in wrong.stderr
    assert b"Traceback" not in wrong.stderr
    unnamed = subprocess.run(base, capture_output=True, env=env)
    assert unnamed.returncode == 1 and b"--monitor-id" in unnamed.stderr, unnamed.stderr


def test_records_over_the_servers_message_limit_go_in_halves(tmp_path: Path) -> None:
    """A server that takes at most 20 kB a message refuses a 1,000-reply batch (about 30 kB);
    the client sends it in parts, each under its own batch id, and stores all of it."""
    recorder = Recorder()

    async def main() -> dict[str, int]:
        server = grpc.aio.server(options=[("grpc.max_receive_message_length", 20_000)])
        pb_grpc.add_BMSStorageServiceServicer_to_server(recorder, server)  # type: ignore[no-untyped-call]
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        try:
            client = ReportClient(
                f"grpc://127.0.0.1:{port}", URLSAFE, "hns", tmp_path / "spool", settings=FAST,
                monitor_id="m",
            )  # fmt: skip
            await client.start()
            client.add(replies=make_replies(1000))
            assert await client.flush(10), client.stats
            await client.close(timeout=5)
            return client.stats
        finally:
            await server.stop(None)

    stats = asyncio.run(main())
    assert sum(recorder.batches) == 1000 and len(recorder.batches) >= 2, recorder.batches
    assert stats["stored_replies"] == 1000 and stats["rejected"] == 0, stats
