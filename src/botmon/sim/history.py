"""Weeks of plausible monitoring history for five botnets, written straight into a store.

The demo and the dashboard need data with the shapes researchers look for in real
measurements, and live emulation cannot produce weeks of it in seconds. This generator models
each botnet as a population of bots with lifetimes (churn), an online probability that follows
the bot's *local* hour (diurnal patterns), optional bot IDs whose IP address changes every few
hours or days (dynamic residential addresses), NATed bots that only ever appear as peers in
others' peer lists. Crawl rounds then turn that ground truth into replies, failed tries and
edges. ``mozi-history`` is made by the trace generator (:mod:`botmon.sim.trace`) instead: its
Chinese bots go unheard for a few hours each evening (throttling, as in the talk's Mozi
anomaly), and other researchers' crawlers and sensors and botmon's own sensor are in it, so
the demo's analysis views have monitors and a throttled region to show. ``sality-history``,
``zeroaccess-history`` and ``hajime-history`` carry what their protocols reveal in the
replies' ``data`` (URL-pack versions and superpeer IDs with NATed clients heard by botmon's
sensor; the networks and peer-list timestamps; the architectures and daily keys), with the
same keys their crawlers and sensors record (:mod:`botmon.sim.history_families`).

Addresses are public IPs sampled from the default geolocation database so that countries and
ASes look real; they are only data here and nothing is ever sent to them. Country and AS
columns are filled by the same enrichment lookup ingest uses. Rows go through the store's bulk
path (:meth:`botmon.store.base.Store.write_batch`) in large batches, so a few million replies
take seconds, and batch ids derived from the seed make a second run a no-op.
"""

from __future__ import annotations

import bisect
import math
import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from botmon.ipaddr import ip_to_int
from botmon.sim.geo import Geo
from botmon.sim.history_families import FAMILIES, Family, Traits
from botmon.sim.trace import TraceModel, generate_trace
from botmon.store.base import Store, StoreError
from botmon.validation import (
    EdgeColumns,
    FailedTryColumns,
    ReplyColumns,
    ValidatedBatch,
)


class HistoryError(RuntimeError):
    """History cannot be generated here (for example, no geolocation data installed)."""


SOURCE = "history-generator"
"""The ``source`` of every generated crawler record, so history can be told from live data."""
SENSOR_SOURCE = "history-sensor"
"""The ``source`` of the records botmon's modelled sensor made (source type ``sensor``)."""

HOUR = 3600
DAY = 24 * HOUR
ROWS_PER_BATCH = 250_000
"""Rows per store write: large enough for the bulk path, small enough to bound memory."""


@dataclass(frozen=True)
class Profile:
    """How one simulated botnet behaves; the numbers are chosen to resemble published counts
    in shape (not in absolute size, which is scaled to a laptop)."""

    name: str
    description: str
    bots: int
    """Bots alive at any one time (steady state)."""
    mean_lifetime_days: float
    """Mean infection lifetime; arrivals replace departures, so this sets the churn."""
    growth: float
    """Arrival rate relative to steady state (1.1 grows the botnet by churn alone)."""
    id_hex_chars: int
    """Length of the bot ID in hex characters; 0 for a botnet whose bots have no ID or whose
    family gives them one (Sality's server IDs, as decimal text)."""
    dynamic_ip_share: float
    """Share of bots whose address changes over time (one ID, several IPs)."""
    ip_period_h: tuple[float, float]
    """Range of hours between address changes of a dynamic bot."""
    nat_share: float
    """Share of bots behind NAT: listed by others, never answering a crawler."""
    countries: dict[str, float]
    """Country mix (ISO 3166 alpha-2 -> weight)."""
    base_online: float
    """Mean probability that a bot is online in a given hour."""
    diurnal_amplitude: float
    """How strongly being online follows the local hour (0 = not at all)."""
    peak_local_hour: float
    """Local hour of the day with the most bots online."""
    round_s: int
    """Seconds between crawl rounds."""
    answer_rate: float
    """Probability that an online bot answers a try (packet loss, rate limits)."""
    retry_offline: float
    """Probability that an offline bot the crawler knows is tried in a round."""
    peers_per_reply: int
    """Peers listed per answer (edges)."""
    edge_every: int
    """Edges are recorded every this many rounds (peer lists change slowly)."""
    dip: tuple[str, int, int] | None = None
    """(country, first local hour, end local hour): those bots vanish in that window daily."""
    shared_share: float = 0.0
    """Share of bots on an address a botnet generated before also uses (co-infection)."""
    traced: bool = False
    """Made by the trace generator (:mod:`botmon.sim.trace`) instead of the rounds below:
    with other researchers' crawlers and sensors and botmon's own sensor, and ``dip`` as a
    throttling window (the bots stay online; the monitors do not hear them)."""
    family: str = ""
    """What the protocol reveals (:data:`botmon.sim.history_families.FAMILIES`): the replies'
    ``data``, who is crawlable and listable, sensor contacts; empty: nothing."""
    weekend_factor: float = 1.0
    """Online probability on the bots' local Saturdays and Sundays relative to weekdays
    (office PCs are switched off)."""


