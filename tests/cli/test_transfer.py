"""``botmon import`` / ``botmon export``: round trips in every format, bad rows, errors."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.cli.helpers import assert_error, botmon
from tests.fixtures.server import LiveServer
from tests.server.helpers import T0, edge, failed_try, reply

MAKERS = {"replies": reply, "failed_tries": failed_try, "edges": edge}
CONTEXT = {"botnet", "source", "country", "asn"}


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(msgspec.json.encode(r) + b"\n" for r in rows))
    return path


def _records(db: str, botnet: str, kind: str) -> list[dict[str, Any]]:
    ran = botmon("export", "--botnet", botnet, "--kind", kind, "--format", "jsonl", "--db", db)
    assert ran.code == 0, ran.err
    rows = [msgspec.json.decode(line) for line in ran.out.splitlines()]
    return sorted(
        ({k: v for k, v in r.items() if k not in CONTEXT} for r in rows),
        key=lambda r: msgspec.json.encode(r),
    )


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
@pytest.mark.parametrize("kind", ["replies", "failed_tries", "edges"])
def test_export_then_import_gives_the_same_records(
    store_url: str, tmp_path: Path, fmt: str, kind: str
) -> None:
    db = store_url
    for name in ("first", "second"):
        assert botmon("botnet", "create", name, "--db", db).code == 0
    rows = [MAKERS[kind](i, timestamp=T0 + i + 0.123456) for i in range(1, 1200)]
    rows[5] = {**rows[5], "timestamp": "2023-11-14T22:13:20.5+02:00"}
    if kind != "edges":
        rows[6] = {**rows[6], "data": {"nested": {"q": 'a,"b"\n'}, "list": [1, 2.5, None]}}
        rows[7] = {**rows[7], "bot_id": None, "data": None}
        rows[8] = {**rows[8], "ip": "2001:db8::7"}
        rows[9] = {**rows[9], "bot_id": "=HYPERLINK(1)"}  # a CSV export defuses it, import undoes
        rows[10] = {**rows[10], "bot_id": "'-quoted"}
    for i in range(0, len(rows), 3):  # a sensor's records, mixed in: kept through both trips
        rows[i] = {**rows[i], "source_type": "sensor"}
    source = _jsonl(tmp_path / "in.jsonl", rows)
    ran = botmon("import", str(source), "--botnet", "first", "--kind", kind, "--db", db)
    assert ran.code == 0, ran.err
    assert f"imported 1199 {kind}" in ran.out
    # Sensor rows every third row: one batch per source type, not one per change of type.
    assert "in 2 batches" in ran.out, ran.out

    out = tmp_path / f"out.{fmt}"
    ran = botmon("export", "--botnet", "first", "--kind", kind, "-o", str(out), "--db", db)
    assert ran.code == 0, ran.err
    ran = botmon(
        "import", str(out), "--botnet", "second", "--kind", kind, "--source", "again", "--db", db
    )
    assert ran.code == 0, ran.err
    first, second = _records(db, "first", kind), _records(db, "second", kind)
    assert len(first) == 1199
    assert sum(r["source_type"] == "sensor" for r in first) == 400
    assert first == second


def test_import_is_idempotent_and_sources_are_kept(store_url: str, tmp_path: Path) -> None:
    db = store_url
    botmon("botnet", "create", "hns", "--db", db)
    source = _jsonl(tmp_path / "r.jsonl", [reply(i) for i in range(25_000)])
    first = botmon("import", str(source), "--botnet", "hns", "--kind", "replies", "--db", db)
    assert first.code == 0 and "in 3 batches" in first.out, first.out
    again = botmon("import", str(source), "--botnet", "hns", "--kind", "replies", "--db", db)
    assert again.code == 0 and "imported 0 replies" in again.out
    assert "3 batches were already stored" in again.out
    exported = botmon(
        "export", "--botnet", "hns", "--kind", "replies", "--format", "csv", "--db", db
    )
    rows = list(csv.DictReader(io.StringIO(exported.out)))
    assert len(rows) == 25_000 and {r["source"] for r in rows} == {"import"}


def _bad_csv(path: Path) -> Path:
    path.write_text(
        "timestamp,ip,port,bot_id,data\n"
        f"{T0},127.0.0.1,80,aa,\n"  # line 2 good
        f"{T0},127.0.0.300,80,aa,\n"  # line 3 bad ip
        f"{T0},127.0.0.2,70000,,\n"  # line 4 bad port
        f'{T0},127.0.0.3,81,,"{{""k"": 1}}"\n'  # line 5 good, data object
        f"{T0},127.0.0.4,81,,[1]\n"  # line 6 data not an object
        f"{T0},127.0.0.5,81,,{{broken\n"  # line 7 data not JSON
        f"1999-12-31T23:59:59Z,127.0.0.6,81,,\n"  # line 8 before 2000
        f"4102444800,127.0.0.7,81,,\n"  # line 9 in the future (2100)
        f"{T0},127.0.0.8\n"  # line 10 too few fields
        f'{T0},127.0.0.9,82,"multi\nline",\n'  # lines 11-12 good (quoted newline)
        f"{T0},127.0.0.10,83,ok,\n"  # line 13 good
    )
    return path


def test_a_csv_with_bad_rows_is_refused_whole_and_each_bad_row_named(
    store_url: str, tmp_path: Path
) -> None:
    db = store_url
    botmon("botnet", "create", "hns", "--db", db)
    path = _bad_csv(tmp_path / "bad.csv")
    ran = botmon("import", str(path), "--botnet", "hns", "--kind", "replies", "--db", db)
    assert_error(ran, "7 bad rows", "nothing stored", "4 good rows")
    bad = [line for line in ran.err.splitlines() if line.startswith("botmon: bad row: ")]
    assert [line.split(": ")[2] for line in bad] == [
        "line 3",
        "line 4",
        "line 6",
        "line 7",
        "line 8",
        "line 9",
        "line 10",
    ]
    assert "ip" in bad[0] and "port" in bad[1] and "data" in bad[2] and "data" in bad[3]
    assert "timestamp" in bad[4] and "future" in bad[5]
    assert _records(db, "hns", "replies") == []

    ran = botmon(
        "import", str(path), "--botnet", "hns", "--kind", "replies", "--skip-bad", "--db", db
    )
    assert ran.code == 0, ran.err
    assert "imported 4 replies" in ran.out and "skipped 7 bad rows" in ran.out
    ips = [r["ip"] for r in _records(db, "hns", "replies")]
    assert sorted(ips) == ["127.0.0.1", "127.0.0.10", "127.0.0.3", "127.0.0.9"]


def test_import_and_export_through_a_running_server(
    live_server: LiveServer, tmp_path: Path
) -> None:
    db = live_server.db
    live_server.create_botnet("hns")
    source = _jsonl(tmp_path / "r.jsonl", [reply(i) for i in range(3000)])
    ran = botmon(
        "import", str(source), "--botnet", "hns", "--kind", "replies", "--source", "lab", "--db", db
    )
    assert ran.code == 0, ran.err
    assert live_server.counts("hns")["replies"] == 3000
    out = tmp_path / "back.parquet"
    ran = botmon("export", "--botnet", "hns", "--kind", "replies", "-o", str(out), "--db", db)
    assert ran.code == 0, ran.err
    import pyarrow.parquet as pq

    table = pq.read_table(out)
    assert table.num_rows == 3000 and set(table.column("source").to_pylist()) == {"lab"}
    bad = _bad_csv(tmp_path / "bad.csv")
    ran = botmon("import", str(bad), "--botnet", "hns", "--kind", "replies", "--db", db)
    assert_error(ran, "7 bad rows")
    assert live_server.counts("hns")["replies"] == 3000


FORMULAS = ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\ry"]


def test_csv_exports_defuse_cells_a_spreadsheet_would_run(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """Bots choose ``bot_id`` and ``reason``: a CSV opened in a spreadsheet must not run them."""
    live_server.create_botnet("hns")
    rows = [reply(i, bot_id=f) for i, f in enumerate([*FORMULAS, "plain", "a=b"])]
    rows += [failed_try(i, reason=f) for i, f in enumerate(FORMULAS)]
    token = live_server.token("crawler")
    batch = {"botnet": "hns", "batch_id": "f1", "replies": rows[:8], "failed_tries": rows[8:]}
    with httpx.Client(base_url=live_server.url, trust_env=False, timeout=30) as c:
        sent = c.post("/api/v1/ingest", json=batch, headers=live_server.headers(token))
        assert sent.status_code == 200, sent.text
        viewer = live_server.headers(live_server.token("viewer"))
        api = c.get("/api/v1/botnets/hns/records/replies?format=csv", headers=viewer).text
        api_failed = c.get("/api/v1/botnets/hns/records/failed_tries?format=csv", headers=viewer)
    cli = botmon(
        "export", "--botnet", "hns", "--kind", "replies", "--format", "csv", "--db", live_server.db
    )
    assert cli.code == 0, cli.err
    for text, column in ((api, "bot_id"), (cli.out, "bot_id"), (api_failed.text, "reason")):
        cells = sorted(r[column] for r in csv.DictReader(io.StringIO(text, newline="")))
        expected = ["'" + f for f in FORMULAS] + (["a=b", "plain"] if column == "bot_id" else [])
        assert cells == sorted(expected)


def test_transfer_errors_are_one_line(tmp_path: Path) -> None:
    db = str(tmp_path / "t.duckdb")
    botmon("botnet", "create", "hns", "--db", db)
    good = _jsonl(tmp_path / "ok.jsonl", [reply(1)])
    imp = ("--botnet", "hns", "--kind", "replies", "--db", db)
    assert_error(botmon("import", str(tmp_path / "missing.csv"), *imp), "cannot read")
    assert_error(
        botmon("import", str(good), "--botnet", "nope", "--kind", "replies", "--db", db),
        "unknown botnet",
    )
    (tmp_path / "x.txt").write_text("hello")
    assert_error(botmon("import", str(tmp_path / "x.txt"), *imp), "--format")
    (tmp_path / "noheader.csv").write_text("a,b\n1,2\n")
    assert_error(botmon("import", str(tmp_path / "noheader.csv"), *imp), "header lacks")
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    assert_error(botmon("import", str(tmp_path / "broken.parquet"), *imp), "Parquet")
    (tmp_path / "binary.csv").write_bytes(b"timestamp,ip,port\n\xff\xfe,1,2\n")
    assert_error(botmon("import", str(tmp_path / "binary.csv"), *imp), "UTF-8")
    (tmp_path / "lines.jsonl").write_text(
        '{"timestamp": 1700000000, "ip": "127.0.0.1", "port": 1}\n[1,2]\n{not json\n'
    )
    assert_error(botmon("import", str(tmp_path / "lines.jsonl"), *imp), "2 bad rows")
    assert_error(
        botmon("export", "--botnet", "nope", "--kind", "edges", "--db", db), "unknown botnet"
    )
    assert_error(
        botmon("export", "--botnet", "hns", "--kind", "edges", "--start", "soon", "--db", db),
        "start",
    )
    assert_error(
        botmon(
            "export",
            "--botnet",
            "hns",
            "--kind",
            "edges",
            "-o",
            str(tmp_path / "nodir" / "x.csv"),
            "--db",
            db,
        ),
        "cannot write",
    )
    assert (
        botmon(
            "import",
            "-",
            "--format",
            "jsonl",
            *imp,
            input='{"timestamp": 1700000000, "ip": "127.0.0.1", "port": 1}\n',
        ).code
        == 0
    )
