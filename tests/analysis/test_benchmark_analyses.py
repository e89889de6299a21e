"""``benchmarks/analyses.py`` at a very small size, so the benchmark cannot rot unnoticed:
it generates its store, runs the baseline and every analysis that exists, and says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from botmon.analysis import framework

ROOT = Path(__file__).resolve().parents[2]


def test_benchmark_runs_every_analysis_at_a_small_size(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    db = tmp_path / "bench.duckdb"
    sizes = ["--replies", "2000", "--edges", "500", "--db", str(db), "--timeout", "60"]
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "analyses.py"), *sizes],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("generated 2,000 replies and 500 edges")
    assert lines[1].split() == ["wall", "ratio", "CPU", "ratio", "peak"]
    assert lines[2].startswith("baseline GROUP BY") and "1.0x" in lines[2]
    for name in framework.ANALYSIS_NAMES:
        (line,) = [x for x in lines if x.split()[0] == name]
        assert "skipped" in line or (" s " in line and " MB " in line), line
    graph = next(x for x in lines if x.startswith("graph"))
    nodes = int(graph.split("nodes ")[1].split(",")[0])
    assert nodes > 100  # 100 bots on up to 4 addresses each, and the sensor-like peers


def test_benchmark_refuses_sizes_too_small_to_mean_anything(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "analyses.py"), "--replies", "10"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert run.returncode == 2 and "--replies must be at least" in run.stderr
