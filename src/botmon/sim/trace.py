"""Monitoring traces with known truth: what a crawler and a sensor would have recorded.

Churn, diurnal cycles and address reassignment play out over days and weeks, which a live
loopback run cannot wait for. This generator models a botnet's population (infections with
lifetimes, on/off sessions inside them, NAT, per-AS dynamic address reassignment, a
local-time diurnal cycle, a regional throttling window, foreign crawlers and sensors,
botmon's own sensor) and turns it into exactly the replies, failed tries and edges that a
crawler polling every ``crawl_interval_s`` with packet loss ``loss`` and a sensor in the
bots' peer lists would have recorded, together with the truth the analyses of
:mod:`botmon.analysis` are checked against.

The pieces: :mod:`~botmon.sim.trace_population` decides the population (who, where, when
online, which address when); :mod:`~botmon.sim.trace_records` turns it into records window by
window; this module holds the model, the truth and the writing. Deliberate simplifications,
so the truth stays exact: the crawler learns an address a random few rounds after it comes
online rather than by replaying peer-list propagation; peers are drawn by a fixed popularity
per bot; the sensor hears every contact that is not throttled (no loss on its side).
"""

from __future__ import annotations

import json
import math
import random
import statistics
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np

from botmon.limits import MIN_TIMESTAMP
from botmon.sim import trace_population
from botmon.sim.geo import Geo
from botmon.sim.trace_population import Population, v4_text
from botmon.sim.trace_records import Tables, Window
from botmon.store.base import Store, StoreError
from botmon.validation import EdgeColumns, FailedTryColumns, ReplyColumns, ValidatedBatch
from botmon.wire import CampaignSettings

HOUR = 3600
DAY = 24 * HOUR

CRAWLER_SOURCE = "trace-crawler"
"""``source`` of the records the modelled crawler reports (source type ``crawler``)."""
SENSOR_SOURCE = "trace-sensor"
"""``source`` of the records the modelled sensor reports (source type ``sensor``)."""


