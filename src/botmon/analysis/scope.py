"""Which botnets a view reads, and whether its window reaches the newest data.

Names become the store's small integer botnet ids here, once per view. A window that
reaches the newest data ("the last 7 days") can be answered from the seen tables (first and
last sighting of every address and bot ID) instead of a DISTINCT over every reply in it:
when no reply is at or after ``end``, "seen in [start, end)" is "last seen at or after
start", exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from botmon.analysis.cache import watermarked
from botmon.analysis.table import UnknownBotnet
from botmon.store.base import Store
from botmon.store.reads import SourceFilter


def botnet_ids(store: Store) -> dict[str, int]:
    """Botnet name -> id, by name."""
    return {b.name: b.id for b in store.list_botnets()}


def botnet_id(store: Store, name: str) -> int:
    """The id of botnet ``name``; :class:`UnknownBotnet` when there is none."""
    ids = botnet_ids(store)
    if name not in ids:
        raise UnknownBotnet(name)
    return ids[name]


def ids_for(store: Store, names: Sequence[str]) -> dict[int, str]:
    """Id -> name of each named botnet, in the order named."""
    ids = botnet_ids(store)
    unknown = [n for n in names if n not in ids]
    if unknown:
        raise UnknownBotnet(unknown[0])
    return {ids[n]: n for n in names}


def one_or_all(store: Store, name: str | None) -> tuple[int | None, list[int] | None]:
    """The botnet id and id filter of a view over one botnet or every botnet (None), with
    the seen tables brought up to date for it."""
    found = botnet_id(store, name) if name else None
    store.refresh_summaries()
    return found, ([found] if found is not None else None)


def seen_bounds(
    store: Store, source: SourceFilter = None
) -> dict[int, tuple[float | None, float | None]]:
    """First and last reply per botnet id (of one kind of monitor with ``source``), reused
    while the seen tables are unchanged."""
    bounds: dict[int, tuple[float | None, float | None]] = watermarked(
        store, ("seen-bounds", source), lambda: store.seen_bounds(source)
    )
    return dict(bounds)


def reaches_newest(store: Store, ids: Sequence[int] | None, end: float) -> bool:
    """True when no reply of these botnets (None: any) is at or after ``end``."""
    found = [
        last
        for b, (_, last) in seen_bounds(store).items()
        if last is not None and (ids is None or b in ids)
    ]
    return not found or max(found) < end
