"""Opening stores: targets that work, targets that give one clear error, DuckDB's file lock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from botmon.store import StoreError, is_locked_duckdb_error, open_store


def test_a_plain_path_and_a_duckdb_url_open_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "a.duckdb"
    first = open_store(str(path))
    first.migrate()
    first.create_botnet("hns")
    first.close()
    again = open_store(f"duckdb://{path}")
    try:
        assert again.backend == "duckdb"
        assert [b.name for b in again.list_botnets()] == ["hns"]
    finally:
        again.close()


def test_opening_does_not_migrate(store_url: str) -> None:
    store = open_store(store_url)
    try:
        assert store.schema_version() == 0
        assert store.migrate() >= 1
    finally:
        store.close()


@pytest.mark.parametrize(
    "target",
    ["", "   ", "mysql://root@127.0.0.1/botmon", "duckdb://", "bad\x00name.duckdb"],
)
def test_a_bad_target_is_a_store_error(target: str) -> None:
    with pytest.raises(StoreError):
        open_store(target)


def test_a_missing_directory_or_a_directory_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(str(tmp_path / "missing" / "x.duckdb"))
    with pytest.raises(StoreError, match="directory"):
        open_store(str(tmp_path))


def test_a_file_that_is_not_a_duckdb_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"this is not a database\n" * 1000)
    with pytest.raises(StoreError) as info:
        open_store(str(path))
    assert not is_locked_duckdb_error(info.value)


def test_an_unreachable_postgresql_server_is_a_store_error() -> None:
    started = time.monotonic()
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL"):
        open_store("postgresql://postgres@127.0.0.1:1/botmon")
    assert time.monotonic() - started < 15


def test_a_duckdb_file_held_by_another_process_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            f"con = duckdb.connect({str(path)!r})\n"
            "print('ready', flush=True)\n"
            "sys.stdin.read()\n",  # hold the lock until the test closes our stdin
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(StoreError) as info:
            open_store(str(path))
        assert is_locked_duckdb_error(info.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    opened = open_store(str(path))  # released: opens fine now
    opened.close()


def test_other_errors_are_not_lock_errors() -> None:
    assert not is_locked_duckdb_error(ValueError("lock"))
    assert not is_locked_duckdb_error(StoreError("unknown botnet"))


def test_a_closed_store_refuses_calls(store_url: str) -> None:
    store = open_store(store_url)
    store.migrate()
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(StoreError, match="closed"):
        store.list_botnets()
