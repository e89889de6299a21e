"""Counting bots: distinct IPs, bot IDs and ip:port side by side, and an estimate of how many
bots an IP-only count stands for, with a confidence interval.

Why: one bot whose provider reassigns its address every 12 hours shows up as six addresses
in three days, so a count of distinct IPs over a long window overstates a population, the
more so the longer the window and the more dynamic its networks (Böck et al., NDSS 2023,
made this point with weeks-long windows). A botnet whose replies carry bot IDs shows how
fast addresses change in each network; an ID-less botnet seen in the same networks can be
counted with that knowledge.

Method (every step is in the result's ``method`` and ``params``):

1. Counting window: the last ``window_s`` seconds of the request's range (default: all of
   it). Distinct ``ips``, ``ids`` and ``ip_ports`` of the counted botnet's replies in it.
2. Calibration: an ID-bearing botnet (``calibrate_with``; by default the counted botnet
   itself when it has IDs, which makes the estimate a check against its own ID count, else
   the ID-bearing botnet sharing the most ASes with it). Each of its bot IDs seen in the
   window is placed in the AS (and country) it was seen in most, and shows some number of
   distinct addresses over the window. Per AS the mean of that number is the addresses one
   bot is expected to show over a window of this length; an AS with fewer than ``min_ids``
   IDs borrows its country's mean, a country with too few the botnet-wide mean (the result
   says how many ASes were calibrated on their own and which share of the addresses
   borrowed).
3. Estimate: each AS's distinct addresses in the counted botnet divided by its expected
   addresses per bot, summed over ASes.
4. Interval: a percentile bootstrap with a seed derived from the request (same request,
   same interval, on either store backend). Each resample redraws the calibration bots of
   every group with replacement (so the addresses-per-bot figure varies as much as its
   sample allows) and redraws each AS's counted addresses as the addresses of its
   estimated number of bots drawn from that group's calibration bots (so the count varies
   as a sum of that many bots' addresses would), then divides as in step 3. An AS that
   borrowed its country's (or the botnet's) figure is, in each resample, also taken to
   reassign like one of that group's ASes drawn by its share of the bots (their spread,
   scaled to leave the estimate where it is): networks of one country differ, and a
   borrowed figure must widen the interval by that much.
5. The growth of addresses per ID with the window's length (1 h, 6 h, 1 d, 2 d, 4 d, 7 d,
   14 d, then doubling, up to the range), overall and per AS, from the calibration botnet
   over the whole range (windows tiled back from the range's end, at most eight per
   length): how each network reassigns addresses.

Limits, said plainly:
- The estimate assumes the counted bots behave like the calibration bots of their network:
  the same share on dynamic addresses and about the same online time (a bot online for
  fewer of the window's hours shows fewer addresses). ``calibration.presence_ratio``
  compares the mean hours an address is seen in for both botnets; far from 1, the
  calibration is suspect.
- It counts bots that were seen. Bots behind NAT share an address (an IP count can then
  understate), and bots a crawler never reached are in no count.
- Without an ID-bearing botnet in the same networks there is nothing to calibrate with:
  the estimate is then the distinct IPs, an upper bound under reassignment, and
  ``ci_low`` is null.
- A bot's addresses are summed as if no two bots ever held the same address in the window;
  in a small address pool that overstates addresses per bot slightly.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from botmon.analysis import scope
from botmon.analysis.framework import (
    Analysis,
    AnalysisRequest,
    Option,
    OptionError,
    ResultBase,
    Section,
    vantage_points,
)
from botmon.settings.analysis import AnalysisSettings
from botmon.store.base import Store

HOUR = 3600
DAY = 24 * HOUR
GROWTH_STEPS = (HOUR, 6 * HOUR, DAY, 2 * DAY, 4 * DAY, 7 * DAY, 14 * DAY)
"""Window lengths of the addresses-per-ID curve; doubling after the last, up to the range."""
MAX_TILES = 8
"""Windows of one length averaged for the curve: enough to smooth it, few enough to stay
one pass per length over the sightings."""
GROWTH_ASES = 10
"""ASes with their own curve: those with most calibration IDs."""
PRESENCE_BUCKET_S = HOUR
"""Sightings are read per hour: exact for which addresses and IDs a window holds (a row
keeps its first and last reply), the growth curve's shortest window, and a twelfth of the
rows of 5-minute buckets under a 5-minute crawl (the read and the grouping dominate the
time)."""
MIN_WINDOW_S = 300
NO_ASN = -1
NO_COUNTRY = ""
LEVELS = ("as", "country", "botnet")
"""Where an AS's addresses-per-bot figure came from, most specific first."""

