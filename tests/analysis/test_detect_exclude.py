"""From a detection report to the switch: ``botmon analyze detect --exclude`` and ``botmon
monitors exclude --from-detect`` exclude exactly the suspects (with their kind, score and
evidence), and a detection that excludes them no longer names them. On the hand-built
botnet of tests/analysis/detect_data.py (a foreign sensor, two foreign crawlers, botmon's
own crawler at 127.8.0.1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from botmon.store import open_store
from tests.analysis import detect_data as hand
from tests.cli.helpers import botmon

PLANTED = {
    ("sensor", hand.FOREIGN_SENSOR),
    ("crawler", hand.FOREIGN_CRAWLER),
    ("crawler", hand.DEVIANT_CRAWLER),
}
RANGE = ("--start", repr(hand.T0), "--end", repr(hand.T0 + hand.SPAN))


def _db(tmp_path: Path) -> str:
    db = str(tmp_path / "d.duckdb")
    store = open_store(db)
    try:
        store.migrate()
        hand.load(store)
    finally:
        store.close()
    return db


def _listed(db: str) -> dict[tuple[str, int], str]:
    ran = botmon("monitors", "list", "--botnet", hand.BOTNET, "--db", db)
    assert ran.code == 0, ran.err
    out: dict[tuple[str, int], str] = {}
    for line in ran.out.splitlines():
        address, kind = line.split()[:2]
        ip, _, port = address.rpartition(":")
        out[(ip, int(port))] = kind
    return out


def test_analyze_detect_exclude_takes_every_suspect_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOTMON_ANALYSIS_OWN_MONITORS", "127.8.0.1")
    db = _db(tmp_path)
    base = ("analyze", "detect", "--botnet", hand.BOTNET, *RANGE, "--db", db, "--format", "json")
    ran = botmon(*base, "--exclude")
    assert ran.code == 0, ran.err
    found = {(s["kind"], (s["ip"], s["port"])) for s in json.loads(ran.out)["suspects"]}
    assert found == PLANTED
    assert "excluded 3 suspected monitor(s)" in ran.err
    assert _listed(db) == {address: kind for kind, address in PLANTED}
    store = open_store(db)
    try:
        stored = {(m.ip, m.port): m for m in store.excluded_monitors(hand.BOTNET)}
    finally:
        store.close()
    sensor = stored[hand.FOREIGN_SENSOR]
    assert sensor.score is not None and sensor.score >= 0.75
    assert sensor.evidence["out_degree"] == 0  # the detection's evidence kept

    # Detecting with the switch on: the excluded monitors are out of its input too.
    ran = botmon(*base, "--exclude-monitors")
    assert ran.code == 0, ran.err
    after = json.loads(ran.out)
    assert not {(s["ip"], s["port"]) for s in after["suspects"]} & set(stored)
    assert after["params"]["exclude_monitors"] is True


def test_monitors_exclude_from_detect(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOTMON_ANALYSIS_OWN_MONITORS", "127.8.0.1")
    db = _db(tmp_path)
    ran = botmon(
        "monitors",
        "exclude",
        "--botnet",
        hand.BOTNET,
        "--from-detect",
        *RANGE,
        "127.9.9.9:9",
        "--db",
        db,
    )
    assert ran.code == 0, ran.err
    assert "excluded 4 monitor(s)" in ran.out
    listed = _listed(db)
    assert listed == {**{address: kind for kind, address in PLANTED}, ("127.9.9.9", 9): "-"}
