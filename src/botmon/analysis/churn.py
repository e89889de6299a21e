"""Churn and lifetimes: how long bots stay online, how long infections last, who comes and goes.

``botmon analyze churn``, ``GET /api/v1/analyses/churn`` and the dashboard's Churn view.
Sessions are built as BMS's churn work does (:mod:`botmon.analysis.sessions`): presence per
bucket (5 minutes by default), a session closed after ``gap_s`` (15 minutes) of silence, per
bot ID or per ip:port. Lengths are censored at both edges of the window, so their
distributions are Kaplan–Meier estimates (lifelines), never plain medians of what happened
to fit in the window. Peers fall into Nebula's classes (offline, one-off, online, entered,
left, dangling); joins and leaves are counted per hour, per country and per AS.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from botmon.analysis.framework import (
    Analysis,
    AnalysisRequest,
    Option,
    ResultBase,
    Section,
    vantage_points,
)
from botmon.analysis.scope import botnet_id
from botmon.analysis.sessions import (
    PeerIdentity,
    Sessions,
    build_sessions,
    encode,
    peer_keys,
    peer_spans,
    vocabulary,
)
from botmon.buckets import HOUR
from botmon.settings.analysis import AnalysisSettings
from botmon.store.base import Store
from botmon.store.reads import SourceFilter

CLASSES = ("offline", "one-off", "online", "entered", "left", "dangling")
"""Nebula's peer classes, in the order a peer is tested against them (first match wins)."""

CURVE_POINTS = 200
"""Most points of a survival curve in a result (enough for a chart, small for JSON)."""
TOP_AS = 20
"""ASes listed in ``by_as`` (the ones with most peers)."""

_DEFAULTS = AnalysisSettings()

OPTIONS = (
    Option(
        "by",
        "choice",
        "auto",
        "Peer identity: bot ID, ip:port, or auto (bot ID when most replies carry one).",
        choices=("auto", "id", "ip_port"),
    ),
    Option(
        "bucket_s",
        "int",
        _DEFAULTS.bucket_s,
        "Presence bucket (seconds): a peer is present in a bucket when it replied in it.",
        minimum=1,
        maximum=86_400,
    ),
    Option(
        "gap_s",
        "int",
        _DEFAULTS.gap_s,
        "Silence (seconds) after which a session is closed.",
        minimum=1,
        maximum=30 * 86_400,
    ),
    Option(
        "auto_gap",
        "bool",
        True,
        "Widen the gap to three re-probe intervals when the monitors heard peers less often "
        "than the gap (a crawl every 30 minutes with the 15-minute default would make every "
        "answer its own session); the result says so under warnings.",
    ),
)

METHOD = (
    "Presence per {bucket_s} s bucket: a peer ({identity}) is present in a bucket when it "
    "replied in it; a session is a run of present buckets, closed after {gap_s} s without a "
    "presence; its length is the end of its last present bucket minus the start of its first. "
    "The window's edges are those of the records in it (params observed_from and "
    "observed_until), so monitoring begun or stopped inside the window is no join or leave. "
    "Right-censoring: a session (or peer) last present within {gap_s} s of the window's end "
    "may still go on and enters the Kaplan-Meier estimate (lifelines) as censored. "
    "Left-censoring: a session first present within {gap_s} s of the window's start may have "
    "begun before it; such sessions (and for lifetimes, peers) are left out of the length "
    "distributions (counted in left_censored_sessions), since their true start is unknown "
    "and keeping them would favour long sessions; only sessions and peers that begin inside "
    "the window are measured. Lifetime: first to last presence of a peer in the window. "
    "Medians are read off the Kaplan-Meier curves; null when a curve never drops to 0.5. "
    "Classes (first match wins): offline (failed tries only, never replied), one-off (one "
    "session of one bucket), online (one session spanning both edges), entered (one session, "
    "begun after the start edge, running at the end), left (one session running at the start, "
    "over before the end edge), dangling (the rest: came and went). Joins and leaves are "
    "first and last presences inside [start + gap, end - gap) (a leave at the end of the "
    "last present bucket), per UTC hour; a peer's country and AS are those of its first "
    "presence. Failed tries only place never-answering peers in the offline class. Sessions "
    "come from crawlers' records unless sensors' are asked for (or no crawler reported): a "
    "crawler polls every peer each round, while a sensor hears a peer only when it calls, "
    "so a sensor's silence does not end a session."
)


