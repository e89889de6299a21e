"""HTTPS with a self-signed certificate, start-up refusals and a clean stop."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.fixtures.server import botmon_argv, start_live_server
from tests.server.helpers import batch, post_batch


def _self_signed(directory: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


def test_https_with_a_self_signed_certificate(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server = start_live_server(
        str(tmp_path / "tls.duckdb"), tmp_path, ["--tls-cert", str(cert), "--tls-key", str(key)]
    )
    try:
        assert server.url.startswith("https://")
        with httpx.Client(verify=ssl.create_default_context(cafile=cert), trust_env=False) as c:
            assert c.get(f"{server.url}/healthz").json()["status"] == "ok"
        with httpx.Client(trust_env=False) as c, pytest.raises(httpx.ConnectError):
            c.get(f"{server.url}/healthz")  # not trusted without the certificate
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5, trust_env=False)
        server.create_botnet("hns")
        token = server.token("crawler")
        assert post_batch(server, token, batch(replies=10)).status_code == 200
        assert server.counts("hns")["replies"] == 10
        info = json.loads((tmp_path / "tls.duckdb.server.json").read_text())
        assert info["url"] == server.url and info["tls_cert"] == str(cert.resolve())
    finally:
        server.stop()


def test_serve_writes_its_server_file_and_removes_it_on_stop(tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    server = start_live_server(str(db), tmp_path)
    advert = tmp_path / "a.duckdb.server.json"
    try:
        assert advert.stat().st_mode & 0o777 == 0o600
        info = json.loads(advert.read_text())
        assert info["url"] == server.url and info["pid"] == server.process.pid  # type: ignore[union-attr]
        with httpx.Client(trust_env=False) as c:
            r = c.get(
                f"{server.url}/api/v1/admin/tokens",
                headers={"Authorization": f"Bearer {info['admin_token']}"},
            )
        assert r.status_code == 200
        server.create_botnet("hns")
        token = server.token("crawler")
        assert post_batch(server, token, batch(replies=7, batch_id="kept")).status_code == 200
    finally:
        server.stop()
    assert not advert.exists()
    assert "botmon: stopped" in server.log_path.read_text()
    server.start()  # the same port and file again, for fault tests
    try:
        assert advert.exists()
        assert server.counts("hns")["replies"] == 7  # stored data and tokens survive a restart
        again = post_batch(server, token, batch(replies=7, batch_id="kept"))
        assert again.status_code == 200 and again.json()["duplicate"] is True
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "server.port: must be <= 65535 (got 70000); set with --port"),
        (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], "cannot read"),
        (["--tls-cert", "/etc/hostname"], "must be given together"),
        (["--db", "/nonexistent-dir/x.duckdb"], "does not exist"),
        (["--db", "mysql://x/y"], "unknown database scheme"),
        (
            ["--max-body-mb", "0"],
            "server.max_body_bytes: must be >= 1024 (got 0); set with --max-body-mb",
        ),
    ],
)
def test_bad_settings_stop_start_up_with_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    argv = [*botmon_argv(), "serve", "--port", "0", "--db", str(tmp_path / "x.duckdb"), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("botmon: error: "), done.stderr
    assert message in lines[0]


def test_a_second_server_on_the_same_duckdb_file_is_refused(tmp_path: Path) -> None:
    server = start_live_server(str(tmp_path / "b.duckdb"), tmp_path)
    try:
        argv = [*botmon_argv(), "serve", "--port", "0", "--db", str(tmp_path / "b.duckdb")]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert done.returncode != 0
        assert done.stderr.startswith("botmon: error: ") and "in use" in done.stderr
    finally:
        server.stop()
