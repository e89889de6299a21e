"""The peer graph analysis: who lists whom, per snapshot window and over the whole range.

A crawler's edges ("bot a listed peer b") make a directed graph whose shape answers research
questions directly: degree distributions (sensors of other researchers are listed by very
many bots and list few), components (a partitioned botnet, or a crawler that only reached
part of it), PageRank (the peers the botnet leans on), clustering and diameter (how quickly
news spreads). Snapshots per window (one day by default, aligned as every bucket in botmon)
show how it changes; the whole range is exported as GraphML or an edge list
(:mod:`botmon.analysis.graph_export`). Graph numbers come from igraph
(:mod:`botmon.analysis.graph_stats`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pyarrow as pa

from botmon.analysis import graph_stats
from botmon.analysis.framework import (
    Analysis,
    AnalysisRequest,
    Option,
    OptionError,
    ResultBase,
    Section,
    vantage_points,
)
from botmon.analysis.graph_export import EXPORTS
from botmon.analysis.graph_stats import DegreeBin, GraphStats, RankedPeer
from botmon.analysis.scope import botnet_id
from botmon.buckets import DAY, bucket_start, buckets_between
from botmon.store.base import Store

MAX_SNAPSHOTS = 500
"""Snapshot windows one request may ask for (each is a read of its edges and a graph):
the longest range the API takes (400 days) in days, or three weeks in hours."""

OPTIONS = (
    Option(
        "by",
        "choice",
        "ip_port",
        "Node of the graph: an ip:port, or a bot ID (peers seen without one keep their ip:port).",
        choices=("ip_port", "id"),
    ),
    Option(
        "snapshot_s",
        "int",
        DAY,
        "Length of each snapshot window in seconds (aligned to UTC hours, days and weeks).",
        minimum=60,
        maximum=366 * DAY,
    ),
    Option(
        "top",
        "int",
        20,
        "How many peers of highest PageRank to list, per snapshot and for the whole range.",
        minimum=1,
        maximum=1000,
    ),
)


class Snapshot(GraphStats, frozen=True, kw_only=True):
    """The graph of one window [start, end) (UTC epoch seconds)."""

    start: float
    end: float


class GraphResult(ResultBase, kw_only=True):
    """The peer graph: one entry per snapshot window, then the whole range's numbers at the
    top level (same meaning as in :class:`~botmon.analysis.graph_stats.GraphStats`)."""

    by: str
    snapshots: list[Snapshot]
    nodes: int
    edges: int
    mean_degree: float
    in_degree_max: int
    out_degree_max: int
    degree_in: list[DegreeBin]
    degree_out: list[DegreeBin]
    components: int
    largest_component: int
    largest_components: list[int]
    strong_components: int
    largest_strong_component: int
    largest_strong_components: list[int]
    clustering: float
    diameter_estimate: int
    diameter_exact: bool
    pagerank_top: list[RankedPeer]

    def sections(self) -> list[Section]:
        snapshots = Section(
            "snapshots",
            "Peer graph per snapshot window (JSON has every number)",
            [
                "start",
                "end",
                "nodes",
                "edges",
                "mean_degree",
                "in_degree_max",
                "components",
                "largest_component",
                "strong_components",
                "clustering",
                "diameter_estimate",
                "top_peer",
            ],
            [
                [
                    _rfc3339(s.start),
                    _rfc3339(s.end),
                    s.nodes,
                    s.edges,
                    s.mean_degree,
                    s.in_degree_max,
                    s.components,
                    s.largest_component,
                    s.strong_components,
                    s.clustering,
                    s.diameter_estimate,
                    s.pagerank_top[0].node if s.pagerank_top else None,
                ]
                for s in self.snapshots
            ],
        )
        ranked = Section(
            "pagerank_top",
            "Peers of highest PageRank over the whole range",
            ["rank", "node", "ip", "port", "bot_id", "score", "in_degree", "out_degree"],
            [
                [i + 1, p.node, p.ip, p.port, p.bot_id, p.score, p.in_degree, p.out_degree]
                for i, p in enumerate(self.pagerank_top)
            ],
        )
        degrees = Section(
            "degrees",
            "Degree histograms over the whole range (nodes per degree bin)",
            ["degree_low", "degree_high", "in_degree_nodes", "out_degree_nodes"],
            [
                [a.low, a.high, a.count, b.count]
                for a, b in zip(self.degree_in, self.degree_out, strict=True)
            ],
        )
        return [snapshots, ranked, degrees]


def _rfc3339(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def windows(start: float, end: float, snapshot_s: int) -> list[tuple[float, float]]:
    """The snapshot windows of [start, end): aligned buckets of ``snapshot_s``, the first and
    last clipped to the range. OptionError beyond :data:`MAX_SNAPSHOTS`."""
    indexes = buckets_between(start, end, snapshot_s)
    if len(indexes) > MAX_SNAPSHOTS:
        raise OptionError(
            f"snapshot_s {snapshot_s} cuts the range into {len(indexes)} windows, at most"
            f" {MAX_SNAPSHOTS} are allowed: raise snapshot_s or shorten the range"
        )
    return [
        (max(start, bucket_start(i, snapshot_s)), min(end, bucket_start(i + 1, snapshot_s)))
        for i in indexes
    ]


def compute(store: Store, request: AnalysisRequest) -> GraphResult:
    """The peer graph of ``request``'s botnet and range (see the module's docstring)."""
    bid = botnet_id(store, request.botnet)
    by: str = request.options["by"]
    snapshot_s: int = request.options["snapshot_s"]
    top: int = request.options["top"]
    cuts = windows(request.start, request.end, snapshot_s)

    # The whole range's pairs are the windows' pairs together (counts add up, first and
    # last are the extremes), so the range is read once, window by window.
    tables: list[pa.Table] = []
    snapshots: list[Snapshot] = []
    for s, e in cuts:
        tables.append(store.edge_pairs(bid, s, e, request.source))
        found = graph_stats.stats(graph_stats.build(tables[-1], by)[0], top)
        snapshots.append(Snapshot(start=s, end=e, **msgspec.structs.asdict(found)))
    whole = (
        found
        if len(cuts) == 1
        else graph_stats.stats(graph_stats.build(pa.concat_tables(tables), by)[0], top)
    )
    sources = store.source_counts("edges", [bid], request.start, request.end, request.source)
    params: dict[str, Any] = {
        "by": by,
        "snapshot_s": snapshot_s,
        "snapshots": len(snapshots),
        "top": top,
        "source_type": request.source or "all",
        "pagerank_damping": graph_stats.PAGERANK_DAMPING,
        "exact_diameter_nodes": graph_stats.EXACT_DIAMETER_NODES,
        "diameter_starts": graph_stats.DIAMETER_STARTS,
    }
    return GraphResult(
        analysis="graph",
        botnet=request.botnet,
        start=request.start,
        end=request.end,
        method=METHOD,
        params=params,
        vantage_points=vantage_points(list(sources)),
        computed_at=dt.datetime.now(dt.UTC).timestamp(),
        by=by,
        snapshots=snapshots,
        **msgspec.structs.asdict(whole),
    )


METHOD = (
    "Directed peer graph from the stored edges: one edge a->b when peer a listed peer b in"
    " the window (however often), self-listings dropped; nodes are ip:port, or bot IDs with"
    " by=id (peers without an ID keep their ip:port, an ID's address is its latest). Per"
    " snapshot window (snapshot_s, aligned to UTC buckets from Monday 1970-01-05, the first"
    " and last clipped to the range) and over the whole range, with igraph: in/out degree"
    " histograms in doubling bins, weakly and strongly connected components, PageRank"
    " (damping 0.85, unweighted, dangling nodes spread uniformly), mean local clustering"
    " (edges undirected, nodes of degree < 2 count 0), and the diameter of the largest weak"
    " component with edges undirected: exact up to exact_diameter_nodes nodes, above that a"
    " double-sweep lower bound (BFS to a farthest node, then its eccentricity) from"
    " diameter_starts start nodes (diameter_exact says which)."
)

ANALYSIS = Analysis(
    name="graph",
    title="Peer graph",
    summary="Degree distributions, components, PageRank, clustering and diameter of who lists"
    " whom, per snapshot window; GraphML and edge-list exports.",
    options=OPTIONS,
    compute=compute,
    result_type=GraphResult,
    default_range_s=7 * DAY,
    exports=EXPORTS,
)