class GroupChurn(msgspec.Struct, kw_only=True):
    """Churn figures of the peers of one country or AS."""

    bots: int
    sessions: int
    joins: int
    leaves: int
    joins_per_hour: float | None
    leaves_per_hour: float | None
    median_session_s: float | None


class CountryChurn(GroupChurn, kw_only=True):
    country: str | None


class AsChurn(GroupChurn, kw_only=True):
    asn: int | None


class HourRates(msgspec.Struct):
    """Joins and leaves in the UTC hour starting at ``t`` (epoch seconds)."""

    t: float
    joins: int
    leaves: int


class ChurnResult(ResultBase, kw_only=True):
    """Sessions, lifetimes, classes and join/leave rates of one botnet in one window."""

    by: str
    bots: int
    """Peers seen (replying or only failing), every one in exactly one class."""
    sessions: int
    censored_sessions: int
    """Sessions still running at the end of the window (right-censored)."""
    left_censored_sessions: int
    """Sessions possibly begun before the window (left out of the distribution)."""
    median_session_s: float | None
    median_lifetime_s: float | None
    lifetimes: int
    """Peers whose lifetime entered the estimate (first presence inside the window)."""
    censored_lifetimes: int
    classes: dict[str, int]
    gap_s: int
    bucket_s: int
    session_survival: list[list[float]]
    """[[seconds, survival probability], ...] of session lengths (at most 200 points)."""
    lifetime_survival: list[list[float]]
    joins_per_hour: float | None
    leaves_per_hour: float | None
    rates: list[HourRates]
    by_country: list[CountryChurn]
    by_as: list[AsChurn]
    replies: int
    without_id: int
    """Replies left out because they carry no bot ID (``by`` = ``id`` only)."""
    reprobe_interval_s: float | None = None
    """Median time between one peer's consecutive presences: the monitors' re-probe pace."""
    warnings: list[str] = msgspec.field(default_factory=list)
    """What makes the figures less than they seem (a gap shorter than the re-probe pace)."""

    def sections(self) -> list[Section]:
        summary = Section(
            "summary",
            "Churn",
            [
                "by",
                "bots",
                "sessions",
                "censored_sessions",
                "median_session_s",
                "median_lifetime_s",
                "joins_per_hour",
                "leaves_per_hour",
                "bucket_s",
                "gap_s",
                "without_id",
            ],
            [
                [
                    self.by,
                    self.bots,
                    self.sessions,
                    self.censored_sessions,
                    self.median_session_s,
                    self.median_lifetime_s,
                    self.joins_per_hour,
                    self.leaves_per_hour,
                    self.bucket_s,
                    self.gap_s,
                    self.without_id,
                ]
            ],
        )
        classes = Section(
            "classes", "Peer classes", ["class", "peers"], [[c, self.classes[c]] for c in CLASSES]
        )
        rates = Section(
            "rates",
            "Joins and leaves per hour (UTC)",
            ["hour", "joins", "leaves"],
            [[_iso(r.t), r.joins, r.leaves] for r in self.rates],
        )
        group_columns = [
            "bots",
            "sessions",
            "joins",
            "leaves",
            "joins_per_hour",
            "leaves_per_hour",
            "median_session_s",
        ]
        countries = Section(
            "by_country",
            "Per country",
            ["country", *group_columns],
            [[g.country, *_group_row(g)] for g in self.by_country],
        )
        ases = Section(
            "by_as",
            f"Per AS (top {TOP_AS} by peers)",
            ["asn", *group_columns],
            [[g.asn, *_group_row(g)] for g in self.by_as],
        )
        return [summary, classes, rates, countries, ases]


def _group_row(g: GroupChurn) -> list[Any]:
    return [
        g.bots,
        g.sessions,
        g.joins,
        g.leaves,
        g.joins_per_hour,
        g.leaves_per_hour,
        g.median_session_s,
    ]


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


Floats = npt.NDArray[np.float64]


