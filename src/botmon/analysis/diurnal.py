"""Diurnal cycles and throttling: does a botnet's presence follow its owners' day, and is a
region's daily dip the bots' own or a filter's?

A population seen by crawlers rises and falls over the day because devices are switched off
at night, but a country can also vanish for a few hours because its networks drop the
botnet's packets then (the Great Firewall fragments Chinese peers' sessions at certain
hours; the talk's "Mozi: diurnals or throttling?"). The two look alike in one region's
curve. They differ against the rest of the botnet: the bots' own cycle follows local time
everywhere, so the other regions' local-time profile, shifted to a region's clock, says
what that region's day should look like; a window of UTC hours where it stays far below
that, day after day, is not explained by local time. Failed tries rising in that window
(bots known to be there that stop answering) are a filter's fingerprint.

The counting, fitting and rule live in :mod:`botmon.analysis.cycles`; this module reads the
store (hourly sightings of replies and failed tries), groups them by country and AS and
assembles the result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from typing import Any

import msgspec
import numpy as np
import pandas as pd

from botmon.analysis import cycles
from botmon.analysis.cycles import Bools, Dip, DipRule, Floats, Series
from botmon.analysis.framework import (
    Analysis,
    AnalysisRequest,
    Option,
    OptionError,
    ResultBase,
    Section,
    vantage_points,
)
from botmon.analysis.scope import botnet_id
from botmon.buckets import DAY, HOUR, bucket_start, buckets_between
from botmon.enrich.timezones import utc_offset_hours
from botmon.store.base import Store

MIN_DAYS = 2.0
"""A cycle needs at least two days of hours: with one, a trend and a cycle are one thing."""
MAX_RANGE_S = 400 * DAY
"""Longest range analysed at once (hourly series of every region are kept in memory)."""

RULE = DipRule()

OPTIONS = (
    Option(
        "by",
        "choice",
        "ip",
        "Count distinct addresses (ip) or bot IDs (id) per hour.",
        choices=("ip", "id"),
    ),
    Option(
        "top",
        "int",
        10,
        "Countries and ASes analysed (the most bots first).",
        minimum=1,
        maximum=100,
    ),
    Option(
        "drop",
        "float",
        RULE.drop,
        "Throttling rule: an hour dips when presence is below (1 - drop) times what local "
        "time predicts.",
        minimum=0.05,
        maximum=0.95,
    ),
    Option(
        "held_share",
        "float",
        RULE.held_share,
        "Throttling rule: share of the complete days on which an hour must dip.",
        minimum=0.1,
        maximum=1.0,
    ),
    Option(
        "max_window_h",
        "int",
        RULE.max_window_h,
        "Throttling rule: longest window of dipped hours (longer is a low level or an outage).",
        minimum=1,
        maximum=20,
    ),
    Option(
        "min_bots",
        "float",
        RULE.min_expected,
        "Throttling rule: expected presence per hour in the window needed to judge a region.",
        minimum=0.0,
        maximum=1_000_000.0,
    ),
)


class Evidence(msgspec.Struct, kw_only=True):
    """Why a region is suspected of throttling."""

    window_utc: list[int]
    """[first hour, end hour) of day in UTC (end may be smaller: the window wraps)."""
    window_local: list[float]
    """The same window in the region's local time (offset at mid-range)."""
    hours: int
    observed: float
    """Mean presence per hour in the window."""
    expected: float
    """Mean presence per hour the other regions' local-time profile predicts there."""
    ratio: float
    days_held: int
    """Complete days on which the window's presence fell below the threshold."""
    days: int
    failed_share_window: float | None
    """Failed tries / (failed tries + replies) of the region's addresses in the window
    (None: no failed tries stored)."""
    failed_share_outside: float | None


class RegionCycle(msgspec.Struct, kw_only=True):
    """The daily cycle of one country (``asn`` None) or one AS (``country``: its main one)."""

    country: str | None
    asn: int | None = None
    bots: int
    """Distinct addresses or IDs (``by``) seen in the range."""
    utc_offset: float | None
    """Hours ahead of UTC at mid-range (None: unknown time zone)."""
    strength: float | None
    peak_hour_utc: float | None
    peak_hour_local: float | None
    explained: float | None
    """Share of the hourly variance (after mean and trend) the 24 h component explains."""
    throttling_suspected: bool
    evidence: Evidence | None = None
    profile_utc: list[float]
    """Mean presence per UTC hour of day."""
    profile_local: list[float]
    """Mean presence per local hour of day (empty: unknown time zone)."""


