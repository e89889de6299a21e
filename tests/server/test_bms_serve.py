"""``botmon serve --grpc-port``: the BMS API beside the HTTP API in one process, with TLS or
(only when asked) in plaintext, reached with a token made by ``botmon token create``."""

from __future__ import annotations

import base64
import socket
import subprocess
from pathlib import Path

import grpc
import pytest

from botmon.bms import bms_storage_pb2 as pb
from botmon.bms import bms_storage_pb2_grpc as pbg
from tests.cli.helpers import botmon
from tests.fixtures.server import LiveServer, botmon_argv, free_port, start_live_server
from tests.server.bms_helpers import replies_batch, reply, session
from tests.server.helpers import batch, post_batch
from tests.server.test_tls_and_startup import _self_signed


def _bms_token(db: str, name: str) -> bytes:
    """A crawler token from ``botmon token create``, as a BMS monitor is configured with it:
    the labelled standard-base64 line (the last line stays the token itself)."""
    made = botmon("token", "create", "--name", name, "--role", "crawler", "--db", db)
    assert made.code == 0, made.err
    lines = made.out.strip().splitlines()
    label = f"BMS auth token (base64, for BMS monitors; monitor ID {name}): "
    assert lines[-2].startswith(label)
    raw = base64.b64decode(lines[-2][len(label) :], validate=True)
    assert len(raw) == 32
    assert base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == made.last_line
    return raw


def _report(channel: grpc.Channel, name: str, raw: bytes, batch_id: int, n: int) -> None:
    stub = pbg.BMSStorageServiceStub(channel)  # type: ignore[no-untyped-call]
    meta = [("auth-monitor-id", name), ("auth-token-bin", raw)]
    answer = stub.RegisterSession(
        pb.RegisterSessionRequest(botnet_id="hns"), metadata=meta, timeout=20
    )
    sent = replies_batch(batch_id, [reply(i) for i in range(n)])
    acks = list(stub.StoreDatedBotReplyBatch(iter([sent]), metadata=session(answer), timeout=20))
    assert [a.batch_id for a in acks] == [batch_id]
    stub.Disconnect(
        pb.DisconnectRequest(reason=pb.DISCONNECT_REASON_FINISHED), metadata=session(answer)
    )


def _serve(tmp_path: Path, db: str, extra: list[str]) -> tuple[LiveServer, int]:
    botmon("botnet", "create", "hns", "--db", db)
    port = free_port()
    server = start_live_server(db, tmp_path, ["--grpc-port", str(port), *extra])
    return server, port


def test_plaintext_bms_monitor_and_http_reporter_share_one_store(tmp_path: Path) -> None:
    db = str(tmp_path / "plain.duckdb")
    raw = _bms_token(db, "bms-vantage")
    server, port = _serve(tmp_path, db, ["--grpc-plaintext"])
    try:
        assert f"BMS gRPC API on 127.0.0.1:{port} (plaintext)" in server.log_path.read_text()
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            _report(channel, "bms-vantage", raw, 3, 25)
        assert post_batch(server, server.token("crawler"), batch(replies=5)).status_code == 200
        assert server.counts("hns")["replies"] == 30
    finally:
        server.stop()
    assert "botmon: stopped" in server.log_path.read_text()


def test_tls_bms_api_uses_the_http_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    db = str(tmp_path / "tls.duckdb")
    raw = _bms_token(db, "bms-vantage")
    server, port = _serve(tmp_path, db, ["--tls-cert", str(cert), "--tls-key", str(key)])
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
        with grpc.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
            _report(channel, "bms-vantage", raw, 8, 12)
        assert server.counts("hns")["replies"] == 12
        # A plaintext client cannot talk to the TLS port.
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            with pytest.raises(grpc.RpcError) as refused:
                _report(channel, "bms-vantage", raw, 9, 1)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        assert server.counts("hns")["replies"] == 12
    finally:
        server.stop()


def test_grpc_without_tls_or_plaintext_is_refused_at_start(tmp_path: Path) -> None:
    argv = [*botmon_argv(), "serve", "--port", "0", "--db", str(tmp_path / "x.duckdb")]
    done = subprocess.run(
        [*argv, "--grpc-port", "0"], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("botmon: error: "), done.stderr
    assert (
        "needs TLS (--tls-cert and --tls-key) or, on a trusted network, --grpc-plaintext"
        in lines[0]
    )


def test_a_grpc_port_in_use_stops_start_up_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        argv = [*botmon_argv(), "serve", "--port", "0", "--db", str(tmp_path / "y.duckdb")]
        done = subprocess.run(
            [*argv, "--grpc-port", str(port), "--grpc-plaintext"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("botmon: error: ")]
    assert len(errors) == 1 and f"cannot listen for gRPC on 127.0.0.1:{port}" in errors[0], (
        done.stderr
    )


def test_grpc_plaintext_beside_an_https_api(tmp_path: Path) -> None:
    """BMS clients connect in plaintext today: --grpc-plaintext serves them so even when the
    HTTP API has a certificate."""
    from botmon.store import open_store
    from tests.server.bms_helpers import running_bms

    cert, key = _self_signed(tmp_path)
    store = open_store(str(tmp_path / "mixed.duckdb"))
    try:
        store.migrate()
        store.create_botnet("hns")
        with running_bms(store, tls_cert=str(cert), tls_key=str(key)) as bms:
            meta = session(bms.register())
            acks = list(
                bms.stub.StoreDatedBotReplyBatch(
                    iter([replies_batch(4, [reply(1)])]), metadata=meta
                )
            )
            assert [a.batch_id for a in acks] == [4]
        assert store.count_records("hns")["replies"] == 1
    finally:
        store.close()