def kaplan_meier(
    units: npt.NDArray[np.int64], observed: npt.NDArray[np.bool_], bucket_s: int
) -> tuple[float | None, list[list[float]]]:
    """Median (None when the curve never reaches 0.5) and the survival curve thinned to
    :data:`CURVE_POINTS` points, in seconds, of lengths of ``units`` buckets with
    right-censoring (``observed`` False).

    Lengths are whole buckets, so millions of them fold into one weighted row per distinct
    (length, censored) before lifelines sees them: the same estimate, in milliseconds
    instead of seconds."""
    if not len(units):
        return None, []
    # lifelines pulls in pandas and autograd: imported when a churn result is computed,
    # not whenever the registry lists the analyses.
    from lifelines import KaplanMeierFitter

    e_at, ended = np.unique(units[observed], return_counts=True)
    c_at, going = np.unique(units[~observed], return_counts=True)
    fitted = KaplanMeierFitter().fit(
        np.concatenate([e_at, c_at]).astype(np.float64) * bucket_s,
        event_observed=np.r_[np.ones(len(e_at), np.bool_), np.zeros(len(c_at), np.bool_)],
        weights=np.concatenate([ended, going]),
    )
    median = float(fitted.median_survival_time_)
    curve = fitted.survival_function_
    t = curve.index.to_numpy(dtype=np.float64)
    s = curve.iloc[:, 0].to_numpy(dtype=np.float64)
    if len(t) > CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(t) - 1, CURVE_POINTS).round().astype(np.int64))
        t, s = t[keep], s[keep]
    points = [[float(a), round(float(b), 6)] for a, b in zip(t, s, strict=True)]
    return (median if math.isfinite(median) else None), points


def _choose_identity(replies: pa.Table, requested: str) -> PeerIdentity:
    """``id`` or ``ip_port`` as requested; for ``auto``, ``id`` when at least half of the
    replies carry a bot ID."""
    if requested in ("id", "ip_port"):
        return "id" if requested == "id" else "ip_port"
    n = replies.column("n")
    total = pc.sum(n).as_py() or 0
    with_id = pc.sum(pc.filter(n, pc.is_valid(replies.column("bot_id")))).as_py() or 0
    return "id" if total and 2 * with_id >= total else "ip_port"


def _locations(
    replies: pa.Table,
    codes: npt.NDArray[np.int64],
    sessions: Sessions,
    first_session: npt.NDArray[np.int64],
) -> tuple[list[str | None], list[int | None]]:
    """Country and AS of each peer's first presence (the smallest country, then AS, among
    its records in its first present bucket, so the choice never depends on row order)."""
    peers = len(first_session)
    countries: list[str | None] = [None] * peers
    ases: list[int | None] = [None] * peers
    if not len(sessions):
        return countries, ases
    first_bucket = np.full(peers, np.iinfo(np.int64).min, dtype=np.int64)
    has = first_session >= 0
    first_bucket[has] = sessions.first_bucket[first_session[has]]
    bucket = replies.column("bucket").to_numpy()
    valid = codes >= 0
    at_first = np.zeros(len(codes), dtype=np.bool_)
    at_first[valid] = bucket[valid] == first_bucket[codes[valid]]
    rows = np.flatnonzero(at_first)
    picked = pa.array(rows)
    found = zip(
        codes[rows].tolist(),
        pc.take(replies.column("country"), picked).to_pylist(),
        pc.take(replies.column("asn"), picked).to_pylist(),
        strict=True,
    )
    for code, country, asn in sorted(
        found, key=lambda r: (r[0], r[1] is None, r[1] or "", r[2] is None, r[2] or 0), reverse=True
    ):
        # Sorted descending, so the last write per peer is its smallest (country, AS).
        countries[code] = country
        ases[code] = asn
    return countries, ases


