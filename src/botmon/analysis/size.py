"""How many nodes a botnet or DHT really has: one crawl never reaches every node of a DHT.

Two estimators, each with its error, from what the monitors stored (bot ID = node ID):

**Capture-recapture** (Chapman's form of the Lincoln-Petersen estimator): two samples of the
population, ``n1`` and ``n2`` distinct IDs with ``m`` in both, give
``N = (n1 + 1)(n2 + 1) / (m + 1) - 1`` with variance
``(n1 + 1)(n2 + 1)(n1 - m)(n2 - m) / ((m + 1)^2 (m + 2))`` and a 95 % interval of
``N +- 1.96 sd`` (never below the IDs actually seen). The two samples are crawlers vs sensors
when both reported in the range (they find nodes by different means: a crawler asks the
nodes it knows, a sensor hears the nodes that query it, NATed ones included), else the first
vs the second half of the time the range holds replies in (consecutive crawl rounds when it
holds at least two).
Assumptions: the population is closed over the range (churn inflates the estimate: it then
counts every node present at some time in the range), every node is as likely to be caught
(nodes a crawler reaches more easily than others make it an underestimate) and the two
samples are independent.

**Node-ID density** (nearest neighbours in the routing-table answers): node IDs are uniform
over the ID space, so the XOR distance from a node to its nearest other node is, for ``N``
nodes, close to exponential with mean ``space / N``. From the edges (node ``src`` listed node
``dst``), each listing node's smallest distance to a node it listed gives one such gap; ``k``
gaps summing to ``S`` give ``N = (k - 1) space / S`` with standard error ``N / sqrt(k - 2)``
and an exact 95 % interval from the gamma distribution of ``S``. The space is ``2^160``, less
the bits every ID read shares (Mozi bots' IDs all start with the same bytes: they live in a
corner of the DHT, and a density over the whole space would count them 2^24 times over).
Assumptions: node IDs are random below that shared prefix (BEP 42 fixes only a few bits per
address), and each sampled node's answers in the range listed its nearest neighbour (a sweep
that asks every node for targets next to its own ID does; a node's missing closest neighbour
makes the estimate low; when even its upper bound is below the IDs seen, the assumption
evidently fails and the method gives no row). At most :data:`MAX_PAIRS` edges are read (the
listing nodes with the smallest IDs: a uniform sample).
Every estimate and bound is at least the number of distinct IDs seen.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from botmon.analysis.cache import whole
from botmon.analysis.scope import botnet_id, seen_bounds
from botmon.analysis.table import Table
from botmon.store.base import Store
from botmon.store.reads import SourceFilter, source_type

ID_SPACE = 2**160
"""Size of the DHT's node-ID space (160-bit IDs)."""
NODE_ID_HEX = 40
MAX_PAIRS = 50_000
"""Most (listing node, listed node) pairs the density estimate reads."""
Z95 = 1.959964
COLUMNS = (
    "method",
    "estimate",
    "low",
    "high",
    "stderr",
    "observed",
    "first",
    "second",
    "both",
    "samples",
    "explanation",
)


def chapman(n1: int, n2: int, m: int) -> tuple[float, float, float]:
    """Chapman's estimate of a closed population from two samples of ``n1`` and ``n2`` with
    ``m`` in both: (estimate, its standard error, the distinct count seen ``n1 + n2 - m``)."""
    if not (0 <= m <= min(n1, n2)):
        raise ValueError("m must lie in 0..min(n1, n2)")
    estimate = (n1 + 1) * (n2 + 1) / (m + 1) - 1
    variance = (n1 + 1) * (n2 + 1) * (n1 - m) * (n2 - m) / ((m + 1) ** 2 * (m + 2))
    return estimate, math.sqrt(variance), float(n1 + n2 - m)


def _chi2(p_z: float, dof: int) -> float:
    """The chi-square quantile at standard-normal quantile ``p_z`` (Wilson-Hilferty: within
    a fraction of a percent for the degrees of freedom used here)."""
    c = 2 / (9 * dof)
    return dof * (1 - c + p_z * math.sqrt(c)) ** 3


def nearest_gaps(pairs: Iterable[tuple[str, str]]) -> tuple[list[int], int]:
    """Per listing node: the XOR distance to the nearest node it listed (IDs of 40 hex
    digits only; a node listing itself is ignored); and the size of the space the IDs live
    in (``2^160`` less the leading bits every ID shares)."""
    best: dict[int, int] = {}
    first: int | None = None
    spread = 0
    for src, dst in pairs:
        if len(src) != NODE_ID_HEX or len(dst) != NODE_ID_HEX:
            continue
        try:
            a, b = int(src, 16), int(dst, 16)
        except ValueError:
            continue
        first = a if first is None else first
        spread |= (a ^ first) | (b ^ first)
        d = a ^ b
        if d and (a not in best or d < best[a]):
            best[a] = d
    return list(best.values()), 1 << spread.bit_length()


