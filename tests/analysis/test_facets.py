"""Which facets a botnet shows: those of the installed plugins that its bots tell, a key
declared by several plugins once, in a stable order."""

from __future__ import annotations

from dataclasses import replace

from botmon.analysis.facets import MAX_VALUES, facets, known_facets
from botmon.protocols.contract import Facet, Plugin
from botmon.protocols.registry import get_plugin
from botmon.store.base import Store
from botmon.wire import Reply
from tests.store.helpers import NOW, make_batch


def _plugins() -> list[Plugin]:
    base = get_plugin("mozi")
    return [
        replace(base, name="zeta", facets=(Facet("arch", "CPU", "The CPU it runs on."),)),
        replace(
            base,
            name="alpha",
            facets=(
                Facet("day_key", "Daily key", "The day it was found under."),
                Facet("arch", "Architecture", "What it announced under."),
            ),
        ),
        replace(base, name="beta", facets=()),
    ]


def test_a_key_of_several_plugins_is_one_facet() -> None:
    found = known_facets(_plugins())
    assert [(f.key, f.protocols) for f in found] == [
        ("day_key", ("alpha",)),
        ("arch", ("alpha", "zeta")),
    ]
    arch = found[1]
    assert arch.label == "Architecture"
    assert arch.doc == "alpha: What it announced under. zeta: The CPU it runs on."
    same = [replace(p, facets=(Facet("arch", "CPU", "Same."),)) for p in _plugins()[:2]]
    assert known_facets(same)[0].doc == "Same."
    # The installed plugins: every declared key once.
    keys = [f.key for f in known_facets()]
    assert len(keys) == len(set(keys)) and "arch" in keys


def test_only_facets_the_bots_tell(store: Store) -> None:
    store.create_botnet("b")
    replies = [
        Reply(NOW + i, f"127.3.0.{i + 1}", 1, None, {"arch": ["mips", "arm"][i % 2]})
        for i in range(5)
    ] + [Reply(NOW + 9, "127.3.0.99", 1, None, {"other": "x"})]
    store.write_batch(make_batch("b", "b1", replies), "m")
    (arch,) = facets(store, "b", NOW, NOW + 60, known=known_facets(_plugins()))
    assert (arch.key, arch.bots, arch.unknown) == ("arch", 5, 1)
    assert [(v.value, v.bots, v.share) for v in arch.values] == [("mips", 3, 0.6), ("arm", 2, 0.4)]


def test_values_from_many_bots_are_capped(store: Store) -> None:
    """Hostile bots may each send a value of their own: the most told are listed, the rest
    counted, and every bot still counts in the shares."""
    store.create_botnet("b")
    n = MAX_VALUES + 7
    replies = [
        Reply(NOW + i, f"127.4.{i // 200}.{i % 200 + 1}", 1, None, {"arch": f"v{i}"})
        for i in range(n)
    ]
    replies += [Reply(NOW + 1, f"127.4.9.{i + 1}", 1, None, {"arch": "mips"}) for i in range(3)]
    store.write_batch(make_batch("b", "b1", replies), "m")
    (arch,) = facets(store, "b", NOW, NOW + 3600, known=known_facets(_plugins()))
    assert arch.values[0].value == "mips" and arch.values[0].bots == 3
    assert len(arch.values) == MAX_VALUES
    left = n + 1 - MAX_VALUES  # every value but mips has one bot
    assert (arch.more_values, arch.more_bots, arch.bots) == (left, left, n + 3)
    assert arch.values[1].share == round(1 / (n + 3), 6)
