"""Detecting crawlers and sensors of others, and botmon's own visibility, on data with known
monitors: a small hand-built botnet (tests/analysis/detect_data.py) and generated traces.

Given the records a crawler and a sensor made, the planted sensor ranks first among the
sensor scores and is flagged, the planted crawlers are flagged, no bot is flagged, botmon's
own sensor (from its campaign) and crawler (from option ``own`` or the setting) appear in
``self`` and never in ``suspects``, and the result is the same on DuckDB and PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from botmon.analysis import framework
from botmon.analysis.detect import DetectResult
from botmon.analysis.framework import OptionError
from botmon.analysis.table import UnknownBotnet
from botmon.ipaddr import parse_address
from botmon.settings import AnalysisSettings, SettingsError, load
from botmon.sim.trace import TraceModel, generate_trace
from botmon.store import open_store
from botmon.store.base import Store
from tests.analysis import detect_data as hand
from tests.analysis.test_analyze_cli import run

DETECT = framework.get("detect")


def _run(store: Store, botnet: str, start: float, end: float, **texts: str) -> dict[str, Any]:
    request = DETECT.request(botnet, start, end, texts=dict(texts))
    result = DETECT.compute(store, request)
    assert isinstance(result, DetectResult)
    return framework.to_json(result)


def _addr(row: dict[str, Any]) -> tuple[str, int]:
    return (row["ip"], row["port"])


def test_hand_built_monitors_found_and_bots_spared(store: Store) -> None:
    planted = hand.load(store)
    out = _run(store, hand.BOTNET, hand.T0, hand.T0 + hand.SPAN, own="127.8.0.1")
    suspects = {(s["kind"], _addr(s)): s for s in out["suspects"]}
    assert set(suspects) == {
        ("sensor", hand.FOREIGN_SENSOR),
        ("crawler", hand.FOREIGN_CRAWLER),
        ("crawler", hand.DEVIANT_CRAWLER),
    }
    sensor = suspects[("sensor", hand.FOREIGN_SENSOR)]
    assert sensor["rank"] == 1 and sensor["score"] >= 0.75
    assert sensor["evidence"]["out_degree"] == 0 and sensor["evidence"]["answered"]
    assert not sensor["evidence"]["in_core"]
    assert suspects[("crawler", hand.FOREIGN_CRAWLER)]["evidence"]["gap_cv"] < 0.05
    deviant = suspects[("crawler", hand.DEVIANT_CRAWLER)]
    assert deviant["evidence"]["deviations"] == 12 and deviant["score"] >= 0.9
    scores = [s["score"] for s in out["suspects"]]
    assert scores == sorted(scores, reverse=True)
    # every bot scored, none near the threshold: a margin, not a coincidence
    assert out["ranked"] == {"sensor": len(planted.bots) + 2, "crawler": 65}
    # botmon's own: the sensor from its campaign, the crawler from option own
    own = {(o["kind"], _addr(o)): o for o in out["self"]}
    assert set(own) == {("sensor", hand.OWN_SENSOR), ("crawler", hand.OWN_CRAWLER)}
    assert own[("sensor", hand.OWN_SENSOR)]["origin"] == "campaign hand-sensor"
    assert own[("crawler", hand.OWN_CRAWLER)]["origin"] == "option"
    for o in own.values():
        assert o["seen"] and o["flagged"] and o["rank"] <= 2 and o["percentile"] > 95
    assert out["params"]["own"] == ["127.6.0.1:6000", "127.8.0.1"]
    assert out["vantage_points"] == ["hand-crawler", "hand-sensor"]
    # every bot's score, as sensor and as crawler, stays well below the default threshold
    low = _run(store, hand.BOTNET, hand.T0, hand.T0 + hand.SPAN, threshold="0", top="1000")
    assert len(low["suspects"]) == 82 + 65 - 1  # every score but the own sensor's
    worst = max(s["score"] for s in low["suspects"] if _addr(s) in set(planted.bots))
    assert worst < 0.5, worst  # the default threshold is 0.6


def test_own_monitors_by_setting_unseen_ones_filters_and_cap(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    hand.load(store)
    monkeypatch.setenv("BOTMON_ANALYSIS_OWN_MONITORS", "127.8.0.1:8000, 127.7.0.1:7000")
    out = _run(store, hand.BOTNET, hand.T0, hand.T0 + hand.SPAN)
    assert {_addr(o) for o in out["self"] if o["origin"] == "setting"} == {
        hand.OWN_CRAWLER,
        hand.FOREIGN_CRAWLER,
    }
    assert hand.FOREIGN_CRAWLER not in {_addr(s) for s in out["suspects"]}
    monkeypatch.delenv("BOTMON_ANALYSIS_OWN_MONITORS")
    out = _run(store, hand.BOTNET, hand.T0, hand.T0 + hand.SPAN, own="[::1]:9", top="1")
    unseen = [o for o in out["self"] if o["ip"] == "::1"]
    assert unseen == [
        {
            "ip": "::1",
            "port": 9,
            "kind": "crawler",
            "origin": "option",
            "seen": False,
            "score": 0.0,
            "rank": None,
            "of": 65,
            "percentile": None,
            "flagged": False,
            "evidence": {},
            "why": "not in the records of this range: nothing to detect it by",
        }
    ]
    assert len(out["suspects"]) == 1 and out["suspects"][0]["ip"] == hand.DEVIANT_CRAWLER[0]
    crawl = DETECT.compute(
        store, DETECT.request(hand.BOTNET, hand.T0, hand.T0 + hand.SPAN, source="crawler")
    )
    assert isinstance(crawl, DetectResult)
    assert crawl.ranked == {"sensor": 82, "crawler": 0}
    assert [s.kind for s in crawl.suspects] == ["sensor"]
    main = framework.section(crawl)
    assert main.name == "suspects" and main.columns[:4] == ["kind", "ip", "port", "score"]
    assert framework.section(crawl, "self").rows[0][:3] == ["sensor", "127.6.0.1", 6000]


BAD_OPTIONS = [
    ({"own": "1.2.3.4:99999"}, "own: '1.2.3.4:99999' is not an address"),
    ({"own": "10.0.0.1, host.example:80"}, "own: 'host.example:80' is not an address"),
    ({"threshold": "1.5"}, "threshold must be at most 1"),
    ({"top": "0"}, "top must be at least 1"),
    ({"top": "many"}, "top must be a number"),
]


def test_bad_options_say_which_and_empty_or_unknown_botnets(store: Store) -> None:
    store.create_botnet("empty")
    for texts, message in BAD_OPTIONS:
        with pytest.raises(OptionError, match=message):
            DETECT.compute(store, DETECT.request("empty", 0, 10, texts=texts))
    out = _run(store, "empty", 0, 86400)
    assert out["suspects"] == [] and out["self"] == []
    assert out["ranked"] == {"sensor": 0, "crawler": 0}
    with pytest.raises(UnknownBotnet):
        _run(store, "nope", 0, 86400)


def test_addresses_parse() -> None:
    assert parse_address("10.0.0.1") == ("10.0.0.1", None)
    assert parse_address(" 10.0.0.1:80 ") == ("10.0.0.1", 80)
    assert parse_address("2001:db8::1") == ("2001:db8::1", None)
    assert parse_address("[2001:DB8::1]:53") == ("2001:db8::1", 53)
    for bad in ("10.0.0.1:", "[::1]x", "300.1.1.1", "1.2.3.4:-1", ""):
        with pytest.raises(ValueError):
            parse_address(bad)
    # a deployment's typo stops start-up with one line naming the setting
    with pytest.raises(SettingsError, match=r"analysis.own_monitors: 'crawler-1' is not an ip"):
        load(AnalysisSettings, env={"BOTMON_ANALYSIS_OWN_MONITORS": "10.0.0.1:80, crawler-1"})


TRACE = TraceModel(botnet="trace", bots=150, days=1.0)
"""A day of 150 bots with the generator's default monitors: 5 foreign sensors, 3 foreign
crawlers (one deviating from the protocol), botmon's own crawler and sensor."""


