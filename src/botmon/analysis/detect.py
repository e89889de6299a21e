"""Detecting other researchers' crawlers and sensors, and how visible botmon's own are.

Other monitors distort every count (a sensor is one "bot" every crawler finds; a crawler is
a "bot" at every sensor), and botmon's own monitors are exposed to the same methods others
use to find and block them. This analysis scores every address two ways, with the numbers
behind each score:

- as a **sensor**, from the peer graph botmon's crawlers recorded
  (:mod:`botmon.analysis.detect_graph`: listed by many, lists few, outside the strongly
  connected core, listers that do not know each other);
- as a **crawler**, from what botmon's sensors heard (:mod:`botmon.analysis.detect_contacts`:
  never listed, periodic, busy, covering many sensors, protocol deviations).

``suspects`` lists the addresses at or above ``threshold`` (botmon's own monitors never),
``self`` gives botmon's own monitors the same scores with their rank among all scored
addresses: "can we detect ourselves". Own monitors are the sensors of the botnet's
campaigns (their ``listen`` addresses), the setting ``analysis.own_monitors`` and option
``own`` (a crawler's public address is not in the data otherwise).

``source`` picks the side: crawler records feed the sensor scores, sensor records the
crawler scores; a filtered request computes only its side.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa

from botmon.analysis import detect_contacts, detect_graph, scope
from botmon.analysis.detect_graph import PeerScore
from botmon.analysis.framework import (
    Analysis,
    AnalysisRequest,
    Option,
    OptionError,
    ResultBase,
    Section,
    vantage_points,
)
from botmon.ipaddr import ip_to_int, parse_address
from botmon.settings import AnalysisSettings, load
from botmon.store.base import Store

DEFAULT_THRESHOLD = 0.6
"""Flag from this score up. Each side's score mixes independent signs whose weights are
below it one by one (a crawler's "never listed" 0.4, its regularity 0.3; a sensor's
popularity times silence 0.5), so at least two signs must agree: a bot that merely
arrived unlisted, or one that keeps a timer, or a popular bot behind NAT, stays below it.
Injected crawlers and sensors score well above it (tests/analysis/test_detect.py)."""
DEFAULT_TOP = 100
KINDS = ("sensor", "crawler")
OWN_COLUMNS = [
    *("kind", "ip", "port", "origin", "seen", "score", "rank", "of", "percentile", "flagged"),
    "why",
]


class Suspect(msgspec.Struct, kw_only=True):
    """A suspected monitor of others: its address, kind, score in [0, 1], rank among the
    addresses scored for that kind (1: most suspicious), the numbers and the words."""

    ip: str
    port: int
    kind: str
    score: float
    rank: int
    evidence: dict[str, Any]
    why: str


class OwnScore(msgspec.Struct, kw_only=True):
    """One of botmon's own monitors scored like everyone else: where it is known from
    (``campaign <source>``, ``option``, ``setting``), whether the data hold it at all,
    its score, rank among ``of`` scored addresses, the share of them scoring lower
    (``percentile``) and whether it would be flagged at the threshold."""

    ip: str
    port: int | None
    kind: str
    origin: str
    seen: bool
    score: float
    rank: int | None
    of: int
    percentile: float | None
    flagged: bool
    evidence: dict[str, Any]
    why: str


class DetectResult(ResultBase, kw_only=True):
    """Suspected crawlers and sensors of others, and botmon's own monitors' scores."""

    suspects: list[Suspect]
    own: list[OwnScore] = msgspec.field(name="self")
    ranked: dict[str, int]
    """How many addresses were scored per kind."""
    baseline: dict[str, dict[str, float]]
    """The medians the scores compare with, per kind."""
    degrees: list[list[int]]
    """[in-degree, out-degree, addresses] for every pair of degrees in the peer graph: the
    dashboard's scatter of everyone, compact whatever the graph's size."""

    def sections(self) -> list[Section]:
        return [
            Section(
                "suspects",
                "Suspected monitors of others",
                ["kind", "ip", "port", "score", "rank", "why"],
                [[s.kind, s.ip, s.port, s.score, s.rank, s.why] for s in self.suspects],
            ),
            Section(
                "self",
                "How visible botmon's own monitors are",
                OWN_COLUMNS,
                [[getattr(o, c) for c in OWN_COLUMNS] for o in self.own],
            ),
        ]


@dataclass(frozen=True)
class OwnAddress:
    """An address of botmon's own; ``port`` None stands for every port of the IP."""

    ip: str
    port: int | None
    kind: str
    origin: str

    def matches(self, ip: str, port: int) -> bool:
        return self.ip == ip and (self.port is None or self.port == port)

    def text(self) -> str:
        """As a user writes it: ``ip``, ``ip:port`` or ``[ipv6]:port``."""
        if self.port is None:
            return self.ip
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


