"""Feed fixtures: a store holding :mod:`tests.feeds.data`'s population, written through
validation, lab enrichment and ``write_batch`` per (botnet, monitor) as ingest does."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import msgspec
import pytest

from botmon.enrich.enricher import Enricher
from botmon.store.base import Store
from botmon.validation import validate_batch
from botmon.wire import Batch
from tests.feeds.data import sightings


def fill(store: Store) -> None:
    """Write the population into ``store`` (botnets created first)."""
    for name in ("hns", "mozi"):
        store.create_botnet(name)
    with Enricher.open(use_default=False) as enricher:
        key = lambda s: (s.botnet, s.source, s.source_type)  # noqa: E731
        for n, ((botnet, source, kind), group) in enumerate(
            itertools.groupby(sorted(sightings(), key=key), key=key)
        ):
            replies = [s.reply for s in group]
            body = msgspec.json.encode(Batch(botnet, f"b{n}", replies, [], [], kind))
            batch = validate_batch(body, now=4_000_000_000.0)
            enricher.enrich_batch(batch)
            store.write_batch(batch, source)


@pytest.fixture
def feed_store(store: Store) -> Iterator[Store]:
    fill(store)
    yield store
