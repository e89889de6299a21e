"""Errors for callers without an admin's trust carry a stable message: a failing store's
driver text (database names, file paths) goes to the server log, not to them."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from tests.fixtures.server import start_live_server
from tests.server.helpers import client


def test_a_lost_database_is_reported_without_driver_text(
    pg_dsn: str, pg_database_url: str, tmp_path: Path
) -> None:
    server = start_live_server(pg_database_url, tmp_path)
    try:
        viewer = server.token("viewer")
        with client(server, viewer) as c:
            assert c.get("/api/v1/stats/overview").status_code == 200  # token now cached
            dbname = pg_database_url.rsplit("/", 1)[1]
            with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=10) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(dbname))
                )
            answers = [c.get("/healthz"), c.get("/api/v1/stats/overview")]
        for r in answers:
            assert r.status_code == 503, r.text
            assert r.json() == {
                "error": "the store is unavailable; try again shortly",
                "reason": "store_unavailable",
            }
    finally:
        server.stop()
    assert dbname in server.log_path.read_text()  # the detail is in the log
