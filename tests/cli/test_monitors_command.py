"""``botmon monitors exclude|include|list`` on the store: strict addresses, one-line errors,
and the excluded monitors really leave the reads that ask to exclude them."""

from __future__ import annotations

from pathlib import Path

from botmon.store import open_store
from botmon.store.reads import record_filter
from botmon.wire import Reply
from tests.cli.helpers import assert_error, botmon
from tests.store.helpers import NOW, make_batch


def test_exclude_list_include_on_the_store(tmp_path: Path) -> None:
    db = str(tmp_path / "m.duckdb")
    assert botmon("botnet", "create", "hns", "--db", db).code == 0
    store = open_store(db)
    try:
        store.migrate()
        replies = [Reply(NOW + i, f"127.1.0.{i + 1}", 4000 + i) for i in range(5)]
        replies.append(Reply(NOW, "2001:db8::7", 5000))
        store.write_batch(make_batch("hns", "b1", replies), "crawler-1")
    finally:
        store.close()

    for bad, fragment in (
        ("127.1.0.1", "IP:PORT"),
        ("127.1.0.300:4000", "not an IPv4 or IPv6"),
        ("127.1.0.1:65536", "IP:PORT"),
        ("2001:db8::7:5000", "IP:PORT"),  # IPv6 needs brackets
    ):
        assert_error(botmon("monitors", "exclude", "--botnet", "hns", bad, "--db", db), fragment)
    assert_error(botmon("monitors", "exclude", "--botnet", "hns", "--db", db), "--from-detect")
    assert_error(
        botmon("monitors", "exclude", "--botnet", "nope", "127.0.0.1:1", "--db", db), "nope"
    )
    assert_error(botmon("monitors", "list", "--botnet", "nope", "--db", db), "nope")
    assert "no monitors excluded" in botmon("monitors", "list", "--botnet", "hns", "--db", db).out

    ran = botmon(
        "monitors",
        "exclude",
        "--botnet",
        "hns",
        "127.1.0.1:4000",
        "[2001:db8::7]:5000",
        "--kind",
        "sensor",
        "--note",
        "lists everyone",
        "--db",
        db,
    )
    assert ran.code == 0, ran.err
    assert "excluded 2 monitor(s)" in ran.out
    listed = botmon("monitors", "list", "--botnet", "hns", "--db", db).out.splitlines()
    assert [line.split()[0] for line in listed] == ["127.1.0.1:4000", "[2001:db8::7]:5000"]
    assert all("sensor" in line and "lists everyone" in line for line in listed)

    store = open_store(db)
    try:
        (b,) = [x.id for x in store.list_botnets()]
        everyone = store.range_counts("replies", [b], NOW - 10, NOW + 10, ("ips",))
        hidden = record_filter(None, True, store.exclusion_revision())
        without = store.range_counts("replies", [b], NOW - 10, NOW + 10, ("ips",), hidden)
        assert everyone[b] == (6,) and without[b] == (4,)
    finally:
        store.close()

    ran = botmon(
        "monitors", "include", "--botnet", "hns", "127.1.0.1:4000", "127.1.0.2:4001", "--db", db
    )
    assert_error(ran, "not excluded: 127.1.0.2:4001")
    assert "included 1 monitor(s)" in ran.out
    listed = botmon("monitors", "list", "--botnet", "hns", "--db", db).out.splitlines()
    assert [line.split()[0] for line in listed] == ["[2001:db8::7]:5000"]
