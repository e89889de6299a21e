"""Sensor suspects from the peer graph: who is listed by many and lists few.

A sensor wants to be known: it gets itself into as many peer lists as it can, answers the
bots that contact it, and hands out no real peers (it would only help the botnet). In the
graph of "A listed B" that botmon's crawlers record, this shows as

- **popularity**: many distinct listers (in-degree) and a high rank of a PageRank-like walk
  over the listings (SensorRank's idea: being listed by well-listed peers counts more),
  both relative to the median peer;
- **silence**: it answered botmon's crawlers yet listed (almost) no one, while an answering
  bot lists about as many peers as any other;
- **outside the core**: it is not in the largest strongly connected component, because
  nothing leads out of it (SensorBuster's idea);
- **unrelated listers**: bots that list each other tend to share peers (peer lists spread
  along the graph), so a bot's neighbours often know each other; a sensor that pushed
  itself into many random lists has neighbours that do not (the local clustering
  coefficient detector of Böck et al., CNS 2015).

Popularity is required (a sensor that nobody lists monitors nothing), so the score is
popularity times a weighted mix of the other three signs; every number behind it is kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

POPULAR_FACTOR = 4.0
"""A peer listed this many times as often as the median peer counts as fully popular; the
popularity sign grows with the logarithm of the ratio up to it (1× the median: 0)."""
WEIGHTS = {"silence": 0.5, "outside_core": 0.3, "unrelated_listers": 0.2}
"""How the other signs mix (summing to 1): answering without listing weighs most, because a
bot that answers hands out peers by design; leaving the core follows from it when the
peer really lists no one; the clustering test is the weakest where peer lists are random."""
SILENT_IF_UNASKED = 0.3
"""Silence of a peer that never answered botmon's crawlers: unknown, so neither cleared nor
counted (NATed bots are listed and never answer; a sensor nearly always answers)."""
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

    frame = edges.select(["src_ip", "src_port", "dst_ip", "dst_port"]).to_pandas()
    src = frame["src_ip"].astype(str) + "|" + frame["src_port"].astype("int64").astype(str)
    dst = frame["dst_ip"].astype(str) + "|" + frame["dst_port"].astype("int64").astype(str)
    keep = (src != dst).to_numpy()
    src, dst = src[keep], dst[keep]
    nodes = np.unique(np.concatenate([src.to_numpy(str), dst.to_numpy(str)]))
    n = len(nodes)
    if n == 0:
        return [], {}
    index = pd.Index(nodes)
    pairs = np.unique(
        np.stack([index.get_indexer(src), index.get_indexer(dst)], axis=1).reshape(-1, 2), axis=0
    )
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

    addresses = [(str(k).rsplit("|", 1)[0], int(str(k).rsplit("|", 1)[1])) for k in nodes]
    said = np.array([a in answered for a in addresses], dtype=bool)
    med = {
        "in_degree": _median(in_deg[in_deg > 0]),
        "sensor_rank": _median(rank),
        "out_degree_of_answering": _median(out_deg[said]),
        "clustering": _median(clustering[degree >= 2]),
    }
    out: list[PeerScore] = []
    for i, (ip, port) in enumerate(addresses):
        ratio_in = in_deg[i] / med["in_degree"] if med["in_degree"] else 0.0
        ratio_rank = rank[i] / med["sensor_rank"] if med["sensor_rank"] else 0.0
        popularity = excess(math.sqrt(ratio_in * ratio_rank), POPULAR_FACTOR)
        if said[i]:
            listing = med["out_degree_of_answering"]
            silence = 1.0 - min(1.0, out_deg[i] / listing) if listing else 0.0
        else:
            silence = SILENT_IF_UNASKED
        outside = 0.0 if core[i] else 1.0
        if med["clustering"] > 0 and degree[i] >= 2:
            unrelated = 1.0 - min(1.0, clustering[i] / med["clustering"])
        else:
            unrelated = 0.0
        mix = (
            WEIGHTS["silence"] * silence
            + WEIGHTS["outside_core"] * outside
            + WEIGHTS["unrelated_listers"] * unrelated
        )
        evidence = {
            "in_degree": int(in_deg[i]),
            "out_degree": int(out_deg[i]),
            "answered": bool(said[i]),
            "sensor_rank": round(float(rank[i]), 4),
            "in_core": bool(core[i]),
            "clustering": round(float(clustering[i]), 4),
            "popularity": round(float(popularity), 4),
            "silence": round(float(silence), 4),
        }
        out.append(
            PeerScore(
                ip,
                port,
                round(float(popularity * mix), 4),
                evidence,
                _words(evidence, med, ratio_in),
            )
        )
    return out, {k: round(v, 4) for k, v in med.items()}


def _words(e: dict[str, Any], med: dict[str, float], ratio_in: float) -> str:
    """The evidence as a sentence a user reads in the suspects table."""
    parts = [f"listed by {e['in_degree']} peers ({ratio_in:.1f}× the median)"]
    if e["answered"]:
        parts.append(
            f"answered crawlers and listed {e['out_degree']} peers"
            f" (median {med['out_degree_of_answering']:g})"
        )
    else:
        parts.append("never answered crawlers")
    parts.append("inside the strongly connected core" if e["in_core"] else "outside the core")
    parts.append(f"clustering {e['clustering']:g} (median {med['clustering']:g})")
    return "; ".join(parts)