PROFILES: tuple[Profile, ...] = (
    Profile(
        name="hns-history",
        description="Hide'n'Seek (generated history: IoT, no bot IDs, weak daily cycle)",
        bots=1000,
        mean_lifetime_days=9.0,
        growth=1.0,
        id_hex_chars=0,
        dynamic_ip_share=0.0,
        ip_period_h=(24.0, 24.0),
        nat_share=0.15,
        countries={
            "KR": 18,
            "CN": 14,
            "BR": 12,
            "TH": 9,
            "RU": 8,
            "IN": 8,
            "VN": 7,
            "TW": 6,
            "US": 6,
            "IT": 4,
            "MX": 4,
            "TR": 4,
        },
        base_online=0.78,
        diurnal_amplitude=0.06,
        peak_local_hour=20.0,
        round_s=1800,
        answer_rate=0.92,
        retry_offline=0.35,
        peers_per_reply=2,
        edge_every=6,
    ),
    Profile(
        name="mozi-history",
        description="Mozi (generated history: DHT IoT botnet, daily dip of Chinese bots)",
        bots=1900,
        mean_lifetime_days=6.0,
        growth=1.05,
        id_hex_chars=40,
        dynamic_ip_share=0.45,
        ip_period_h=(8.0, 72.0),
        nat_share=0.2,
        countries={"CN": 58, "IN": 30, "AL": 2, "RU": 2, "BR": 2, "KR": 2, "TW": 2, "US": 2},
        base_online=0.8,
        diurnal_amplitude=0.05,
        peak_local_hour=21.0,
        round_s=1800,
        answer_rate=0.9,
        retry_offline=0.25,
        peers_per_reply=3,
        edge_every=8,
        dip=("CN", 18, 23),
        shared_share=0.08,
        traced=True,
    ),
    Profile(
        name="sality-history",
        description=(
            "Sality v3 (generated history: Windows PCs on office hours; superpeers crawled, "
            "NATed clients heard by a sensor; URL packs spreading every few days)"
        ),
        bots=1100,
        mean_lifetime_days=45.0,
        growth=0.97,
        id_hex_chars=0,
        dynamic_ip_share=0.3,
        ip_period_h=(20.0, 96.0),
        nat_share=0.8,
        countries={
            "IN": 16,
            "VN": 12,
            "TR": 10,
            "BR": 9,
            "EG": 8,
            "ID": 8,
            "IR": 7,
            "TH": 6,
            "PK": 6,
            "RU": 5,
            "DZ": 5,
            "US": 4,
            "MA": 4,
        },
        base_online=0.45,
        diurnal_amplitude=0.38,
        peak_local_hour=14.0,
        round_s=1800,
        answer_rate=0.93,
        retry_offline=0.2,
        peers_per_reply=4,
        edge_every=6,
        shared_share=0.02,
        family="sality",
        weekend_factor=0.6,
    ),
    Profile(
        name="zeroaccess-history",
        description=(
            "ZeroAccess v2 (generated history: Windows PCs on the 2013 networks 16470 and "
            "16471 and the later variant's 32/64-bit ports; 16 peers per reply, newest first)"
        ),
        bots=700,
        mean_lifetime_days=60.0,
        growth=1.0,
        id_hex_chars=0,
        dynamic_ip_share=0.25,
        ip_period_h=(24.0, 168.0),
        nat_share=0.4,
        countries={
            "US": 30,
            "JP": 9,
            "IN": 7,
            "DE": 6,
            "GB": 6,
            "CA": 5,
            "IT": 5,
            "BR": 5,
            "FR": 4,
            "ES": 4,
            "RU": 4,
            "MX": 3,
            "AU": 3,
        },
        base_online=0.55,
        diurnal_amplitude=0.2,
        peak_local_hour=20.0,
        round_s=1800,
        answer_rate=0.95,
        retry_offline=0.2,
        peers_per_reply=16,
        edge_every=48,
        family="zeroaccess",
    ),
    Profile(
        name="hajime-history",
        description=(
            "Hajime (generated history: IoT bots found under each day's DHT keys of their "
            "architecture's files, confirmed over uTP; high churn)"
        ),
        bots=400,
        mean_lifetime_days=5.0,
        growth=1.0,
        id_hex_chars=0,
        dynamic_ip_share=0.2,
        ip_period_h=(24.0, 120.0),
        nat_share=0.12,
        countries={
            "IR": 14,
            "BR": 12,
            "VN": 10,
            "RU": 8,
            "TR": 8,
            "IN": 7,
            "CN": 6,
            "TW": 6,
            "TH": 5,
            "KR": 4,
            "IT": 4,
            "UA": 4,
            "EG": 3,
            "MX": 3,
        },
        base_online=0.72,
        diurnal_amplitude=0.08,
        peak_local_hour=21.0,
        round_s=1800,
        answer_rate=0.93,
        retry_offline=0.35,
        peers_per_reply=0,
        edge_every=1,
        family="hajime",
    ),
)
"""The demo's history botnets."""

