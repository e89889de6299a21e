"""schemathesis against ``/openapi.json`` for each role: the schema loads and nothing answers 5xx.

Each role (admin, crawler, viewer, no token) gets its own fresh token and a time budget of
``BOTMON_FUZZ_SECONDS`` (7 s by default, so this file costs about 60 s over both backends in
``make test``; ``make bench`` runs it longer). One worker: schemathesis' coverage phase parses
source with ``ast`` from its threads, which Python 3.11 does not survive reliably. The admin
run leaves the token-deletion route alone: its stateful phase would delete its own token. The
public views read no token, so only the no-token run spends its budget on them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.server import LiveServer
from tests.server.helpers import batch, post_batch

ROLES = ("admin", "crawler", "viewer", None)
SECONDS = int(os.environ.get("BOTMON_FUZZ_SECONDS", "7"))


def _schemathesis() -> str:
    path = Path(sys.executable).with_name("schemathesis")
    if not path.exists():
        pytest.fail("schemathesis is not installed: run `make install` (it is a dev extra)")
    return str(path)


def fuzz(server: LiveServer, role: str | None, seconds: int, workdir: Path) -> str:
    """One schemathesis run as ``role`` (None: no token); fails the test on any finding."""
    argv = [
        _schemathesis(),
        "run",
        f"{server.url}/openapi.json",
        "--url",
        server.url,
        "--checks",
        "not_a_server_error",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-time",
        str(seconds),
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
    ]
    if role is not None:
        token = server.token(role)
        argv += ["-H", f"Authorization: Bearer {token}"]
    if role == "admin":
        argv += ["--exclude-path-regex", "admin/tokens/[{]|^/(api/v1/)?public"]
    elif role is not None:  # the public views read no token: the no-token run covers them
        argv += ["--exclude-path-regex", "^/(api/v1/)?public"]
    ran = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=seconds + 180,
        cwd=workdir,
        env={**os.environ, "NO_COLOR": "1"},
    )
    report = f"schemathesis as {role or 'no token'}:\n{ran.stdout[-20000:]}\n{ran.stderr[-4000:]}"
    assert "Schema Error" not in ran.stdout, report
    assert ran.returncode == 0, report
    cases = re.search(r"(\d+) generated, (\d+) passed", ran.stdout)
    assert cases is not None and int(cases.group(1)) > 0, report
    assert cases.group(1) == cases.group(2), report
    return cases.group(0)


def test_no_role_gets_a_server_error_from_any_operation(
    live_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    live_server.create_botnet("hns")
    sent = post_batch(live_server, live_server.token("crawler"), batch(replies=20))
    assert sent.status_code == 200, sent.text
    results = {role or "none": fuzz(live_server, role, SECONDS, tmp_path) for role in ROLES}
    with capsys.disabled():
        print(f"\nschemathesis ({live_server.backend}, {SECONDS:g} s per role): {results}")
