"""Excluding monitors of others: every read asked to leave them out equals the same read over
a botnet into which their records were never written, on both backends.

The honest check: one set of batches goes, whole, to botnet ``full`` (where a few monitors
are then excluded) and, without those monitors' replies, failed tries and edges, to botnet
``clean``. ``clean`` is read the ordinary way (the summaries where they answer), ``full``
through the exclusion filter (the records), so the two answers come from different paths.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from botmon.analysis import geo, peers, population, size, sources
from botmon.analysis.cache import clear_cache
from botmon.store.base import Store, StoreError
from botmon.store.exclusions import MonitorToExclude
from botmon.store.reads import RecordFilter, SourceFilter, record_filter
from botmon.wire import Edge, FailedTry, Reply, SourceType
from tests.store.helpers import make_batch

DAY = 86400
T0 = 1_749_945_600.0  # 2025-06-15 00:00 UTC
SPAN = 2 * DAY
END = T0 + SPAN

FOREIGN_SENSORS = [("127.9.0.1", 5000), ("127.9.0.2", 5001)]
"""Listed by many bots and answering the crawler like bots: both excluded."""
FOREIGN_CRAWLER = ("127.9.1.1", 7000)
"""Contacts botmon's sensor often: excluded."""
KEPT_MONITOR = ("127.9.2.1", 5002)
"""Another sensor of others nobody excluded: stays in every view."""
SHARED_IP_BOT = ("127.9.0.1", 6000)
"""A bot on an excluded monitor's address but another port: stays."""
EXCLUDED = {*FOREIGN_SENSORS, FOREIGN_CRAWLER}


def _bots() -> list[tuple[str, int, str | None]]:
    bots: list[tuple[str, int, str | None]] = [
        (f"127.1.0.{i + 1}", 4000 + i, None if i % 7 == 0 else f"b{i:03d}") for i in range(40)
    ]
    bots.append((*SHARED_IP_BOT, "shared"))
    return bots


def _batches(seed: int = 5) -> list[tuple[SourceType, list[Reply], list[FailedTry], list[Edge]]]:
    """Crawler and sensor batches, one per six hours: bots answer (with a device type),
    some fail; bots list each other and the monitors of others; the foreign sensors answer
    the crawler with the IDs they pretend to have; the foreign crawler contacts the sensor."""
    rng = random.Random(seed)
    bots = _bots()
    sensors = [*FOREIGN_SENSORS, KEPT_MONITOR]
    out: list[tuple[SourceType, list[Reply], list[FailedTry], list[Edge]]] = []
    for step in range(8):
        lo = T0 + step * 6 * 3600

        def at(lo: float = lo) -> float:
            return lo + rng.randrange(0, 6 * 3600 * 1000) / 1000

        replies: list[Reply] = []
        fails: list[FailedTry] = []
        edges: list[Edge] = []
        for ip, port, bot_id in bots:
            if rng.random() < 0.7:
                arch = ["arm", "mips", None][rng.randrange(3)]
                replies.append(Reply(at(), ip, port, bot_id, {"arch": arch} if arch else None))
                for dst_ip, dst_port, dst_id in rng.sample(bots, 3):
                    edges.append(Edge(at(), ip, port, dst_ip, dst_port, bot_id, dst_id))
                for dst_ip, dst_port in sensors:
                    if rng.random() < 0.6:
                        edges.append(Edge(at(), ip, port, dst_ip, dst_port, bot_id, "sens"))
            else:
                fails.append(FailedTry(at(), ip, port, bot_id, "timeout"))
        for ip, port in sensors:
            replies.append(Reply(at(), ip, port, f"s{port}", {"arch": "x86"}))
            fails.append(FailedTry(at(), ip, port, None, "timeout"))
            # A foreign sensor lists a few bots too (its own peer list).
            for dst_ip, dst_port, dst_id in rng.sample(bots, 2):
                edges.append(Edge(at(), ip, port, dst_ip, dst_port, f"s{port}", dst_id))
        out.append(("crawler", replies, fails, edges))
        contacts = [Reply(at(), ip, port, bot_id) for ip, port, bot_id in bots[::3]]
        contacts += [Reply(at(), *FOREIGN_CRAWLER, None) for _ in range(5)]
        out.append(("sensor", contacts, [], []))
    return out


def _kept(ip: str, port: int) -> bool:
    return (ip, port) not in EXCLUDED


