"""The P2P graph's most listed peers (in-degree), from the edges crawlers report."""

from __future__ import annotations

from botmon.analysis.cache import whole
from botmon.analysis.scope import botnet_id
from botmon.analysis.table import Table
from botmon.store.base import Store
from botmon.store.reads import SourceFilter


def top_peers(
    store: Store,
    botnet: str,
    start: float,
    end: float,
    limit: int,
    source: SourceFilter = None,
) -> Table:
    """The most listed peers (highest in-degree: distinct bots listing them) from edges."""
    found = botnet_id(store, botnet)
    rows = whole(
        store,
        ("top_peers", found, limit, source),
        ("edges",),
        [found],
        start,
        end,
        lambda: store.top_peers(found, start, end, limit, source),
    )
    return Table(("ip", "port", "bot_id", "in_degree", "mentions"), list(rows))
