"""Taking the terminal's Ctrl-C for one long-running command, the way a shell runs a job.

A terminal sends Ctrl-C to its whole foreground process group. Under ``make demo`` that group
is make's, so make sees the interrupt too and reports the demo as failed even when the demo
stops cleanly. :func:`foreground` moves this process into a group of its own and makes that
group the terminal's foreground for as long as it runs, then hands the terminal back.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def _set_foreground(fd: int, group: int) -> None:
    # A process outside the foreground group that changes it gets SIGTTOU: ignore it meanwhile.
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        os.tcsetpgrp(fd, group)
    finally:
        signal.signal(signal.SIGTTOU, old)


@contextmanager
def foreground() -> Iterator[None]:
    """Own the terminal's Ctrl-C while the block runs; nothing changes without a terminal, or
    when this process leads its group already (started straight from a shell)."""
    fd = sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else -1
    if fd < 0 or os.getpgrp() == os.getpid() or os.tcgetpgrp(fd) != os.getpgrp():
        yield
        return
    parent_group = os.getpgrp()
    os.setpgid(0, 0)
    _set_foreground(fd, os.getpgrp())
    try:
        yield
    finally:
        _set_foreground(fd, parent_group)