def _fill(store: Store) -> tuple[int, int]:
    """Botnets ``full`` (every record) and ``clean`` (none of the excluded monitors')."""
    for name in ("full", "clean"):
        store.create_botnet(name)
    for i, (kind, replies, fails, edges) in enumerate(_batches()):
        store.write_batch(make_batch("full", f"f{i}", replies, fails, edges, kind), f"m-{kind}")
        store.write_batch(
            make_batch(
                "clean",
                f"c{i}",
                [r for r in replies if _kept(r.ip, r.port)],
                [f for f in fails if _kept(f.ip, f.port)],
                [e for e in edges if _kept(e.src_ip, e.src_port) and _kept(e.dst_ip, e.dst_port)],
                kind,
            ),
            f"m-{kind}",
        )
    monitors = [MonitorToExclude(ip=ip, port=p, kind="sensor") for ip, p in FOREIGN_SENSORS]
    monitors.append(MonitorToExclude(ip=FOREIGN_CRAWLER[0], port=FOREIGN_CRAWLER[1]))
    store.exclude_monitors("full", monitors, "tester", T0)
    ids = {b.name: b.id for b in store.list_botnets()}
    return ids["full"], ids["clean"]


def _rows(table: Any) -> list[tuple[Any, ...]]:
    """An Arrow table's rows, sorted (reads hand them in no order)."""
    return sorted(
        (tuple(r.values()) for r in table.to_pylist()),
        key=lambda r: tuple((v is None, str(v)) for v in r),
    )


def _reads(store: Store, b: int, source: SourceFilter) -> dict[str, Any]:
    """Every read of the read and analysis ports over one botnet, botnet ids taken out."""

    def strip(d: dict[Any, Any]) -> dict[Any, Any]:
        return {k[1:] if isinstance(k, tuple) else 0: v for k, v in d.items()}

    out: dict[str, Any] = {}
    for kind in ("replies", "failed_tries"):
        for m in ("rows", "ips", "ids", "ip_ports"):
            got = store.bucket_counts(kind, [b], T0, END, 3600, m, source)  # type: ignore[arg-type]
            out[f"bucket_counts {kind} {m}"] = strip(got)
        got_r = store.range_counts(kind, [b], T0, END, ("rows", "ips", "ids", "ip_ports"), source)  # type: ignore[arg-type]
        out[f"range_counts {kind}"] = got_r.get(b)
        out[f"source_counts {kind}"] = store.source_counts(kind, [b], T0, END, source)  # type: ignore[arg-type]
        out[f"sightings {kind}"] = _rows(store.sightings(b, kind, T0, END, 300, source))  # type: ignore[arg-type]
    out["top_peers"] = store.top_peers(b, T0, END, 100, source)
    out["hour_profile"] = {
        k[1]: sorted(v, key=str) for k, v in store.hour_profile([b], T0, END, source).items()
    }
    out["seen_bounds"] = store.seen_bounds(source).get(b)
    out["seen_since"] = store.seen_since([b], T0 + DAY, source)[b]
    for by in ("ip", "id"):
        out[f"first_seen {by}"] = store.first_seen_counts(b, by, T0, END, 3600, source)  # type: ignore[arg-type]
    for from_seen in (False, True):
        out[f"countries {from_seen}"] = sorted(
            store.ips_per_country([b], T0, END, from_seen=from_seen, source=source), key=str
        )
        out[f"ases {from_seen}"] = store.ips_per_as(
            [b], T0, END, 10, from_seen=from_seen, source=source
        )
        overlap = store.ip_overlap([b], T0, END, from_seen=from_seen, source=source)
        out[f"ip_overlap {from_seen}"] = sorted(overlap.values())
    for m in ("ips", "ids"):
        out[f"source_overlap {m}"] = strip(store.source_overlap([b], T0, END, 3600, m, source))  # type: ignore[arg-type]
    out["data_values"] = strip(store.data_values([b], T0, END, "arch", source))
    out["facet_values"] = strip(store.facet_values([b], T0, END, ["arch", "absent"], source))
    out["listed_ids"] = sorted(store.listed_ids(b, T0, END, 10_000, source))
    out["edge_pairs"] = _rows(store.edge_pairs(b, T0, END, source))
    if isinstance(source, RecordFilter):  # contacts default to the sensors' replies
        them: SourceFilter = RecordFilter(source.source_type or "sensor", True, source.revision)
    else:
        them = source or "sensor"
    out["contacts"] = _rows(store.contacts(b, T0, END, them))
    return out


