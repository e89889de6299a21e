"""The peer graph analysis: given stored edges of a known shape, botmon reports that shape.

Every number is checked against an independent computation in plain Python over the same
edge set (BFS for components and diameter, a power iteration for PageRank, triangle counts
for clustering), not against igraph itself.
"""

from __future__ import annotations

import io
import uuid
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterable
from typing import Any

import igraph as ig
import msgspec
import numpy as np
import pyarrow as pa
import pytest

from botmon.analysis import framework, graph_stats
from botmon.analysis.graph import GraphResult
from botmon.analysis.table import UnknownBotnet
from botmon.cli.main import main
from botmon.sim.trace import TraceModel, generate_trace
from botmon.store import open_store
from botmon.store.base import Store
from botmon.store.reads import EDGE_PAIRS_SCHEMA
from botmon.validation import validate_batch
from botmon.wire import Batch, Edge

DAY = 86400
T0 = 1_780_012_800.0  # a Monday 00:00 UTC: day windows start here
BOTNET = "g"

Pair = tuple[str, str]


def addr(name: str) -> tuple[str, int]:
    """A test address per node name (documentation range; data only, never contacted)."""
    n = int(name[1:]) + "abcdes".index(name[0]) * 16
    return f"192.0.2.{n}", 1000 + n


def ident(name: str) -> str:
    return "id-" + name


# Day 1: a 3-cycle a1 a2 a3 with a tail a3 -> a4 -> a5 -> a6, everyone in it listing the
# sensor-like s0 (which lists no one), a 2-cycle b1 b2 and a lone listing c1 -> c2.
DAY1: list[Pair] = [
    ("a1", "a2"),
    ("a2", "a3"),
    ("a3", "a1"),
    ("a3", "a4"),
    ("a4", "a5"),
    ("a5", "a6"),
    ("a1", "s0"),
    ("a2", "s0"),
    ("a4", "s0"),
    ("a5", "s0"),
    ("a6", "s0"),
    ("b1", "b2"),
    ("b2", "b1"),
    ("c1", "c2"),
]
# Day 2: part of the tail again, the 2-cycle joined to the sensor, a new chain d1 .. d5
# (the largest component that day, diameter 4).
DAY2: list[Pair] = [
    ("a4", "a5"),
    ("a5", "a6"),
    ("a6", "a4"),
    ("b1", "s0"),
    ("b2", "s0"),
    ("d1", "d2"),
    ("d2", "d3"),
    ("d3", "d4"),
    ("d4", "d5"),
]


def edge_records(pairs: Iterable[Pair], t: float, repeat: int = 2) -> list[Edge]:
    out = []
    for k in range(repeat):
        for src, dst in pairs:
            (si, sp), (di, dp) = addr(src), addr(dst)
            out.append(Edge(t + 3600 * k, si, sp, di, dp, ident(src), ident(dst)))
    return out


def write(store: Store, edges: list[Edge], source: str = "crawler-a") -> None:
    if store.get_botnet(BOTNET) is None:
        store.create_botnet(BOTNET)
    body = msgspec.json.encode(Batch(BOTNET, uuid.uuid4().hex, edges=edges))
    store.write_batch(validate_batch(body, now=T0 + 30 * DAY), source)


def fill(store: Store) -> None:
    """The two days, plus a self-listing (dropped) and, late on day 2, bot a4 on a second
    address (node e0 by address; the same node as a4 by ID)."""
    edges = edge_records(DAY1, T0 + 600) + edge_records(DAY2, T0 + DAY + 600)
    edges.append(Edge(T0 + 700, *addr("a1"), *addr("a1"), ident("a1"), ident("a1")))
    edges.append(Edge(T0 + DAY + 5000, *addr("e0"), *addr("a5"), ident("a4"), ident("a5")))
    write(store, edges)


SECOND_ADDRESS: Pair = ("e0", "a5")


# -- the independent reference ---------------------------------------------------------------
def undirected(pairs: set[Pair]) -> dict[str, set[str]]:
    adj: dict[str, set[str]] = {}
    for s, d in pairs:
        adj.setdefault(s, set()).add(d)
        adj.setdefault(d, set()).add(s)
    return adj


