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
import pyarrow as pa
import pyarrow.compute as pc

EXACT_DIAMETER_NODES = 3000
"""Largest weak component (nodes) whose diameter is computed exactly (a BFS from every
node: about n·m steps, ~0.5 s at this size); a bigger one gets a double-sweep lower bound."""
DIAMETER_STARTS = 4
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


@dataclass(frozen=True)
class EdgeArrays:
    """The graph's edges in vertex-pair order (igraph's edge order): endpoints, how often
    the pair was listed, first and last listing (UTC epoch microseconds)."""

    src: np.ndarray
    dst: np.ndarray
    n: np.ndarray
    first_us: np.ndarray
    last_us: np.ndarray


def _address(ip: pa.Array, port: pa.Array) -> pa.Array:
    """``ip:port``, ``[ip]:port`` for IPv6."""
    host = pc.if_else(
        pc.match_substring(ip, ":"), pc.binary_join_element_wise("[", ip, "]", ""), ip
    )
    return pc.binary_join_element_wise(host, pc.cast(port, pa.string()), ":")


def _key(address: pa.Array, bot_id: pa.Array, by: str) -> pa.Array:
    """A node's key: its label with a one-letter kind in front, so an ID never collides
    with an address text."""
    by_address = pc.binary_join_element_wise("a", address, "")
    if by != "id":
        return by_address
    return pc.if_else(pc.is_valid(bot_id), pc.binary_join_element_wise("i", bot_id, ""), by_address)


def _sorted_codes(values: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Each value's rank among the distinct values (nulls: -1) and the distinct values in
    order: integer stand-ins that sort like the text, for sorting millions of rows."""
    encoded = pc.dictionary_encode(values)
    order = pc.sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    indices = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
    codes = np.full(len(indices), -1, dtype=np.int64)
    valid = indices >= 0
    codes[valid] = rank[indices[valid]]
    return codes, encoded.dictionary.take(pa.array(order))


def _both_ends(t: pa.Table, column: str) -> pa.Array:
    """The src and then the dst values of ``column`` (``ip``, ``port``, ``id``)."""
    return pa.concat_arrays(
        [t[f"src_{column}"].combine_chunks(), t[f"dst_{column}"].combine_chunks()]
    )


def _column(t: pa.Table, column: str) -> np.ndarray:
    return np.asarray(t[column].combine_chunks().to_numpy(), dtype=np.int64)


def build(pairs: pa.Table, by: str) -> tuple[PeerGraph, EdgeArrays]:
    """The graph of ``pairs`` (rows of ``EDGE_PAIRS_SCHEMA``), nodes keyed by ``by``
    (``ip_port`` or ``id``), and its edges.

    Works on Arrow and numpy columns (text compared once, when ranking distinct values):
    a million pairs take about a second on this machine."""
    t, m = pairs, pairs.num_rows
    ip, port, bot_id = _both_ends(t, "ip"), _both_ends(t, "port"), _both_ends(t, "id")
    address = _address(ip, port)
    node, keys = _sorted_codes(_key(address, bot_id, by))
    latest = _latest(node, np.tile(_column(t, "last_us"), 2), address, bot_id)
    chosen = pa.array(latest, pa.int64())
    peer_graph = PeerGraph(
        graph=ig.Graph(n=len(keys), directed=True),
        labels=pc.utf8_slice_codeunits(keys, 1).to_pylist(),
        ip=ip.take(chosen).to_pylist(),
        port=port.take(chosen).to_pylist(),
        bot_id=bot_id.take(chosen).to_pylist(),
    )
    edges = _collapse(node[:m], node[m:], t, len(keys))
    peer_graph.graph.add_edges(np.column_stack([edges.src, edges.dst]))
    return peer_graph, edges


def _latest(
    node: np.ndarray, last_us: np.ndarray, address: pa.Array, bot_id: pa.Array
) -> np.ndarray:
    """Per node (in node order), the row of its latest sighting: the address (or ID) a node
    is shown with. Equally late rows are told apart by address, then ID text, so the
    choice does not depend on the order rows came in; only those few rows are compared as
    text."""
    if not len(node):
        return np.zeros(0, np.int64)
    order = np.argsort(node, kind="stable")
    grouped = node[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    best = np.maximum.reduceat(last_us[order], starts)
    sizes = np.diff(np.r_[starts, len(grouped)])
    rows = order[last_us[order] == np.repeat(best, sizes)]
    picked = pa.array(rows, pa.int64())
    address_code, _ = _sorted_codes(address.take(picked))
    id_code, _ = _sorted_codes(bot_id.take(picked))
    ranked = rows[np.lexsort((id_code, address_code, node[rows]))]
    ends = node[ranked]
    last_of_each: np.ndarray = ranked[np.flatnonzero(np.r_[ends[1:] != ends[:-1], True])]
    return last_of_each


def _collapse(src: np.ndarray, dst: np.ndarray, t: pa.Table, nodes: int) -> EdgeArrays:
    """One edge per (src, dst) node pair, self-listings dropped, sorted by the pair."""
    keep = src != dst
    key = src[keep] * max(nodes, 1) + dst[keep]
    columns = [_column(t, c)[keep] for c in ("n", "first_us", "last_us")]
    order = np.argsort(key, kind="stable")
    key = key[order]
    if not len(key):
        empty = np.zeros(0, np.int64)
        return EdgeArrays(empty, empty, empty, empty, empty)
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    n, first, last = (c[order] for c in columns)
    pair = key[starts]
    return EdgeArrays(
        src=pair // max(nodes, 1),
        dst=pair % max(nodes, 1),
        n=np.add.reduceat(n, starts),
        first_us=np.minimum.reduceat(first, starts),
        last_us=np.maximum.reduceat(last, starts),
    )


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
    membership = np.asarray(graph.connected_components(mode="weak").membership)
    # Of equally large components, the one holding the first node in key order.
    keep = np.flatnonzero(membership == np.argmax(np.bincount(membership)))
    if len(keep) <= EXACT_DIAMETER_NODES:
        sub = graph.induced_subgraph(keep.tolist())
        return int(sub.diameter(directed=False)), True
    degrees = np.asarray(graph.degree(keep.tolist()))
    starts = [int(keep[np.argmax(degrees)])]
    spaced = np.linspace(0, len(keep) - 1, DIAMETER_STARTS - 1).round().astype(np.int64)
    starts += [int(v) for v in keep[spaced]]
    best = 0
    for start in dict.fromkeys(starts):
        order, _, _ = graph.bfs(start, mode="all")
        _, layers, _ = graph.bfs(order[-1], mode="all")
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
