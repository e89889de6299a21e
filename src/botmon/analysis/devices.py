"""What the bots are: their device types (CPU architectures) and, in a DHT, client versions.

Both dimensions come from the replies' ``data`` as the crawlers record it: ``data["arch"]``
is botmon's device-type key (a Mozi bot's ``[cpu]`` tag; any protocol that reveals a bot's
CPU architecture puts it there), ``data["client"]`` and ``data["client_version"]`` a DHT
node's client code and version from its ``v`` (:func:`botmon.protocols.krpc.client_version`).
A bot (its bot ID, or its ``ip:port`` without one) counts once, by its latest reply in the
range that carries a value; bots whose replies carry none count as ``unknown``. Client
versions count DHT nodes only (replies with ``data["node_id"]``): a botnet without them has
none, which tells the dashboard it is not a DHT.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from botmon.analysis.cache import whole
from botmon.analysis.scope import botnet_id, ids_for
from botmon.analysis.table import Table
from botmon.store.base import Store
from botmon.store.reads import Dimension, SourceFilter

UNKNOWN = "unknown"
"""The value shown for bots whose replies do not tell it."""


def _values(
    store: Store,
    ids: Sequence[int],
    start: float,
    end: float,
    dimension: Dimension,
    source: SourceFilter,
) -> dict[tuple[int, str | None], int]:
    """Bots per (botnet id, value), reused while the stored batches of the range are unchanged."""

    def compute() -> dict[tuple[int, str | None], int]:
        return store.data_values(ids, start, end, dimension, source)

    key = ("data-values", dimension, tuple(ids), source)
    found: dict[tuple[int, str | None], int] = whole(
        store, key, ("replies",), ids, start, end, compute
    )
    return found


def _ranked(counts: dict[str | None, int]) -> list[tuple[str | None, int, float]]:
    """(value, bots, share of the bots that tell it), most bots first; unknown last."""
    known = sum(n for v, n in counts.items() if v is not None)
    rows = sorted(((v, n) for v, n in counts.items() if v is not None), key=lambda r: (-r[1], r[0]))
    out: list[tuple[str | None, int, float]] = [
        (v, n, round(n / known, 6) if known else 0.0) for v, n in rows
    ]
    if counts.get(None):
        out.append((None, counts[None], 0.0))
    return out


def devices(
    store: Store, botnet: str, start: float, end: float, source: SourceFilter = None
) -> Table:
    """Distinct bots per CPU architecture in the range, and each one's share of the bots
    whose architecture is known (the ``unknown`` row has share 0)."""
    found = botnet_id(store, botnet)
    values = _values(store, [found], start, end, "arch", source)
    counts = {v: n for (_, v), n in values.items()}
    return Table(
        ("arch", "bots", "share"),
        [(UNKNOWN if v is None else v, n, share) for v, n, share in _ranked(counts)],
    )


def clients(
    store: Store, botnet: str, start: float, end: float, source: SourceFilter = None
) -> Table:
    """Distinct DHT nodes (replies with ``data["node_id"]``) per client code and version (from
    ``v``) in the range, and each one's share of the nodes that sent a ``v`` of that shape.
    ``version`` is the two version bytes as one number and ``version_text`` the same as
    ``major.minor`` (one byte each), as libtorrent's ``LT`` numbers it; both are empty when
    unknown."""
    found = botnet_id(store, botnet)
    values = _values(store, [found], start, end, "client", source)
    counts = {v: n for (_, v), n in values.items()}
    rows: list[tuple[Any, ...]] = []
    for value, n, share in _ranked(counts):
        if value is None:
            rows.append((UNKNOWN, None, None, n, share))
            continue
        code, _, number = value.partition("/")
        version = int(number) if number.isascii() and number.isdigit() else None
        text = None if version is None else f"{version >> 8}.{version & 0xFF}"
        rows.append((code, version, text, n, share))
    return Table(("client", "version", "version_text", "bots", "share"), rows)


def compare_devices(
    store: Store, names: Sequence[str], start: float, end: float, source: SourceFilter = None
) -> Table:
    """Each botnet's CPU architectures side by side (distinct bots and share of the bots
    with a known architecture), and the same over all of them (``botnet`` null: the
    botnets' bots added up, as bots of two botnets are two bots)."""
    by_id = ids_for(store, names)
    values = _values(store, list(by_id), start, end, "arch", source)
    per: dict[int, dict[str | None, int]] = defaultdict(dict)
    total: dict[str | None, int] = defaultdict(int)
    for (found, value), n in values.items():
        per[found][value] = n
        total[value] += n
    out: list[tuple[Any, ...]] = []
    for found, name in by_id.items():
        out.extend((name, UNKNOWN if v is None else v, n, s) for v, n, s in _ranked(per[found]))
    out.extend((None, UNKNOWN if v is None else v, n, s) for v, n, s in _ranked(dict(total)))
    return Table(("botnet", "arch", "bots", "share"), out)
