"""Reads filtered by source type agree with the truth of what crawlers and sensors sent, on
both backends, through the raw path and the summarised past windows; and the crawler /
sensor / both overlap counts are right."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pytest

from botmon.analysis.sources import sources
from botmon.buckets import bucket_index
from botmon.store.base import Store
from botmon.store.reads import SourceFilter
from botmon.wire import Edge, Reply, SourceType
from tests.store.helpers import make_batch

DAY = 86400
T0 = 1_749_945_600.0  # 2025-06-15 00:00 UTC
SPAN = 3 * DAY


@dataclass(frozen=True)
class Sent:
    source: SourceType
    ts: float
    ip: str
    port: int
    bot_id: str | None


def _data() -> list[Sent]:
    """60 bots over three days: crawlers see bots 0 and 1 mod 3, sensors 1 and 2 mod 3 (so
    1 mod 3 is seen by both, though not always in the same hour); every seventh bot has no
    ID; a few bots answer a crawler from a second port."""
    rng = random.Random(11)
    out: list[Sent] = []
    for i in range(60):
        ip = f"127.1.{i // 200}.{i % 200 + 1}"
        bot_id = None if i % 7 == 0 else f"b{i:03d}"
        kinds: list[SourceType] = []
        if i % 3 != 2:
            kinds.append("crawler")
        if i % 3 != 0:
            kinds.append("sensor")
        for kind in kinds:
            for _ in range(6):
                ts = T0 + rng.randrange(0, SPAN * 1000) / 1000
                port = (
                    4000 + i + (1 if kind == "crawler" and i % 5 == 0 and rng.random() < 0.5 else 0)
                )
                out.append(Sent(kind, ts, ip, port, bot_id))
    return out


SENT = _data()


@pytest.fixture
def loaded(store: Store) -> tuple[Store, int]:
    store.create_botnet("hns")
    for kind in ("crawler", "sensor"):
        mine = [s for s in SENT if s.source == kind]
        for part in range(3):  # several batches per kind, as a monitor sends them
            chunk = mine[part::3]
            replies = [Reply(s.ts, s.ip, s.port, s.bot_id) for s in chunk]
            edges = [Edge(s.ts, s.ip, s.port, "127.9.9.9", 9999) for s in chunk[::2]]
            batch = make_batch("hns", f"{kind}-{part}", replies, edges=edges, source_type=kind)
            store.write_batch(batch, f"{kind}-1")
    (found,) = [b.id for b in store.list_botnets()]
    return store, found


def _picked(source: SourceFilter, start: float, end: float) -> list[Sent]:
    return [s for s in SENT if (source is None or s.source == source) and start <= s.ts < end]


def _key(s: Sent, measure: str) -> Any:
    return {"ips": s.ip, "ids": s.bot_id, "ip_ports": (s.ip, s.port), "rows": id(s)}[measure]


def _distinct(rows: Iterable[Sent], measure: str) -> int:
    if measure == "rows":
        return sum(1 for _ in rows)
    return len({_key(s, measure) for s in rows if _key(s, measure) is not None})


def _per_bucket(
    source: SourceFilter, start: float, end: float, bucket_s: int, measure: str
) -> dict[int, int]:
    groups: dict[int, list[Sent]] = defaultdict(list)
    for s in _picked(source, start, end):
        groups[bucket_index(round(s.ts * 1e6) / 1e6, bucket_s)].append(s)
    return {b: _distinct(rows, measure) for b, rows in groups.items() if _distinct(rows, measure)}


WINDOWS = [
    pytest.param(T0, T0 + SPAN, id="everything"),
    pytest.param(T0 + DAY, T0 + 2 * DAY, id="past-whole-day"),
    pytest.param(T0 + 3600 * 5 + 17.5, T0 + 2 * DAY + 3600 * 3 + 1.25, id="past-ragged"),
]
SOURCES: list[SourceFilter] = [None, "crawler", "sensor"]


@pytest.mark.parametrize(("start", "end"), WINDOWS)
def test_filtered_counts_equal_the_truth_raw_and_summarised(
    loaded: tuple[Store, int], start: float, end: float
) -> None:
    store, found = loaded
    store.refresh_summaries()
    for source in SOURCES:
        for measure in ("rows", "ips", "ids", "ip_ports"):
            for bucket_s in (3600, DAY):
                got = store.bucket_counts("replies", [found], start, end, bucket_s, measure, source)  # type: ignore[arg-type]
                want = _per_bucket(source, start, end, bucket_s, measure)
                assert got == {(found, b): n for b, n in want.items()}, (source, measure, bucket_s)
        measures = ("rows", "ips", "ids", "ip_ports")
        got_range = store.range_counts("replies", [found], start, end, measures, source)
        want_range = tuple(_distinct(_picked(source, start, end), m) for m in measures)
        assert got_range == {found: want_range}, source
        ips = _distinct(_picked(source, start, end), "ips")
        # No enrichment here: every address is in the unknown country and AS.
        for from_seen in (False, True):
            got_c = store.ips_per_country([found], start, end, from_seen=from_seen, source=source)
            if source is not None or not from_seen:
                assert got_c == [(None, ips)], (source, from_seen)
                got_as = store.ips_per_as(
                    [found], start, end, 5, from_seen=from_seen, source=source
                )
                assert got_as == [(None, None, ips, None, ips)]
                got_o = store.ip_overlap([found], start, end, from_seen=from_seen, source=source)
                assert got_o == {frozenset({found}): ips}
        hours = store.hour_profile([found], start, end, source)
        assert {k: v for k, v in hours.items()} == {
            (found, b): [(None, n)] for b, n in _per_bucket(source, start, end, 3600, "ips").items()
        }
    # Both kinds together are the sum of the two kinds' rows, and at least each one's bots.
    both = store.range_counts("replies", [found], start, end, ("rows", "ips"), None)[found]
    crawler = store.range_counts("replies", [found], start, end, ("rows", "ips"), "crawler")
    sensor = store.range_counts("replies", [found], start, end, ("rows", "ips"), "sensor")
    assert both[0] == crawler[found][0] + sensor[found][0]
    assert both[1] < crawler[found][1] + sensor[found][1]  # some bots are seen by both


def test_seen_reads_and_first_sightings_per_source(loaded: tuple[Store, int]) -> None:
    store, found = loaded
    store.refresh_summaries()  # unfiltered seen reads come from the seen tables
    since = T0 + 2 * DAY
    for source in SOURCES:
        rows = _picked(source, since, math.inf)
        assert store.seen_since([found], since, source) == {
            found: (_distinct(rows, "ips"), _distinct(rows, "ids"))
        }
        picked = _picked(source, 0, math.inf)
        lo, hi = store.seen_bounds(source)[found]
        assert lo == pytest.approx(min(s.ts for s in picked), abs=1e-5)
        assert hi == pytest.approx(max(s.ts for s in picked), abs=1e-5)
        for by, measure in (("ip", "ips"), ("id", "ids")):
            first: dict[Any, float] = {}
            for s in picked:
                k = _key(s, measure)
                if k is not None:
                    first[k] = min(first.get(k, math.inf), s.ts)
            want: dict[int, int] = defaultdict(int)
            for t in first.values():
                if T0 + DAY <= t < T0 + SPAN:
                    want[bucket_index(round(t * 1e6) / 1e6, DAY)] += 1
            got = store.first_seen_counts(found, by, T0 + DAY, T0 + SPAN, DAY, source)  # type: ignore[arg-type]
            assert got == dict(want), (source, by)


def _overlap_truth(
    start: float, end: float, bucket: Callable[[float], int], measure: str
) -> dict[int, tuple[int, int, int]]:
    seen: dict[tuple[int, Any], set[str]] = defaultdict(set)
    for s in _picked(None, start, end):
        k = _key(s, measure)
        if k is not None:
            seen[(bucket(s.ts), k)].add(s.source)
    out: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (b, _), kinds in seen.items():
        out[b][0 if kinds == {"crawler"} else 1 if kinds == {"sensor"} else 2] += 1
    return {b: (v[0], v[1], v[2]) for b, v in out.items()}


@pytest.mark.parametrize(("start", "end"), WINDOWS)
def test_crawler_only_sensor_only_and_both_are_right(
    loaded: tuple[Store, int], start: float, end: float
) -> None:
    store, found = loaded
    for measure in ("ips", "ids"):
        got = store.source_overlap([found], start, end, DAY, measure)  # type: ignore[arg-type]
        want = _overlap_truth(
            start, end, lambda t: bucket_index(round(t * 1e6) / 1e6, DAY), measure
        )
        assert got == {(found, b): v for b, v in want.items()}
        total = store.source_overlap([found], start, end, None, measure)  # type: ignore[arg-type]
        assert total == {(found, 0): _overlap_truth(start, end, lambda t: 0, measure)[0]}
    # The view: crawler only, both, sensor only per bucket, and the whole range last.
    table = sources(store, "hns", start, end, DAY)
    *series, last = table.dicts()
    assert last["t"] is None
    c, s, both = _overlap_truth(start, end, lambda t: 0, "ips")[0]
    assert (last["ips_crawler_only"], last["ips_sensor_only"], last["ips_both"]) == (c, s, both)
    # Over the whole window, bots 1 mod 3 are seen by both (60 bots: 20 each).
    if (start, end) == (T0, T0 + SPAN):
        assert (c, s, both) == (20, 20, 20)
    per_day = _overlap_truth(start, end, lambda t: bucket_index(round(t * 1e6) / 1e6, DAY), "ips")
    assert sum(r["ips_both"] for r in series) == sum(v[2] for v in per_day.values())
    # A filter leaves only that kind's bots, all "only".
    crawler = sources(store, "hns", start, end, DAY, "crawler").dicts()[-1]
    assert crawler["ips_both"] == crawler["ips_sensor_only"] == 0
    assert crawler["ips_crawler_only"] == c + both


@pytest.mark.parametrize("kind", ["crawler", "sensor"])
def test_a_range_of_one_kind_is_counted_from_the_summaries_and_still_right(
    store: Store, kind: SourceType
) -> None:
    """Without the other kind in the range, the sources view takes the population's counts
    (no pass over the replies); the answer is the one the replies give."""
    store.create_botnet("hns")
    mine = [s for s in SENT if s.source == kind]
    replies = [Reply(s.ts, s.ip, s.port, s.bot_id) for s in mine]
    store.write_batch(make_batch("hns", "one", replies, source_type=kind), f"{kind}-1")
    (found,) = [b.id for b in store.list_botnets()]
    start, end = T0 + 3600 * 5 + 17.5, T0 + 2 * DAY + 3600 * 3 + 1.25
    assert store.batch_source_types([found], start, end) == {found: {kind}}
    calls: list[Any] = []
    real = store.source_overlap

    def counted(*args: Any, **kw: Any) -> Any:
        calls.append(args)
        return real(*args, **kw)

    store.source_overlap = counted  # type: ignore[method-assign]
    table = sources(store, "hns", start, end, DAY).dicts()
    assert calls == []
    *series, total = table
    day = lambda t: bucket_index(round(t * 1e6) / 1e6, DAY)  # noqa: E731
    only = "ips_crawler_only" if kind == "crawler" else "ips_sensor_only"
    assert {day(r["t"]): r[only] for r in series if r[only]} == _per_bucket(
        kind, start, end, DAY, "ips"
    )
    assert all(r["ips_both"] == 0 for r in table)
    n_ips = len({s.ip for s in mine if start <= s.ts < end})
    n_ids = len({s.bot_id for s in mine if start <= s.ts < end and s.bot_id})
    assert (total[only], total[only.replace("ips", "ids")]) == (n_ips, n_ids)
    other = "sensor" if kind == "crawler" else "crawler"
    assert all(
        v in (None, 0) for v in sources(store, "hns", start, end, DAY, other).dicts()[-1].values()
    )
    store.source_overlap = real  # type: ignore[method-assign]
    assert sources(store, "hns", start, end, DAY, kind).dicts()[-1] == total
