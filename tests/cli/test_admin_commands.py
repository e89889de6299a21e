"""``botmon token`` and ``botmon botnet``: straight on the store and while a server runs."""

from __future__ import annotations

import time
from pathlib import Path

from tests.cli.helpers import assert_error, botmon
from tests.fixtures.server import LiveServer, start_live_server
from tests.server.helpers import batch, client, post_batch


def test_a_token_made_before_the_server_starts_works_once_it_runs(tmp_path: Path) -> None:
    db = str(tmp_path / "pre.duckdb")
    assert botmon("botnet", "create", "hns", "--description", "Hide'n'Seek", "--db", db).code == 0
    made = botmon("token", "create", "--name", "vantage", "--role", "crawler", "--db", db)
    assert made.code == 0, made.err
    token = made.last_line
    assert len(token) == 43 and " " not in token
    assert "hns" in botmon("botnet", "list", "--db", db).out
    server = start_live_server(db, tmp_path)
    try:
        assert post_batch(server, token, batch(replies=3)).status_code == 200
    finally:
        server.stop()


def test_administration_while_the_server_runs(live_server: LiveServer) -> None:
    db = live_server.db
    made_botnet = botmon("botnet", "create", "mozi", "--db", db)
    assert made_botnet.code == 0, made_botnet.err
    if live_server.backend == "duckdb":
        assert live_server.url in made_botnet.out  # the file is locked: it went via the API
    assert "mozi" in botmon("botnet", "list", "--db", db).out

    made = botmon(
        "token", "create", "--name", "s1", "--role", "crawler", "--botnet", "mozi", "--db", db
    )
    assert made.code == 0, made.err
    token = made.last_line
    assert post_batch(live_server, token, batch("mozi", replies=4)).status_code == 200
    assert post_batch(live_server, token, batch("hns", replies=4)).status_code in (403, 422)

    listing = botmon("token", "list", "--db", db).out
    line = next(x for x in listing.splitlines() if x.startswith("s1 "))
    assert "crawler" in line and token[:8] in line and "active" in line and "mozi" in line

    assert botmon("token", "revoke", "s1", "--db", db).code == 0
    assert_error(botmon("token", "revoke", "s1", "--db", db), "s1")
    deadline, status = time.monotonic() + 4.0, 200
    while status != 401 and time.monotonic() < deadline:
        status = post_batch(live_server, token, batch("mozi", replies=1)).status_code
        time.sleep(0.2)
    assert status == 401
    assert "revoked" in next(
        x for x in botmon("token", "list", "--db", db).out.splitlines() if x.startswith("s1 ")
    )

    assert_error(botmon("botnet", "create", "mozi", "--db", db))
    assert_error(botmon("botnet", "create", "Bad Name", "--db", db), "invalid botnet name")
    assert_error(
        botmon(
            "token", "create", "--name", "x", "--role", "crawler", "--botnet", "nope", "--db", db
        ),
        "nope",
    )
    assert_error(botmon("token", "create", "--name", "s1", "--role", "viewer", "--db", db))
    assert_error(
        botmon("token", "create", "--name", "bad name", "--role", "viewer", "--db", db),
        "invalid monitor name",
    )
    with client(live_server, live_server.admin_token) as c:
        assert c.get("/healthz").status_code == 200  # the server shrugged all of that off


def test_bad_arguments_exit_non_zero(tmp_path: Path) -> None:
    db = str(tmp_path / "x.duckdb")
    ran = botmon("token", "create", "--name", "x", "--role", "root", "--db", db)
    assert ran.code == 2
    assert_error(ran, "--role", "root")
    ran = botmon("token", "create", "--role", "viewer", "--db", db)
    assert ran.code == 2
    assert_error(ran, "--name")
    assert_error(botmon("import", "--kind", "replies"), "FILE")
    assert_error(botmon("export", "--botnet", "x", "--kind", "nodes"), "--kind")
    assert_error(botmon("serve", "--port", "http"), "--port")
    assert_error(botmon("botnet", "list", "--db", "mysql://nowhere/x"), "scheme")
    assert_error(botmon("botnet", "list", "--db", str(tmp_path / "no" / "x.duckdb")))