def own_addresses(store: Store, request: AnalysisRequest) -> list[OwnAddress]:
    """botmon's own monitors for this request: the botnet's sensor campaigns, the setting
    ``analysis.own_monitors`` and the option ``own``; OptionError for a bad address."""
    found: dict[tuple[str, int | None], OwnAddress] = {}
    for campaign in store.latest_campaigns():
        settings = campaign.settings if isinstance(campaign.settings, dict) else {}
        if campaign.botnet != request.botnet or settings.get("kind") != "sensor":
            continue
        for text in settings.get("listen") or []:
            try:
                ip, port = parse_address(str(text))
            except ValueError:
                continue  # a host name or a bind-all address: nothing to match
            found.setdefault(
                (ip, port), OwnAddress(ip, port, "sensor", f"campaign {campaign.source}")
            )
    given = [
        ("setting", "own_monitors", t) for t in load(AnalysisSettings).settings.own_monitors
    ] + [("option", "own", t) for t in str(request.options.get("own") or "").split(",")]
    for origin, name, text in given:
        if not text.strip():
            continue
        try:
            ip, port = parse_address(text)
        except ValueError:
            raise OptionError(
                f"{name}: {text.strip()[:60]!r} is not an address (ip, ip:port or [ipv6]:port)"
            ) from None
        found.setdefault((ip, port), OwnAddress(ip, port, "crawler", origin))
    return sorted(found.values(), key=lambda a: (ip_to_int(a.ip), a.port or -1, a.origin))


class _Ranks:
    """Rank and percentile of a score among all scores of one kind."""

    def __init__(self, scores: list[PeerScore]) -> None:
        self.sorted = sorted(s.score for s in scores)
        self.n = len(self.sorted)

    def rank(self, score: float) -> int:
        return 1 + self.n - bisect.bisect_right(self.sorted, score)

    def percentile(self, score: float) -> float:
        return round(100.0 * bisect.bisect_left(self.sorted, score) / self.n, 2) if self.n else 0.0


def compute(store: Store, request: AnalysisRequest) -> DetectResult:
    """Score every address as a sensor and as a crawler; list suspects and botmon's own."""
    botnet = scope.botnet_id(store, request.botnet)
    threshold = float(request.options.get("threshold", DEFAULT_THRESHOLD))
    top = int(request.options.get("top", DEFAULT_TOP))
    own = own_addresses(store, request)
    start, end = request.start, request.end
    edges = store.edge_pairs(botnet, start, end, source=request.source)
    scored: dict[str, list[PeerScore]] = {"sensor": [], "crawler": []}
    baseline: dict[str, dict[str, float]] = {"sensor": {}, "crawler": {}}
    if request.source != "sensor":
        replied = store.sightings(
            botnet, "replies", start, end, max(1, int(np.ceil(end - start))), source="crawler"
        )
        answered = _addresses(replied, "ip", "port")
        scored["sensor"], baseline["sensor"] = detect_graph.sensor_scores(edges, answered)
    if request.source != "crawler":
        listed = _addresses(edges, "dst_ip", "dst_port") | _addresses(edges, "src_ip", "src_port")
        contacts = store.contacts(botnet, start, end, source="sensor")
        scored["crawler"], baseline["crawler"] = detect_contacts.crawler_scores(contacts, listed)
    ranks = {kind: _Ranks(scored[kind]) for kind in KINDS}

    suspects = [
        Suspect(
            ip=p.ip,
            port=p.port,
            kind=kind,
            score=p.score,
            rank=ranks[kind].rank(p.score),
            evidence=p.evidence,
            why=p.why,
        )
        for kind in KINDS
        for p in scored[kind]
        if p.score >= threshold and not any(o.matches(p.ip, p.port) for o in own)
    ]
    suspects.sort(key=lambda s: (-s.score, ip_to_int(s.ip), s.port, s.kind))
    names = store.source_counts("replies", [botnet], start, end, request.source)
    return DetectResult(
        analysis="detect",
        botnet=request.botnet,
        start=start,
        end=end,
        method=METHOD,
        params={
            "threshold": threshold,
            "top": top,
            "own": [o.text() for o in own],
            "source": request.source or "all",
            "sensor_weights": detect_graph.WEIGHTS,
            "sensor_silence_if_unasked": detect_graph.SILENT_IF_UNASKED,
            "crawler_weights": detect_contacts.WEIGHTS,
            "crawler_busy_factor": detect_contacts.BUSY_FACTOR,
            "crawler_deviation_score": detect_contacts.DEVIATION_SCORE,
        },
        vantage_points=vantage_points(list(names)),
        computed_at=time.time(),
        suspects=suspects[:top],
        own=_own_scores(own, scored, ranks, threshold),
        ranked={kind: len(scored[kind]) for kind in KINDS},
        baseline=baseline,
        degrees=_degrees(scored["sensor"]),
    )