@dataclass(frozen=True)
class TraceModel:
    """The modelled botnet and the modelled monitoring; every number has a default a test
    can override."""

    botnet: str = "trace"
    bots: int = 1000
    """Infections alive at the start (arrivals keep the population about steady)."""
    days: float = 7.0
    start: float = 1_780_000_000.0 - 7 * DAY
    """UTC epoch seconds of the trace's first instant."""
    mean_lifetime_days: float = 10.0
    """Mean infection lifetime (exponential): sets the join and leave rates."""
    session_median_s: float = 4 * HOUR
    """Median length of one online session of a bot (log-normal)."""
    offline_median_s: float = 2 * HOUR
    """Median length of a pause between sessions (log-normal, scaled by the diurnal cycle)."""
    with_ids: bool = True
    """Bots have bot IDs (Mozi, Sality); False models an ID-less botnet (Hide'n'Seek)."""
    nat_share: float = 0.3
    """Bots behind NAT: listed by others and heard by sensors, never answering a crawler."""
    dynamic_share: float = 0.5
    """Bots on dynamically assigned addresses; each AS has its own reassignment period."""
    reassign_hours: tuple[float, float] = (12.0, 96.0)
    """Range of the per-AS address reassignment periods (hours)."""
    countries: dict[str, float] = field(
        default_factory=lambda: {"CN": 40.0, "IN": 25.0, "BR": 15.0, "RU": 10.0, "US": 10.0}
    )
    """Country mix (ISO 3166 alpha-2 -> weight); addresses come from the default geo data."""
    diurnal_amplitude: float = 0.3
    """How much more likely a bot is online at its local peak hour than at the trough."""
    peak_local_hour: float = 20.0
    throttle: tuple[str, int, int] | None = ("CN", 10, 14)
    """(country, first UTC hour, end UTC hour): that region's packets are dropped daily in
    that window (its bots stay online, the monitors just do not hear them); None: none."""
    foreign_crawlers: int = 3
    """Other researchers' crawlers: they contact botmon's sensor regularly."""
    foreign_sensors: int = 5
    """Other researchers' sensors: listed by many bots, always answering, listing no one."""
    crawl_interval_s: int = 300
    """Seconds between the modelled crawler's rounds."""
    loss: float = 0.05
    """Probability that one try of the crawler gets no answer from an online bot."""
    peers_per_reply: int = 8
    """Peers a bot lists per answer (edges)."""
    sensor: bool = True
    """Model botmon's own sensor (records the bots that contact it)."""
    shared_share: float = 0.0
    """Share of static bots on an address that a botnet generated before with the same
    :class:`~botmon.sim.geo.Geo` uses (co-infection of one device)."""
    edges_every: int = 1
    """A bot's peer list is recorded with one in this many of its replies (1: every reply);
    large traces use more to keep the edge count in proportion."""

    @property
    def end(self) -> float:
        """UTC epoch seconds just after the trace's last instant."""
        return self.start + self.days * DAY

    def check(self) -> None:
        """ValueError naming the first knob out of range (the CLI shows it as is)."""
        problems = [
            (not self.botnet, "botnet must be named"),
            (self.bots < 1, "bots must be at least 1"),
            (not 0 < self.days <= 366, "days must be in (0, 366]"),
            (self.mean_lifetime_days <= 0, "mean lifetime must be positive"),
            (
                self.session_median_s <= 0 or self.offline_median_s <= 0,
                "session and offline medians must be positive",
            ),
            (not 0 <= self.nat_share <= 1, "nat share must be in [0, 1]"),
            (not 0 <= self.dynamic_share <= 1, "dynamic share must be in [0, 1]"),
            (not 0 <= self.shared_share <= 1, "shared share must be in [0, 1]"),
            (
                not 0 < self.reassign_hours[0] <= self.reassign_hours[1],
                "reassign hours must be 0 < low <= high",
            ),
            (
                not self.countries
                or min(self.countries.values()) < 0
                or sum(self.countries.values()) <= 0,
                "country weights must be non-negative with a positive sum",
            ),
            (not 0 <= self.diurnal_amplitude < 1, "diurnal amplitude must be in [0, 1)"),
            (not 0 <= self.peak_local_hour < 24, "peak local hour must be in [0, 24)"),
            (
                self.foreign_crawlers < 0 or self.foreign_sensors < 0,
                "monitor counts must not be negative",
            ),
            (not 1 <= self.crawl_interval_s <= DAY, "crawl interval must be 1 s to 1 day"),
            (not 0 <= self.loss < 1, "loss must be in [0, 1)"),
            (self.peers_per_reply < 0, "peers per reply must not be negative"),
            (self.edges_every < 1, "edges every must be at least 1"),
            (self.start < MIN_TIMESTAMP, "start must be after 2000-01-01"),
        ]
        if self.throttle is not None:
            country, h1, h2 = self.throttle
            problems.append(
                (
                    not (0 <= h1 < 24 and 0 < h2 <= 24 and h1 != h2),
                    "throttle hours must be 0-24 and differ",
                )
            )
            problems.append((len(country) != 2, "throttle country must be a two-letter code"))
        for bad, message in problems:
            if bad:
                raise ValueError(message)


@dataclass(frozen=True)
class TruthBot:
    """One infection as it really was."""

    bot_id: str | None
    country: str
    asn: int | None
    """The AS of the bot's first address: its addresses are reassigned at this AS's pace."""
    nat: bool
    join: float
    leave: float
    sessions: list[tuple[float, float]]
    """Online sessions [start, end) within the trace, clipped to it."""
    addresses: list[tuple[str, int, float, float]]
    """(ip, port, from, until): which address the bot had when."""


@dataclass(frozen=True)
class TruthMonitor:
    """A monitor in the trace: another researcher's, or botmon's own."""

    ip: str
    port: int
    kind: str
    """``crawler`` or ``sensor``."""
    own: bool
    bot_id: str | None = None
    """The ID it shows (sensors answering a crawler, crawlers contacting a sensor)."""
    country: str | None = None
    asn: int | None = None
    period_s: float | None = None
    """A foreign crawler's mean period between contacts with botmon's sensor."""
    deviation: str | None = None
    """The protocol deviation botmon's sensor can notice in its requests, if any."""


