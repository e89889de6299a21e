"""Report periods and the manifest on their own (no store)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from botmon.reports import manifest
from botmon.reports.period import PeriodError, parse_day, period_for


def test_periods() -> None:
    today = date(2026, 12, 9)  # a Wednesday
    d = period_for("daily", None, today)
    assert (d.first_day, d.last_day, d.days, d.label) == (date(2026, 12, 8),) * 2 + (
        1,
        "2026-12-08",
    )
    w = period_for("weekly", None, today)
    assert (w.first_day, w.last_day, w.days) == (date(2026, 11, 30), date(2026, 12, 6), 7)
    assert w.first_day.isoweekday() == 1 and w.label == "2026-W49"
    assert w.end - w.start == 7 * 86400
    monday = period_for("weekly", None, date(2026, 12, 7))
    assert monday.last_day == date(2026, 12, 6)
    odd = period_for("weekly", date(2026, 12, 2), today)
    assert odd.label == "2026-11-26..2026-12-02"


@pytest.mark.parametrize("text", ["2026-13-01", "yesterday", "2026-1-1", "", "9999-99-99x"])
def test_bad_dates(text: str) -> None:
    with pytest.raises(PeriodError, match="YYYY-MM-DD"):
        parse_day(text)


def test_unfinished_period_refused() -> None:
    with pytest.raises(PeriodError, match="not ended"):
        period_for("daily", date(2026, 12, 9), date(2026, 12, 9))
    with pytest.raises(PeriodError, match="daily or weekly"):
        period_for("monthly", None)


def test_manifest_catches_changes_and_additions(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_bytes(b"x,y\n1,2\n")
    (tmp_path / "b.md").write_text("hello")
    manifest.write_manifest(tmp_path)
    assert manifest.verify(tmp_path).ok
    (tmp_path / "c.txt").write_text("later")
    assert "c.txt: not in SHA256SUMS" in manifest.verify(tmp_path).problems[0]
    (tmp_path / "c.txt").unlink()
    (tmp_path / "b.md").unlink()
    assert "b.md: listed but missing" in manifest.verify(tmp_path).problems[0]


def test_signature_needs_the_right_key(tmp_path: Path) -> None:
    def pem(key: Ed25519PrivateKey, path: Path) -> Path:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return path

    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "a.csv").write_text("a")
    manifest.write_manifest(tmp_path / "r")
    mine = pem(Ed25519PrivateKey.generate(), tmp_path / "mine.pem")
    theirs = pem(Ed25519PrivateKey.generate(), tmp_path / "theirs.pem")
    manifest.sign(tmp_path / "r", mine)
    assert manifest.verify(tmp_path / "r", mine).signature == "valid"
    assert manifest.verify(tmp_path / "r", theirs).signature == "invalid"
    assert manifest.verify(tmp_path / "r").signature == "not checked"
    (tmp_path / "rsa.pem").write_text(
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    with pytest.raises(manifest.ManifestError, match="cannot load the key"):
        manifest.sign(tmp_path / "r", tmp_path / "rsa.pem")
