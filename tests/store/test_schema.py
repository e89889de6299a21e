"""Schema versions: migrate() is ordered, idempotent, and safe when several callers race."""

from __future__ import annotations

import threading

from botmon.store import open_store
from botmon.store.base import Store
from botmon.store.common import migrations

TABLES = [
    "ases",
    "batches",
    "botnets",
    "campaigns",
    "commands",
    "config_alerts",
    "config_bots",
    "configs",
    "day_ids",
    "day_ips",
    "edges",
    "excluded_monitors",
    "failed_tries",
    "feed_deliveries",
    "heartbeats",
    "hour_countries",
    "hour_counts",
    "monitors",
    "replies",
    "schema_version",
    "seen_ids",
    "seen_ips",
    "sources",
    "summary_state",
    "week_ids",
    "week_ips",
]


def _tables(store: Store) -> list[str]:
    if store.backend == "duckdb":
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    else:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    return sorted(r[0] for r in store.query(sql))


def test_migrations_are_numbered_from_one_for_both_backends() -> None:
    for backend in ("duckdb", "postgresql"):
        versions = [v for v, _ in migrations(backend)]
        assert versions == list(range(1, len(versions) + 1))
    assert len(migrations("duckdb")) == len(migrations("postgresql"))


def test_migrate_creates_every_table_and_records_each_version(store: Store) -> None:
    newest = migrations(store.backend)[-1][0]
    assert store.schema_version() == newest
    assert _tables(store) == TABLES
    versions = store.query("SELECT version FROM schema_version ORDER BY version")
    assert [v for (v,) in versions] == list(range(1, newest + 1))


def test_migrate_is_idempotent_and_keeps_data(store: Store) -> None:
    store.create_botnet("hns")
    version = store.schema_version()
    assert store.migrate() == version
    assert store.migrate() == version
    assert [b.name for b in store.list_botnets()] == ["hns"]
    assert len(store.query("SELECT version FROM schema_version")) == version


def test_a_reopened_store_keeps_its_version(store_url: str) -> None:
    first = open_store(store_url)
    version = first.migrate()
    first.close()
    second = open_store(store_url)
    try:
        assert second.schema_version() == version
        assert second.migrate() == version
    finally:
        second.close()


def test_concurrent_migrations_migrate_once(store_url: str) -> None:
    """Servers starting together (PostgreSQL: separate pools) all end at the newest version."""
    stores = [open_store(store_url)]
    if stores[0].backend == "postgresql":
        stores += [open_store(store_url) for _ in range(3)]
    else:
        stores *= 4  # one DuckDB file belongs to one process: threads share the store
    barrier = threading.Barrier(len(stores))
    results: list[int] = []
    errors: list[BaseException] = []

    def run(s: Store) -> None:
        try:
            barrier.wait(timeout=30)
            results.append(s.migrate())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    try:
        assert not errors
        newest = migrations(stores[0].backend)[-1][0]
        assert results == [newest] * len(stores)
        assert len(stores[0].query("SELECT version FROM schema_version")) == newest
    finally:
        for s in {id(s): s for s in stores}.values():
            s.close()