def test_generated_trace_every_foreign_monitor_and_no_bot(store: Store, tmp_path: Path) -> None:
    truth = generate_trace(store, TRACE, seed=2)
    (own_crawler,) = [m for m in truth.own() if m.kind == "crawler"]
    (own_sensor,) = [m for m in truth.own() if m.kind == "sensor"]
    sensors = {(m.ip, m.port) for m in truth.foreign("sensor")}
    crawlers = {(m.ip, m.port) for m in truth.foreign("crawler")}
    own = f"{own_crawler.ip}:{own_crawler.port}"
    out = _run(store, TRACE.botnet, TRACE.start, TRACE.end, own=own)
    # flagged: every foreign monitor, nothing else (no bot, never botmon's own)
    assert {(s["kind"], _addr(s)) for s in out["suspects"]} == {("sensor", a) for a in sensors} | {
        ("crawler", a) for a in crawlers
    }
    # each foreign sensor above every bot: in the top 1 % of the regular peers (no bot
    # ranks above it; only the other injected sensors may)
    for s in out["suspects"]:
        if s["kind"] == "sensor":
            assert s["rank"] <= len(sensors) and s["score"] >= 0.75
            assert s["evidence"]["out_degree"] == 0 and not s["evidence"]["in_core"]
    (deviant,) = [m for m in truth.foreign("crawler") if m.deviation]
    flagged = {_addr(s): s for s in out["suspects"] if s["kind"] == "crawler"}
    assert flagged[(deviant.ip, deviant.port)]["evidence"]["deviations"] > 0
    assert all(not s["evidence"]["ip_listed"] for s in flagged.values())
    # can we detect ourselves: the sensor lists peers like a bot and hides in the core; the
    # crawler, polling the sensor every round from an address no bot lists, is plain to see
    mine = {(o["kind"], _addr(o)): o for o in out["self"]}
    assert set(mine) == {
        ("sensor", (own_sensor.ip, own_sensor.port)),
        ("crawler", (own_crawler.ip, own_crawler.port)),
    }
    sensor_self = mine[("sensor", (own_sensor.ip, own_sensor.port))]
    assert sensor_self["origin"] == "campaign trace-sensor" and not sensor_self["flagged"]
    assert sensor_self["evidence"]["in_core"] and sensor_self["percentile"] < 90
    crawler_self = mine[("crawler", (own_crawler.ip, own_crawler.port))]
    assert crawler_self["flagged"] and crawler_self["rank"] <= 4
    assert sum(n for _, _, n in out["degrees"]) == out["ranked"]["sensor"]
    assert out["vantage_points"] == ["trace-crawler", "trace-sensor"]
    if store.backend != "duckdb":  # the same trace in DuckDB gives the same result
        reference = open_store(str(tmp_path / "reference.duckdb"))
        try:
            reference.migrate()
            generate_trace(reference, TRACE, seed=2)
            want = _run(reference, TRACE.botnet, TRACE.start, TRACE.end, own=own)
        finally:
            reference.close()
        assert _without_time(out) == _without_time(want)


def _without_time(out: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in out.items() if k != "computed_at"}


def test_command_line_json_and_a_bad_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "cli.duckdb")
    opened = open_store(db)
    try:
        opened.migrate()
        hand.load(opened)
    finally:
        opened.close()
    span = ["--start", str(hand.T0), "--end", str(hand.T0 + hand.SPAN), "--db", db]
    code, out, _ = run(
        capsys,
        "analyze",
        "detect",
        "--botnet",
        hand.BOTNET,
        *span,
        "--format",
        "json",
        "--own",
        "127.8.0.1:8000",
    )
    assert code == 0
    body = json.loads(out)
    first = body["suspects"][0]
    assert (first["kind"], _addr(first)) == ("crawler", hand.DEVIANT_CRAWLER)
    assert {_addr(o) for o in body["self"]} == {hand.OWN_SENSOR, hand.OWN_CRAWLER}
    code, out, err = run(
        capsys, "analyze", "detect", "--botnet", hand.BOTNET, *span, "--own", "sensor.example:80"
    )
    assert code == 2 and out == ""
    assert "own: 'sensor.example:80' is not an address" in err and "Traceback" not in err
