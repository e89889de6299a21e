"""The peer graph of one window as an igraph graph, and the numbers botmon reports about it.

A directed edge ``a -> b`` means "peer a listed peer b" (one edge however often it was
listed; the listing count, first and last time ride along as edge attributes). A node is an
``ip:port`` or, with ``by="id"``, a bot ID (peers seen without one keep their ``ip:port``), so
a bot that changed address is one node in the ID graph and several in the address graph.
Self-listings are dropped: they say nothing about who knows whom.

Everything here is deterministic for the same pairs in any order (nodes sorted by key,
edges by node pair), so DuckDB and PostgreSQL give identical numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import igraph as ig
import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa

EXACT_DIAMETER_NODES = 3000
"""Largest weak component (nodes) whose diameter is computed exactly (a BFS from every
node: about n·m steps, ~0.5 s at this size); a bigger one gets a double-sweep lower bound."""
DIAMETER_STARTS = 8
"""Start nodes of the double-sweep estimate: the highest-degree node and evenly spaced
others. Each costs two BFS (~0.1 s per million edges)."""
PAGERANK_DAMPING = 0.85
TOP_SIZES = 5
"""How many of the largest component sizes a result lists."""


@dataclass(frozen=True)
class PeerGraph:
    """A window's graph and, per node (igraph vertex index), its label and address."""

    graph: ig.Graph
    labels: list[str]
    """``ip:port`` (``[ip]:port`` for IPv6) or the bot ID."""
    ip: list[str]
    """The node's address; for an ID, the one it was last seen with."""
    port: list[int]
    bot_id: list[str | None]
    """For an address, the bot ID last seen with it; None: never seen with one."""


class DegreeBin(msgspec.Struct, frozen=True):
    """How many nodes have a degree in [low, high]; bins double in width (0, 1, 2-3, 4-7, ...)
    so a graph with a million edges and sensors of huge in-degree still fits on a line."""

    low: int
    high: int
    count: int


class RankedPeer(msgspec.Struct, frozen=True):
    """One of the peers with the highest PageRank: listed by many, or by well-listed ones."""

    node: str
    ip: str
    port: int
    bot_id: str | None
    score: float
    in_degree: int
    out_degree: int


class GraphStats(msgspec.Struct, frozen=True, kw_only=True):
    """The numbers of one graph (a snapshot window or the whole range)."""

    nodes: int
    edges: int
    mean_degree: float
    """Mean in-degree, which equals the mean out-degree: edges per node."""
    in_degree_max: int
    out_degree_max: int
    degree_in: list[DegreeBin]
    degree_out: list[DegreeBin]
    components: int
    """Weakly connected components (edge direction ignored)."""
    largest_component: int
    """Nodes in the largest weakly connected component."""
    largest_components: list[int]
    strong_components: int
    """Strongly connected components (every node reaches every other along listings)."""
    largest_strong_component: int
    largest_strong_components: list[int]
    clustering: float
    """Mean local clustering coefficient, edges undirected, nodes of degree < 2 counting 0."""
    diameter_estimate: int
    """Diameter (hops, edges undirected) of the largest weak component; a lower bound when
    ``diameter_exact`` is false."""
    diameter_exact: bool
    pagerank_top: list[RankedPeer]


def _address_labels(ip: pd.Series, port: pd.Series) -> pd.Series:
    host = ip.where(~ip.str.contains(":", regex=False), "[" + ip + "]")
    return host + ":" + port.astype("int64").astype(str)


def _side(df: pd.DataFrame, side: str, by: str) -> pd.DataFrame:
    """One end of every pair as (key, label, ip, port, bot_id, last_us); the key is the label
    with a one-letter kind in front, so an ID never collides with an address text."""
    ip, port, bid = df[f"{side}_ip"], df[f"{side}_port"], df[f"{side}_id"]
    address = _address_labels(ip, port)
    if by == "id":
        has_id = bid.notna()
        label = address.where(~has_id, bid)
        key = ("a" + address).where(~has_id, "i" + bid.fillna(""))
    else:
        label, key = address, "a" + address
    return pd.DataFrame(
        {
            "key": key,
            "label": label,
            "ip": ip,
            "port": port.astype("int64"),
            "bot_id": bid,
            "id_sort": bid.fillna(""),
            "last_us": df["last_us"],
        }
    )


def build(pairs: pa.Table, by: str) -> tuple[PeerGraph, pd.DataFrame]:
    """The graph of ``pairs`` (rows of ``EDGE_PAIRS_SCHEMA``), nodes keyed by ``by``
    (``ip_port`` or ``id``), and its edges as a frame (src, dst vertex indexes, n,
    first_us, last_us) in vertex-pair order."""
    df = pairs.to_pandas()
    ends = pd.concat([_side(df, "src", by), _side(df, "dst", by)], ignore_index=True)
    keys = ends["key"].to_numpy()
    # A node's address (or ID) is the one of its latest sighting; ties broken by value.
    ends = ends.sort_values(["key", "last_us", "ip", "port", "id_sort"], kind="mergesort")
    nodes = ends.drop_duplicates("key", keep="last").reset_index(drop=True)
    index = pd.Index(nodes["key"])
    half = len(df)
    codes = index.get_indexer(keys)
    edges = pd.DataFrame(
        {
            "src": codes[:half],
            "dst": codes[half:],
            "n": df["n"].to_numpy(),
            "first_us": df["first_us"].to_numpy(),
            "last_us": df["last_us"].to_numpy(),
        }
    )
    edges = edges[edges["src"] != edges["dst"]]
    edges = (
        edges.groupby(["src", "dst"], sort=True)
        .agg(n=("n", "sum"), first_us=("first_us", "min"), last_us=("last_us", "max"))
        .reset_index()
    )
    graph = ig.Graph(
        n=len(nodes),
        edges=np.column_stack([edges["src"].to_numpy(), edges["dst"].to_numpy()]).tolist(),
        directed=True,
    )
    bot_ids = [None if pd.isna(v) else str(v) for v in nodes["bot_id"]]
    peer_graph = PeerGraph(
        graph=graph,
        labels=[str(v) for v in nodes["label"]],
        ip=[str(v) for v in nodes["ip"]],
        port=[int(v) for v in nodes["port"]],
        bot_id=bot_ids,
    )
    return peer_graph, edges