_DEFAULTS = AnalysisSettings()


class Calibration(msgspec.Struct, kw_only=True):
    """Which ID-bearing botnet calibrated the estimate and how well it covered the
    counted botnet's networks."""

    botnet: str | None
    """The calibration botnet (None: none available)."""
    reason: str
    """Why this botnet (or why none)."""
    ids: int
    """Its bot IDs seen in the counting window."""
    ases_calibrated: int
    """Counted ASes with enough calibration IDs of their own."""
    fallback_share: float
    """Share of the counted addresses whose figure came from their country or the whole
    calibration botnet instead of their own AS."""
    levels: dict[str, int]
    """Counted ASes per level (as, country, botnet)."""
    presence_ratio: float | None
    """Mean hours an address is seen in, counted over calibration botnet (1: alike)."""


class GrowthPoint(msgspec.Struct, kw_only=True):
    """Distinct addresses per bot ID over windows of one length (``asn`` None: overall)."""

    asn: int | None
    window_s: int
    windows: int
    ids: int
    ips_per_id: float


class AsCount(msgspec.Struct, kw_only=True):
    """One counted AS: its addresses, the figure it was divided by and its bots."""

    asn: int | None
    country: str | None
    ips: int
    level: str
    calibration_ids: int
    ips_per_bot: float
    estimate: float


class CountResult(ResultBase, kw_only=True):
    """Distinct IPs, IDs and ip:port of a window beside the estimated bots and interval."""

    window_s: int
    window_start: float
    ips: int
    ids: int
    ip_ports: int
    estimate: float
    ci_low: float | None
    ci_high: float
    confidence: float
    calibration: Calibration
    ips_per_id: list[GrowthPoint]
    per_as: list[AsCount]

    def sections(self) -> list[Section]:
        summary = Section(
            "summary",
            f"{self.botnet}: bots counted over {self.window_s} s",
            [
                "ips",
                "ids",
                "ip_ports",
                "estimate",
                "ci_low",
                "ci_high",
                "confidence",
                "calibration_botnet",
                "fallback_share",
            ],
            [
                [
                    self.ips,
                    self.ids,
                    self.ip_ports,
                    self.estimate,
                    self.ci_low,
                    self.ci_high,
                    self.confidence,
                    self.calibration.botnet,
                    self.calibration.fallback_share,
                ]
            ],
        )
        growth = Section(
            "ips_per_id",
            "Addresses per bot ID by window length ("
            + (self.calibration.botnet or "no ID-bearing botnet")
            + ")",
            ["asn", "window_s", "windows", "ids", "ips_per_id"],
            [[g.asn, g.window_s, g.windows, g.ids, g.ips_per_id] for g in self.ips_per_id],
        )
        per_as = Section(
            "per_as",
            "Estimate per AS (most addresses first)",
            ["asn", "country", "ips", "level", "calibration_ids", "ips_per_bot", "estimate"],
            [
                [a.asn, a.country, a.ips, a.level, a.calibration_ids, a.ips_per_bot, a.estimate]
                for a in self.per_as
            ],
        )
        return [summary, growth, per_as]


OPTIONS = (
    Option(
        "calibrate_with",
        "str",
        "",
        "ID-bearing botnet whose addresses per bot calibrate the estimate (default: the "
        "counted botnet when it has IDs, else the ID-bearing botnet sharing most ASes)",
    ),
    Option(
        "confidence",
        "float",
        _DEFAULTS.confidence,
        "confidence level of the interval",
        minimum=0.5,
        maximum=0.999,
    ),
    Option(
        "bootstrap",
        "int",
        _DEFAULTS.count_bootstrap,
        "bootstrap resamples behind the interval",
        minimum=50,
        maximum=20_000,
    ),
    Option(
        "window_s",
        "int",
        0,
        "length of the counting window ending at the range's end, seconds (0: the whole "
        "range; longer than the range: the range)",
        minimum=0,
        maximum=366 * DAY,
    ),
    Option(
        "min_ids",
        "int",
        _DEFAULTS.count_min_ids,
        "calibration IDs an AS (else its country) needs for a figure of its own",
        minimum=2,
        maximum=1_000_000,
    ),
)