def _degrees(scores: list[PeerScore]) -> list[list[int]]:
    """How many addresses have each (in-degree, out-degree), in degree order."""
    counts = Counter((p.evidence["in_degree"], p.evidence["out_degree"]) for p in scores)
    return [[i, o, n] for (i, o), n in sorted(counts.items())]


def _addresses(table: pa.Table, ip: str, port: str) -> set[tuple[str, int]]:
    """The distinct (ip, port) pairs of two columns of ``table``."""
    ips, ports = table.column(ip).to_pylist(), table.column(port).to_pylist()
    return set(zip(ips, ports, strict=True))


def _own_scores(
    own: list[OwnAddress],
    scored: dict[str, list[PeerScore]],
    ranks: dict[str, _Ranks],
    threshold: float,
) -> list[OwnScore]:
    """Each own address's scores (one row per kind and port it was seen as; one unseen
    row when the data do not hold it)."""
    out: list[OwnScore] = []
    for o in own:
        seen = [(kind, p) for kind in KINDS for p in scored[kind] if o.matches(p.ip, p.port)]
        for kind, p in seen:
            out.append(
                OwnScore(
                    ip=p.ip,
                    port=p.port,
                    kind=kind,
                    origin=o.origin,
                    seen=True,
                    score=p.score,
                    rank=ranks[kind].rank(p.score),
                    of=ranks[kind].n,
                    percentile=ranks[kind].percentile(p.score),
                    flagged=p.score >= threshold,
                    evidence=p.evidence,
                    why=p.why,
                )
            )
        if not seen:
            out.append(
                OwnScore(
                    ip=o.ip,
                    port=o.port,
                    kind=o.kind,
                    origin=o.origin,
                    seen=False,
                    score=0.0,
                    rank=None,
                    of=ranks[o.kind].n,
                    percentile=None,
                    flagged=False,
                    evidence={},
                    why="not in the records of this range: nothing to detect it by",
                )
            )
    return out


METHOD = (
    "Sensors: in the graph of who listed whom (crawler records), popularity (the share of "
    "addresses with fewer distinct listers and with a lower PageRank-style rank) times a "
    "mix of silence (answered crawlers but listed fewer peers than answering peers as "
    "popular do), lying outside the largest strongly connected component, and a local "
    "clustering coefficient below the median. Crawlers: "
    "per address that contacted botmon's sensors, a mix of never being listed by a bot, "
    "regular gaps between requests (1 - coefficient of variation), contact rate above the "
    "median and coverage of botmon's sensors; any protocol deviation lifts the score to "
    f"{detect_contacts.DEVIATION_SCORE:g}. Suspects score at least the threshold; botmon's "
    "own monitors are scored the same way and reported under self."
)

ANALYSIS = Analysis(
    name="detect",
    title="Monitors of others",
    summary="Suspected crawlers and sensors of other researchers, and how visible botmon's "
    "own monitors are by the same methods.",
    options=(
        Option(
            "threshold",
            "float",
            DEFAULT_THRESHOLD,
            "Score from which an address is listed as a suspect (0 to 1).",
            minimum=0.0,
            maximum=1.0,
        ),
        Option(
            "own",
            "str",
            "",
            "botmon's own monitors besides its sensors' campaigns and the setting "
            "analysis.own_monitors: comma-separated ip or ip:port (a crawler's public address).",
        ),
        Option(
            "top",
            "int",
            DEFAULT_TOP,
            "At most this many suspects are listed (the highest scores).",
            minimum=1,
            maximum=100_000,
        ),
    ),
    compute=compute,
    result_type=DetectResult,
    default_range_s=7 * 86400,
)