def compute(store: Store, request: AnalysisRequest) -> ChurnResult:
    """Sessions, lifetimes, classes and rates of ``request``'s botnet and window."""
    opts = request.options
    bucket_s, gap_s = int(opts["bucket_s"]), int(opts["gap_s"])
    requested_gap_s = gap_s
    start, end = request.start, request.end
    found = botnet_id(store, request.botnet)
    replies, source = _polled(store, found, start, end, bucket_s, request.source)
    failed = store.sightings(found, "failed_tries", start, end, bucket_s, source)
    by = _choose_identity(replies, str(opts["by"]))

    reply_keys, failed_keys = peer_keys(replies, by), peer_keys(failed, by)
    vocab = vocabulary(reply_keys, failed_keys)
    codes = encode(reply_keys, vocab)
    pace_s = reprobe_interval(codes, replies.column("bucket").to_numpy(), bucket_s)
    warnings: list[str] = []
    if pace_s is not None and pace_s - bucket_s >= gap_s:
        if opts.get("auto_gap", True):
            gap_s = int(math.ceil(3 * pace_s / bucket_s) * bucket_s)
            warnings.append(
                f"peers were heard every {pace_s:g} s (median re-probe interval), so a"
                f" {requested_gap_s} s gap would make every answer its own session: the gap"
                f" was widened to {gap_s} s (three re-probe intervals; auto_gap)"
            )
        else:
            warnings.append(
                f"peers were heard every {pace_s:g} s (median re-probe interval), at least the"
                f" {requested_gap_s} s gap: every answer is its own session; raise gap_s"
            )
    without_id = 0
    if by == "id":
        without_id = int(
            pc.sum(pc.filter(replies.column("n"), pc.is_null(reply_keys))).as_py() or 0
        )
    sessions = build_sessions(codes, replies.column("bucket").to_numpy(), bucket_s, gap_s)
    peers = len(vocab)
    spans = peer_spans(sessions, peers)

    # Edges of what was observed: what began (ended) within a gap of them may have begun
    # before (may go on after) them. Monitoring that began or stopped inside the window
    # moves the edges there, or the population found by the first round would count as
    # arrivals and the one heard in the last as departures.
    seen_from, seen_until = _observed(start, end, replies, failed)
    s_left = sessions.start_s < seen_from + gap_s
    s_right = seen_until - sessions.end_s < gap_s
    measured = ~s_left
    units = np.rint(sessions.length_s / bucket_s).astype(np.int64)
    median_session, session_curve = kaplan_meier(units[measured], ~s_right[measured], bucket_s)

    replied = spans.sessions > 0
    p_left = replied & (spans.first_s < seen_from + gap_s)
    p_right = replied & (seen_until - spans.last_s < gap_s)
    lived = replied & ~p_left
    lifetime_units = np.rint((spans.last_s - spans.first_s)[lived] / bucket_s).astype(np.int64)
    median_lifetime, lifetime_curve = kaplan_meier(lifetime_units, ~p_right[lived], bucket_s)

    classes = _classes(spans.sessions, sessions, spans.first_session, p_left, p_right)

    observable = (seen_from + gap_s, seen_until - gap_s)
    hours = max(0.0, (observable[1] - observable[0]) / HOUR)
    joins = replied & (spans.first_s >= observable[0]) & (spans.first_s < observable[1])
    leaves = replied & (spans.last_s >= observable[0]) & (spans.last_s < observable[1])
    rates = _hourly(spans.first_s[joins], spans.last_s[leaves], observable)

    countries, ases = _locations(replies, codes, sessions, spans.first_session)

    def per_group(keys: list[Any], limit: int | None) -> list[tuple[Any, dict[str, Any]]]:
        """Figures of each group of replying peers (most peers first, at most ``limit``):
        one pass of bincounts, and one Kaplan-Meier per group over its slice of the
        sessions sorted by group."""
        labels, order = _groups(keys, replied, limit)
        n = max(len(order), 1)
        bots = np.bincount(labels[labels >= 0], minlength=n)
        session_label = labels[sessions.peer] if len(sessions) else np.zeros(0, np.int64)
        counted = np.bincount(session_label[session_label >= 0], minlength=n)
        joined = np.bincount(labels[joins & (labels >= 0)], minlength=n)
        gone = np.bincount(labels[leaves & (labels >= 0)], minlength=n)
        picked = np.flatnonzero(measured & (session_label >= 0))
        picked = picked[np.argsort(session_label[picked], kind="stable")]
        bounds = np.searchsorted(session_label[picked], np.arange(n + 1))
        out = []
        for key, code in order:
            mine = picked[bounds[code] : bounds[code + 1]]
            median, _ = kaplan_meier(units[mine], ~s_right[mine], bucket_s)
            out.append(
                (
                    key,
                    {
                        "bots": int(bots[code]),
                        "sessions": int(counted[code]),
                        "joins": int(joined[code]),
                        "leaves": int(gone[code]),
                        "joins_per_hour": _per_hour(int(joined[code]), hours),
                        "leaves_per_hour": _per_hour(int(gone[code]), hours),
                        "median_session_s": median,
                    },
                )
            )
        return out

    by_country = [CountryChurn(country=k, **f) for k, f in per_group(countries, None)]
    by_as = [AsChurn(asn=k, **f) for k, f in per_group(ases, TOP_AS)]

    names = store.source_counts("replies", [found], start, end, source)
    names.update(store.source_counts("failed_tries", [found], start, end, source))
    return ChurnResult(
        analysis="churn",
        botnet=request.botnet,
        start=start,
        end=end,
        method=METHOD.format(bucket_s=bucket_s, gap_s=gap_s, identity=_IDENTITY[by]),
        params={
            "by": by,
            "by_requested": opts["by"],
            "bucket_s": bucket_s,
            "gap_s": gap_s,
            "gap_s_requested": requested_gap_s,
            "auto_gap": bool(opts.get("auto_gap", True)),
            "reprobe_interval_s": pace_s,
            "start": start,
            "end": end,
            "observed_from": seen_from,
            "observed_until": seen_until,
            "source_type": request.source or "all",
            "sessions_from": source or "all",
            "left_censored": "left out of the length distributions",
        },
        vantage_points=vantage_points(list(names)),
        computed_at=time.time(),
        by=by,
        bots=peers,
        sessions=len(sessions),
        censored_sessions=int(s_right.sum()),
        left_censored_sessions=int(s_left.sum()),
        median_session_s=median_session,
        median_lifetime_s=median_lifetime,
        lifetimes=int(lived.sum()),
        censored_lifetimes=int((lived & p_right).sum()),
        classes=classes,
        gap_s=gap_s,
        bucket_s=bucket_s,
        session_survival=session_curve,
        lifetime_survival=lifetime_curve,
        joins_per_hour=_per_hour(int(joins.sum()), hours),
        leaves_per_hour=_per_hour(int(leaves.sum()), hours),
        rates=rates,
        by_country=by_country,
        by_as=by_as,
        replies=int(pc.sum(replies.column("n")).as_py() or 0),
        without_id=without_id,
        reprobe_interval_s=pace_s,
        warnings=warnings,
    )


