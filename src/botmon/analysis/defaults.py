"""The dashboard's defaults, in one place: what the page asks for when nobody changed a
control, and therefore what the server computes ahead of the first visitor (:mod:`warmup`).

The page reads :func:`page_config` from ``GET /dashboard/config`` instead of hard-coding any
of it, and the warm-up derives its requests from the same values (:func:`default_requests`),
so the two cannot drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botmon.buckets import DAY, HOUR, WEEK

RANGE_ROUND_S = 300
"""The range's end is rounded up to this, so refreshes within it ask for the same range and
are answered from the validated cache."""
RANGES: tuple[tuple[int, str], ...] = (
    (6 * HOUR, "last 6 hours"),
    (DAY, "last 24 hours"),
    (WEEK, "last 7 days"),
    (4 * WEEK, "last 28 days"),
)
DEFAULT_RANGE_S = WEEK
BUCKETS: tuple[tuple[int, str], ...] = (
    (300, "5 minutes"),
    (900, "15 minutes"),
    (HOUR, "1 hour"),
    (DAY, "1 day"),
    (WEEK, "1 week"),
)
AUTO_BUCKETS: tuple[tuple[int, int], ...] = ((6 * HOUR, 300), (45 * DAY, HOUR))
"""Automatic bucket: the first whose range limit the range fits in; longer ranges use days."""
AUTO_LONGEST = DAY
MAX_POINTS = 2000
"""A chosen bucket is doubled until a chart has at most this many points."""
WINDOW_S = HOUR
"""What "now" means on the overview: the last hour before the range's end."""
TOP_PEERS = 15
TOP_ASES = 25
COMPARED_COUNTRIES = 8
MAX_COMPARED = 8
"""Botnets compared side by side by default (the first by name) and at most."""
COUNTING_BUCKETS: tuple[int, ...] = (HOUR, DAY, WEEK)
REFRESH_S = 15
"""How often live views poll (the page's ``?refresh=`` overrides it)."""


def default_range(now: float, span_s: int = DEFAULT_RANGE_S) -> tuple[float, float]:
    """The range the page asks for at ``now``: its end rounded up to :data:`RANGE_ROUND_S`."""
    end = math.ceil(now / RANGE_ROUND_S) * RANGE_ROUND_S
    return float(end - span_s), float(end)


def auto_bucket(span_s: float, choice: int | None = None) -> int:
    """The bucket the page uses for a range of ``span_s`` (``choice`` None: automatic)."""
    if choice is None:
        choice = next((b for limit, b in AUTO_BUCKETS if span_s <= limit), AUTO_LONGEST)
    while span_s / choice > MAX_POINTS:
        choice *= 2
    return choice


def page_config() -> dict[str, Any]:
    """Every default the page uses, as served to it."""
    return {
        "range_round_s": RANGE_ROUND_S,
        "ranges": [{"seconds": s, "label": label} for s, label in RANGES],
        "default_range_s": DEFAULT_RANGE_S,
        "buckets": [{"seconds": s, "label": label} for s, label in BUCKETS],
        "auto_buckets": [{"up_to_s": limit, "bucket_s": b} for limit, b in AUTO_BUCKETS],
        "auto_longest_s": AUTO_LONGEST,
        "max_points": MAX_POINTS,
        "window_s": WINDOW_S,
        "top_peers": TOP_PEERS,
        "top_ases": TOP_ASES,
        "compared_countries": COMPARED_COUNTRIES,
        "max_compared": MAX_COMPARED,
        "counting_buckets": list(COUNTING_BUCKETS),
        "refresh_s": REFRESH_S,
    }


@dataclass(frozen=True)
class ViewRequest:
    """One read API request (path under ``/api/v1/stats``, query parameters)."""

    path: str
    params: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, path: str, **params: Any) -> ViewRequest:
        return cls(path, tuple(sorted((k, str(v)) for k, v in params.items())))


def default_requests(
    now: float, botnets: Sequence[str], with_ids: Sequence[str] = (), dhts: Sequence[str] = ()
) -> list[ViewRequest]:
    """The requests the page makes with untouched controls at ``now``, view by view: the
    overview, each botnet's single view, the geolocations and ASes of every botnet, each
    botnet's counting view, and the comparison of the first botnets.
    ``with_ids`` names the botnets reporting bot IDs (the page counts those by ID), ``dhts``
    the DHTs (with client versions: the page asks for their size estimate)."""
    start, end = default_range(now)
    bucket = auto_bucket(end - start)
    span = {"start": int(start), "end": int(end)}
    out = [
        ViewRequest.of("/overview", window=WINDOW_S, **span),
        ViewRequest.of("/trend", bucket=bucket, **span),
        ViewRequest.of("/monitors", window=WINDOW_S, **span),
    ]
    for name in botnets:
        base = f"/botnets/{name}"
        by = "id" if name in with_ids else "ip"
        out += [
            ViewRequest.of(f"{base}/population", bucket=bucket, **span),
            ViewRequest.of("/sources", botnet=name, bucket=bucket, **span),
            ViewRequest.of(f"{base}/returning", bucket=bucket, by=by, **span),
            ViewRequest.of(f"{base}/top-peers", limit=TOP_PEERS, **span),
            ViewRequest.of(f"{base}/clients", **span),
            ViewRequest.of(f"{base}/facets", **span),
        ]
        if name in dhts:
            out.append(ViewRequest.of(f"{base}/size-estimate", **span))
    out += [
        ViewRequest.of("/countries", **span),
        ViewRequest.of("/ases", limit=TOP_ASES, **span),
    ]
    for name in botnets:
        out += [
            ViewRequest.of("/counting", botnet=name, bucket=b, **span) for b in COUNTING_BUCKETS
        ]
    if botnets:
        compared = ",".join(botnets[:MAX_COMPARED])
        out += [
            ViewRequest.of("/compare/population", botnets=compared, bucket=bucket, **span),
            ViewRequest.of(
                "/compare/countries", botnets=compared, limit=COMPARED_COUNTRIES, **span
            ),
            ViewRequest.of("/compare/overlap", botnets=compared, **span),
            ViewRequest.of("/compare/hours", botnets=compared, **span),
            ViewRequest.of("/compare/devices", botnets=compared, **span),
        ]
    return out