def bfs(adj: dict[str, set[str]], start: str) -> dict[str, int]:
    dist = {start: 0}
    queue = deque([start])
    while queue:
        u = queue.popleft()
        for v in adj.get(u, ()):
            if v not in dist:
                dist[v] = dist[u] + 1
                queue.append(v)
    return dist


def reference(pairs: set[Pair]) -> dict[str, Any]:
    """Components, degrees, clustering, diameter and PageRank of a small edge set."""
    pairs = {(s, d) for s, d in pairs if s != d}
    nodes = sorted({n for p in pairs for n in p})
    adj = undirected(pairs)
    out_adj: dict[str, set[str]] = {n: set() for n in nodes}
    for s, d in pairs:
        out_adj[s].add(d)
    weak: list[set[str]] = []
    for n in nodes:
        if not any(n in c for c in weak):
            weak.append(set(bfs(adj, n)))
    reach = {n: set(bfs({k: v for k, v in out_adj.items()}, n)) for n in nodes}
    strong: list[set[str]] = []
    for n in nodes:
        if not any(n in c for c in strong):
            strong.append({m for m in nodes if m in reach[n] and n in reach[m]})
    giant = max(weak, key=len)
    sub = {n: adj[n] & giant for n in giant}
    diameter = max(max(bfs(sub, n).values()) for n in giant)
    clustering = []
    for n in nodes:
        nb = sorted(adj[n])
        k = len(nb)
        links = sum(1 for i in range(k) for j in range(i + 1, k) if nb[j] in adj[nb[i]])
        clustering.append(0.0 if k < 2 else 2 * links / (k * (k - 1)))
    # PageRank by power iteration; a node listing no one spreads its rank over everyone.
    idx = {n: i for i, n in enumerate(nodes)}
    size = len(nodes)
    rank = np.full(size, 1 / size)
    for _ in range(1000):
        new = np.full(size, (1 - 0.85) / size)
        for n in nodes:
            outs = out_adj[n]
            if outs:
                for d in outs:
                    new[idx[d]] += 0.85 * rank[idx[n]] / len(outs)
            else:
                new += 0.85 * rank[idx[n]] / size
        rank = new
    indeg = {n: sum(1 for s, d in pairs if d == n) for n in nodes}
    outdeg = {n: len(out_adj[n]) for n in nodes}
    return {
        "nodes": size,
        "edges": len(pairs),
        "components": len(weak),
        "largest_component": len(giant),
        "strong_components": len(strong),
        "largest_strong_component": max(len(c) for c in strong),
        "diameter": diameter,
        "clustering": sum(clustering) / size,
        "pagerank": {n: float(rank[idx[n]]) for n in nodes},
        "indeg": indeg,
        "outdeg": outdeg,
    }


def label(name: str) -> str:
    ip, port = addr(name)
    return f"{ip}:{port}"


def check(stats: Any, pairs: set[Pair]) -> None:
    ref = reference(pairs)
    assert stats.nodes == ref["nodes"]
    assert stats.edges == ref["edges"]
    assert stats.components == ref["components"]
    assert stats.largest_component == ref["largest_component"]
    assert stats.strong_components == ref["strong_components"]
    assert stats.largest_strong_component == ref["largest_strong_component"]
    assert stats.diameter_estimate == ref["diameter"] and stats.diameter_exact
    assert stats.clustering == pytest.approx(ref["clustering"], abs=1e-9)
    assert stats.in_degree_max == max(ref["indeg"].values())
    assert stats.out_degree_max == max(ref["outdeg"].values())
    for hist, degs in ((stats.degree_in, ref["indeg"]), (stats.degree_out, ref["outdeg"])):
        assert sum(b.count for b in hist) == ref["nodes"]
        for b in hist:
            assert b.count == sum(1 for d in degs.values() if b.low <= d <= b.high)
    expected = sorted(ref["pagerank"].items(), key=lambda kv: (-round(kv[1], 9), label(kv[0])))
    got = [(p.node, p.score) for p in stats.pagerank_top]
    assert [n for n, _ in got] == [label(n) for n, _ in expected[: len(got)]]
    for (_, score), (_, want) in zip(got, expected, strict=False):
        assert score == pytest.approx(want, abs=1e-6)
    for p in stats.pagerank_top:
        name = next(n for n in ref["indeg"] if label(n) == p.node)
        assert (p.in_degree, p.out_degree) == (ref["indeg"][name], ref["outdeg"][name])


