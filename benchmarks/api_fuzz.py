"""The schemathesis run of the test suite, longer: every role, both backends, 60 s per role.

Run: ``.venv/bin/python benchmarks/api_fuzz.py [--seconds 60]``. ``make test`` gives each role
10 s (tests/server/test_api_fuzz.py); this runs the same test with a bigger budget and prints
how many cases each role sent. PostgreSQL runs when BOTMON_TEST_PG_DSN is set (``make bench``
sets it). The exit status is the test's: non-zero when any operation answered 5xx.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=60, help="Budget per role and backend.")
    args = parser.parse_args()
    env = {**os.environ, "BOTMON_FUZZ_SECONDS": str(args.seconds)}
    test = "tests/server/test_api_fuzz.py"
    timeout = str(4 * args.seconds + 300)  # four roles in one test, plus start-up
    argv = [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", test]
    argv += ["--timeout", timeout]
    return subprocess.run(argv, cwd=ROOT, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
