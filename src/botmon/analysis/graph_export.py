"""The peer graph of a request's whole range as files other tools read: GraphML (Gephi,
Cytoscape, networkx, igraph) and a CSV edge list.

``botmon analyze graph --format graphml -o F`` and ``--format edgelist`` call these through
``ANALYSIS.exports``. GraphML carries the graph as :mod:`botmon.analysis.graph_stats` builds
it (nodes keyed by the request's ``by``) with per-node ``ip``, ``port``, ``bot_id`` (empty:
none seen), ``pagerank``, ``in_degree``, ``out_degree`` and per-edge ``count``, ``first``,
``last`` (UTC epoch seconds). The edge list is the stored pairs as they are, one row per
distinct (src, dst) ip:port and ID, sorted, bot IDs escaped against spreadsheet formulas.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc

from botmon.analysis import graph_stats
from botmon.analysis.framework import AnalysisRequest, Exporter
from botmon.analysis.scope import botnet_id
from botmon.csvsafe import safe_cell
from botmon.store.base import Store

EDGELIST_COLUMNS = (
    "src_ip",
    "src_port",
    "src_id",
    "dst_ip",
    "dst_port",
    "dst_id",
    "count",
    "first",
    "last",
)


def _pairs(store: Store, request: AnalysisRequest) -> pa.Table:
    return store.edge_pairs(
        botnet_id(store, request.botnet), request.start, request.end, request.source
    )


def write_graphml(store: Store, request: AnalysisRequest, out: IO[bytes]) -> None:
    """The whole range's peer graph as GraphML."""
    pg, edges = graph_stats.build(_pairs(store, request), request.options["by"])
    g = pg.graph
    g.vs["name"] = pg.labels
    g.vs["ip"] = pg.ip
    g.vs["port"] = pg.port
    g.vs["bot_id"] = ["" if b is None else b for b in pg.bot_id]
    g.vs["pagerank"] = g.pagerank(directed=True, damping=graph_stats.PAGERANK_DAMPING)
    g.vs["in_degree"] = g.indegree()
    g.vs["out_degree"] = g.outdegree()
    # build() adds the edges in the frame's row order, so the columns line up.
    g.es["count"] = edges.n.tolist()
    g.es["first"] = (edges.first_us / 1e6).tolist()
    g.es["last"] = (edges.last_us / 1e6).tolist()
    # igraph writes to a path or a real file; the stream may be in memory (the API's body).
    fd, path = tempfile.mkstemp(suffix=".graphml")
    os.close(fd)
    try:
        g.write_graphml(path)
        with open(path, "rb") as f:
            shutil.copyfileobj(f, out)
    finally:
        os.unlink(path)


def write_edgelist(store: Store, request: AnalysisRequest, out: IO[bytes]) -> None:
    """The whole range's distinct edge pairs as CSV (:data:`EDGELIST_COLUMNS`)."""
    pairs = _pairs(store, request)
    keys = ["src_ip", "src_port", "src_id", "dst_ip", "dst_port", "dst_id"]
    order = pc.sort_indices(pairs, sort_keys=[(k, "ascending") for k in keys])
    rows = pairs.take(order).to_pydict()
    text = io.TextIOWrapper(out, encoding="utf-8", newline="")
    try:
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(EDGELIST_COLUMNS)
        for i in range(len(order)):
            writer.writerow(
                (
                    rows["src_ip"][i],
                    rows["src_port"][i],
                    safe_cell(rows["src_id"][i]),
                    rows["dst_ip"][i],
                    rows["dst_port"][i],
                    safe_cell(rows["dst_id"][i]),
                    rows["n"][i],
                    rows["first_us"][i] / 1e6,
                    rows["last_us"][i] / 1e6,
                )
            )
        text.flush()
    finally:
        text.detach()  # the caller owns ``out``: leave it open


EXPORTS: dict[str, Exporter] = {"graphml": write_graphml, "edgelist": write_edgelist}
