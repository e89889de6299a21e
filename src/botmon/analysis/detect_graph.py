"""Sensor suspects from the peer graph: who is listed by many and lists few.

A sensor wants to be known: it gets itself into as many peer lists as it can, answers the
bots that contact it, and hands out no real peers (it would only help the botnet). In the
graph of "A listed B" that botmon's crawlers record, this shows as

- **popularity**: many distinct listers (in-degree) and a high rank of a PageRank-like walk
  over the listings (SensorRank's idea: being listed by well-listed peers counts more),
  each as the share of addresses below it, so the sign means the same in a sparse graph
  and in a dense one where every bot is listed by hundreds;
- **silence**: it answered botmon's crawlers yet listed fewer peers than expected: the
  median answering peer's count, or less for a peer few list (a bot online briefly is
  listed by few and asked few times, so it lists few; answering bots list about a fixed
  number of peers per lister, and popularity beyond the median's does not raise the
  expectation, as how often a bot is listed depends on more than how long it is online);
- **outside the core**: it is not in the largest strongly connected component, because
  nothing leads out of it (SensorBuster's idea);
- **unrelated listers**: bots that list each other tend to share peers (peer lists spread
  along the graph), so a bot's neighbours often know each other; a sensor that pushed
  itself into many random lists has neighbours that do not (the local clustering
  coefficient detector of Böck et al., CNS 2015).

Popularity is required (a sensor that nobody lists monitors nothing), so the score is
popularity times a weighted mix of the other three signs; every number behind it is kept.
On generated traces (300 bots, 3 days, a million edges) injected sensors score about 0.85
and the highest bot about 0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from botmon.ipaddr import ip_to_int

WEIGHTS = {"silence": 0.6, "outside_core": 0.25, "unrelated_listers": 0.15}
"""How the other signs mix (summing to 1): answering without listing weighs most, because a
bot that answers hands out peers by design; leaving the core follows from it when the
peer really lists no one; the clustering test is the weakest where peer lists are random."""
SILENT_IF_UNASKED = 0.25
"""Silence of a peer that never answered botmon's crawlers: unknown, so neither cleared nor
counted. NATed bots are listed and never answer, so the most such a peer can score
(0.25 × 0.6 + 0.25 + 0.15 = 0.55) stays below the default threshold: a passive sensor
that never answers cannot be told from a popular bot behind NAT by the graph alone."""
DAMPING = 0.85
"""The rank walk's damping (PageRank's usual value)."""


@dataclass(frozen=True)
class PeerScore:
    """One address's suspicion as one kind of monitor, with the numbers behind it."""

    ip: str
    port: int
    score: float
    evidence: dict[str, Any] = field(default_factory=dict)
    why: str = ""


def excess(ratio: float, factor: float) -> float:
    """How far ``ratio`` (a peer's value over the median) exceeds 1 on a log scale, 0 at
    or below 1, full (1) at ``factor`` and above."""
    if not ratio > 1.0:
        return 0.0
    return min(1.0, math.log(ratio) / math.log(factor))


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if len(values) else 0.0