def run(store: Store, **options: Any) -> GraphResult:
    analysis = framework.get("graph")
    request = analysis.request(BOTNET, T0, T0 + 2 * DAY, values=options)
    result = analysis.compute(store, request)
    assert isinstance(result, GraphResult)
    return result


# -- the tests ---------------------------------------------------------------------------------
def test_every_number_matches_an_independent_computation(store: Store) -> None:
    """Each day's graph and the two days together match the reference exactly."""
    fill(store)
    result = run(store, top=30)
    day1, day2 = set(DAY1), set(DAY2) | {SECOND_ADDRESS}
    assert [(s.start, s.end) for s in result.snapshots] == [
        (T0, T0 + DAY),
        (T0 + DAY, T0 + 2 * DAY),
    ]
    check(result.snapshots[0], day1)
    check(result.snapshots[1], day2)
    check(result, day1 | day2)
    assert len(result.pagerank_top) == result.nodes  # top 30 > 20 nodes: all listed
    assert result.vantage_points == ["crawler-a"]
    assert result.params["by"] == "ip_port" and result.params["snapshot_s"] == DAY
    # The sensor-like s0 is listed by the most peers and ranks first over both days.
    assert result.pagerank_top[0].node == label("s0")
    assert result.pagerank_top[0].in_degree == 7
    assert result.largest_component == 10  # a1..a6, s0, b1, b2 (day 2) and e0


def test_by_id_merges_a_bot_seen_on_two_addresses(store: Store) -> None:
    fill(store)
    by_addr, by_id = run(store), run(store, by="id")
    assert by_addr.nodes == by_id.nodes + 1
    assert by_id.snapshots[1].nodes == by_addr.snapshots[1].nodes - 1
    nodes = {p.node for p in run(store, by="id", top=100).pagerank_top}
    assert ident("a4") in nodes and label("e0") not in nodes and ident("e0") not in nodes
    a4 = next(p for p in run(store, by="id", top=100).pagerank_top if p.node == ident("a4"))
    assert (a4.ip, a4.port) == addr("e0")  # its latest address


def test_options_and_errors(store: Store) -> None:
    fill(store)
    analysis = framework.get("graph")
    with pytest.raises(framework.OptionError, match="by"):
        analysis.request(BOTNET, T0, T0 + DAY, texts={"by": "mac"})
    with pytest.raises(framework.OptionError, match="snapshot_s"):
        analysis.request(BOTNET, T0, T0 + DAY, texts={"snapshot_s": "10"})
    with pytest.raises(framework.OptionError, match="snapshot_s"):
        analysis.compute(
            store, analysis.request(BOTNET, T0, T0 + 30 * DAY, values={"snapshot_s": 60})
        )
    with pytest.raises(UnknownBotnet):
        analysis.compute(store, analysis.request("nope", T0, T0 + DAY))
    # Hourly snapshots clip to the range and an empty window is all zeros.
    hourly = run(store, snapshot_s=3600)
    assert len(hourly.snapshots) == 48
    empty = hourly.snapshots[5]
    assert (empty.nodes, empty.edges, empty.pagerank_top, empty.diameter_estimate) == (0, 0, [], 0)
    sections = {s.name: s for s in hourly.sections()}
    assert list(sections) == ["snapshots", "pagerank_top", "degrees"]
    assert len(sections["snapshots"].rows) == 48
    assert sections["degrees"].rows[0][:2] == [0, 0]