@dataclass
class TraceTruth:
    """Everything the generator decided, for tests and ``--truth`` files."""

    model: TraceModel
    bots: list[TruthBot]
    monitors: list[TruthMonitor]
    replies: int = 0
    failed_tries: int = 0
    edges: int = 0
    sensor_contacts: int = 0
    """Records botmon's sensor made (bots, foreign crawlers and botmon's crawler)."""
    batches: int = 0
    duplicate_batches: int = 0
    """Batches the store had already (a second run of the same trace stores nothing)."""
    _sessions: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def start(self) -> float:
        return float(self.model.start)

    @property
    def end(self) -> float:
        return self.model.end

    @property
    def throttled_country(self) -> str | None:
        """The country whose packets are dropped daily; None without a throttle."""
        return self.model.throttle[0] if self.model.throttle else None

    def median_session_s(self) -> float:
        """Median length of the sessions seen whole: begun after the trace's start and ended
        before its end (what an unbiased estimator of censored sessions must recover)."""
        lengths = [
            e - s for b in self.bots for s, e in b.sessions if s > self.start and e < self.end
        ]
        return float(statistics.median(lengths)) if lengths else float("nan")

    def median_lifetime_s(self) -> float:
        """Median lifetime of the infections that joined and left inside the trace."""
        lengths = [
            b.leave - b.join for b in self.bots if b.join > self.start and b.leave < self.end
        ]
        return float(statistics.median(lengths)) if lengths else float("nan")

    def active_bots(self, start: float, end: float, responsive: bool = True) -> int:
        """Distinct infections online at some instant of [start, end); ``responsive``: only
        those a crawler can reach (not behind NAT)."""
        owner, s, e = self._session_arrays()
        hit = (s < end) & (e > start)
        if responsive:
            nat = np.array([b.nat for b in self.bots], dtype=bool)
            hit &= ~nat[owner]
        return len(np.unique(owner[hit]))

    def _session_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bot index, start, end) of every session, built once (counting analyses ask
        for many windows)."""
        if self._sessions is None:
            owner = [i for i, b in enumerate(self.bots) for _ in b.sessions]
            flat = [x for b in self.bots for x in b.sessions]
            starts = np.array([x[0] for x in flat], dtype=np.float64)
            ends = np.array([x[1] for x in flat], dtype=np.float64)
            self._sessions = (np.array(owner, dtype=np.int64), starts, ends)
        return self._sessions

    def foreign(self, kind: str) -> list[TruthMonitor]:
        """Other researchers' monitors of one kind (``crawler`` or ``sensor``)."""
        return [m for m in self.monitors if m.kind == kind and not m.own]

    def own(self) -> list[TruthMonitor]:
        """botmon's own crawler and (when modelled) sensor."""
        return [m for m in self.monitors if m.own]

    def write_truth(self, path: str | Path) -> None:
        """JSON lines (DESIGN.md §8): one bot or monitor a line; a session still open at the
        trace's end has ``end`` null."""
        end = self.end

        def session(s: float, e: float) -> list[float | None]:
            return [s, None if e >= end else e]

        with open(path, "w", encoding="utf-8") as out:
            for b in self.bots:
                first = b.addresses[0] if b.addresses else None
                line = {
                    "kind": "bot",
                    "ip": first[0] if first else None,
                    "port": first[1] if first else None,
                    "bot_id": b.bot_id,
                    "nat": b.nat,
                    "sessions": [session(s, e) for s, e in b.sessions],
                    "country": b.country,
                    "asn": b.asn,
                    "join": b.join,
                    "leave": b.leave,
                    "addresses": [list(a) for a in b.addresses],
                }
                out.write(json.dumps(line) + "\n")
            for m in self.monitors:
                line = {
                    "kind": m.kind,
                    "own": m.own,
                    "ip": m.ip,
                    "port": m.port,
                    "bot_id": m.bot_id,
                    "nat": False,
                    "sessions": [[self.start, None]],
                    "country": m.country,
                    "asn": m.asn,
                    "period_s": m.period_s,
                    "deviation": m.deviation,
                }
                out.write(json.dumps(line) + "\n")


# -- generation --------------------------------------------------------------------------------

ROWS_PER_BATCH = 1_000_000


def _model_tag(model: TraceModel) -> str:
    """A short digest of every knob: batch ids differ whenever the trace would."""
    return f"{zlib.crc32(repr(model).encode()):08x}"