def sensor_scores(
    edges: pa.Table, answered: set[tuple[str, int]]
) -> tuple[list[PeerScore], dict[str, float]]:
    """Every address in the listing graph of ``edges`` (rows of
    :data:`botmon.store.reads.EDGE_PAIRS_SCHEMA`) scored as a sensor, in (ip, port) order,
    and the medians the scores compare with. ``answered`` holds the addresses that replied
    to botmon's crawlers."""
    import igraph as ig

    nodes, pairs = _listing_pairs(edges)
    n = len(nodes)
    if n == 0:
        return [], {}
    in_deg = np.bincount(pairs[:, 1], minlength=n)
    out_deg = np.bincount(pairs[:, 0], minlength=n)
    graph = ig.Graph(n=n, edges=pairs.tolist(), directed=True)
    rank = np.asarray(graph.pagerank(damping=DAMPING, directed=True)) * n
    strong = graph.connected_components(mode="strong")
    sizes = np.asarray(strong.sizes())
    core = np.asarray(strong.membership) == int(np.argmax(sizes))
    undirected = graph.as_undirected(mode="collapse")
    clustering = np.asarray(undirected.transitivity_local_undirected(mode="zero"))
    degree = np.asarray(undirected.degree())
    said = np.array([a in answered for a in nodes], dtype=bool)
    by_in, by_rank = np.sort(in_deg), np.sort(rank)
    listers = in_deg[said & (in_deg > 0)]
    listed = out_deg[said & (in_deg > 0)]
    med = {
        "in_degree": _median(in_deg[in_deg > 0]),
        "sensor_rank": _median(rank),
        "lists_per_lister": _median(listed / listers) if len(listers) else 0.0,
        "out_degree_of_answering": _median(listed),
        "clustering": _median(clustering[degree >= 2]),
    }
    # the share of addresses listed less (by fewer peers; by a lower rank)
    popularity = (
        np.searchsorted(by_in, in_deg, side="left") + np.searchsorted(by_rank, rank, side="left")
    ) / (2 * n)
    expected = np.minimum(med["lists_per_lister"] * in_deg, med["out_degree_of_answering"])
    lacking = 1.0 - np.minimum(
        1.0, np.divide(out_deg, expected, out=np.ones(n), where=expected > 0)
    )
    silence = np.where(said, lacking, SILENT_IF_UNASKED)
    outside = np.where(core, 0.0, 1.0)
    unrelated = np.zeros(n)
    if med["clustering"] > 0:
        unrelated = np.where(
            degree >= 2, 1.0 - np.minimum(1.0, clustering / med["clustering"]), 0.0
        )
    mix = (
        WEIGHTS["silence"] * silence
        + WEIGHTS["outside_core"] * outside
        + WEIGHTS["unrelated_listers"] * unrelated
    )
    score = popularity * mix
    out: list[PeerScore] = []
    for i, (ip, port) in enumerate(nodes):
        evidence = {
            "in_degree": int(in_deg[i]),
            "out_degree": int(out_deg[i]),
            "answered": bool(said[i]),
            "sensor_rank": round(float(rank[i]), 4),
            "in_core": bool(core[i]),
            "clustering": round(float(clustering[i]), 4),
            "popularity": round(float(popularity[i]), 4),
            "expected_out_degree": round(float(expected[i]), 1),
            "silence": round(float(silence[i]), 4),
        }
        words = _words(evidence, med, float(expected[i]))
        out.append(PeerScore(ip, port, round(float(score[i]), 4), evidence, words))
    return out, {k: round(v, 4) for k, v in med.items()}


def _listing_pairs(edges: pa.Table) -> tuple[list[tuple[str, int]], np.ndarray]:
    """The addresses of ``edges`` in (ip, port) order and the distinct (lister, listed)
    pairs as indexes into them, sorted; self-listings dropped. Addresses become integers
    (the IP's place among the sorted IPs, times 65536, plus the port) so a million edges
    are de-duplicated by integer sorts, not string ones."""
    m = edges.num_rows
    ips = np.concatenate(
        [
            edges.column("src_ip").to_numpy(zero_copy_only=False),
            edges.column("dst_ip").to_numpy(zero_copy_only=False),
        ]
    ).astype(object)
    ports = np.concatenate(
        [
            edges.column("src_port").to_numpy(zero_copy_only=False),
            edges.column("dst_port").to_numpy(zero_copy_only=False),
        ]
    ).astype(np.int64)
    if m == 0:
        return [], np.zeros((0, 2), dtype=np.int64)
    unique_ips = sorted(pd.unique(ips), key=ip_to_int)
    codes = pd.Index(unique_ips).get_indexer(ips).astype(np.int64)
    keys, inverse = np.unique(codes * 65536 + ports, return_inverse=True)
    inverse = inverse.reshape(-1)
    src, dst = inverse[:m], inverse[m:]
    n = len(keys)
    keep = src != dst
    joined = np.unique(src[keep] * n + dst[keep])
    pairs = np.stack([joined // n, joined % n], axis=1)
    nodes = [(str(unique_ips[k >> 16]), int(k & 0xFFFF)) for k in keys.tolist()]
    return nodes, pairs


def _column(table: pa.Table, name: str) -> np.ndarray:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False))


def _words(e: dict[str, Any], med: dict[str, float], expected: float) -> str:
    """The evidence as a sentence a user reads in the suspects table."""
    parts = [f"listed by {e['in_degree']} peers (median {med['in_degree']:g})"]
    if e["answered"]:
        parts.append(
            f"answered crawlers and listed {e['out_degree']} peers (about {expected:.0f} expected)"
        )
    else:
        parts.append("never answered crawlers")
    parts.append("inside the strongly connected core" if e["in_core"] else "outside the core")
    parts.append(f"clustering {e['clustering']:g} (median {med['clustering']:g})")
    return "; ".join(parts)
