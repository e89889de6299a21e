"""CI needs PostgreSQL: when it cannot start, the run fails instead of skipping half the suite.

``.ci/run`` sets ``BOTMON_REQUIRE_PG=1``; ``scripts/run-tests.sh`` then stops with an error when
its throwaway cluster cannot start (here: its port is taken), and the ``pg_dsn`` fixture fails
PostgreSQL tests instead of skipping them when no cluster is given.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG_TEST = "tests/store/test_postgres.py::test_ips_are_inet_with_ipv4_stored_plainly"


DROPPED = (
    "BOTMON_TEST_PG_DSN",
    "BOTMON_TEST_PG_DSNS",
    "BOTMON_REQUIRE_PG",
    "BOTMON_TEST_WORKERS",
    "PYTEST_XDIST_WORKER",
)
"""What this suite's own run sets: the runs below start without it."""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    return {**env, **extra}


def test_ci_requires_postgresql() -> None:
    assert "export BOTMON_REQUIRE_PG=1" in (ROOT / ".ci" / "run").read_text()


def test_the_suite_stops_when_postgresql_cannot_start(tmp_path: Path) -> None:
    with socket.socket() as taken:  # PostgreSQL cannot listen on a port held by someone else
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        ran = subprocess.run(
            ["bash", "scripts/run-tests.sh", "-q", "-p", "no:cacheprovider", PG_TEST],
            cwd=ROOT,
            env=_env(BOTMON_REQUIRE_PG="1", BOTMON_TEST_PG_PORT=port),
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert ran.returncode != 0, ran.stdout + ran.stderr
    assert "PostgreSQL could not start and BOTMON_REQUIRE_PG=1" in ran.stderr
    assert "passed" not in ran.stdout and "skipped" not in ran.stdout, ran.stdout


def _pytest(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", PG_TEST],
        cwd=ROOT,
        env=_env(**env),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_postgresql_tests_fail_instead_of_skipping_when_required() -> None:
    required = _pytest(BOTMON_REQUIRE_PG="1")
    assert required.returncode == 1 and "1 error" in required.stdout, required.stdout
    assert "BOTMON_REQUIRE_PG=1" in required.stdout
    optional = _pytest()
    assert optional.returncode == 0 and "1 skipped" in optional.stdout, optional.stdout
