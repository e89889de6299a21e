"""Ctrl-C stops ``botmon demo`` cleanly: "stopped", exit status 0, also under ``make demo``.

The emulated botnets get free ports (:mod:`tests.demo.helpers`). ``make demo`` runs on a
pseudo-terminal of its own and is stopped the way a user does it: a Ctrl-C typed on it.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.demo.helpers import demo_env, free_port

ROOT = Path(__file__).resolve().parents[2]
LOGIN = re.compile(rb"http://127\.0\.0\.1:\d+/login\?token=\S+")
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0


def _demo_args(folder: Path) -> list[str]:
    port = str(free_port())
    return ["--dir", str(folder), "--port", port, "--bots", "100", "--no-history"]


def _children_gone(folder: Path) -> None:
    """Every process the demo started has exited (none holds its logs open)."""
    for log in (folder / "logs").glob("*.log"):
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                fds = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
            except OSError:
                continue
            assert str(log) not in fds, f"process {proc.name} still writes {log.name}"


def _kill_leftovers(folder: Path) -> None:
    """SIGKILL every process whose command line names ``folder``: when a demo is killed
    because it did not stop in time, its emulators, crawlers and sensors (each in a process
    group of its own) must not outlive the test, hold the emulators' ports and load the
    machine under the tests that follow."""
    mark = str(folder).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if mark in (proc / "cmdline").read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)
        except OSError:
            continue


def test_ctrl_c_stops_the_demo_with_status_0(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    demo = subprocess.Popen(
        [sys.executable, "-m", "botmon", "demo", *_demo_args(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=demo_env(),
        start_new_session=True,
    )
    try:
        output = _read_until(demo.stdout.fileno() if demo.stdout else -1, LOGIN)
        os.killpg(demo.pid, signal.SIGINT)  # what a terminal's Ctrl-C does to its job
        rest, _ = demo.communicate(timeout=STOP_TIMEOUT_S)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
            _kill_leftovers(folder)
    text = (output + rest).decode(errors="replace")
    assert demo.returncode == 0, text
    assert text.rstrip().endswith("botmon demo: stopped"), text
    assert "error" not in text, text
    _children_gone(folder)
    for name in ("hns", "linenet"):  # the crawlers stopped first, while the server still ran
        log = (folder / "logs" / f"crawl-{name}.log").read_text()
        assert "could not end campaign" not in log and "not yet acknowledged" not in log, log


def _read_until(fd: int, pattern: re.Pattern[bytes]) -> bytes:
    """Bytes read from ``fd`` until ``pattern`` appears; fails after START_TIMEOUT_S."""
    out = b""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not pattern.search(out):
        left = deadline - time.monotonic()
        assert left > 0, out.decode(errors="replace")
        ready, _, _ = select.select([fd], [], [], min(left, 1.0))
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # a pseudo-terminal whose other end closed
                chunk = b""
            assert chunk, out.decode(errors="replace")
            out += chunk
    return out


def _read_to_end(fd: int, process: subprocess.Popen[bytes]) -> bytes:
    out = b""
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif process.poll() is not None:
            break
    return out


def _take_terminal() -> None:
    # In the child, after setsid: the pseudo-terminal on stdin becomes its controlling terminal.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


@pytest.mark.skipif(not Path("/usr/bin/make").exists(), reason="make is not installed")
def test_ctrl_c_on_the_terminal_stops_make_demo_with_status_0(tmp_path: Path) -> None:
    folder = tmp_path / "demo"
    args = " ".join(_demo_args(folder))
    primary, secondary = os.openpty()
    make = subprocess.Popen(
        ["make", "--no-print-directory", "-o", "install", "demo", f"DEMO_ARGS={args}"],
        cwd=ROOT,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env=demo_env(),
        start_new_session=True,
        preexec_fn=_take_terminal,
    )
    os.close(secondary)
    try:
        output = _read_until(primary, LOGIN)
        os.write(primary, b"\x03")  # Ctrl-C typed on the terminal
        output += _read_to_end(primary, make)
        make.wait(timeout=STOP_TIMEOUT_S)
    finally:
        if make.poll() is None:
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
            _kill_leftovers(folder)
        os.close(primary)
    text = output.decode(errors="replace")
    assert make.returncode == 0, text
    assert "botmon demo: stopped" in text and "Interrupt" not in text, text
    _children_gone(folder)