BOTNET_NAMES = tuple(p.name for p in PROFILES)


# -- the model ---------------------------------------------------------------------------------


@dataclass
class Bot:
    """One simulated infection: where it is, when it lives and which addresses it uses."""

    country: str
    offset_h: float
    join: float
    leave: float
    port: int
    bot_id: str | None
    nat: bool
    ips: list[str]
    ip_period_s: float
    phase_s: float
    popularity: float
    jitter_s: float
    online: list[bool] = field(default_factory=list)
    """Online state per hour of the window (filled by :func:`_sessions`)."""
    ip_ints: list[int] = field(default_factory=list)
    """``ips`` as stored integers."""
    geos: list[tuple[str | None, int | None]] = field(default_factory=list)
    """(country, asn) of each of ``ips``, as enrichment places them."""
    traits: Traits = field(default_factory=Traits)
    """What the bot's protocol reveals (set by its profile's family)."""

    def ip_index(self, t: float) -> int:
        """Which of ``ips`` the bot uses at time ``t``."""
        if len(self.ips) == 1:
            return 0
        k = int((t - self.join + self.phase_s) // self.ip_period_s)
        return min(max(k, 0), len(self.ips) - 1)


def _weighted(rng: random.Random, weights: dict[str, float]) -> Callable[[], str]:
    keys = list(weights)
    cum: list[float] = []
    total = 0.0
    for k in keys:
        total += weights[k]
        cum.append(total)
    return lambda: keys[bisect.bisect_left(cum, rng.random() * total)]


def _population(
    profile: Profile, start: float, end: float, rng: random.Random, geo: Geo
) -> list[Bot]:
    """Bots alive at ``start`` plus the arrivals until ``end``, with lifetimes (churn)."""
    mean_life = profile.mean_lifetime_days * DAY
    days = (end - start) / DAY
    pick_country = _weighted(rng, profile.countries)
    joins = [start - rng.random() * mean_life for _ in range(profile.bots)]
    arrivals = int(profile.bots * profile.growth * days / profile.mean_lifetime_days)
    joins += [start + rng.random() * (end - start) for _ in range(arrivals)]
    specs: list[tuple[str, float, float, bool, float]] = []
    need: dict[str, int] = {}
    for join in joins:
        leave = join + rng.expovariate(1.0 / mean_life)
        if leave <= start:
            leave = start + rng.expovariate(1.0 / mean_life)
        country = pick_country()
        dynamic = rng.random() < profile.dynamic_ip_share
        period = rng.uniform(*profile.ip_period_h) * HOUR if dynamic else 0.0
        n_ips = 1
        if dynamic:
            n_ips = 1 + int((min(leave, end) - max(join, start) + period) // period) + 1
        need[country] = need.get(country, 0) + n_ips
        specs.append((country, join, leave, dynamic, period))
    pools = {c: geo.sample(c, n, rng) for c, n in sorted(need.items())}
    offsets = {c: geo.offset_hours(c, (start + end) / 2) for c in pools}
    bots: list[Bot] = []
    for country, join, leave, dynamic, period in specs:
        pool = pools[country]
        if not pool:
            continue
        n_ips = 1
        if dynamic:
            n_ips = 1 + int((min(leave, end) - max(join, start) + period) // period) + 1
        earlier = geo.used.get(country)
        if not dynamic and earlier and rng.random() < profile.shared_share:
            ips = [rng.choice(earlier)]
        else:
            ips = [pool.pop() if len(pool) > 1 else pool[0] for _ in range(n_ips)]
        bot_id = None
        if profile.id_hex_chars:
            bot_id = f"{rng.getrandbits(4 * profile.id_hex_chars):0{profile.id_hex_chars}x}"
        bots.append(
            Bot(
                country=country,
                offset_h=offsets[country],
                join=join,
                leave=leave,
                port=rng.randint(1024, 65535),
                bot_id=bot_id,
                nat=rng.random() < profile.nat_share,
                ips=ips,
                ip_ints=[ip_to_int(ip) for ip in ips],
                geos=[geo.lookup(ip) for ip in ips],
                ip_period_s=period or 1.0,
                phase_s=rng.random() * (period or 1.0),
                popularity=rng.paretovariate(1.3),
                jitter_s=rng.random() * profile.round_s * 0.6,
            )
        )
    for bot in bots:
        if len(bot.ips) == 1:
            geo.used.setdefault(bot.country, []).append(bot.ips[0])
    return bots


def online_probability(profile: Profile, country: str, local_hour: float) -> float:
    """Chance that a bot of ``profile`` in ``country`` is online at that local hour."""
    if profile.dip is not None:
        dip_country, first, last = profile.dip
        if country == dip_country and first <= local_hour % 24 < last:
            return 0.02
    swing = math.cos(2 * math.pi * (local_hour - profile.peak_local_hour) / 24)
    return min(0.99, max(0.01, profile.base_online + profile.diurnal_amplitude * swing))


WEEK_H = 7 * 24


def _weekday_factor(profile: Profile, local_t: float) -> float:
    """``profile.weekend_factor`` on a local Saturday or Sunday (``local_t``: the local wall
    clock as epoch seconds), else 1."""
    if profile.weekend_factor == 1.0:
        return 1.0
    # 1970-01-01 was a Thursday: day 2 of a week counted from Saturday.
    return profile.weekend_factor if (int(local_t // DAY) + 5) % 7 < 2 else 1.0


def _sessions(
    profile: Profile, bots: list[Bot], start: float, hours: int, rng: random.Random
) -> None:
    """Decide each bot's online state per hour; states persist so sessions last hours."""
    start_hour = start / HOUR
    tables: dict[tuple[str, float], list[float]] = {}
    random_ = rng.random
    period = 24 if profile.weekend_factor == 1.0 else WEEK_H
    for bot in bots:
        key = (bot.country, bot.offset_h)
        table = tables.get(key)
        if table is None:
            # Probability by hour index modulo the period (the window starts at a fixed hour).
            table = tables[key] = [
                online_probability(profile, bot.country, (start_hour + h + bot.offset_h) % 24)
                * _weekday_factor(profile, start + (h + bot.offset_h) * HOUR)
                for h in range(period)
            ]
        first = max(0, int((bot.join - start) // HOUR))
        last = min(hours, math.ceil((bot.leave - start) / HOUR))
        online = [False] * hours
        redraw_always = profile.dip is not None and bot.country == profile.dip[0]
        state = random_() < profile.base_online
        for h in range(first, last):
            p = table[h % period]
            # Sticky sessions: most hours keep the previous state, the rest redraw from p.
            if redraw_always or random_() < 0.35:
                state = random_() < p
            elif state and random_() > p + 0.2:
                state = False
            online[h] = state
        bot.online = online


@dataclass
class _Columns:
    replies: ReplyColumns = field(default_factory=lambda: ReplyColumns(country=[], asn=[]))
    failed: FailedTryColumns = field(default_factory=FailedTryColumns)
    edges: EdgeColumns = field(default_factory=EdgeColumns)
    contacts: ReplyColumns = field(default_factory=lambda: ReplyColumns(country=[], asn=[]))
    """What botmon's sensor recorded (written as a ``sensor`` batch)."""

    def rows(self) -> int:
        return len(self.replies) + len(self.failed) + len(self.edges) + len(self.contacts)


class _Peers:
    """The bots other bots can name on one day, by group, drawn by popularity."""

    def __init__(self, family: Family, alive: list[Bot]) -> None:
        self.by_group: dict[str, tuple[list[Bot], list[float]]] = {}
        members: dict[str, list[Bot]] = {}
        for b in alive:
            if family.listable(b):
                members.setdefault(b.traits.group, []).append(b)
        for group, listed in members.items():
            self.by_group[group] = (listed, list(_accumulate(b.popularity for b in listed)))


def _rounds(
    profile: Profile,
    family: Family,
    bots: list[Bot],
    start: float,
    end: float,
    rng: random.Random,
) -> Iterator[_Columns]:
    """Crawl rounds over the window: yields column chunks of about ROWS_PER_BATCH rows."""
    n_rounds = int((end - start) // profile.round_s)
    current_day = -1
    crawlable: list[Bot] = []
    heard: list[Bot] = []
    peers = _Peers(family, [])
    random_ = rng.random
    bisect_left = bisect.bisect_left
    answer_rate, retry_offline = profile.answer_rate, profile.retry_offline
    data_of, stale_of = family.data, family.stale
    failed_tries = family.failed_tries
    cols = _Columns()
    for r in range(n_rounds):
        t0 = start + r * profile.round_s
        hour = int((t0 - start) // HOUR)
        day = int((t0 - start) // DAY)
        if day != current_day:
            # Bots alive at some time this day; the per-bot check below is then cheap.
            current_day = day
            day_start, day_end = start + day * DAY, start + (day + 1) * DAY
            alive = [b for b in bots if b.join < day_end and b.leave > day_start]
            crawlable = [b for b in alive if family.crawlable(b)]
            heard = [b for b in alive if b.traits.sensor] if family.senses else []
            peers = _Peers(family, alive)
        with_edges = r % profile.edge_every == 0 and profile.peers_per_reply > 0
        rep, fail, edges = cols.replies, cols.failed, cols.edges
        for bot in crawlable:
            if t0 < bot.join or t0 >= bot.leave:
                continue
            online = bot.online[hour]
            if not online and random_() >= retry_offline:
                continue
            t = t0 + bot.jitter_s
            if t >= end:
                continue
            i = 0 if len(bot.ips) == 1 else bot.ip_index(t)
            ts_us = int(t * 1_000_000)
            answered = online and random_() < answer_rate
            data = None
            if answered:
                data = data_of(bot, t, hour, rng)
            elif not failed_tries:
                if online:
                    continue  # the lookup missed it this round
                data = stale_of(bot, t, hour, rng)
                if data is None:
                    continue
                answered = True
            if answered:
                ip_int = bot.ip_ints[i]
                country, asn = bot.geos[i]
                rep.ts_us.append(ts_us)
                rep.ip.append(ip_int)
                rep.port.append(bot.port)
                rep.bot_id.append(bot.bot_id)
                rep.data.append(data)
                rep.country.append(country)  # type: ignore[union-attr]
                rep.asn.append(asn)  # type: ignore[union-attr]
                group = peers.by_group.get(bot.traits.group) if with_edges and online else None
                if group:
                    listed, cum = group
                    total = cum[-1]
                    for _ in range(profile.peers_per_reply):
                        peer = listed[bisect_left(cum, random_() * total)]
                        if peer is bot or not peer.join <= t < peer.leave:
                            continue
                        edges.ts_us.append(ts_us)
                        edges.src_ip.append(ip_int)
                        edges.src_port.append(bot.port)
                        edges.src_id.append(bot.bot_id)
                        edges.dst_ip.append(peer.ip_ints[peer.ip_index(t)])
                        edges.dst_port.append(peer.port)
                        edges.dst_id.append(peer.bot_id)
            else:
                fail.ts_us.append(ts_us)
                fail.ip.append(bot.ip_ints[i])
                fail.port.append(bot.port)
                fail.bot_id.append(bot.bot_id)
                fail.reason.append("timeout")
                fail.data.append(None)
        if heard:
            _contacts(family, profile, heard, cols.contacts, t0, hour, end, random_)
        if cols.rows() >= ROWS_PER_BATCH or (r == n_rounds - 1 and cols.rows()):
            yield cols
            cols = _Columns()


def _contacts(
    family: Family,
    profile: Profile,
    heard: list[Bot],
    out: ReplyColumns,
    t0: float,
    hour: int,
    end: float,
    random_: Callable[[], float],
) -> None:
    """One round of contacts with botmon's sensor: online bots that list it say hello."""
    half = profile.round_s / 2
    for bot in heard:
        if t0 < bot.join or t0 >= bot.leave or not bot.online[hour]:
            continue
        if random_() >= family.contacts_per_round:
            continue
        t = t0 + (bot.jitter_s + half) % profile.round_s
        if t >= end or t >= bot.leave:
            continue
        i = 0 if len(bot.ips) == 1 else bot.ip_index(t)
        country, asn = bot.geos[i]
        out.ts_us.append(int(t * 1_000_000))
        out.ip.append(bot.ip_ints[i])
        out.port.append(bot.port)
        out.bot_id.append(bot.bot_id)
        out.data.append(family.contact(bot, t))
        out.country.append(country)  # type: ignore[union-attr]
        out.asn.append(asn)  # type: ignore[union-attr]


def _accumulate(values: Iterator[float]) -> Iterator[float]:
    total = 0.0
    for v in values:
        total += v
        yield total


# -- entry points ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Generated:
    """What one botnet's history holds, for logs and tests."""

    botnet: str
    bots: int
    replies: int
    failed_tries: int
    edges: int
    batches: int
    duplicate_batches: int


def generate_botnet(
    store: Store,
    profile: Profile,
    now: float,
    weeks: float,
    seed: int,
    geo: Geo | None = None,
) -> Generated:
    """Write ``weeks`` of history for one profile, ending at ``now``; idempotent per seed."""
    geo = geo or Geo()
    rng = random.Random(seed * 1_000_003 + zlib.crc32(profile.name.encode()))
    end = math.floor(now / profile.round_s) * profile.round_s
    start = end - int(weeks * 7 * DAY)
    if store.get_botnet(profile.name) is None:
        try:
            store.create_botnet(profile.name, profile.description)
        except StoreError:
            if store.get_botnet(profile.name) is None:
                raise
    if profile.traced:
        return _traced(store, profile, start, end, seed, geo)
    bots = _population(profile, start, end, rng, geo)
    family = FAMILIES[profile.family]()
    family.prepare(bots, rng, start, end)
    hours = math.ceil((end - start) / HOUR) + 1
    _sessions(profile, bots, start, hours, rng)
    counts = {"replies": 0, "failed_tries": 0, "edges": 0}
    batches = duplicates = 0
    for i, cols in enumerate(_rounds(profile, family, bots, start, end, rng)):
        batch_id = f"history-{profile.name}-s{seed}-e{int(end)}-w{weeks}-{i}"
        written = [
            (
                ValidatedBatch(
                    botnet=profile.name,
                    batch_id=batch_id,
                    replies=cols.replies,
                    failed_tries=cols.failed,
                    edges=cols.edges,
                    as_names=geo.take_new_as_names(),
                ),
                SOURCE,
            )
        ]
        if len(cols.contacts):
            sensed = ValidatedBatch(
                botnet=profile.name,
                batch_id=f"{batch_id}-sensor",
                replies=cols.contacts,
                failed_tries=FailedTryColumns(),
                edges=EdgeColumns(),
                source_type="sensor",
            )
            written.append((sensed, SENSOR_SOURCE))
        for batch, source in written:
            result = store.write_batch(batch, source)
            batches += 1
            duplicates += result.duplicate
        counts["replies"] += len(cols.replies) + len(cols.contacts)
        counts["failed_tries"] += len(cols.failed)
        counts["edges"] += len(cols.edges)
    return Generated(
        profile.name,
        len(bots),
        counts["replies"],
        counts["failed_tries"],
        counts["edges"],
        batches,
        duplicates,
    )


def trace_model(profile: Profile, start: float, end: float, geo: Geo) -> TraceModel:
    """The trace model that plays ``profile`` over [start, end).

    The profile's mean online share becomes the ratio of session to pause lengths (pauses of
    two hours), its answer rate the crawler's loss, and its regional dip (in local hours) a
    throttling window in UTC hours.
    """
    throttle = None
    if profile.dip is not None:
        country, first, last = profile.dip
        offset = geo.offset_hours(country, start)
        h1, h2 = round(first - offset) % 24, round(last - offset) % 24
        throttle = (country, h1, h2 or 24)
    pause = 2 * HOUR
    return TraceModel(
        botnet=profile.name,
        bots=profile.bots,
        days=(end - start) / DAY,
        start=start,
        mean_lifetime_days=profile.mean_lifetime_days,
        session_median_s=pause * profile.base_online / (1 - profile.base_online),
        offline_median_s=pause,
        with_ids=profile.id_hex_chars > 0,
        nat_share=profile.nat_share,
        dynamic_share=profile.dynamic_ip_share,
        reassign_hours=profile.ip_period_h,
        countries=dict(profile.countries),
        diurnal_amplitude=profile.diurnal_amplitude,
        peak_local_hour=profile.peak_local_hour,
        throttle=throttle,
        crawl_interval_s=profile.round_s,
        loss=1 - profile.answer_rate,
        peers_per_reply=profile.peers_per_reply,
        edges_every=profile.edge_every,
        shared_share=profile.shared_share,
    )


def _traced(
    store: Store, profile: Profile, start: float, end: float, seed: int, geo: Geo
) -> Generated:
    truth = generate_trace(store, trace_model(profile, start, end, geo), seed, geo=geo)
    return Generated(
        profile.name,
        len(truth.bots),
        truth.replies + truth.sensor_contacts,  # the sensor's records are replies too
        truth.failed_tries,
        truth.edges,
        truth.batches,
        truth.duplicate_batches,
    )


def generate(
    store: Store,
    now: float,
    weeks: float = 4,
    seed: int = 1,
    profiles: tuple[Profile, ...] = PROFILES,
    scale: float = 1.0,
) -> list[Generated]:
    """Write demo history for every profile (creating the botnets); the demo's hook.

    ``scale`` multiplies the number of bots (tests use a small one).
    """
    if weeks <= 0 or scale <= 0:
        raise ValueError("weeks and scale must be positive")
    from botmon.enrich import GeoDataError

    try:
        geo = Geo()
        for profile in profiles[:1]:
            geo.sample(next(iter(profile.countries)), 1, random.Random(0))
    except GeoDataError as exc:
        raise HistoryError(
            f"demo history needs the default geolocation data ({exc}); run `make install`"
        ) from None
    out = []
    for profile in profiles:
        if scale != 1.0:
            profile = _scaled(profile, scale)
        out.append(generate_botnet(store, profile, now, weeks, seed, geo))
    return out


def _scaled(profile: Profile, scale: float) -> Profile:
    from dataclasses import replace

    return replace(profile, bots=max(10, int(profile.bots * scale)))