@dataclass(frozen=True)
class _Stratum:
    """The calibration bots of one group: their distinct address counts as values and
    frequencies (few distinct values, so resampling is a multinomial over them), and for a
    group wider than one AS the mean of each of its ASes with that AS's share of the bots
    (an AS that borrows the group's figure may really be any of them)."""

    n: int
    values: np.ndarray
    probs: np.ndarray
    mean: float
    donors: np.ndarray
    donor_probs: np.ndarray


@dataclass(frozen=True)
class _Group:
    """The counted addresses of one (AS, country) and the stratum that calibrates them."""

    asn: int
    country: str
    ips: int
    level: str
    stratum: tuple[str, str]


def _ranks(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's rank among the column's distinct values (sorted), -1 for null, and
    those values: integer codes that group and order like the text (several times faster
    than Python strings) and, unlike first-seen codes, do not depend on the row order."""
    encoded = pc.dictionary_encode(column).combine_chunks()
    values = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    order = np.argsort(values, kind="stable")
    rank = np.empty(len(order) + 1, dtype=np.int64)
    rank[order] = np.arange(len(order))
    rank[-1] = -1  # index -1 (a null) lands here
    indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
    return rank[indices.astype(np.int64)], values[order]


def _frame(table: pa.Table) -> pd.DataFrame:
    """Sightings as a DataFrame: addresses and bot IDs as order-preserving integer codes
    (bot_id -1: none), country as a category (empty: unknown), AS -1 unknown; sorted, because
    the store hands rows in any order and float sums must not depend on it for both
    backends to give identical results."""
    ip, _ = _ranks(table.column("ip"))
    bot, _ = _ranks(table.column("bot_id"))
    country, names = _ranks(pc.fill_null(table.column("country"), NO_COUNTRY))
    frame = pd.DataFrame(
        {
            "bucket": table.column("bucket").to_numpy(zero_copy_only=False),
            "ip": ip,
            "port": table.column("port").to_numpy(zero_copy_only=False),
            "bot_id": bot,
            "country": pd.Categorical.from_codes(country, categories=list(names)),
            "asn": pc.fill_null(table.column("asn"), NO_ASN).to_numpy(zero_copy_only=False),
            "first_us": table.column("first_us").to_numpy(zero_copy_only=False),
            "last_us": table.column("last_us").to_numpy(zero_copy_only=False),
        }
    )
    return frame.sort_values(["bucket", "ip", "port", "bot_id"], kind="stable").reset_index(
        drop=True
    )


def _seed(request: AnalysisRequest) -> int:
    """A bootstrap seed from the request alone: the same request draws the same resamples."""
    digest = hashlib.sha256(repr(request.key()).encode()).digest()
    return int.from_bytes(digest[:6], "big")  # < 2**53: exact in JSON readers too


def _modal(bots: pd.DataFrame, column: str) -> pd.Series:
    """Per bot ID, the value of ``column`` it was seen with most (ties: the smallest)."""
    sizes = bots.groupby(["bot_id", column], observed=True).size().reset_index(name="k")
    sizes = sizes.sort_values(["bot_id", "k", column], ascending=[True, False, True])
    return sizes.drop_duplicates("bot_id").set_index("bot_id")[column]


def _bots(window: pd.DataFrame) -> pd.DataFrame:
    """One row per bot ID in the window: its distinct addresses, AS and country."""
    bots = window[window["bot_id"] >= 0]
    if bots.empty:
        return pd.DataFrame({"x": [], "asn": [], "country": []})
    out = pd.DataFrame({"x": bots.groupby("bot_id")["ip"].nunique()})
    out["asn"] = _modal(bots, "asn")
    out["country"] = _modal(bots, "country")
    return out.sort_index()


def _stratum(bots: pd.DataFrame, pooled: bool) -> _Stratum:
    x = bots["x"].to_numpy()
    values, counts = np.unique(x.astype(np.int64), return_counts=True)
    n = int(counts.sum())
    donors = np.empty(0)
    donor_probs = np.empty(0)
    if pooled:
        per_as = bots.groupby("asn")["x"].agg(["mean", "size"])
        donors = per_as["mean"].to_numpy(dtype=np.float64)
        donor_probs = per_as["size"].to_numpy(dtype=np.float64) / n
    return _Stratum(n, values.astype(np.float64), counts / n, float(x.mean()), donors, donor_probs)


def _presence(window: pd.DataFrame) -> float | None:
    """Mean number of buckets (hours) an address is seen in."""
    if window.empty:
        return None
    return float(window.groupby("ip")["bucket"].nunique().mean())


def _groups(
    window: pd.DataFrame, bots: pd.DataFrame, min_ids: int
) -> tuple[list[_Group], dict[tuple[str, str], _Stratum]]:
    """The counted addresses per (AS, country), each tied to the most specific group of
    calibration bots with at least ``min_ids`` IDs."""
    # Each address in its smallest AS (and that row's smallest country).
    per_ip = window.sort_values(["ip", "asn", "country"]).drop_duplicates("ip")
    counted = per_ip.groupby(["asn", "country"], observed=True).size()
    by_as = {int(a): g for a, g in bots.groupby("asn") if int(a) != NO_ASN}
    by_country = {str(c): g for c, g in bots.groupby("country", observed=True) if c != NO_COUNTRY}
    strata: dict[tuple[str, str], _Stratum] = {}
    groups: list[_Group] = []
    for (asn, country), ips in counted.items():
        asn, country = int(asn), str(country)
        if asn in by_as and len(by_as[asn]) >= min_ids:
            level, key, x = "as", str(asn), by_as[asn]
        elif country in by_country and len(by_country[country]) >= min_ids:
            level, key, x = "country", country, by_country[country]
        else:
            level, key, x = "botnet", "", bots
        if (level, key) not in strata:
            strata[(level, key)] = _stratum(x, pooled=level != "as")
        groups.append(_Group(asn, country, int(ips), level, (level, key)))
    groups.sort(key=lambda g: (g.asn, g.country))
    return groups, strata


def _bootstrap(
    groups: Sequence[_Group],
    strata: dict[tuple[str, str], _Stratum],
    iterations: int,
    seed: int,
) -> np.ndarray:
    """``iterations`` resampled estimates (see the module's method, step 4)."""
    rng = np.random.default_rng(seed)
    means = {
        key: rng.multinomial(s.n, s.probs, size=iterations) @ s.values / s.n
        for key, s in sorted(strata.items())
    }
    total = np.zeros(iterations)
    for g in groups:
        s = strata[g.stratum]
        bots = max(1, round(g.ips / s.mean))
        drawn = rng.multinomial(bots, s.probs, size=iterations) @ s.values
        ips = np.maximum(g.ips + drawn - bots * s.mean, 0.0)
        bots_drawn = ips / means[g.stratum]
        if len(s.donors) > 1:
            # A borrowed figure: this AS reassigns like one of the group's ASes, drawn by
            # their share of the bots, so the spread between networks enters the interval;
            # scaled to mean 1 so it widens the interval without moving it.
            spread = s.mean / s.donors
            spread /= float(spread @ s.donor_probs)
            bots_drawn *= spread[rng.choice(len(s.donors), size=iterations, p=s.donor_probs)]
        total += bots_drawn
    return total


def _growth(frame: pd.DataFrame, end_us: int, range_s: int, min_ids: int) -> list[GrowthPoint]:
    """Distinct addresses per bot ID over windows of growing length (method, step 5)."""
    ided = frame[frame["bot_id"] >= 0]
    if ided.empty:
        return []
    lengths = [s for s in GROWTH_STEPS if s <= range_s]
    step = GROWTH_STEPS[-1] * 2
    while step <= range_s:
        lengths.append(step)
        step *= 2
    if not lengths or lengths[-1] < range_s:
        lengths.append(range_s)
    asn_of = _modal(ided, "asn")
    top = asn_of[asn_of != NO_ASN].value_counts().reset_index().set_axis(["asn", "k"], axis=1)
    top = top[top["k"] >= min_ids].sort_values(["k", "asn"], ascending=[False, True])
    ases = [int(a) for a in top["asn"].head(GROWTH_ASES)]
    out: list[GrowthPoint] = []
    first_us = ided["first_us"].to_numpy()
    for length in lengths:
        length_us = length * 1_000_000
        tiles = max(1, min(range_s // length, MAX_TILES))
        tile = (end_us - 1 - first_us) // length_us
        keep = tile < tiles
        sub = pd.DataFrame(
            {
                "tile": tile[keep],
                "bot_id": ided["bot_id"].to_numpy()[keep],
                "ip": ided["ip"].to_numpy()[keep],
            }
        )
        per = sub.drop_duplicates().groupby(["tile", "bot_id"]).size().reset_index(name="x")
        if per.empty:
            continue
        out.append(
            GrowthPoint(
                asn=None,
                window_s=length,
                windows=tiles,
                ids=len(per),
                ips_per_id=round(float(per["x"].mean()), 3),
            )
        )
        per["asn"] = per["bot_id"].map(asn_of)
        for asn in ases:
            mine = per[per["asn"] == asn]
            if not mine.empty:
                out.append(
                    GrowthPoint(
                        asn=asn,
                        window_s=length,
                        windows=tiles,
                        ids=len(mine),
                        ips_per_id=round(float(mine["x"].mean()), 3),
                    )
                )
    return out


def _sightings(
    store: Store, botnet_id: int, request: AnalysisRequest, bucket_s: int
) -> pd.DataFrame:
    table = store.sightings(
        botnet_id, "replies", request.start, request.end, bucket_s, source=request.source
    )
    return _frame(table)


def _choose(
    store: Store, name: str, frame: pd.DataFrame, request: AnalysisRequest
) -> tuple[str | None, str]:
    """The calibration botnet and why it (or why none)."""
    wanted = str(request.options["calibrate_with"])
    has_ids = bool((frame["bot_id"] >= 0).any())
    if wanted:
        if wanted not in scope.botnet_ids(store):
            raise OptionError(f"calibrate_with: unknown botnet {wanted!r}")
        return wanted, "named by calibrate_with"
    if has_ids:
        return name, "the counted botnet carries bot IDs (the estimate checks the ID count)"
    names = {i: n for n, i in scope.botnet_ids(store).items()}
    ided = store.range_counts(
        "replies", None, request.start, request.end, ["ids"], source=request.source
    )
    mine = {int(a) for a in frame["asn"].unique() if int(a) != NO_ASN}
    best: tuple[int, str] | None = None
    for bid, (ids,) in sorted(ided.items()):
        other = names.get(bid)
        if other is None or other == name or ids == 0:
            continue
        ases = store.ips_per_as(
            [bid], request.start, request.end, 1_000_000, from_seen=False, source=request.source
        )
        shared = len(mine & {a for a, *_ in ases if a is not None})
        if shared and (best is None or (shared, other) > (best[0], best[1])):
            best = (shared, other)
    if best is None:
        return None, "no ID-bearing botnet shares an AS with it in this range"
    return best[1], f"the ID-bearing botnet sharing most ASes with it ({best[0]})"


def _vantage(store: Store, ids: list[int], request: AnalysisRequest, start: float) -> list[str]:
    names = store.source_counts("replies", ids, start, request.end, source=request.source)
    return vantage_points(list(names))


def compute(store: Store, request: AnalysisRequest) -> CountResult:
    """Counts, calibration, estimate and interval for ``request`` (see the module's method)."""
    options = request.options
    bucket_s = PRESENCE_BUCKET_S
    range_s = max(1, int(request.end - request.start))
    wanted_window = int(options["window_s"])
    if 0 < wanted_window < MIN_WINDOW_S:
        raise OptionError(f"window_s must be 0 (the whole range) or at least {MIN_WINDOW_S} s")
    window_s = range_s if wanted_window == 0 else min(wanted_window, range_s)
    window_start = request.end - window_s
    start_us = round(window_start * 1_000_000)
    end_us = round(request.end * 1_000_000)
    confidence = float(options["confidence"])
    min_ids = int(options["min_ids"])

    botnet_id = scope.botnet_id(store, request.botnet)
    frame = _sightings(store, botnet_id, request, bucket_s)
    window = frame[frame["last_us"] >= start_us]
    ips = int(window["ip"].nunique())
    ids = int(window.loc[window["bot_id"] >= 0, "bot_id"].nunique())
    ip_ports = len(window[["ip", "port"]].drop_duplicates())

    calibrator, reason = _choose(store, request.botnet, frame, request)
    used = [botnet_id]
    if calibrator is None or calibrator == request.botnet:
        cal_frame = frame
    else:
        cal_id = scope.botnet_id(store, calibrator)
        used.append(cal_id)
        cal_frame = _sightings(store, cal_id, request, bucket_s)
    cal_window = cal_frame[cal_frame["last_us"] >= start_us]
    bots = _bots(cal_window)
    params: dict[str, Any] = {
        "bucket_s": bucket_s,
        "window_s": window_s,
        "calibrate_with": calibrator,
        "confidence": confidence,
        "bootstrap": int(options["bootstrap"]),
        "min_ids": min_ids,
        "seed": _seed(request),
        "source_type": request.source or "all",
    }
    base: dict[str, Any] = {
        "analysis": "count",
        "botnet": request.botnet,
        "start": request.start,
        "end": request.end,
        "params": params,
        "vantage_points": _vantage(store, used, request, window_start),
        "computed_at": time.time(),
        "window_s": window_s,
        "window_start": window_start,
        "ips": ips,
        "ids": ids,
        "ip_ports": ip_ports,
        "confidence": confidence,
    }
    if calibrator is not None and bots.empty:
        reason = f"{calibrator} shows no bot IDs in the window"
        calibrator = None
    if calibrator is None or ips == 0:
        return _uncalibrated(base, calibrator, reason, ips, len(bots))

    groups, strata = _groups(window, bots, min_ids)
    per_as = [
        AsCount(
            asn=None if g.asn == NO_ASN else g.asn,
            country=g.country or None,
            ips=g.ips,
            level=g.level,
            calibration_ids=strata[g.stratum].n,
            ips_per_bot=round(strata[g.stratum].mean, 4),
            estimate=round(g.ips / strata[g.stratum].mean, 2),
        )
        for g in sorted(groups, key=lambda g: (-g.ips, g.asn, g.country))
    ]
    estimate = sum(g.ips / strata[g.stratum].mean for g in groups)
    resampled = _bootstrap(groups, strata, int(options["bootstrap"]), _seed(request))
    low, high = np.quantile(resampled, [(1 - confidence) / 2, (1 + confidence) / 2])
    levels = {level: sum(1 for g in groups if g.level == level) for level in LEVELS}
    borrowed = sum(g.ips for g in groups if g.level != "as")
    presence = _presence(window)
    cal_presence = _presence(cal_window)
    calibration = Calibration(
        botnet=calibrator,
        reason=reason,
        ids=len(bots),
        ases_calibrated=levels["as"],
        fallback_share=round(borrowed / ips, 4),
        levels=levels,
        presence_ratio=(round(presence / cal_presence, 4) if presence and cal_presence else None),
    )
    own = calibrator == request.botnet
    method = (
        f"Distinct IPs per AS over the last {window_s} s divided by the mean distinct "
        f"addresses one bot ID of {calibrator} showed in that AS over the same window "
        f"(ASes with fewer than {min_ids} IDs use their country's, then the botnet-wide "
        f"mean), summed; {confidence:.0%} interval: percentile bootstrap of "
        f"{int(options['bootstrap'])} resamples of the calibration bots and of each AS's "
        "counted addresses"
        + ("; calibrated on its own IDs, so the estimate checks the ID count" if own else "")
    )
    return CountResult(
        **base,
        method=method,
        estimate=round(float(estimate), 2),
        ci_low=round(float(low), 2),
        ci_high=round(float(high), 2),
        calibration=calibration,
        ips_per_id=_growth(cal_frame, end_us, range_s, min_ids),
        per_as=per_as,
    )


def _uncalibrated(
    base: dict[str, Any], calibrator: str | None, reason: str, ips: int, cal_ids: int
) -> CountResult:
    """No calibration possible: the distinct IPs stand as an upper bound."""
    method = (
        f"Not estimated: {reason}. The estimate is the distinct IPs, an upper bound when "
        "addresses are reassigned (bots sharing one address behind NAT can make it an "
        "undercount); no lower bound"
        if ips
        else "No replies in the window: nothing to count"
    )
    return CountResult(
        **base,
        method=method,
        estimate=float(ips),
        ci_low=None if ips else 0.0,
        ci_high=float(ips),
        calibration=Calibration(
            botnet=calibrator,
            reason=reason,
            ids=cal_ids,
            ases_calibrated=0,
            fallback_share=1.0 if ips else 0.0,
            levels=dict.fromkeys(LEVELS, 0),
            presence_ratio=None,
        ),
        ips_per_id=[],
        per_as=[],
    )


ANALYSIS = Analysis(
    name="count",
    title="Counting bots",
    summary=(
        "Distinct IPs, bot IDs and ip:port of a window side by side, and the number of bots "
        "the IPs stand for once address reassignment is accounted for, with a confidence "
        "interval calibrated on an ID-bearing botnet in the same networks."
    ),
    options=OPTIONS,
    compute=compute,
    result_type=CountResult,
    default_range_s=7 * DAY,
)
