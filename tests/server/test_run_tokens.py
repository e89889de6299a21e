"""``botmon serve``'s per-run admin token does not outlive a killed server: the next start
revokes it (on DuckDB, found through the server file it advertised it in)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import httpx

from tests.fixtures.server import LiveServer
from tests.server.helpers import client


def _run_tokens(server: LiveServer) -> dict[str, bool]:
    """The per-run tokens the store knows: name -> revoked."""
    with client(server, server.admin_token) as a:
        holders = a.get("/api/v1/admin/tokens").json()["tokens"]
    return {m["name"]: m["revoked"] for m in holders if m["name"].startswith("serve-")}


def test_the_next_start_revokes_a_killed_servers_token(live_server: LiveServer) -> None:
    assert live_server.process is not None
    killed_pid = live_server.process.pid
    server_file = Path(live_server.db + ".server.json")
    advertised = (
        json.loads(server_file.read_text())["admin_token"] if server_file.exists() else None
    )
    (killed,) = [n for n in _run_tokens(live_server) if n.startswith(f"serve-{killed_pid}-")]
    live_server.process.send_signal(signal.SIGKILL)
    live_server.process.wait(15)
    live_server.process = None

    live_server.start()
    tokens = _run_tokens(live_server)
    assert tokens[killed] is True
    assert [n for n, revoked in tokens.items() if not revoked] == [
        n for n in tokens if n.startswith(f"serve-{live_server.process.pid}-")
    ]
    if advertised is not None:  # DuckDB: the token the dead server advertised is refused
        with httpx.Client(base_url=live_server.url, trust_env=False, timeout=10) as c:
            r = c.get("/api/v1/admin/counts", headers={"Authorization": f"Bearer {advertised}"})
            assert r.status_code == 401