def _views(store: Store, name: str, source: SourceFilter) -> dict[str, Any]:
    """The dashboard's views (analysis/) over one botnet."""
    return {
        "population": population.population(store, name, T0, END, 3600, source).rows,
        "returning": population.returning(store, name, T0, END, 3600, "id", source).rows,
        "countries": geo.countries(store, name, T0, END, source).rows,
        "top_peers": peers.top_peers(store, name, T0, END, 20, source).rows,
        "sources": sources.sources(store, name, T0, END, 3600, source).rows,
        "size": [r[:-1] for r in size.size_estimate(store, name, T0, END, source).rows],
    }


@pytest.mark.parametrize("kind", [None, "crawler"])
def test_every_read_without_excluded_monitors_equals_never_having_their_records(
    store: Store, kind: SourceType | None
) -> None:
    full, clean = _fill(store)
    store.refresh_summaries()
    excluding = record_filter(kind, True, store.exclusion_revision())
    assert isinstance(excluding, RecordFilter)
    want = _reads(store, clean, kind)
    got = _reads(store, full, excluding)
    for name in want:
        assert got[name] == want[name], name
    # The switch matters: without it, the monitors' records are in.
    unfiltered = _reads(store, full, kind)
    assert unfiltered["sightings replies"] != want["sightings replies"]
    if kind != "sensor":
        assert unfiltered["edge_pairs"] != want["edge_pairs"]
        top = {(ip, port) for ip, port, *_ in unfiltered["top_peers"][:3]}
        assert top & EXCLUDED  # the foreign sensors top the most-listed peers...
        assert not {(ip, port) for ip, port, *_ in got["top_peers"]} & EXCLUDED  # ...not here
        assert KEPT_MONITOR in {(ip, port) for ip, port, *_ in got["top_peers"]}
        assert any(tuple(r[1:3]) == SHARED_IP_BOT for r in got["sightings replies"])
    if kind != "crawler":
        assert any(r[1] == FOREIGN_CRAWLER[0] for r in unfiltered["contacts"])
    assert _views(store, "full", excluding) == _views(store, "clean", kind)


def test_default_path_is_the_plain_filter(store: Store) -> None:
    """Without the switch a filter is exactly today's value, so the SQL and the summaries
    answering it are unchanged."""
    assert record_filter(None, False) is None
    assert record_filter("sensor", False, "abc") == "sensor"


def test_exclusion_list_upserts_removes_and_lists(store: Store) -> None:
    store.create_botnet("hns")
    store.create_botnet("mozi")
    before = store.exclusion_revision()
    got = store.exclude_monitors(
        "hns",
        [
            MonitorToExclude(
                ip="127.9.0.1",
                port=5000,
                kind="sensor",
                score=0.9,
                evidence={"in_degree": 40},
                note="listed by all",
            ),
            MonitorToExclude(ip="::ffff:127.9.0.2", port=5001),
            MonitorToExclude(ip="2001:db8::1", port=1),
        ],
        "alice",
        T0,
    )
    assert [(x.ip, x.port) for x in got] == [
        ("127.9.0.1", 5000),
        ("127.9.0.2", 5001),
        ("2001:db8::1", 1),
    ]
    assert got[0].evidence == {"in_degree": 40} and got[0].score == 0.9
    assert got[0].excluded_by == "alice" and got[0].excluded_at == T0
    assert got[1].kind is None and got[1].note == ""
    mid = store.exclusion_revision()
    assert mid != before
    # Upsert: the same address again takes the new details, no second row.
    again = store.exclude_monitors(
        "hns", [MonitorToExclude(ip="127.9.0.1", port=5000, kind="crawler")], "bob", T0 + 1
    )
    assert again[0].kind == "crawler" and again[0].excluded_by == "bob"
    assert len(store.excluded_monitors("hns")) == 3
    assert store.excluded_monitors("mozi") == []
    assert store.exclusion_revision() != mid
    assert store.include_monitor("hns", "127.9.0.2", 5001) is True
    assert store.include_monitor("hns", "127.9.0.2", 5001) is False
    assert store.include_monitor("mozi", "127.9.0.1", 5000) is False
    assert [(x.ip, x.port) for x in store.excluded_monitors()] == [
        ("127.9.0.1", 5000),
        ("2001:db8::1", 1),
    ]
    for bad in (
        MonitorToExclude(ip="127.0.0.256", port=1),
        MonitorToExclude(ip="127.0.0.1", port=70000),
        MonitorToExclude(ip="127.0.0.1", port=1, kind="bot"),  # type: ignore[arg-type]
        MonitorToExclude(ip="127.0.0.1", port=1, score=float("nan")),
        MonitorToExclude(ip="127.0.0.1", port=1, note="x" * 501),
        MonitorToExclude(ip="127.0.0.1", port=1, evidence={"x": float("inf")}),
    ):
        with pytest.raises(StoreError):
            store.exclude_monitors("hns", [MonitorToExclude(ip="127.0.0.9", port=9), bad], "a", T0)
    assert len(store.excluded_monitors("hns")) == 2  # nothing of a refused call stored
    with pytest.raises(StoreError, match="unknown botnet"):
        store.exclude_monitors("nope", [MonitorToExclude(ip="127.0.0.1", port=1)], "a", T0)