class DiurnalResult(ResultBase, kw_only=True):
    """The diurnal analysis of one botnet."""

    by: str
    bots: int
    days: float
    """Hours with monitoring data in the range, divided by 24."""
    strength: float | None
    """Botnet-wide relative amplitude of the daily cycle in the bots' local time."""
    strength_utc: float | None
    peak_hour_utc: float | None
    peak_hour_local: float | None
    explained: float | None
    regions: list[RegionCycle]
    ases: list[RegionCycle]
    notes: list[str]

    def sections(self) -> list[Section]:
        cols = [
            "strength",
            "peak_hour_utc",
            "peak_hour_local",
            "explained",
            "throttling_suspected",
            "window_utc",
        ]

        def row(r: RegionCycle) -> list[Any]:
            window = _window_text(r.evidence.window_utc) if r.evidence else ""
            return [
                r.strength,
                r.peak_hour_utc,
                r.peak_hour_local,
                r.explained,
                r.throttling_suspected,
                window,
            ]

        evidence = [
            [
                r.country if r.asn is None else f"AS{r.asn}",
                _window_text(e.window_utc),
                _window_text(e.window_local),
                e.observed,
                e.expected,
                e.ratio,
                e.days_held,
                e.days,
                e.failed_share_window,
                e.failed_share_outside,
            ]
            for r in self.regions + self.ases
            if (e := r.evidence) is not None
        ]
        return [
            Section(
                "regions",
                "Daily cycle per country",
                ["country", "bots", *cols],
                [[r.country, r.bots, *row(r)] for r in self.regions],
            ),
            Section(
                "ases",
                "Daily cycle per AS",
                ["asn", "country", "bots", *cols],
                [[r.asn, r.country, r.bots, *row(r)] for r in self.ases],
            ),
            Section(
                "evidence",
                "Suspected throttling: the evidence",
                [
                    "region",
                    "window_utc",
                    "window_local",
                    "observed",
                    "expected",
                    "ratio",
                    "days_held",
                    "days",
                    "failed_share_window",
                    "failed_share_outside",
                ],
                evidence,
            ),
        ]


def _window_text(window: list[int] | list[float]) -> str:
    return f"{window[0]:g}-{window[1]:g}"


def _options(request: AnalysisRequest) -> tuple[str, int, DipRule]:
    o = request.options
    rule = DipRule(
        drop=float(o.get("drop", RULE.drop)),
        held_share=float(o.get("held_share", RULE.held_share)),
        max_window_h=int(o.get("max_window_h", RULE.max_window_h)),
        min_expected=float(o.get("min_bots", RULE.min_expected)),
    )
    return str(o.get("by", "ip")), int(o.get("top", 10)), rule


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), digits)


class _Offsets:
    """UTC offsets per (country, UTC day), looked up once each: daylight saving changes the
    offset between days, never within the middle of one by more than the hour it moves."""

    def __init__(self, days: Iterable[int]) -> None:
        self.days = sorted(set(days))
        self._cache: dict[str | None, dict[int, float] | None] = {}

    def of(self, country: str | None) -> dict[int, float] | None:
        if country not in self._cache:
            found: dict[int, float] = {}
            for d in self.days:
                off = utc_offset_hours(country, d * DAY + DAY / 2) if country else None
                if off is None:
                    self._cache[country] = None
                    return None
                found[d] = off
            self._cache[country] = found
        return self._cache[country]


