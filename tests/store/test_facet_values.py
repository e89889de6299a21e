"""Facet counts on both backends: distinct bots per value of a key of the replies' data, each
bot by its latest reply in the range that tells it, checked against plain Python over the
same records; facet keys never reach the SQL unchecked."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest

from botmon.store.base import Store
from botmon.wire import Reply, SourceType
from tests.store.helpers import NOW, make_batch

KEYS = ("url_pack", "peer_class", "arch", "never")
START, END = NOW, NOW + 6 * 3600


def _records(seed: int) -> list[tuple[SourceType, Reply]]:
    """Bots with IDs and without (counted by ip:port), several replies each across and
    outside the range, values that change, go missing, or are not text."""
    rng = random.Random(seed)
    out: list[tuple[SourceType, Reply]] = []
    for i in range(60):
        bot_id = None if i % 4 == 0 else f"{i:08x}"
        ip, port = f"127.2.{i // 200}.{i % 200 + 1}", 5000 + i % 3
        for _ in range(rng.randrange(1, 6)):
            # A fifth of the replies fall just outside [START, END).
            t = rng.choice([START - 5.0, END, START + rng.uniform(0, END - START - 1)])
            data: dict[str, Any] = {}
            if rng.random() < 0.7:
                data["url_pack"] = str(rng.choice([388, 389, 390]))
            if rng.random() < 0.5:
                data["peer_class"] = rng.choice(["superpeer", "client", None])
            if i % 5 == 0:
                data["arch"] = rng.choice(["mipseb", "arm7"])
            if rng.random() < 0.1:
                data["url_pack"] = 391  # a number, not text: still a value
            kind: SourceType = "sensor" if rng.random() < 0.3 else "crawler"
            out.append((kind, Reply(t, ip, port, bot_id, data or None)))
    return out


def _expected(
    records: list[tuple[SourceType, Reply]], source: SourceType | None
) -> dict[tuple[str, str | None], int]:
    """(key, value) -> bots, in plain Python."""
    latest: dict[tuple[str, Any], dict[str, tuple[float, str]]] = defaultdict(dict)
    bots: set[Any] = set()
    for kind, r in records:
        if not START <= r.timestamp < END or source not in (None, kind):
            continue
        bot = r.bot_id if r.bot_id is not None else (r.ip, r.port)
        bots.add(bot)
        for key in KEYS:
            value = (r.data or {}).get(key)
            if value is None:
                continue
            # Replies of one bot at the same instant with different values: either is its
            # latest, so the records avoid them (see the check below).
            seen = latest[(key, bot)].get("v")
            if seen is None or r.timestamp > seen[0]:
                latest[(key, bot)]["v"] = (r.timestamp, str(value))
    out: dict[tuple[str, str | None], int] = defaultdict(int)
    for key in KEYS:
        told = 0
        for bot in bots:
            found = latest.get((key, bot), {}).get("v")
            if found is not None:
                out[(key, found[1])] += 1
                told += 1
        if len(bots) - told:
            out[(key, None)] = len(bots) - told
    return dict(out)


def _no_ties(records: list[tuple[SourceType, Reply]]) -> list[tuple[SourceType, Reply]]:
    """Keep one reply per (bot, instant): two values at one instant have no latest."""
    seen: set[tuple[Any, float]] = set()
    out = []
    for kind, r in records:
        mark = (r.bot_id if r.bot_id is not None else (r.ip, r.port), r.timestamp)
        if mark not in seen:
            seen.add(mark)
            out.append((kind, r))
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_bots_per_value_match_plain_python(store: Store, seed: int) -> None:
    records = _no_ties(_records(seed))
    store.create_botnet("fam")
    store.create_botnet("other")
    ids = {b.name: b.id for b in store.list_botnets()}
    for kind in ("crawler", "sensor"):
        batch = [r for k, r in records if k == kind]
        store.write_batch(make_batch("fam", f"fam-{kind}", batch, source_type=kind), "m")
    # Another botnet's bots with the same keys never count for this one.
    other = [Reply(START + 1, "127.9.0.1", 1, "x", {"url_pack": "1", "arch": "x86"})]
    store.write_batch(make_batch("other", "o", other), "m")
    for source in (None, "crawler", "sensor"):
        got = store.facet_values([ids["fam"]], START, END, KEYS, source)  # type: ignore[arg-type]
        assert {(k, v): n for (g, k, v), n in got.items()} == _expected(records, source), source
        assert {g for g, _, _ in got} == {ids["fam"]}
    both = store.facet_values(None, START, END, ["url_pack"])
    assert both[(ids["other"], "url_pack", "1")] == 1
    # A facet key is a dimension too, and "arch" counts as the named dimension does.
    for key in ("url_pack", "arch"):
        single = store.data_values([ids["fam"]], START, END, key)
        assert single == {
            (ids["fam"], v): n for (k, v), n in _expected(records, None).items() if k == key
        }
    assert store.facet_values([ids["fam"]], START, END, []) == {}
    assert store.facet_values([ids["fam"]], END + 10, END + 20, KEYS) == {}


@pytest.mark.parametrize(
    "key", ["arch') OR 1=1 --", "Arch", "", "1arch", "a" * 33, "arch ", "x.y", "ärch"]
)
def test_malformed_keys_are_refused_before_any_sql(
    store: Store, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_sql(*_: Any) -> Any:
        raise AssertionError("SQL ran with a malformed key")

    monkeypatch.setattr(store, "_select", no_sql)
    with pytest.raises(ValueError, match="not a facet key"):
        store.facet_values(None, START, END, ["arch", key])
    with pytest.raises(ValueError, match="not a facet key"):
        store.data_values(None, START, END, key)