def degree_bins(degrees: list[int], top: int) -> list[DegreeBin]:
    """Doubling bins from 0 up to the bin holding ``top`` (empty bins included, so two
    histograms with the same ``top`` line up)."""
    edges_ = [(0, 0)]
    low = 1
    while low <= top:
        edges_.append((low, 2 * low - 1))
        low *= 2
    counts = np.zeros(len(edges_), dtype=np.int64)
    values = np.asarray(degrees, dtype=np.int64)
    if len(values):
        # bin 0 holds 0; bin k >= 1 holds [2^(k-1), 2^k - 1], i.e. k = bit length of d
        index = np.where(values == 0, 0, np.floor(np.log2(np.maximum(values, 1))).astype(int) + 1)
        counts += np.bincount(index, minlength=len(edges_))[: len(edges_)]
    return [DegreeBin(lo, hi, int(c)) for (lo, hi), c in zip(edges_, counts, strict=True)]


def diameter(graph: ig.Graph) -> tuple[int, bool]:
    """Diameter of the largest weakly connected component with edges undirected, and
    whether it is exact (see :data:`EXACT_DIAMETER_NODES`).

    The estimate is a double sweep: a BFS from a start node finds a farthest node, whose
    eccentricity (a second BFS) is a lower bound of the diameter, tight on trees and close
    on the small-world graphs of P2P botnets; the best of :data:`DIAMETER_STARTS` starts."""
    if graph.vcount() == 0:
        return 0, True
    membership = graph.connected_components(mode="weak").membership
    sizes = np.bincount(membership)
    # Of equally large components, the one holding the first node in key order.
    giant = int(np.argmax(sizes))
    keep = [v for v, c in enumerate(membership) if c == giant]
    sub = graph.induced_subgraph(keep).as_undirected(mode="collapse")
    n = sub.vcount()
    if n <= EXACT_DIAMETER_NODES:
        return int(sub.diameter(directed=False)), True
    degrees = np.asarray(sub.degree())
    starts = [int(np.argmax(degrees))]
    starts += [int(i) for i in np.linspace(0, n - 1, DIAMETER_STARTS - 1).round()]
    best = 0
    for start in dict.fromkeys(starts):
        order, _, _ = sub.bfs(start)
        far = order[-1]
        _, layers, _ = sub.bfs(far)
        best = max(best, len(layers) - 2)
    return best, False


def stats(pg: PeerGraph, top: int) -> GraphStats:
    """Every number of :class:`GraphStats` for one graph; ``top`` PageRank peers."""
    g = pg.graph
    n, m = g.vcount(), g.ecount()
    indeg, outdeg = g.indegree(), g.outdegree()
    in_max, out_max = max(indeg, default=0), max(outdeg, default=0)
    span = max(in_max, out_max)
    weak = sorted(g.connected_components(mode="weak").sizes(), reverse=True) if n else []
    strong = sorted(g.connected_components(mode="strong").sizes(), reverse=True) if n else []
    clustering = float(g.transitivity_avglocal_undirected(mode="zero")) if n else 0.0
    diameter_, exact = diameter(g)
    ranked: list[RankedPeer] = []
    if n:
        scores = np.asarray(g.pagerank(directed=True, damping=PAGERANK_DAMPING))
        # Rounded so the last bits of floating point cannot reorder equal peers.
        rounded = np.round(scores, 12)
        order = np.lexsort((np.arange(n), -rounded))[:top]  # equal scores: in node order
        ranked = [
            RankedPeer(
                node=pg.labels[v],
                ip=pg.ip[v],
                port=pg.port[v],
                bot_id=pg.bot_id[v],
                score=float(rounded[v]),
                in_degree=int(indeg[v]),
                out_degree=int(outdeg[v]),
            )
            for v in order
        ]
    return GraphStats(
        nodes=n,
        edges=m,
        mean_degree=round(m / n, 9) if n else 0.0,
        in_degree_max=in_max,
        out_degree_max=out_max,
        degree_in=degree_bins(indeg, span),
        degree_out=degree_bins(outdeg, span),
        components=len(weak),
        largest_component=weak[0] if weak else 0,
        largest_components=weak[:TOP_SIZES],
        strong_components=len(strong),
        largest_strong_component=strong[0] if strong else 0,
        largest_strong_components=strong[:TOP_SIZES],
        clustering=round(clustering, 12),
        diameter_estimate=diameter_,
        diameter_exact=exact,
        pagerank_top=ranked,
    )