def density(gaps: list[int], space: int = ID_SPACE) -> tuple[float, float, float, float] | None:
    """(estimate, standard error, low, high) of the number of nodes in an ID space of
    ``space`` from nearest-neighbour gaps, or None with fewer than 3 gaps."""
    k = len(gaps)
    if k < 3:
        return None
    total = float(sum(gaps))
    estimate = (k - 1) * space / total
    # 2 * rate * S follows a chi-square law with 2k degrees of freedom.
    low = _chi2(-Z95, 2 * k) / 2 * space / total
    high = _chi2(Z95, 2 * k) / 2 * space / total
    return estimate, estimate / math.sqrt(k - 2), low, high


def size_estimate(
    store: Store, botnet: str, start: float, end: float, source: SourceFilter = None
) -> Table:
    """The botnet's total population estimated in the range, one row per method that has
    data, the preferred first: capture-recapture crawlers vs sensors, capture-recapture
    first vs second half of the range, node-ID density (see the module's docstring).
    ``observed`` is the distinct bot IDs seen in the range, ``first``/``second``/``both``
    the samples of a capture-recapture, ``samples`` the gaps of the density estimate."""
    found = botnet_id(store, botnet)

    def compute() -> list[tuple[Any, ...]]:
        def ids(lo: float, hi: float) -> int:
            """Distinct bot IDs in [lo, hi): from the window summaries (unfiltered)."""
            counts = store.range_counts("replies", [found], lo, hi, ["ids"], source)
            return counts.get(found, (0,))[0]

        observed = ids(start, end)
        rows: list[tuple[Any, ...]] = []
        kinds = store.batch_source_types([found], start, end).get(found, set())
        if source_type(source) is None and {"crawler", "sensor"} <= kinds:
            c, s, both = store.source_overlap([found], start, end, None, "ids", source).get(
                (found, 0), (0, 0, 0)
            )
            if both or c or s:
                rows.append(
                    _recapture(
                        "capture-recapture (crawlers vs sensors)",
                        c + both,
                        s + both,
                        both,
                        observed,
                        "Chapman's Lincoln-Petersen estimate: nodes seen by crawlers, by "
                        "sensors and by both; assumes a closed population, equal catchability "
                        "and independent samples",
                    )
                )
        first, last = seen_bounds(store, source).get(found, (None, None))
        lo, hi = max(start, first or start), min(end, last if last is not None else end)
        # Seen in the first half, in the second, in both (= first + second - either).
        n1, n2 = ids(start, (lo + hi) / 2), ids((lo + hi) / 2, end)
        if n1 and n2:
            rows.append(
                _recapture(
                    "capture-recapture (first vs second half)",
                    n1,
                    n2,
                    n1 + n2 - observed,
                    observed,
                    "Chapman's Lincoln-Petersen estimate: nodes seen in the first half of the "
                    "time with replies in the range, in the second and in both; assumes a "
                    "closed population (no churn), equal catchability and independent samples",
                )
            )
        pairs = store.listed_ids(found, start, end, MAX_PAIRS, source)
        if len(pairs) == MAX_PAIRS:  # the last listing node may be cut short: leave it out
            pairs = [p for p in pairs if p[0] != pairs[-1][0]]
        gaps, space = nearest_gaps(pairs)
        found_density = density(gaps, space)
        # Fewer nodes than were seen: the nodes did not list their nearest neighbours.
        if found_density is not None and found_density[3] >= observed:
            estimate, se, low, high = found_density
            rows.append(
                (
                    "node-ID density (nearest neighbours)",
                    max(observed, round(estimate)),
                    max(observed, math.floor(low)),
                    math.ceil(high),
                    round(se, 1),
                    observed,
                    None,
                    None,
                    None,
                    len(gaps),
                    "the ID space over the mean XOR distance from a node to the nearest node "
                    "it listed; assumes random node IDs and that nodes listed their nearest "
                    "neighbour",
                )
            )
        return rows

    rows = whole(
        store, ("size-estimate", found, source), ("replies", "edges"), [found], start, end, compute
    )
    return Table(COLUMNS, rows)


def _recapture(
    method: str, n1: int, n2: int, m: int, observed: int, explanation: str
) -> tuple[Any, ...]:
    estimate, se, seen = chapman(n1, n2, m)
    floor = max(observed, int(seen))
    return (
        method,
        round(estimate),
        max(floor, math.floor(estimate - Z95 * se)),
        max(floor, math.ceil(estimate + Z95 * se)),
        round(se, 1),
        observed,
        n1,
        n2,
        m,
        None,
        explanation,
    )
