"""``botmon simulate`` as a user runs it: seeds printed, clean exits, one-line errors."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from botmon.sim.process import SimulatorProcess
from botmon.sim.truth import read_truth
from tests.sim.helpers import ask_udp, free_port, tcp_ask

SEED_LINE = re.compile(r"^  (127\.\d+\.\d+\.\d+):(\d+)$", re.MULTILINE)


def _botmon(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "botmon", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_duration_run_prints_seeds_writes_files_and_exits_zero(tmp_path: Path) -> None:
    port = free_port()
    truth, seeds = tmp_path / "truth.jsonl", tmp_path / "seeds.txt"
    started = time.monotonic()
    done = _botmon(
        "simulate",
        "hns",
        "--bots",
        "500",
        "--nat",
        "0.2",
        "--churn",
        "light",
        "--seed-rng",
        "3",
        "--port",
        str(port),
        "--truth",
        str(truth),
        "--seeds-file",
        str(seeds),
        "--seeds",
        "4",
        "--duration",
        "1",
    )
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    printed = [(ip, int(p)) for ip, p in SEED_LINE.findall(done.stdout)]
    assert len(printed) == 4 and all(p == port for _, p in printed)
    assert seeds.read_text() == "".join(f"{ip}:{p}\n" for ip, p in printed)
    records = read_truth(truth)
    assert len(records) == 500 and sum(r["nat"] for r in records) == 100
    assert all(end is not None for r in records for _, end in r["sessions"])
    assert "stopped" in done.stdout


def test_sigint_stops_a_running_hns_simulator_cleanly(tmp_path: Path) -> None:
    port = free_port()
    truth = tmp_path / "truth.jsonl"
    with SimulatorProcess(
        "hns",
        "--bots",
        "300",
        "--port",
        str(port),
        "--seed-rng",
        "1",
        "--truth",
        str(truth),
        "--exchange-interval",
        "0",  # passive bots: acting ones would contact this test's client too
        workdir=tmp_path,
    ) as sim:
        assert len(sim.seeds) == 5
        got = ask_udp(sim.seeds)
        assert set(got) == set(sim.seeds)  # the seeds answer, from their own addresses
        assert all(len(r) == 8 and r[0] == 0x5E for rs in got.values() for r in rs)
        assert len(read_truth(truth)) == 300  # readable while it runs
        code = sim.stop()
    assert code == 0, sim.output()
    assert "stopped" in sim.output() and "Traceback" not in sim.output()
    assert all(s[-1][1] is not None for s in (r["sessions"] for r in read_truth(truth)))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", port))  # the port is free again


def test_sigterm_stops_a_running_linenet_simulator_cleanly(tmp_path: Path) -> None:
    port = free_port()
    with SimulatorProcess(
        "linenet",
        "--bots",
        "50",
        "--port",
        str(port),
        "--benign",
        "1",
        workdir=tmp_path,
    ) as sim:
        answer = tcp_ask(sim.seeds[0])
        assert answer is not None and answer.startswith(b"BOT ") and answer.endswith(b"END\n")
        assert sim.process is not None
        sim.process.send_signal(signal.SIGTERM)
        assert sim.process.wait(timeout=15) == 0
    assert "stopped" in sim.output() and "Traceback" not in sim.output()


def test_same_seed_same_truth_across_runs(tmp_path: Path) -> None:
    port = free_port()

    def truth_of(name: str) -> list[dict[str, object]]:
        path = tmp_path / name
        done = _botmon(
            "simulate",
            "linenet",
            "--bots",
            "80",
            "--nat",
            "0.25",
            "--seed-rng",
            "9",
            "--port",
            str(port),
            "--truth",
            str(path),
            "--exchange-interval",
            "0",  # acting bots learn peers as time passes; the botnet itself is the same
            "--duration",
            "0.3",
        )
        assert done.returncode == 0, done.stderr
        return [{k: v for k, v in r.items() if k != "sessions"} for r in read_truth(path)]

    assert truth_of("a.jsonl") == truth_of("b.jsonl")


def test_bad_input_is_one_line_and_a_nonzero_exit() -> None:
    for args in (
        ["--bots", "0"],
        ["--nat", "2"],
        ["--churn", "sometimes"],
        ["--peers-per-bot", "9-3"],
        ["--garbage", "0.7", "--flood", "0.7"],
    ):
        done = _botmon("simulate", "hns", *args, "--duration", "1")
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "error:" in done.stderr.lower() and "Traceback" not in done.stderr


def test_port_in_use_is_a_clean_error() -> None:
    port = free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as blocker:
        blocker.bind(("0.0.0.0", port))
        done = _botmon("simulate", "hns", "--bots", "10", "--port", str(port), "--duration", "1")
    assert done.returncode == 1
    assert f"cannot open UDP port {port}" in done.stderr and "Traceback" not in done.stderr


def test_unwritable_truth_file_is_a_clean_error_and_frees_the_port() -> None:
    port = free_port()
    done = _botmon(
        "simulate",
        "hns",
        "--bots",
        "10",
        "--port",
        str(port),
        "--truth",
        "/proc/botmon-no-such-dir/truth.jsonl",
        "--duration",
        "1",
    )
    assert done.returncode == 1
    assert "cannot write the truth file" in done.stderr and "Traceback" not in done.stderr
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", port))
