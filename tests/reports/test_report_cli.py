"""``botmon report`` as a user runs it: a DuckDB store, a signing key, verify, bad arguments."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from botmon.store import open_store
from tests.cli.helpers import assert_error, botmon
from tests.fixtures.server import botmon_argv
from tests.reports.data import DAY, populate


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*botmon_argv(), "report", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_report_sign_and_verify(tmp_path: Path) -> None:
    db = str(tmp_path / "botmon.duckdb")
    store = open_store(db)
    try:
        store.migrate()
        truth = populate(store)
    finally:
        store.close()
    key = Ed25519PrivateKey.generate()
    (tmp_path / "k.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    (tmp_path / "k.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    made = _run(
        "daily", "--botnet", "hns", "--date", DAY.isoformat(), "-o", "out", "--db", db,
        "--sign-key", "k.pem", cwd=tmp_path,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "signed" in made.stderr
    assert len(list((tmp_path / "out").glob("as*.csv"))) == len(truth.by_asn)
    out, pub = str(tmp_path / "out"), str(tmp_path / "k.pub")
    ok = botmon("report", "verify", out, "--public-key", pub)
    assert ok.code == 0, ok.err
    assert "signature valid" in ok.out

    summary = tmp_path / "out" / "summary.md"
    summary.write_text(summary.read_text() + " ")
    changed = botmon("report", "verify", out, "--public-key", pub)
    assert changed.code == 1
    assert "FAILED summary.md: checksum differs" in changed.err

    again = botmon("report", "daily", "--botnet", "hns", "-o", out, "--db", db)
    assert_error(again, "not an empty directory")


def test_bad_arguments_are_one_line(tmp_path: Path) -> None:
    db, x = str(tmp_path / "b.duckdb"), str(tmp_path / "x")
    (tmp_path / "rsa.pem").write_text("-----BEGIN RSA PRIVATE KEY-----\nAA==\n-----END\n")
    cases = [
        (["daily", "--botnet", "hns", "-o", x, "--db", db, "--date", "10/06/2025"], "YYYY-MM-DD"),
        (["daily", "--botnet", "hns", "-o", x, "--db", db, "--date", "2999-01-01"], "not ended"),
        (["weekly", "--botnet", "hns", "-o", x, "--db", db, "--per", "city"], "--per"),
        (["daily", "--botnet", "nope", "-o", x, "--db", db, "--date", "2025-06-10"],
         "unknown botnet"),
        (["daily", "--botnet", "hns", "-o", x, "--db", db, "--sign-key", str(tmp_path / "no.pem")],
         "--sign-key"),
        (["daily", "--botnet", "hns", "-o", x, "--db", db, "--sign-key", str(tmp_path / "rsa.pem")],
         "--sign-key"),
        (["daily", "--botnet", "hns", "-o", x, "--server", "http://127.0.0.1:9"], "--token"),
        (["verify", str(tmp_path / "missing-dir")], "not a directory"),
        (["verify", str(tmp_path)], "does not verify"),
    ]  # fmt: skip
    for args, expected in cases:
        assert_error(botmon("report", *args), expected)
    assert not (tmp_path / "x").exists()