def test_exports_parse_back(store: Store, tmp_path: Any) -> None:
    fill(store)
    analysis = framework.get("graph")
    request = analysis.request(BOTNET, T0, T0 + 2 * DAY)
    result = analysis.compute(store, request)
    assert isinstance(result, GraphResult)
    buf = io.BytesIO()
    analysis.exports["graphml"](store, request, buf)
    path = tmp_path / "g.graphml"
    path.write_bytes(buf.getvalue())
    g = ig.Graph.Read_GraphML(str(path))
    assert (g.vcount(), g.ecount()) == (result.nodes, result.edges)
    assert g.is_directed()
    s0 = g.vs.find(name=label("s0"))
    assert s0["in_degree"] == result.pagerank_top[0].in_degree
    assert s0["pagerank"] == pytest.approx(result.pagerank_top[0].score, abs=1e-9)
    assert s0["bot_id"] == ident("s0") and int(s0["port"]) == addr("s0")[1]
    assert all(e["count"] >= 1 and e["first"] <= e["last"] for e in g.es)
    ET.fromstring(buf.getvalue())  # plain XML too
    out = io.BytesIO()
    analysis.exports["edgelist"](store, request, out)
    lines = out.getvalue().decode().splitlines()
    assert lines[0] == "src_ip,src_port,src_id,dst_ip,dst_port,dst_id,count,first,last"
    # Distinct stored pairs: both days' listings, the self-listing and a4's second address.
    assert len(lines) - 1 == len(set(DAY1) | set(DAY2)) + 2
    rows = [r.split(",") for r in lines[1:]]
    assert rows == sorted(rows, key=lambda r: (r[0], int(r[1]), r[2], r[3], int(r[4]), r[5]))
    assert not out.closed


def test_same_result_on_duckdb_and_postgresql(tmp_path: Any, pg_database_url: str) -> None:
    answers = []
    for url in (str(tmp_path / "g.duckdb"), pg_database_url):
        s = open_store(url)
        try:
            s.migrate()
            fill(s)
            for by in ("ip_port", "id"):
                body = framework.to_json(run(s, by=by, snapshot_s=3 * 3600))
                body.pop("computed_at")
                answers.append(body)
        finally:
            s.close()
    assert answers[:2] == answers[2:]


def test_degree_bins_double() -> None:
    bins = graph_stats.degree_bins([0, 1, 2, 3, 4, 7, 8, 100], 100)
    assert [(b.low, b.high) for b in bins][:5] == [(0, 0), (1, 1), (2, 3), (4, 7), (8, 15)]
    assert bins[-1].low <= 100 <= bins[-1].high
    assert [b.count for b in bins] == [1, 1, 2, 2, 1, 0, 0, 1]


def test_diameter_of_a_large_component_is_a_stated_lower_bound() -> None:
    """Above the exact-size bound, the double sweep is exact on trees and within one hop on
    a sparse random graph (checked against igraph's exact all-pairs diameter)."""
    n = graph_stats.EXACT_DIAMETER_NODES + 500
    tree = ig.Graph.Tree_Game(n, directed=False)
    tree.to_directed(mode="random")
    value, exact = graph_stats.diameter(tree)
    assert not exact
    assert value == tree.diameter(directed=False)
    rng = np.random.default_rng(3)
    pairs = rng.integers(0, n, size=(3 * n, 2))
    sparse = ig.Graph(n=n, edges=pairs.tolist(), directed=True)
    value, exact = graph_stats.diameter(sparse)
    giant = sparse.connected_components(mode="weak").giant()
    truth = giant.diameter(directed=False)
    assert not exact and truth - 1 <= value <= truth


