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

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

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
    per = _per_address(contacts)
    span = np.maximum((per.last - per.first) / 1e6, MIN_SPAN_S)
    rate = per.contacts / span * 3600.0
    coverage = per.sensors / per.all_sensors
    gaps = per.gaps
    mean = np.divide(per.gap_sum, gaps, out=np.zeros(len(gaps)), where=gaps > 0)
    var = np.divide(per.gap2_sum, gaps, out=np.zeros(len(gaps)), where=gaps > 0)
    std = np.sqrt(np.maximum(var - mean * mean, 0.0))
    presence = np.minimum(1.0, (per.last - per.first) / 1e6 / per.heard_s)
    med = {"rate_per_h": float(np.median(rate)), "coverage": float(np.median(coverage))}
    listed_ips = {ip for ip, _ in listed}
    out: list[PeerScore] = []
    for i, key in enumerate(per.addresses):
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
        deviations = int(per.deviations[i])
        if deviations:
            score = max(score, DEVIATION_SCORE)
        evidence: dict[str, Any] = {
            "contacts": int(per.contacts[i]),
            "rate_per_h": round(float(rate[i]), 3),
            "gap_cv": None if cv is None else round(cv, 4),
            "sensors": int(per.sensors[i]),
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


@dataclass(frozen=True)
class _PerAddress:
    """Per contacting address (sorted by IP text, then port): counts, first and last
    contact (UTC microseconds), sensors reached, and the sums behind the gaps' mean and
    spread (gaps between one address's requests to one sensor)."""

    addresses: list[tuple[str, int]]
    contacts: np.ndarray
    first: np.ndarray
    last: np.ndarray
    sensors: np.ndarray
    gaps: np.ndarray
    gap_sum: np.ndarray
    gap2_sum: np.ndarray
    deviations: np.ndarray
    all_sensors: int
    heard_s: float


def _per_address(contacts: pa.Table) -> _PerAddress:
    """One pass of integer sorts over the contacts (millions of rows: addresses and sensor
    names become sorted integer codes first, so the order, and every float sum, is the same
    whichever backend handed the rows over)."""
    ts = np.asarray(contacts.column("ts_us").to_numpy(zero_copy_only=False), dtype=np.int64)
    ip_codes, ips = _sorted_codes(contacts, "ip")
    src_codes, sources = _sorted_codes(contacts, "source")
    port = np.asarray(contacts.column("port").to_numpy(zero_copy_only=False), dtype=np.int64)
    deviates = np.asarray(contacts.column("deviation").is_valid().to_numpy(zero_copy_only=False))
    key = ip_codes.astype(np.int64) * 65536 + port
    runs = key * len(sources) + src_codes  # one integer per (address, sensor)
    order = pc.sort_indices(
        pa.table({"run": runs, "ts": ts}), sort_keys=[("run", "ascending"), ("ts", "ascending")]
    ).to_numpy()
    ts, key, src, deviates = ts[order], key[order], src_codes[order], deviates[order]
    same = np.zeros(len(ts), dtype=bool)
    same[1:] = (key[1:] == key[:-1]) & (src[1:] == src[:-1])
    keys, starts, counts = np.unique(key, return_index=True, return_counts=True)
    group = np.repeat(np.arange(len(keys)), counts)
    gap = np.zeros(len(ts))
    gap[1:] = (ts[1:] - ts[:-1]) / 1e6
    gap = np.where(same, gap, 0.0)
    n = len(keys)
    return _PerAddress(
        addresses=[(str(ips[k >> 16]), int(k & 0xFFFF)) for k in keys.tolist()],
        contacts=counts,
        first=np.minimum.reduceat(ts, starts),
        last=np.maximum.reduceat(ts, starts),
        sensors=np.bincount(group, weights=~same, minlength=n),
        gaps=np.bincount(group, weights=same, minlength=n),
        gap_sum=np.bincount(group, weights=gap, minlength=n),
        gap2_sum=np.bincount(group, weights=gap * gap, minlength=n),
        deviations=np.bincount(group, weights=deviates, minlength=n).astype(np.int64),
        all_sensors=len(sources),
        heard_s=max(float(ts.max() - ts.min()) / 1e6, 1.0),
    )


def _sorted_codes(table: pa.Table, name: str) -> tuple[np.ndarray, list[str]]:
    """A text column as integer codes in the order of its sorted distinct values (Arrow's
    dictionary encoding: no Python string per row), and those values."""
    encoded = pc.dictionary_encode(table.column(name).combine_chunks())
    values = [str(v) for v in encoded.dictionary.to_pylist()]
    order = sorted(range(len(values)), key=values.__getitem__)
    rank = np.empty(len(values), dtype=np.int64)
    rank[order] = np.arange(len(values))
    indices = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
    return rank[indices], [values[i] for i in order]


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
