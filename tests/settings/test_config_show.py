"""``botmon config show`` run as a user runs it: a real process with BOTMON_* variables set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from botmon.cli.config import all_sections
from botmon.settings import SECTIONS, leaves


def config_show(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BOTMON_")}
    return subprocess.run(
        [sys.executable, "-m", "botmon", "config", "show", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**clean, **env},
    )


SET = {
    "BOTMON_SERVER_PORT": "9123",
    "BOTMON_DB": "postgresql://botmon:hunter2@db.example/botmon",
    "BOTMON_SENSOR_TOKEN": "tok-abcdefghijklmnopqrstuvwxyz",
    "BOTMON_CRAWL_RETRY_TIMEOUTS": "2,4",
    "BOTMON_SIM_HNS_BOTS": "77",
}


def test_text_shows_every_setting_its_value_and_source(tmp_path: Path) -> None:
    done = config_show(tmp_path, **SET)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for cls in SECTIONS:
        assert f"[{cls.section}]" in out
        for leaf in leaves(cls):
            assert f"  {leaf.key} " in out, leaf.name
    lines: dict[str, str] = {}
    section = ""
    for line in out.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        else:
            lines[f"{section}.{line.split()[0]}"] = line
    assert lines["server.port"].endswith(" 9123  (env BOTMON_SERVER_PORT)")
    assert lines["crawl.retry.timeouts"].endswith(" 2.0,4.0  (env BOTMON_CRAWL_RETRY_TIMEOUTS)")
    assert lines["server.db"].endswith(
        " postgresql://botmon:***@db.example/botmon  (env BOTMON_DB)"
    )
    assert lines["server.host"].endswith(" 127.0.0.1  (default)")
    assert lines["sim.linenet.port"].endswith(" 7070  (default)")
    assert "hunter2" not in out and "abcdefghijklmnop" not in out


def test_json_has_values_sources_and_hides_secrets(tmp_path: Path) -> None:
    done = config_show(tmp_path, "--format", "json", **SET)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    # botmon's own sections, then those of the installed plugins and emulators (protocol.mozi)
    assert list(doc) == [cls.section for cls in all_sections(builtin_only=True)]
    assert doc["server"]["port"] == {
        "value": 9123,
        "source": "env",
        "env": "BOTMON_SERVER_PORT",
        "option": "--port",
        "description": doc["server"]["port"]["description"],
    }
    assert doc["server"]["db"]["value"] == "postgresql://botmon:***@db.example/botmon"
    assert doc["sensor"]["token"] == {**doc["sensor"]["token"], "value": "***", "source": "env"}
    assert doc["sim.hns"]["bots"]["value"] == 77
    assert doc["crawl"]["retry.timeouts"]["value"] == [2.0, 4.0]
    assert doc["client"]["batch_size"] == {**doc["client"]["batch_size"], "source": "default"}
    assert "hunter2" not in done.stdout and "abcdefghijklmnop" not in done.stdout


def test_a_bad_variable_stops_it_with_one_line_naming_the_setting(tmp_path: Path) -> None:
    done = config_show(tmp_path, BOTMON_CRAWL_QUEUES_DISCOVERY_CAPACITY="0")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("botmon: error: "), done.stderr
    assert (
        "crawl.queues.discovery_capacity: must be >= 1 (got 0 from "
        "BOTMON_CRAWL_QUEUES_DISCOVERY_CAPACITY); set with --concurrency or "
        "BOTMON_CRAWL_QUEUES_DISCOVERY_CAPACITY" in lines[0]
    )
    assert done.stdout == ""


def test_a_bad_variable_stops_a_command_too(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "botmon", "serve", "--db", str(tmp_path / "x.duckdb")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "BOTMON_SERVER_STORE_THREADS": "many"},
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("botmon: error: "), done.stderr
    assert (
        "server.store_threads: not an integer (got 'many' from BOTMON_SERVER_STORE_THREADS)"
        in (lines[0])
    )