def compute(store: Store, request: AnalysisRequest) -> DiurnalResult:
    """The diurnal analysis of ``request.botnet`` (see the module's docstring and ``method``)."""
    by, top, rule = _options(request)
    if request.end - request.start > MAX_RANGE_S:
        raise OptionError(f"range longer than {MAX_RANGE_S // DAY} days: analyse a shorter one")
    found = botnet_id(store, request.botnet)
    start, end, source = request.start, request.end, request.source
    replies = store.sightings(found, "replies", start, end, HOUR, source).to_pandas()
    unit = "ip" if by == "ip" else "bot_id"
    if by == "id":
        if len(replies) and replies["bot_id"].isna().all():
            raise OptionError(
                f"by: botnet {request.botnet!r} has no bot IDs in this range; use by=ip"
            )
        replies = replies[replies["bot_id"].notna()]
    names = vantage_points(list(store.source_counts("replies", [found], start, end, source)))

    grid = buckets_between(start, end, HOUR)
    first, n = grid.start, len(grid)
    starts = np.array([bucket_start(b, HOUR) for b in grid], dtype=np.float64)
    hours_utc = (starts + HOUR / 2) / HOUR
    day_of = (starts // DAY).astype(np.int64)
    hod = ((starts // HOUR) % 24).astype(np.int64)
    idx = (
        (replies["bucket"].to_numpy(dtype=np.int64) - first)
        if len(replies)
        else np.zeros(0, np.int64)
    )
    replies = replies.assign(i=idx)
    use = np.zeros(n, dtype=np.bool_)
    use[np.unique(idx)] = True
    days_covered = float(use.sum()) / 24
    offsets = _Offsets(day_of.tolist())
    notes: list[str] = []
    if days_covered < MIN_DAYS:
        notes.append(
            f"only {days_covered:.1f} days with data: a daily cycle needs at least {MIN_DAYS:g}"
        )

    def counts(rows: pd.DataFrame) -> Floats:
        out = np.zeros(n)
        if len(rows):
            per = rows.groupby("i")[unit].nunique()
            out[per.index.to_numpy(dtype=np.int64)] = per.to_numpy(dtype=np.float64)
        return out

    def local_hours(country: str | None) -> Floats | None:
        offs = offsets.of(country)
        if offs is None:
            return None
        shift = np.array([offs[d] for d in day_of.tolist()], dtype=np.float64)
        out: Floats = hours_utc + shift
        return out

    # Per country: hourly counts, local clock and local-hour profile.
    by_country: dict[str, Floats] = {}
    for cc, rows in replies[replies["country"].notna()].groupby("country", sort=True):
        by_country[str(cc)] = counts(rows)
    local_of = {cc: local_hours(cc) for cc in by_country}

    def profile(c: Floats, positions: Floats) -> list[float]:
        bins = np.floor(positions - 0.5).astype(np.int64) % 24
        out = []
        for h in range(24):
            sel = use & (bins == h)
            out.append(round(float(c[sel].mean()), 3) if sel.any() else 0.0)
        return out

    local_profile: dict[str, Floats] = {
        cc: np.array(profile(c, loc))
        for cc, c in by_country.items()
        if (loc := local_of[cc]) is not None
    }
    weight = {cc: float(c[use].mean()) if use.any() else 0.0 for cc, c in by_country.items()}

    # Complete UTC days (all 24 hours monitored) for the throttling rule.
    complete = [d for d in sorted(set(day_of.tolist())) if int((use & (day_of == d)).sum()) == 24]
    day_rows = {d: np.flatnonzero(day_of == d) for d in complete}

    def by_day(c: Floats) -> Floats:
        out = np.zeros((len(complete), 24))
        for k, d in enumerate(complete):
            rows_ = day_rows[d]
            out[k, hod[rows_]] = c[rows_]
        return out

    def expected_for(
        c: Floats, country: str | None, exclude: str | None
    ) -> tuple[Floats, Floats] | None:
        offs = offsets.of(country)
        if offs is None or not complete:
            return None
        shape = cycles.local_shape(
            [(p, weight[cc]) for cc, p in sorted(local_profile.items()) if cc != exclude]
        )
        if shape is None:
            return None
        daily_shape = np.zeros((len(complete), 24))
        for k, d in enumerate(complete):
            for h in range(24):
                daily_shape[k, h] = shape[math.floor(h + offs[d]) % 24]
        observed = by_day(c)
        return observed, cycles.expected_counts(observed, daily_shape)

    loaded: list[pd.DataFrame] = []

    def failed_tries() -> pd.DataFrame:
        """The failed tries of addresses that replied, placed where their replies were;
        read only when a region is flagged (they outnumber replies several times)."""
        if not loaded:
            raw = store.sightings(found, "failed_tries", start, end, HOUR, source).to_pandas()
            ip_region = replies.sort_values(["ip", "country", "asn"]).drop_duplicates("ip")
            located = raw.drop(columns=["country", "asn"]).merge(
                ip_region[["ip", "country", "asn"]], on="ip", how="inner"
            )
            loaded.append(located.assign(i=located["bucket"].to_numpy(dtype=np.int64) - first))
        return loaded[0]

    def failed_shares(key: str, value: Any, dip: Dip) -> tuple[float | None, float | None]:
        failed = failed_tries()
        if failed.empty:
            return None, None
        window = np.isin(hod, dip.window())
        in_days = np.isin(day_of, complete)
        f = np.zeros(n)
        s = np.zeros(n)
        fr = failed[failed[key] == value]
        rr = replies[replies[key] == value]
        if len(fr):
            per = fr.groupby("i").size()
            f[per.index.to_numpy(dtype=np.int64)] = per.to_numpy(dtype=np.float64)
        if len(rr):
            per = rr.groupby("i").size()
            s[per.index.to_numpy(dtype=np.int64)] = per.to_numpy(dtype=np.float64)

        def share(sel: Bools) -> float | None:
            tot = float(f[sel].sum() + s[sel].sum())
            return _r(float(f[sel].sum()) / tot) if tot > 0 else None

        return share(in_days & window), share(in_days & ~window)

    # --- countries -------------------------------------------------------------------------
    bots_per_country = (
        replies[replies["country"].notna()].groupby("country")[unit].nunique()
        if len(replies)
        else pd.Series(dtype=np.int64)
    )
    ranked = sorted(bots_per_country.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
    top_countries = [str(cc) for cc, _ in ranked[:top]]

    judged: dict[str, tuple[Floats, Floats, Bools]] = {}
    for cc in top_countries:
        found_exp = expected_for(by_country[cc], cc, cc)
        if found_exp is not None:
            observed, expected = found_exp
            judged[cc] = (observed, expected, cycles.dipped_hours(observed, expected, rule))
    shared = _botnet_wide(judged)
    if shared.any():
        notes.append(
            "UTC hours "
            + ", ".join(str(h) for h in np.flatnonzero(shared))
            + " dip in most regions at once: a monitoring gap or a botnet-wide event, not"
            " regional throttling"
        )
    dips: dict[str, Dip] = {}
    for cc, (observed, expected, flags) in judged.items():
        if len(complete) >= MIN_DAYS:
            dip = cycles.find_dip(observed, expected, flags & ~shared, rule)
            if dip is not None:
                dips[cc] = dip

    def masked(dip: Dip | None) -> Bools:
        return use & ~np.isin(hod, dip.window()) if dip else use

    def region(
        c: Floats,
        cc: str | None,
        bots: int,
        dip: Dip | None,
        key: str,
        value: Any,
        asn: int | None = None,
    ) -> RegionCycle:
        loc = local_hours(cc)
        keep = masked(dip)
        enough = days_covered >= MIN_DAYS
        utc = cycles.fit_cycle([Series(c, hours_utc, keep)]) if enough else None
        local = cycles.fit_cycle([Series(c, loc, keep)]) if enough and loc is not None else None
        mid = offsets.of(cc)
        offset = None if mid is None else mid[int(day_of[n // 2])]
        evidence = None
        if dip is not None:
            fw, fo = failed_shares(key, value, dip)
            end_h = (dip.first_hour + dip.hours) % 24
            evidence = Evidence(
                window_utc=[dip.first_hour, end_h],
                window_local=[]
                if offset is None
                else [(dip.first_hour + offset) % 24, (end_h + offset) % 24],
                hours=dip.hours,
                observed=round(dip.observed, 3),
                expected=round(dip.expected, 3),
                ratio=round(dip.observed / dip.expected, 4),
                days_held=dip.days_held,
                days=dip.days,
                failed_share_window=fw,
                failed_share_outside=fo,
            )
        return RegionCycle(
            country=cc,
            asn=asn,
            bots=bots,
            utc_offset=offset,
            strength=_r(utc.strength if utc else None),
            peak_hour_utc=_r(utc.peak_hour if utc else None, 2),
            peak_hour_local=_r(local.peak_hour if local else None, 2),
            explained=_r(utc.explained if utc else None),
            throttling_suspected=dip is not None,
            evidence=evidence,
            profile_utc=profile(c, hours_utc),
            profile_local=[] if loc is None else profile(c, loc),
        )

    regions = [
        region(by_country[cc], cc, int(bots_per_country[cc]), dips.get(cc), "country", cc)
        for cc in top_countries
    ]

    # --- ASes ------------------------------------------------------------------------------
    ases: list[RegionCycle] = []
    with_asn = replies[replies["asn"].notna()]
    if len(with_asn):
        per_as = with_asn.groupby("asn")[unit].nunique()
        top_as = sorted(per_as.items(), key=lambda kv: (-int(kv[1]), int(kv[0])))[:top]
        for asn_, bots in top_as:
            rows = with_asn[with_asn["asn"] == asn_]
            cc_counts = rows[rows["country"].notna()].groupby("country")[unit].nunique()
            main = (
                sorted(cc_counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))[0][0]
                if len(cc_counts)
                else None
            )
            c = counts(rows)
            dip = None
            found_exp = expected_for(c, main, main) if main is not None else None
            if found_exp is not None and len(complete) >= MIN_DAYS:
                observed, expected = found_exp
                flags = cycles.dipped_hours(observed, expected, rule) & ~shared
                dip = cycles.find_dip(observed, expected, flags, rule)
            ases.append(
                region(
                    c,
                    None if main is None else str(main),
                    int(bots),
                    dip,
                    "asn",
                    asn_,
                    asn=int(asn_),
                )
            )

    # --- the botnet as a whole -------------------------------------------------------------
    total = counts(replies)
    enough = days_covered >= MIN_DAYS
    whole_utc = cycles.fit_cycle([Series(total, hours_utc, use)]) if enough else None
    groups = [
        Series(c, loc, masked(dips.get(cc)))
        for cc, c in sorted(by_country.items())
        if (loc := local_of[cc]) is not None
    ]
    whole_local = cycles.fit_cycle(groups) if enough and groups else None
    if not len(replies):
        notes.append("no replies in this range")
    elif enough and whole_local is None:
        notes.append("no address has a country with a known time zone: no local-time cycle")

    return DiurnalResult(
        analysis="diurnal",
        botnet=request.botnet,
        start=start,
        end=end,
        method=_method(by, rule),
        params={
            "by": by,
            "top": top,
            "bucket_s": HOUR,
            "drop": rule.drop,
            "held_share": rule.held_share,
            "max_window_h": rule.max_window_h,
            "min_bots": rule.min_expected,
            "min_days": MIN_DAYS,
            "source_type": source or "all",
        },
        vantage_points=names,
        computed_at=time.time(),
        by=by,
        bots=int(replies[unit].nunique()) if len(replies) else 0,
        days=round(days_covered, 2),
        strength=_r(whole_local.strength if whole_local else None),
        strength_utc=_r(whole_utc.strength if whole_utc else None),
        peak_hour_utc=_r(whole_utc.peak_hour if whole_utc else None, 2),
        peak_hour_local=_r(whole_local.peak_hour if whole_local else None, 2),
        explained=_r(whole_utc.explained if whole_utc else None),
        regions=regions,
        ases=ases,
        notes=notes,
    )


def _botnet_wide(judged: dict[str, tuple[Floats, Floats, Bools]]) -> Bools:
    """UTC hours that dip in more than half of the judged regions (at least three): a
    monitoring gap or an event of the whole botnet, which no region's filter explains."""
    if len(judged) < 3:
        return np.zeros(24, dtype=np.bool_)
    votes = np.sum([flags for _, _, flags in judged.values()], axis=0)
    out: Bools = votes * 2 > len(judged)
    return out


def _method(by: str, rule: DipRule) -> str:
    unit = "addresses" if by == "ip" else "bot IDs"
    return (
        f"Distinct {unit} per hour, per country and AS (the top ones by {unit}), over the "
        "hours in which any record of the botnet was stored. Daily cycle: least-squares fit "
        "of mean, linear trend and a 24-hour sine; strength = the sine's amplitude over the "
        "mean, peak = its maximum, in UTC and in local time (each country's main time zone, "
        "the offset of each day, so daylight saving is followed); the botnet-wide local "
        "cycle is one sine shared by all countries, each weighted by its mean; explained = "
        "share of the variance after mean and trend that the sine explains; fewer than "
        f"{MIN_DAYS:g} days give no cycle. Throttling: the other countries' mean presence "
        "by local hour (each normalised to mean 1, weighted by size; for an AS, every "
        "country but its own) is shifted to the region's clock and scaled to each day's "
        "level (the median ratio), which is what the bots' own daily behaviour predicts "
        f"for each UTC hour. A UTC hour dips when presence is below {1 - rule.drop:g} x "
        f"that expectation on at least {rule.held_share:g} of the complete days; a "
        f"contiguous window of such hours, at most {rule.max_window_h} h long, with at least "
        f"{rule.min_expected:g} expected per hour, flags the region (hours dipping in most "
        "countries at once are a monitoring gap, not a region's filter). A flagged region's "
        "cycle is fitted without its window. Evidence: the window in UTC and local hours, "
        "observed vs expected presence, the days it held, and the share of failed tries "
        "among the region's records in and outside the window."
    )


ANALYSIS = Analysis(
    name="diurnal",
    title="Daily cycles and throttling",
    summary="Strength and peak of the 24-hour cycle per botnet, country and AS, in UTC and "
    "local time; regional dips that local time does not explain, flagged as suspected "
    "throttling with the evidence.",
    options=OPTIONS,
    compute=compute,
    result_type=DiurnalResult,
    default_range_s=14 * DAY,
)