def _truth_bots(pop: Population) -> list[TruthBot]:
    start, end = pop.start, pop.end
    bots: list[TruthBot] = []
    starts = np.searchsorted(pop.addr_bot, np.arange(pop.size), side="left").tolist()
    stops = np.searchsorted(pop.addr_bot, np.arange(pop.size), side="right").tolist()
    a_ip, a_from, a_until = pop.addr_ip.tolist(), pop.addr_from.tolist(), pop.addr_until.tolist()
    join, leave, nat, port = (
        pop.join.tolist(),
        pop.leave.tolist(),
        pop.nat.tolist(),
        pop.port.tolist(),
    )
    for b in range(pop.size):
        if leave[b] <= start:
            continue
        sessions = [
            (max(s, start), min(e, end)) for s, e in pop.sessions[b] if e > start and s < end
        ]
        addresses = [
            (v4_text(a_ip[a]), port[b], max(a_from[a], start), min(a_until[a], end))
            for a in range(starts[b], stops[b])
            if a_until[a] > start
        ]
        bots.append(
            TruthBot(
                bot_id=pop.bot_id[b],
                country=pop.country[b],
                asn=pop.home_asn[b],
                nat=bool(nat[b]),
                join=join[b],
                leave=leave[b],
                sessions=sessions,
                addresses=addresses,
            )
        )
    return bots


def _columns(tables: Tables, ts: np.ndarray, addr: np.ndarray) -> tuple[list[int], ...]:
    order = np.argsort(ts, kind="stable")
    ts, addr = ts[order], addr[order]
    ts_us = np.round(ts * 1_000_000).astype(np.int64).tolist()
    return ts_us, tables.stored_ip[addr].tolist(), tables.port[addr].tolist(), addr.tolist()


def _batches(
    tables: Tables, window: Window, as_names: dict[int, str], tag: str
) -> Iterator[tuple[ValidatedBatch, str]]:
    """The window's crawler batch and (when it heard anyone) sensor batch.

    Every batch names the trace's ASes: the store keeps each name once, and a store that
    did not see an earlier trace made with the same :class:`Geo` still gets them all.
    """
    model = tables.model
    r_ts, r_ip, r_port, r_addr = _columns(tables, window.reply_ts, window.reply_addr)
    f_ts, f_ip, f_port, f_addr = _columns(tables, window.fail_ts, window.fail_addr)
    order = np.argsort(window.edge_ts, kind="stable")
    e_src, e_dst = window.edge_src[order], window.edge_dst[order]
    e_ts = np.round(window.edge_ts[order] * 1_000_000).astype(np.int64).tolist()
    ids, cc, asn = tables.bot_id, tables.country, tables.asn
    replies = ReplyColumns(
        r_ts,
        r_ip,
        r_port,
        ids[r_addr].tolist(),
        [None] * len(r_ts),
        cc[r_addr].tolist(),
        asn[r_addr].tolist(),
    )
    failed = FailedTryColumns(
        f_ts, f_ip, f_port, ids[f_addr].tolist(), ["timeout"] * len(f_ts), [None] * len(f_ts)
    )
    edges = EdgeColumns(
        e_ts,
        tables.stored_ip[e_src].tolist(),
        tables.port[e_src].tolist(),
        ids[e_src].tolist(),
        tables.stored_ip[e_dst].tolist(),
        tables.port[e_dst].tolist(),
        ids[e_dst].tolist(),
    )
    yield (
        ValidatedBatch(
            botnet=model.botnet,
            batch_id=f"trace-{model.botnet}-{tag}-crawler-{window.index}",
            replies=replies,
            failed_tries=failed,
            edges=edges,
            as_names=dict(as_names),
            source_type="crawler",
        ),
        CRAWLER_SOURCE,
    )
    if len(window.contact_ts):
        c_ts, c_ip, c_port, c_addr = _columns(tables, window.contact_ts, window.contact_addr)
        deviations = {
            tables.n_addr + k: json.dumps({"deviation": m.deviation})
            for k, m in enumerate(tables.mons)
            if m.deviation
        }
        contacts = ReplyColumns(
            c_ts,
            c_ip,
            c_port,
            ids[c_addr].tolist(),
            [deviations.get(a) for a in c_addr],
            cc[c_addr].tolist(),
            asn[c_addr].tolist(),
        )
        yield (
            ValidatedBatch(
                botnet=model.botnet,
                batch_id=f"trace-{model.botnet}-{tag}-sensor-{window.index}",
                replies=contacts,
                failed_tries=FailedTryColumns(),
                edges=EdgeColumns(),
                as_names=dict(as_names),
                source_type="sensor",
            ),
            SENSOR_SOURCE,
        )


