"""``botmon analyze NAME``: formats, options from the registry and the settings, exports and
one-line errors, on a real DuckDB file, with the test-only analysis of
:mod:`tests.analysis.probe` registered in place of the real ones."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from botmon.analysis.framework import Analysis
from botmon.cli.main import main
from botmon.store import open_store
from tests.analysis.probe import CALLS, probe_registry  # noqa: F401 - fixture
from tests.dashboard.data import write

NOW = time.time()
REPLIES = [
    {"timestamp": NOW - 7200 - i * 30, "ip": f"127.1.0.{i % 5}", "port": 1000 + i % 3}
    for i in range(30)
]


@pytest.fixture
def db(tmp_path: Path, probe_registry: Analysis) -> str:  # noqa: F811
    path = str(tmp_path / "cli.duckdb")
    store = open_store(path)
    try:
        store.migrate()
        store.create_botnet("alpha")
        write(store, "alpha", "b1", REPLIES)
    finally:
        store.close()
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Exit status, standard output and standard error of ``botmon ARGS``."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _per_ip() -> dict[str, int]:
    out: dict[str, int] = {}
    for r in REPLIES:
        out[str(r["ip"])] = out.get(str(r["ip"]), 0) + 1
    return out


def test_json_is_the_whole_result(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys, "analyze", "probe", "--botnet", "alpha", "--db", db, "--format", "json"
    )
    assert code == 0, err
    body = json.loads(out)
    assert body["analysis"] == "probe" and body["addresses"] == 5 and body["replies"] == 30
    assert dict(body["per_address"]) == _per_ip()
    assert body["params"]["bucket_s"] == 300 and body["params"]["by"] == "ip"
    assert body["end"] - body["start"] == 3 * 86400


def test_options_flags_and_settings(
    db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ("analyze", "probe", "--botnet", "alpha", "--db", db, "--format", "json")
    code, out, err = run(capsys, *base, "--by", "ip_port", "--no-count-replies", "--limit", "2")
    assert code == 0, err
    body = json.loads(out)
    assert body["params"] == {
        "bucket_s": 300,
        "by": "ip_port",
        "count_replies": False,
        "limit": 2,
        "ratio": 0.5,
    }
    assert body["replies"] == 0 and len(body["per_address"]) == 2 and body["addresses"] == 15
    monkeypatch.setenv("BOTMON_ANALYSIS_BUCKET_S", "600")
    body = json.loads(run(capsys, *base)[1])
    assert body["params"]["bucket_s"] == 600  # the configured default
    body = json.loads(run(capsys, *base, "--bucket-s", "900")[1])
    assert body["params"]["bucket_s"] == 900  # the option wins over the setting
    start, end = NOW - 3 * 3600, NOW - 7200 - 14.5 * 30
    body = json.loads(run(capsys, *base, "--start", str(start), "--end", str(end))[1])
    assert body["replies"] == 15 and body["start"] == start and body["end"] == end
    rfc = "2026-01-01T00:00:00Z"
    body = json.loads(run(capsys, *base, "--start", rfc, "--end", "2026-01-02T00:00:00+00:00")[1])
    assert body["start"] == 1767225600.0 and body["addresses"] == 0


def test_csv_sections_and_table(
    db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    base = ("analyze", "probe", "--botnet", "alpha", "--db", db)
    code, out, err = run(capsys, *base, "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and rows[0] == ["address", "replies"]
    assert {a: int(n) for a, n in rows[1:]} == _per_ip()
    code, out, _ = run(capsys, *base, "--format", "csv", "--section", "totals")
    assert list(csv.reader(io.StringIO(out))) == [["addresses", "replies"], ["5", "30"]]
    target = tmp_path / "out.csv"
    code, out, _ = run(capsys, *base, "--format", "csv", "-o", str(target))
    assert code == 0 and out == "" and target.read_text().startswith("address,replies\n")
    code, out, err = run(capsys, *base)
    assert code == 0, err
    for text in ("probe of botnet alpha", "method    distinct ip", "bucket_s=300", "[addresses]"):
        assert text in out
    assert "[totals]" in out and "127.1.0.4" in out
    code, out, _ = run(capsys, *base, "--section", "totals")
    assert "[totals]" in out and "[addresses]" not in out


def test_export_through_the_analysis_writer(
    db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "lines.txt"
    base = ("analyze", "probe", "--botnet", "alpha", "--db", db, "--format", "lines")
    code, _out, err = run(capsys, *base, "-o", str(target))
    assert code == 0, err
    lines = dict(line.split() for line in target.read_text().splitlines())
    assert {a: int(n) for a, n in lines.items()} == _per_ip()
    code, _, err = run(capsys, *base)
    assert code == 2 and "-o FILE" in err and len(err.strip().splitlines()) == 1


def test_same_request_same_numbers(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ("analyze", "probe", "--botnet", "alpha", "--db", db, "--format", "json")
    first = json.loads(run(capsys, *base, "--end", str(NOW))[1])
    calls = CALLS["alpha"]
    assert calls == 1
    # a new command opens the store anew: the result is computed again, and equal
    second = json.loads(run(capsys, *base, "--end", str(NOW))[1])
    assert {k: v for k, v in first.items() if k != "computed_at"} == {
        k: v for k, v in second.items() if k != "computed_at"
    }


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("--botnet", "nosuch"), 1, "unknown botnet 'nosuch'"),
        (("--botnet", "alpha", "--bucket-s", "5"), 2, "--bucket-s: bucket_s must be at least 60"),
        (("--botnet", "alpha", "--ratio", "x"), 2, "--ratio: ratio must be a number"),
        (("--botnet", "alpha", "--by", "asn"), 2, "'asn' is not one of"),
        (("--botnet", "alpha", "--start", "soon"), 2, "--start must be epoch seconds"),
        (("--botnet", "alpha", "--start", str(NOW), "--end", str(NOW - 5)), 2, "before --end"),
        (("--botnet", "alpha", "--format", "xml"), 2, "'xml' is not one of"),
        (("--botnet", "alpha", "--format", "json", "--section", "x"), 2, "--section applies"),
        (("--botnet", "alpha", "--section", "x"), 2, "has no section 'x'"),
        (("--botnet", "bad name"), 2, "invalid botnet name"),
        ((), 2, "Missing option '--botnet'"),
    ],
)
def test_errors_are_one_line(
    db: str,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    code: int,
    needle: str,
) -> None:
    got, _out, err = run(capsys, "analyze", "probe", "--db", db, *args)
    assert got == code, err
    assert needle in err, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("botmon: error: ")
    assert "Traceback" not in err


def test_help_lists_the_analyses_and_options(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "analyze", "--help")
    assert code == 0 and "probe" in out
    code, out, _ = run(capsys, "analyze", "probe", "--help")
    for flag in (
        "--bucket-s",
        "--by [ip|ip_port]",
        "--count-replies / --no-count-replies",
        "--section",
    ):
        assert flag in out
    code, _, err = run(capsys, "analyze", "nosuch")
    assert code == 2 and "No such command 'nosuch'" in err