def test_cached_views_follow_the_exclusion_list(store: Store) -> None:
    """A view cached while a monitor was excluded is not reused once it is included again."""
    _fill(store)
    clear_cache(store)

    def view() -> Any:
        source = record_filter(None, True, store.exclusion_revision())
        return peers.top_peers(store, "full", T0, END, 50, source).rows

    hidden = view()
    store.include_monitor("full", *FOREIGN_SENSORS[0])
    shown = view()
    assert {tuple(r[:2]) for r in shown} - {tuple(r[:2]) for r in hidden} == {FOREIGN_SENSORS[0]}


@pytest.mark.parametrize("store_url", ["duckdb"], indirect=True)
def test_on_a_generated_trace_excluding_its_foreign_monitors_removes_exactly_them(
    store: Store,
) -> None:
    """A modelled botnet with foreign crawlers and sensors (the trace generator's truth):
    excluded, no read names them any more, and every other row is untouched. On DuckDB only
    (test time): the SQL is the same for both backends, and the test above compares them."""
    from botmon.sim.trace import TraceModel, generate_trace

    model = TraceModel(botnet="tr", bots=60, days=0.5, foreign_crawlers=2, foreign_sensors=3)
    truth = generate_trace(store, model, seed=4)
    foreign = {(m.ip, m.port) for kind in ("crawler", "sensor") for m in truth.foreign(kind)}
    assert len(foreign) == 5
    store.exclude_monitors(
        "tr", [MonitorToExclude(ip=ip, port=p) for ip, p in sorted(foreign)], "t", model.start
    )
    (b,) = [x.id for x in store.list_botnets() if x.name == "tr"]
    hidden = record_filter(None, True, store.exclusion_revision())
    lo, hi = model.start, model.end

    def pairs_of(rows: list[tuple[Any, ...]], at: tuple[int, ...]) -> list[set[tuple[Any, Any]]]:
        return [{(r[i], r[i + 1]) for r in rows} for i in at]

    for kind in ("replies", "failed_tries"):
        everyone = _rows(store.sightings(b, kind, lo, hi, 300))  # type: ignore[arg-type]
        kept = _rows(store.sightings(b, kind, lo, hi, 300, hidden))  # type: ignore[arg-type]
        assert kept == [r for r in everyone if (r[1], r[2]) not in foreign], kind
    everyone = _rows(store.edge_pairs(b, lo, hi))
    kept = _rows(store.edge_pairs(b, lo, hi, hidden))
    assert kept == [r for r in everyone if not {(r[0], r[1]), (r[3], r[4])} & foreign]
    (dst,) = pairs_of(everyone, (3,))
    assert {(m.ip, m.port) for m in truth.foreign("sensor")} <= dst  # listed by bots
    contacts = _rows(store.contacts(b, lo, hi))
    kept = _rows(store.contacts(b, lo, hi, RecordFilter("sensor", True, hidden.revision)))  # type: ignore[union-attr]
    assert kept == [r for r in contacts if (r[1], r[2]) not in foreign]
    assert any((r[1], r[2]) in foreign for r in contacts)  # foreign crawlers met our sensor
    counts = store.range_counts("replies", [b], lo, hi, ("ip_ports",), hidden)[b][0]
    sightings = _rows(store.sightings(b, "replies", lo, hi, 300, hidden))
    assert counts == len({(r[1], r[2]) for r in sightings})