def _register_campaigns(store: Store, model: TraceModel, mons: list[TruthMonitor]) -> None:
    """The crawler's and sensor's campaigns, as their runners would have registered them."""
    rounds = math.ceil(model.days * DAY / model.crawl_interval_s)
    crawler = CampaignSettings(
        kind="crawler", protocol="trace", rounds=rounds, interval_s=model.crawl_interval_s
    )
    runs: list[tuple[str, CampaignSettings]] = [(CRAWLER_SOURCE, crawler)]
    sensor = next((m for m in mons if m.own and m.kind == "sensor"), None)
    if sensor is not None:
        runs.append(
            (
                SENSOR_SOURCE,
                CampaignSettings(
                    kind="sensor", protocol="trace", listen=[f"{sensor.ip}:{sensor.port}"]
                ),
            )
        )
    for source, settings in runs:
        campaign = store.start_campaign(
            model.botnet, source, msgspec.to_builtins(settings), model.start
        )
        if model.end <= time.time():
            store.end_campaign(campaign.id, source, model.end)


def generate_trace(
    store: Store,
    model: TraceModel,
    seed: int = 1,
    geo: Geo | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TraceTruth:
    """Create ``model.botnet`` (when missing) and write what botmon's crawler and sensor
    would have recorded of the modelled population; return the truth.

    Deterministic per (model, seed); a second run finds every batch stored and adds nothing
    (campaigns are registered only by the run that stored the first batch). ``progress``
    is called with (windows done, windows) for a progress bar.
    """
    model.check()
    geo = geo or Geo()
    rng = random.Random(seed * 1_000_003 + zlib.crc32(model.botnet.encode()))
    pop = trace_population.build(model, geo, rng)
    used = {int(ip) for ip in pop.addr_ip.tolist()}
    mons = trace_population.monitors(model, geo, rng, used)
    if not model.sensor:
        mons = [m for m in mons if not (m.own and m.kind == "sensor")]
    tables = Tables(model, pop, mons, seed)
    truth_mons = [
        TruthMonitor(
            ip=v4_text(m.ip),
            port=m.port,
            kind=m.kind,
            own=m.own,
            bot_id=m.bot_id,
            country=m.country,
            asn=m.asn,
            period_s=m.period_s or None,
            deviation=m.deviation,
        )
        for m in mons
    ]
    truth = TraceTruth(model=model, bots=_truth_bots(pop), monitors=truth_mons)
    if store.get_botnet(model.botnet) is None:
        try:
            store.create_botnet(
                model.botnet, f"generated trace ({model.bots} bots, {model.days:g} days)"
            )
        except StoreError:
            if store.get_botnet(model.botnet) is None:
                raise
    interval = model.crawl_interval_s
    n_rounds = math.ceil(model.days * DAY / interval)
    # Rows per round: tries of the known addresses plus the peer lists of the replies.
    per_round = model.bots * (1.3 + 0.5 * model.peers_per_reply / model.edges_every)
    rounds_per_window = max(1, int(ROWS_PER_BATCH / per_round))
    windows = math.ceil(n_rounds / rounds_per_window)
    tag = f"{_model_tag(model)}-s{seed}"
    names = {a: geo.as_names[a] for a in set(tables.asn.tolist()) if a in geo.as_names}
    first = True
    for w in range(windows):
        window = tables.window(w, rounds_per_window, seed)
        for batch, source in _batches(tables, window, names, tag):
            result = store.write_batch(batch, source)
            truth.batches += 1
            truth.duplicate_batches += result.duplicate
            if first and not result.duplicate:
                _register_campaigns(store, model, truth.monitors)
            first = False
        truth.replies += len(window.reply_ts)
        truth.failed_tries += len(window.fail_ts)
        truth.edges += len(window.edge_ts)
        truth.sensor_contacts += len(window.contact_ts)
        if progress is not None:
            progress(w + 1, windows)
    return truth
