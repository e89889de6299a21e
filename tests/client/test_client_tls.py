"""The client over HTTPS: it trusts the given CA file and refuses a server it cannot verify."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from botmon.client import ClientSettings, ReportClient
from tests.client.conftest import make_replies
from tests.fixtures.server import LiveServer, start_live_server

FAST = ClientSettings(retry_base_s=0.05, retry_max_s=0.2, start_check_timeout_s=2.0)


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[LiveServer, Path]]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    workdir = tmp_path / "tls-server"
    workdir.mkdir()
    server = start_live_server(
        str(workdir / "botmon.duckdb"), workdir, ["--tls-cert", str(cert), "--tls-key", str(key)]
    )
    try:
        server.create_botnet("hns")
        yield server, cert
    finally:
        server.stop()


def test_records_travel_over_tls_verified_against_the_ca_file(
    tls_server: tuple[LiveServer, Path], tmp_path: Path
) -> None:
    server, cert = tls_server
    assert server.url.startswith("https://")

    async def run() -> dict[str, int]:
        client = ReportClient(
            server.url, server.token(), "hns", tmp_path / "spool", ca_file=cert, settings=FAST
        )
        await client.start()
        client.add(replies=make_replies(500))
        await client.close(timeout=15)
        return client.stats

    assert asyncio.run(run())["records_stored"] == 500
    assert server.counts("hns")["replies"] == 500


def test_a_server_whose_certificate_cannot_be_verified_gets_nothing(
    tls_server: tuple[LiveServer, Path], tmp_path: Path
) -> None:
    server, _ = tls_server

    async def run() -> dict[str, int]:
        client = ReportClient(server.url, server.token(), "hns", tmp_path / "spool", settings=FAST)
        await client.start()  # unverifiable is "unreachable", not a bad token: no exception
        client.add(replies=make_replies(5))
        await client.close(timeout=1)
        return client.stats

    stats = asyncio.run(run())
    assert stats["records_stored"] == 0 and stats["retries"] >= 1
    assert stats["spool_batches"] == 1
    assert server.counts("hns")["replies"] == 0
