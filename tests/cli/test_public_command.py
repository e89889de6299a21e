"""``botmon public add|remove|list`` on the store: the views it marks are the store's, and
bad names, unknown botnets and missing marks are one-line errors."""

from __future__ import annotations

from pathlib import Path

from botmon.store import open_store
from tests.cli.helpers import assert_error, botmon


def test_add_list_remove_on_the_store(tmp_path: Path) -> None:
    db = str(tmp_path / "p.duckdb")
    assert botmon("botnet", "create", "hns", "--db", db).code == 0
    listed = botmon("public", "list", "--db", db)
    assert listed.code == 0 and "no view is public" in listed.out
    assert "overview, geo, ases, facets" in listed.out

    ran = botmon("public", "add", "--botnet", "hns", "--view", "geo", "--db", db)
    assert ran.code == 0, ran.err
    assert "geo of hns is public at /public/hns" in ran.out
    assert botmon("public", "add", "--botnet", "hns", "--view", "overview", "--db", db).code == 0
    lines = botmon("public", "list", "--db", db).out.splitlines()
    assert [line.split()[:2] for line in lines[:2]] == [["hns", "geo"], ["hns", "overview"]]
    store = open_store(db)
    try:
        assert [(v.botnet, v.view, v.added_by) for v in store.public_views()] == [
            ("hns", "geo", "cli"),
            ("hns", "overview", "cli"),
        ]
    finally:
        store.close()

    assert_error(botmon("public", "add", "--botnet", "hns", "--view", "ips", "--db", db), "ips")
    assert_error(
        botmon("public", "add", "--botnet", "nope", "--view", "geo", "--db", db),
        "unknown botnet",
        "botmon botnet create nope",
    )
    assert_error(botmon("public", "add", "--botnet", "hns", "--db", db), "--view")
    ran = botmon("public", "remove", "--botnet", "hns", "--view", "geo", "--db", db)
    assert ran.code == 0 and "no longer public" in ran.out
    assert_error(
        botmon("public", "remove", "--botnet", "hns", "--view", "geo", "--db", db), "not public"
    )
    assert_error(botmon("public", "list", "--server", "http://127.0.0.1:9", "--db", db), "--token")
    lines = botmon("public", "list", "--db", db).out.splitlines()
    assert [line.split()[:2] for line in lines[:1]] == [["hns", "overview"]]