def reprobe_interval(codes: Any, buckets: Any, bucket_s: int) -> float | None:
    """The median time between one peer's consecutive present buckets (seconds): how often
    the monitors heard a peer again. None when no peer was heard twice."""
    keep = np.asarray(codes) >= 0
    peer = np.asarray(codes)[keep].astype(np.int64)
    bucket = np.asarray(buckets)[keep].astype(np.int64)
    if len(peer) < 2:
        return None
    low = int(bucket.min())
    span = int(bucket.max()) - low + 1
    pairs = np.sort(peer * span + (bucket - low))
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]
    same = pairs[1:] // span == pairs[:-1] // span
    steps = (pairs[1:] - pairs[:-1])[same]
    if not len(steps):
        return None
    return float(np.median(steps)) * bucket_s


def _observed(start: float, end: float, replies: pa.Table, failed: pa.Table) -> tuple[float, float]:
    """The part of [start, end) the monitors were recording: from their first record to
    their last (the whole window when there are none)."""
    firsts = [pc.min(t.column("first_us")).as_py() for t in (replies, failed) if t.num_rows]
    lasts = [pc.max(t.column("last_us")).as_py() for t in (replies, failed) if t.num_rows]
    if not firsts:
        return start, end
    return max(start, min(firsts) / 1e6), min(end, max(lasts) / 1e6)


