"""Crawler suspects from what botmon's sensors heard: who asks like a machine and is no bot.

A crawler has to contact every peer it can find, again and again, so at a sensor it looks
different from a bot (BoobyTrap; Andriesse et al., IMC 2015):

- **unlisted**: a bot is in other bots' peer lists; a crawler never is, because it never
  answers as a bot would (no peer list names its address; an address whose IP is listed on
  another port counts half, as NAT may change the port);
- **regular**: it polls on a timer all the time, so the gaps between its requests hardly
  vary (a small coefficient of variation) over the whole time botmon's sensors listened.
  A bot may keep a timer too, but only while online: its gaps vary with its sessions, and
  a bot heard in one session only is present for a small part of the time (the sign is
  1 - CV times that part);
- **busy**: it asks more often than the median contacting peer, all the time (the sign is
  weighted by the share of the time it was heard, as a short burst is no rate);
- **covering**: it reaches more of botmon's sensors than peers usually do (only tells
  something with more than one sensor);
- **deviating**: a protocol plugin notes a request no real bot sends (``data.deviation``:
  wrong field, impossible sequence); any such note is strong evidence on its own.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from botmon.analysis.detect_graph import PeerScore, excess

WEIGHTS = {"unlisted": 0.45, "regular": 0.35, "busy": 0.1, "covering": 0.1}
"""How the signs mix (summing to 1). Not being listed weighs most, as no bot can avoid it;
regularity next; together they pass the default threshold (0.6), one alone does not, and
a listed bot scores at most 0.55 however regular, busy and widely heard it is."""
BUSY_FACTOR = 4.0
"""Contacting this many times as often as the median contacting peer counts as fully busy."""
DEVIATION_SCORE = 0.9
"""The least score of a peer whose requests deviated from the protocol."""
MIN_GAPS = 3
"""Gaps between requests needed before regularity counts (fewer say nothing)."""
MIN_SPAN_S = 3600
"""Rates are contacts per hour of the peer's active span, at least this long, so a burst
of a few contacts is not an hourly rate."""


def crawler_scores(
    contacts: pa.Table, listed: set[tuple[str, int]]
) -> tuple[list[PeerScore], dict[str, float]]:
    """Every address that contacted a sensor (rows of
    :data:`botmon.store.reads.CONTACTS_SCHEMA`) scored as a crawler, in (ip, port) order,
    and the medians the scores compare with. ``listed`` holds the addresses the botnet's
    peer lists named, or that answered a crawler (bots, not crawlers)."""
    if contacts.num_rows == 0:
        return [], {}
    frame = contacts.select(["ts_us", "ip", "port", "source", "deviation"]).to_pandas()
    frame["port"] = frame["port"].astype("int64")
    frame = frame.sort_values(["ip", "port", "source", "ts_us"], kind="mergesort")
    frame = frame.reset_index(drop=True)
    ts = frame["ts_us"].to_numpy(np.int64)
    same = (
        (frame["ip"].to_numpy() == np.roll(frame["ip"].to_numpy(), 1))
        & (frame["port"].to_numpy() == np.roll(frame["port"].to_numpy(), 1))
        & (frame["source"].to_numpy() == np.roll(frame["source"].to_numpy(), 1))
    )
    same[0] = False
    gap = np.where(same, (ts - np.roll(ts, 1)) / 1e6, np.nan)
    frame["gap"] = gap
    frame["gap2"] = gap * gap
    frame["has_gap"] = same.astype(np.int64)
    frame["deviates"] = frame["deviation"].notna().astype(np.int64)
    per = frame.groupby(["ip", "port"], sort=True).agg(
        contacts=("ts_us", "size"),
        first=("ts_us", "min"),
        last=("ts_us", "max"),
        sensors=("source", "nunique"),
        gaps=("has_gap", "sum"),
        gap_sum=("gap", "sum"),
        gap2_sum=("gap2", "sum"),
        deviations=("deviates", "sum"),
    )
    all_sensors = int(frame["source"].nunique())
    span = np.maximum((per["last"] - per["first"]).to_numpy() / 1e6, MIN_SPAN_S)
    rate = per["contacts"].to_numpy() / span * 3600.0
    coverage = per["sensors"].to_numpy() / all_sensors
    gaps = per["gaps"].to_numpy()
    mean = np.divide(per["gap_sum"].to_numpy(), gaps, out=np.zeros(len(per)), where=gaps > 0)
    var = np.divide(per["gap2_sum"].to_numpy(), gaps, out=np.zeros(len(per)), where=gaps > 0)
    std = np.sqrt(np.maximum(var - mean * mean, 0.0))
    heard = max(float(frame["ts_us"].max() - frame["ts_us"].min()) / 1e6, 1.0)
    presence = np.minimum(1.0, (per["last"] - per["first"]).to_numpy() / 1e6 / heard)
    med = {"rate_per_h": float(np.median(rate)), "coverage": float(np.median(coverage))}
    listed_ips = {ip for ip, _ in listed}
    out: list[PeerScore] = []
    for i, (ip, port) in enumerate(per.index):
        key = (str(ip), int(port))
        unlisted = 0.0 if key in listed else 0.5 if key[0] in listed_ips else 1.0
        cv = float(std[i] / mean[i]) if gaps[i] >= MIN_GAPS and mean[i] > 0 else None
        regular = max(0.0, 1.0 - cv) * presence[i] if cv is not None else 0.0
        busy = excess(rate[i] / med["rate_per_h"], BUSY_FACTOR) if med["rate_per_h"] else 0.0
        busy *= float(presence[i])
        covering = (
            max(0.0, (coverage[i] - med["coverage"]) / (1.0 - med["coverage"]))
            if med["coverage"] < 1.0
            else 0.0
        )
        score = (
            WEIGHTS["unlisted"] * unlisted
            + WEIGHTS["regular"] * regular
            + WEIGHTS["busy"] * busy
            + WEIGHTS["covering"] * covering
        )
        deviations = int(per["deviations"].iat[i])
        if deviations:
            score = max(score, DEVIATION_SCORE)
        evidence: dict[str, Any] = {
            "contacts": int(per["contacts"].iat[i]),
            "rate_per_h": round(float(rate[i]), 3),
            "gap_cv": None if cv is None else round(cv, 4),
            "sensors": int(per["sensors"].iat[i]),
            "coverage": round(float(coverage[i]), 4),
            "listed": unlisted == 0.0,
            "ip_listed": unlisted < 1.0,
            "presence": round(float(presence[i]), 4),
            "deviations": deviations,
            "regularity": round(float(regular), 4),
            "busyness": round(float(busy), 4),
        }
        out.append(
            PeerScore(key[0], key[1], round(float(score), 4), evidence, _words(evidence, med))
        )
    return out, {k: round(v, 4) for k, v in med.items()}


def _words(e: dict[str, Any], med: dict[str, float]) -> str:
    """The evidence as a sentence a user reads in the suspects table."""
    parts = [
        "never listed by a bot"
        if not e["ip_listed"]
        else "its IP is listed on another port"
        if not e["listed"]
        else "listed by bots"
    ]
    parts.append(f"{e['contacts']} contacts, {e['rate_per_h']:g}/h (median {med['rate_per_h']:g})")
    if e["gap_cv"] is not None:
        parts.append(
            f"gaps vary by {e['gap_cv']:.0%} (periodic when small) over {e['presence']:.0%}"
            " of the time the sensors listened"
        )
    parts.append(f"reached {e['sensors']} sensor(s)")
    if e["deviations"]:
        parts.append(f"{e['deviations']} protocol deviation(s)")
    return "; ".join(parts)