def test_foreign_sensors_of_a_generated_trace_have_the_top_in_degree(tmp_path: Any) -> None:
    """A day of a modelled botnet (300 bots, five foreign sensors that every bot lists and
    that list no one): the five nodes of highest in-degree, and of highest PageRank, are
    exactly the foreign sensors, each listing no one. DuckDB only: both backends give
    identical results (above), and generating the trace twice would double the time."""
    model = TraceModel(bots=300, days=1, crawl_interval_s=1800)
    store = open_store(str(tmp_path / "trace.duckdb"))
    try:
        store.migrate()
        truth = generate_trace(store, model, seed=1)
        analysis = framework.get("graph")
        request = analysis.request(
            model.botnet, model.start, model.start + model.days * DAY, values={"top": 20}
        )
        result = analysis.compute(store, request)
        assert isinstance(result, GraphResult)
        sensors = {f"{m.ip}:{m.port}" for m in truth.foreign("sensor")}
        assert len(sensors) == model.foreign_sensors
        k = len(sensors)
        assert {p.node for p in result.pagerank_top[:k]} == sensors
        assert all(p.out_degree == 0 for p in result.pagerank_top[:k])
        path = tmp_path / "trace.graphml"
        with open(path, "wb") as out:
            analysis.exports["graphml"](store, request, out)
    finally:
        store.close()
    g = ig.Graph.Read_GraphML(str(path))
    assert (g.vcount(), g.ecount()) == (result.nodes, result.edges)
    by_in_degree = sorted(g.vs, key=lambda v: -v["in_degree"])
    assert {v["name"] for v in by_in_degree[:k]} == sensors
    assert by_in_degree[k - 1]["in_degree"] > by_in_degree[k]["in_degree"]
    # The top PageRank node is one of the sensors (which sensor leads depends on the draws:
    # their in-degrees are close).
    assert result.pagerank_top[0].node in sensors


def test_whole_range_is_the_same_however_it_is_cut(store: Store) -> None:
    """The range's numbers come from its windows' pairs put together: hourly, daily and
    one single window give the same whole-range result."""
    fill(store)
    whole_keys = [k for k in framework.to_json(run(store)) if k not in ("snapshots", "params")]
    answers = []
    for snapshot_s in (3600, DAY, 7 * DAY):
        body = framework.to_json(run(store, snapshot_s=snapshot_s))
        answers.append({k: body[k] for k in whole_keys if k != "computed_at"})
    assert answers[0] == answers[1] == answers[2]
    assert answers[0]["edges"] == len(set(DAY1) | set(DAY2) | {SECOND_ADDRESS})


def test_equally_late_addresses_of_one_id_are_chosen_by_value_not_row_order() -> None:
    rows = [
        ("192.0.2.9", 9, "x", "192.0.2.1", 1, "y", 1, 10, 50),
        ("192.0.2.10", 10, "x", "192.0.2.1", 1, "y", 2, 20, 50),
        ("192.0.2.3", 3, "x", "192.0.2.1", 1, "y", 1, 5, 40),
    ]
    names = EDGE_PAIRS_SCHEMA.names
    shown = set()
    for ordered in (rows, rows[::-1], rows[1:] + rows[:1]):
        table = pa.table({n: [r[i] for r in ordered] for i, n in enumerate(names)})
        pg, edges = graph_stats.build(table.cast(EDGE_PAIRS_SCHEMA), "id")
        x = pg.labels.index("x")
        shown.add((pg.ip[x], pg.port[x]))
        assert (edges.n.tolist(), edges.first_us.tolist(), edges.last_us.tolist()) == (
            [4],
            [5],
            [50],
        )
    # ID x was last seen at 50 on both 192.0.2.9:9 and 192.0.2.10:10: of equally late
    # sightings the greatest address text wins ("192.0.2.9:9"), whatever the row order.
    assert shown == {("192.0.2.9", 9)}


def test_command_line_exports_and_refuses_too_many_windows(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """``botmon analyze graph``: GraphML to a file, and one error line (exit 2) when the
    snapshot windows would be too many for the range."""
    db = str(tmp_path / "cli.duckdb")
    s = open_store(db)
    try:
        s.migrate()
        fill(s)
    finally:
        s.close()
    base = ["analyze", "graph", "--botnet", BOTNET, "--db", db, "--start", str(int(T0))]

    def botmon(*args: str) -> tuple[int, str]:
        try:
            main([*base, *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, capsys.readouterr().err

    out = tmp_path / "g.graphml"
    code, _ = botmon("--end", str(int(T0 + 2 * DAY)), "--format", "graphml", "-o", str(out))
    assert code == 0
    assert ig.Graph.Read_GraphML(str(out)).ecount() == len(set(DAY1) | set(DAY2)) + 1
    code, err = botmon("--end", str(int(T0 + 30 * DAY)), "--snapshot-s", "60")
    assert code == 2 and "at most 500" in err and "Traceback" not in err
