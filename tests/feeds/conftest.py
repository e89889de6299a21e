"""Feed fixtures: a database per test module and backend holding :mod:`tests.feeds.data`'s
population, written through validation, lab enrichment and ``write_batch`` per (botnet,
monitor) as ingest does. Module-scoped: the feed tests only read it (the ones that write
tokens or log deliveries use names of their own), which keeps them well under a minute."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import msgspec
import psycopg
import pytest
from psycopg import sql

from botmon.enrich.enricher import Enricher
from botmon.store import open_store
from botmon.store.base import Store
from botmon.validation import validate_batch
from botmon.wire import Batch
from tests.feeds.data import sightings
from tests.fixtures.pg import database_url
from tests.fixtures.stores import STORE_PARAMS


def batches() -> Iterator[tuple[str, Batch]]:
    """(source, batch) for every (botnet, monitor, kind) of the population."""
    key = lambda s: (s.botnet, s.source, s.source_type)  # noqa: E731
    groups = itertools.groupby(sorted(sightings(), key=key), key=key)
    for n, ((botnet, source, kind), group) in enumerate(groups):
        yield source, Batch(botnet, f"b{n}", [s.reply for s in group], [], [], kind)


def fill(store: Store) -> None:
    """Write the population into ``store`` (botnets created first)."""
    for name in ("hns", "mozi"):
        store.create_botnet(name)
    with Enricher.open(use_default=False) as enricher:
        for source, body in batches():
            batch = validate_batch(msgspec.json.encode(body), now=4_000_000_000.0)
            enricher.enrich_batch(batch)
            store.write_batch(batch, source)


@pytest.fixture(scope="module", params=STORE_PARAMS)
def module_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database for one test module: a DuckDB file, or a new PostgreSQL database."""
    if request.param == "duckdb":
        folder: Path = tmp_path_factory.mktemp("feeds")
        yield str(folder / "botmon.duckdb")
        return
    dsn: str = request.getfixturevalue("pg_dsn")
    name = f"botmon_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(dsn, name)
    finally:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="module")
def feed_store(module_db: str) -> Iterator[Store]:
    """The population in a store of the module's database."""
    store = open_store(module_db)
    try:
        store.migrate()
        fill(store)
        yield store
    finally:
        store.close()
