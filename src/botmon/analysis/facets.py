"""What a botnet's protocol reveals about its bots: bots per value of every facet.

Each protocol plugin declares its facets (``FACETS``, :class:`botmon.protocols.contract.Facet`):
a key its replies' ``data`` carry with a short categorical value (a URL-pack version, a CPU
architecture, how old a returned peer list is). A botnet in the store is not tied to a
protocol, so a botnet's facets are those of every installed plugin that at least one of its
bots carries a value of in the range; a key several plugins declare (``arch``) is one facet.
A bot counts once per facet, by its latest reply in the range that has a value of it
(:meth:`~botmon.store.base.Store.facet_values`, every key in one pass over the replies);
bots that never tell it are counted apart (``unknown``), not as a value. Nothing here names a
plugin: the facets come from the registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import msgspec

from botmon.analysis.cache import whole
from botmon.analysis.scope import botnet_id
from botmon.analysis.table import Table
from botmon.protocols.contract import Plugin
from botmon.protocols.registry import default_registry
from botmon.store.base import Store
from botmon.store.reads import SourceFilter

UNKNOWN = "unknown"
"""The value the CSV gives the bots that do not tell a facet."""
MAX_VALUES = 100
"""Most values listed per facet (most bots first). Values should be few, but they come from
the bots: hostile ones could send a new one each, and the page draws the first dozen anyway;
the rest are counted in ``more_values`` and ``more_bots``."""


@dataclass(frozen=True)
class KnownFacet:
    """A facet as the installed plugins declare it, once per key."""

    key: str
    label: str
    doc: str
    protocols: tuple[str, ...]


class FacetValue(msgspec.Struct, frozen=True):
    """One value of a facet: distinct bots whose latest value it is, and their share of the
    bots that tell the facet."""

    value: str
    bots: int
    share: float


class FacetCounts(msgspec.Struct, frozen=True):
    """One facet of a botnet. ``values`` come most bots first, at most :data:`MAX_VALUES`
    of them (``more_values`` more values with ``more_bots`` bots between them are left
    out); ``bots`` is how many bots tell it (``values`` and ``more_bots`` together),
    ``unknown`` how many bots with replies in the range never did (they are in no share).
    ``protocols`` are the plugins declaring the key."""

    key: str
    label: str
    doc: str
    protocols: list[str]
    bots: int
    unknown: int
    values: list[FacetValue]
    more_values: int = 0
    more_bots: int = 0


def known_facets(plugins: Iterable[Plugin] | None = None) -> list[KnownFacet]:
    """Every facet of the installed plugins (``plugins``: the default registry's), by plugin
    name and then in each plugin's order; a key declared by several plugins is one facet,
    with the first one's label and, when their docs differ, each plugin's doc under its
    name."""
    found = sorted(default_registry().plugins() if plugins is None else plugins, key=_name)
    merged: dict[str, list[tuple[str, str, str]]] = {}
    for plugin in found:
        for facet in plugin.facets:
            merged.setdefault(facet.key, []).append((plugin.name, facet.label, facet.doc))
    out = []
    for key, declared in merged.items():
        docs = {doc for _, _, doc in declared}
        doc = (
            declared[0][2]
            if len(docs) == 1
            else " ".join(f"{name}: {text}" for name, _, text in declared)
        )
        out.append(KnownFacet(key, declared[0][1], doc, tuple(name for name, _, _ in declared)))
    return out


def _name(plugin: Plugin) -> str:
    return plugin.name


def _counts(
    store: Store, found: int, start: float, end: float, keys: Sequence[str], source: SourceFilter
) -> dict[tuple[int, str, str | None], int]:
    """Bots per (botnet id, key, value), reused while the stored batches of the range are
    unchanged."""

    def compute() -> dict[tuple[int, str, str | None], int]:
        return store.facet_values([found], start, end, keys, source)

    key = ("facet-values", tuple(keys), found, source)
    counted: dict[tuple[int, str, str | None], int] = whole(
        store, key, ("replies",), [found], start, end, compute
    )
    return counted


def facets(
    store: Store,
    botnet: str,
    start: float,
    end: float,
    source: SourceFilter = None,
    known: Sequence[KnownFacet] | None = None,
) -> list[FacetCounts]:
    """The facets of botnet ``botnet`` in [start, end): every known facet (``known``:
    :func:`known_facets`) at least one of its bots tells, in the order of ``known``."""
    found = botnet_id(store, botnet)
    declared = known_facets() if known is None else list(known)
    counted = _counts(store, found, start, end, [f.key for f in declared], source)
    out = []
    for facet in declared:
        values = {v: n for (_, k, v), n in counted.items() if k == facet.key and v is not None}
        if not values:
            continue
        told = sum(values.values())
        ranked = sorted(values.items(), key=lambda item: (-item[1], item[0]))
        shown, rest = ranked[:MAX_VALUES], ranked[MAX_VALUES:]
        out.append(
            FacetCounts(
                key=facet.key,
                label=facet.label,
                doc=facet.doc,
                protocols=list(facet.protocols),
                bots=told,
                unknown=counted.get((found, facet.key, None), 0),
                values=[FacetValue(v, n, round(n / told, 6)) for v, n in shown],
                more_values=len(rest),
                more_bots=sum(n for _, n in rest),
            )
        )
    return out


def facets_table(found: Sequence[FacetCounts]) -> Table:
    """The facets as one table (the CSV): a row per (facet, value) listed, then the facet's
    bots that do not tell it as value ``unknown`` with share 0 when there are any."""
    rows = []
    for facet in found:
        rows += [(facet.key, facet.label, v.value, v.bots, v.share) for v in facet.values]
        if facet.unknown:
            rows.append((facet.key, facet.label, UNKNOWN, facet.unknown, 0.0))
    return Table(("key", "label", "value", "bots", "share"), rows)
