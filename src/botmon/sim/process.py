"""Run an emulator as a child process (``botmon simulate``) from tests and benchmarks.

A crawler benchmark should not share its event loop and core with the botnet it measures;
:class:`SimulatorProcess` starts ``python -m botmon simulate ...``, waits until the seeds
file appears (the emulator is then listening), and stops it with SIGINT so it writes its
final ground truth. Every wait is bounded.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


class SimulatorError(RuntimeError):
    """The child did not start, or exited with an error; the message holds its output."""


class SimulatorProcess:
    """``with SimulatorProcess("hns", "--bots", "1000") as sim: sim.seeds``."""

    def __init__(self, protocol: str, *args: str, workdir: Path | None = None) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="botmon-sim-")
            workdir = Path(self._tmp.name)
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.seeds_file = self.workdir / f"{protocol}-seeds.txt"
        self.log_file = self.workdir / f"{protocol}.log"
        self.argv = [
            sys.executable,
            "-m",
            "botmon",
            "simulate",
            protocol,
            *args,
            "--seeds-file",
            str(self.seeds_file),
        ]
        self.process: subprocess.Popen[bytes] | None = None
        self.seeds: list[tuple[str, int]] = []

    def start(self, timeout_s: float = START_TIMEOUT_S) -> list[tuple[str, int]]:
        """Start the child and return its seeds once it is listening."""
        self.seeds_file.unlink(missing_ok=True)
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(
                self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.seeds_file.exists():
                self.seeds = [
                    (ip, int(port))
                    for ip, _, port in (
                        line.rpartition(":") for line in self.seeds_file.read_text().split()
                    )
                ]
                return self.seeds
            if self.process.poll() is not None:
                raise SimulatorError(f"simulator exited early: {self.output()}")
            time.sleep(0.05)
        self.stop()
        raise SimulatorError(f"simulator wrote no seeds within {timeout_s:.0f} s")

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> int:
        """SIGINT, wait (kill after ``timeout_s``); return the exit code."""
        process = self.process
        if process is None:
            return 0
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        return int(process.returncode)

    def output(self) -> str:
        """What the child printed so far."""
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    def __enter__(self) -> SimulatorProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
