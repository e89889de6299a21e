"""``botmon report`` as a user runs it: a DuckDB store, a signing key, verify, bad arguments."""

from __future__ import annotations

import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from botmon.store import open_store
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
    ok = _run("verify", "out", "--public-key", "k.pub", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert "signature valid" in ok.stdout

    summary = tmp_path / "out" / "summary.md"
    summary.write_text(summary.read_text() + " ")
    changed = _run("verify", "out", "--public-key", "k.pub", cwd=tmp_path)
    assert changed.returncode == 1
    assert "summary.md: checksum differs" in changed.stderr

    again = _run("daily", "--botnet", "hns", "-o", "out", "--db", db, cwd=tmp_path)
    assert again.returncode == 1 and "not an empty directory" in again.stderr


def test_bad_arguments_are_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "b.duckdb")
    cases = [
        (["daily", "--botnet", "hns", "-o", "x", "--db", db, "--date", "10/06/2025"], "YYYY-MM-DD"),
        (["weekly", "--botnet", "hns", "-o", "x", "--db", db, "--per", "city"], "--per"),
        (["daily", "--botnet", "nope", "-o", "x", "--db", db, "--date", "2025-06-10"],
         "unknown botnet"),
        (["daily", "--botnet", "hns", "-o", "x", "--db", db, "--sign-key", "none.pem"],
         "--sign-key"),
        (["verify", "missing-dir"], "not a directory"),
    ]  # fmt: skip
    for args, expected in cases:
        result = _run(*args, cwd=tmp_path)
        assert result.returncode in (1, 2), (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], (args, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "x").exists()