def _polled(
    store: Store, botnet: int, start: float, end: float, bucket_s: int, asked: SourceFilter
) -> tuple[pa.Table, SourceFilter]:
    """The replies sessions are built from, and whose they are. A crawler asks every known
    peer every round, so a silence in its records means the peer was away; a sensor hears
    a peer only when the peer chooses to call, so a silence means nothing (on a trace with
    both, sensor contacts cut 4-hour sessions into 5-minute ones). Unless a kind of monitor
    is asked for, the crawlers' records are used when there are any."""
    if asked is None:
        crawled = store.sightings(botnet, "replies", start, end, bucket_s, "crawler")
        if crawled.num_rows:
            return crawled, "crawler"
    return store.sightings(botnet, "replies", start, end, bucket_s, asked), asked


_IDENTITY = {"id": "bot ID", "ip_port": "ip:port"}


def _per_hour(count: int, hours: float) -> float | None:
    return round(count / hours, 6) if hours > 0 else None


def _classes(
    counts: npt.NDArray[np.int64],
    sessions: Sessions,
    first_session: npt.NDArray[np.int64],
    at_start: npt.NDArray[np.bool_],
    at_end: npt.NDArray[np.bool_],
) -> dict[str, int]:
    """Peers per class; the tests run in :data:`CLASSES` order and a peer takes the first
    that fits, so every peer is counted once."""
    single_bucket = np.zeros(len(counts), dtype=np.bool_)
    has = first_session >= 0
    single_bucket[has] = sessions.buckets[first_session[has]] == 1
    one = counts == 1
    tests: list[tuple[str, Callable[[], npt.NDArray[np.bool_]]]] = [
        ("offline", lambda: counts == 0),
        ("one-off", lambda: one & single_bucket),
        ("online", lambda: one & at_start & at_end),
        ("entered", lambda: one & ~at_start & at_end),
        ("left", lambda: one & at_start & ~at_end),
        ("dangling", lambda: np.ones(len(counts), dtype=np.bool_)),
    ]
    free = np.ones(len(counts), dtype=np.bool_)
    out: dict[str, int] = {}
    for name, test in tests:
        hit = free & test()
        out[name] = int(hit.sum())
        free &= ~hit
    return out


def _hourly(joined: Floats, left: Floats, observable: tuple[float, float]) -> list[HourRates]:
    """Joins and leaves per UTC hour over the hours of ``observable`` that the data spans."""
    events = np.concatenate([joined, left])
    if not len(events) or observable[1] <= observable[0]:
        return []
    low = int(np.floor(events.min() / HOUR))
    high = int(np.floor(events.max() / HOUR))
    j = np.bincount((np.floor(joined / HOUR).astype(np.int64) - low), minlength=high - low + 1)
    le = np.bincount((np.floor(left / HOUR).astype(np.int64) - low), minlength=high - low + 1)
    return [
        HourRates(float((low + i) * HOUR), int(j[i]), int(le[i])) for i in range(high - low + 1)
    ]


def _groups(
    keys: list[Any], replied: npt.NDArray[np.bool_], limit: int | None
) -> tuple[npt.NDArray[np.int64], list[tuple[Any, int]]]:
    """Each replying peer's group label (-1: none, or a group beyond ``limit``) and the
    groups as (key, label), most peers first (ties by key, unknown last); labels are
    positions in that order."""
    codes: dict[Any, int] = {}
    first = np.fromiter(
        (
            codes.setdefault(k, len(codes)) if r else -1
            for k, r in zip(keys, replied.tolist(), strict=True)
        ),
        dtype=np.int64,
        count=len(keys),
    )
    sizes = np.bincount(first[first >= 0], minlength=len(codes))
    order = sorted(codes, key=lambda k: (-int(sizes[codes[k]]), k is None, "" if k is None else k))
    order = order[:limit] if limit is not None else order
    # One spare slot at the end: peers without a group (-1) index it and stay -1.
    relabel = np.full(len(codes) + 1, -1, dtype=np.int64)
    for position, k in enumerate(order):
        relabel[codes[k]] = position
    return relabel[first], [(k, i) for i, k in enumerate(order)]


ANALYSIS = Analysis(
    name="churn",
    title="Churn and lifetimes",
    summary=(
        "Sessions and lifetimes of peers (Kaplan-Meier with censoring), Nebula's peer "
        "classes, and joins and leaves per hour, per country and per AS."
    ),
    options=OPTIONS,
    compute=compute,
    result_type=ChurnResult,
)
