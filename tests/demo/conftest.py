"""Demo tests run one at a time on the machine, whichever pytest-xdist worker runs them.

A demo starts every emulator, and some listen on their fixed default ports (the DHT ones on
6881, 6890, 6891), so two demos at once would take each other's ports. An exclusive lock on
a file in the temporary directory lets one demo test run while another waits.
"""

from __future__ import annotations

import fcntl
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

LOCK = Path(tempfile.gettempdir()) / "botmon-demo-tests.lock"


@pytest.fixture(autouse=True)
def one_demo_at_a_time() -> Iterator[None]:
    with LOCK.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # released when the file closes
        yield
