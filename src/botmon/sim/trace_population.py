"""The modelled population of a trace: infections, their online sessions and addresses.

Everything here is decided once per (model, seed) before any record is made, so the records
of :mod:`botmon.sim.trace_records` and the truth of :mod:`botmon.sim.trace` describe the same
bots. Sessions are simulated from a warm-up period before the trace so the state at its first
instant is already the steady one; the truth clips them to the trace.

The unit the record makers work on is the *span*: one piece of an online session at one
address (a dynamic bot changing address mid-session splits the session). Spans are stored
sorted by (bot, start), and addresses are numbered in (bot, from) order, so the same sorted
arrays answer "is this bot online at t, and where?" and "is this address answering at t?".
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass

import numpy as np

from botmon.sim.geo import Geo

HOUR = 3600.0
DAY = 24 * HOUR
WARMUP_S = 2 * DAY
"""Simulated time before the trace: the online state at its start is then a steady one."""
SESSION_SIGMA = 1.0
"""Spread (log scale) of the log-normal session and pause lengths: heavy-tailed as measured."""
POPULARITY_SIGMA = 0.6
"""Spread (log scale) of how often peer lists name a bot: some bots are popular, none as
popular as a sensor announcing itself (SensorRank-style detectors rely on that gap)."""
MIN_SPAN_S = 1.0
"""Shortest online session or pause (a log-normal draw can be arbitrarily small)."""
MONITOR_COUNTRIES = ("US", "DE", "NL", "FR", "GB", "SG", "JP", "CA")
"""Where researchers' monitors are hosted (data centres); the throttled country is skipped."""
TIME_KEY_BITS = 36
"""Bits of the millisecond part of the sort keys (2^36 ms is about two years)."""


def as_period_s(asn: int | None, hours: tuple[float, float]) -> float:
    """The address reassignment period of an AS: a function of its number alone.

    Two botnets generated in the same networks thus see every AS reassign addresses at the
    same pace, which is what lets an ID-bearing botnet calibrate the count of an ID-less one.
    """
    lo, hi = hours
    share = zlib.crc32(f"as{asn or 0}".encode()) / 2**32
    return (lo + (hi - lo) * share) * HOUR


def v4_text(value: int) -> str:
    return f"{value >> 24 & 255}.{value >> 16 & 255}.{value >> 8 & 255}.{value & 255}"


def v4_int(text: str) -> int:
    a, b, c, d = (int(x) for x in text.split("."))
    return a << 24 | b << 16 | c << 8 | d


@dataclass
class Population:
    """Per-bot, per-address and per-span arrays (see the module docstring)."""

    start: float
    end: float
    # per bot
    join: np.ndarray
    leave: np.ndarray
    country: list[str]
    offset_h: np.ndarray
    nat: np.ndarray
    port: np.ndarray
    bot_id: list[str | None]
    popularity: np.ndarray
    knows_sensor: np.ndarray
    """When the bot learns botmon's sensor's address (it contacts and lists it from then)."""
    contact_period: np.ndarray
    """Seconds between the bot's contacts with a sensor it knows."""
    jitter: np.ndarray
    """Offset of the bot's tries within each crawl round (seconds)."""
    sessions: list[list[tuple[float, float]]]
    """Online sessions per bot, warm-up included, unclipped."""
    # per address (bots' addresses; numbered in (bot, from) order)
    addr_bot: np.ndarray
    addr_ip: np.ndarray
    """IPv4 as an unsigned 32-bit number."""
    addr_from: np.ndarray
    addr_until: np.ndarray
    addr_country: list[str | None]
    addr_asn: list[int | None]
    home_asn: list[int | None]
    """Per bot: the AS of its first address, whose reassignment period it follows."""
    # per span, sorted by (bot, start) and so by (address, start)
    span_addr: np.ndarray
    span_bot: np.ndarray
    span_start: np.ndarray
    span_end: np.ndarray

    @property
    def size(self) -> int:
        return len(self.join)

    def time_key(self, t: np.ndarray) -> np.ndarray:
        """Milliseconds since the warm-up began, for the sort keys."""
        return np.floor((t - (self.start - WARMUP_S - DAY)) * 1000).astype(np.int64)

    def span_keys(self, by_bot: bool) -> np.ndarray:
        owner = self.span_bot if by_bot else self.span_addr
        keys: np.ndarray = (owner.astype(np.int64) << TIME_KEY_BITS) | self.time_key(
            self.span_start
        )
        return keys

    def span_at(
        self, keys: np.ndarray, owner: np.ndarray, t: np.ndarray, by_bot: bool
    ) -> np.ndarray:
        """Index of the span of ``owner`` (bot or address) covering ``t``; -1 where none.

        Keys have millisecond resolution: when ``t`` falls in the millisecond before a span
        begins, the search lands on that span and the one before (which may still cover
        ``t``) is checked too, so the answer is exact."""
        probe = (owner.astype(np.int64) << TIME_KEY_BITS) | self.time_key(t)
        found = np.searchsorted(keys, probe, side="right") - 1
        owners = self.span_bot if by_bot else self.span_addr
        safe = np.maximum(found, 0)
        hit = (found >= 0) & (owners[safe] == owner) & (t < self.span_end[safe])
        hit &= t >= self.span_start[safe]
        out = np.where(hit, found, -1)
        early = np.flatnonzero(~hit & (found >= 1) & (t < self.span_start[safe]))
        if len(early):
            before = found[early] - 1
            ok = (owners[before] == owner[early]) & (t[early] < self.span_end[before])
            ok &= t[early] >= self.span_start[before]
            out[early[ok]] = before[ok]
        return out


def substream(rng: random.Random, name: str) -> random.Random:
    """A generator of its own, derived from ``rng``'s state without drawing from it: a
    feature drawing from it leaves every other draw of ``rng`` as it was."""
    return random.Random(f"{name}:{zlib.crc32(repr(rng.getstate()).encode())}")


def _lognormal(rng: random.Random, median: float) -> float:
    return max(MIN_SPAN_S, median * math.exp(rng.gauss(0.0, SESSION_SIGMA)))


class _Addresses:
    """Draws distinct public addresses, keeping a dynamic bot's next one in its AS."""

    def __init__(self, geo: Geo, rng: random.Random, need: dict[str, int]) -> None:
        self.geo = geo
        self.rng = rng
        self.pools = {c: [v4_int(ip) for ip in geo.sample(c, n, rng)] for c, n in need.items()}
        self.used: set[int] = set()

    def fresh(self, country: str) -> int | None:
        pool = self.pools.get(country, [])
        while pool:
            ip = pool.pop()
            if ip not in self.used:
                self.used.add(ip)
                return ip
        return None

    def shared(self, earlier: list[str], rng: random.Random) -> int | None:
        """An address another botnet generated before uses (one device, two infections)."""
        ip = v4_int(rng.choice(earlier))
        if ip in self.used:
            return None
        self.used.add(ip)
        return ip

    def near(self, ip: int, asn: int | None, country: str) -> int | None:
        """A new address in the same /16 and AS (reassignment inside the ISP's pool)."""
        for _ in range(6):
            low = self.rng.randrange(1, 65535)
            if low & 0xFF in (0, 255):
                continue
            candidate = (ip & 0xFFFF0000) | low
            if candidate in self.used:
                continue
            if self.geo.lookup(v4_text(candidate)) == (country, asn) and asn is not None:
                self.used.add(candidate)
                return candidate
        return self.fresh(country)

    def geo_of(self, ip: int) -> tuple[str | None, int | None]:
        return self.geo.lookup(v4_text(ip))


def _sessions(
    rng: random.Random,
    first: float,
    last: float,
    joined_now: bool,
    offset_h: float,
    session_median: float,
    offline_median: float,
    amplitude: float,
    peak: float,
) -> list[tuple[float, float]]:
    """Alternating online and offline spans in [first, last).

    Each span's median is scaled by the diurnal factor of the bot's local hour: sessions
    are longer and pauses shorter around the local peak. The share online at an instant
    reflects spans begun up to a session earlier, so the factor is read 1.5 medians after the
    span's start; that puts the peak of the online share at the peak hour (measured within
    about an hour, 1,000 bots over 7 days) instead of hours later.
    """
    out: list[tuple[float, float]] = []
    p_online = session_median / (session_median + offline_median)
    online = joined_now or rng.random() < p_online
    t = first
    two_pi_day = 2 * math.pi / 24
    while t < last:
        median = session_median if online else offline_median
        ahead_h = (t + 1.5 * median) / HOUR + offset_h
        swing = amplitude * math.cos(two_pi_day * (ahead_h - peak))
        span = _lognormal(rng, median * (1 + swing if online else 1 - swing))
        if online:
            out.append((t, min(t + span, last)))
        t += span
        online = not online
    return out


def build(model: object, geo: Geo, rng: random.Random) -> Population:
    """The population of ``model`` (a :class:`botmon.sim.trace.TraceModel`)."""
    from botmon.sim.trace import TraceModel

    assert isinstance(model, TraceModel)
    start = float(model.start)
    end = start + model.days * DAY
    mean_life = model.mean_lifetime_days * DAY
    keys = sorted(model.countries)
    weights = [model.countries[k] for k in keys]

    joins = [start - rng.expovariate(1 / mean_life) for _ in range(model.bots)]
    arrivals = 0
    t = start
    while True:  # Poisson arrivals at the rate that keeps the population steady
        t += rng.expovariate(model.bots / mean_life)
        if t >= end:
            break
        joins.append(t)
        arrivals += 1
    n = len(joins)
    leaves = [
        (start + rng.expovariate(1 / mean_life))
        if i < model.bots
        else joins[i] + rng.expovariate(1 / mean_life)
        for i in range(n)
    ]
    countries = rng.choices(keys, weights, k=n)
    dynamic = [rng.random() < model.dynamic_share for _ in range(n)]
    nat = np.array([rng.random() < model.nat_share for _ in range(n)], dtype=bool)
    need: dict[str, int] = {}
    for c in countries:
        need[c] = need.get(c, 0) + 1
    addresses = _Addresses(geo, rng, {c: need[c] + 8 for c in sorted(need)})
    offsets = {c: geo.offset_hours(c, (start + end) / 2) for c in keys}

    ports = [rng.randint(1024, 65535) for _ in range(n)]
    ids: list[str | None] = [
        f"{rng.getrandbits(160):040x}" if model.with_ids else None for _ in range(n)
    ]
    popularity = np.array([rng.lognormvariate(0.0, POPULARITY_SIGMA) for _ in range(n)])
    sensor_growth = model.days * DAY / 2
    knows = np.array(
        [
            max(
                joins[i],
                start - 1.0 if rng.random() < 0.2 else start + rng.expovariate(1 / sensor_growth),
            )
            for i in range(n)
        ]
    )
    contact_period = np.array([rng.uniform(600.0, 1800.0) for _ in range(n)])
    jitter = np.array([rng.random() * model.crawl_interval_s * 0.6 for _ in range(n)])

    sessions: list[list[tuple[float, float]]] = []
    a_bot: list[int] = []
    a_ip: list[int] = []
    a_from: list[float] = []
    a_until: list[float] = []
    a_cc: list[str | None] = []
    a_asn: list[int | None] = []
    s_addr: list[int] = []
    s_bot: list[int] = []
    s_start: list[float] = []
    s_end: list[float] = []
    kept: list[int] = []
    home: list[int | None] = []
    # Co-infections depend on what was generated before with ``geo``: their draws come from
    # a stream of their own, so everything else is the same whatever came before.
    share_rng = substream(rng, "co-infection")
    firsts: list[int] = []
    for i in range(n):
        first = max(joins[i], start - WARMUP_S)
        last = min(leaves[i], end)
        ip = None
        earlier = geo.used.get(countries[i])
        if earlier and not dynamic[i] and share_rng.random() < model.shared_share:
            ip = addresses.shared(earlier, share_rng)
        if ip is None:
            ip = addresses.fresh(countries[i])
        if ip is None or last <= first:
            continue
        b = len(kept)
        kept.append(i)
        cc, asn = addresses.geo_of(ip)
        home.append(asn)
        bot_sessions = _sessions(
            rng,
            first,
            last,
            joins[i] > start - WARMUP_S,
            offsets[countries[i]],
            model.session_median_s,
            model.offline_median_s,
            model.diurnal_amplitude,
            model.peak_local_hour,
        )
        sessions.append(bot_sessions)
        # address changes: every period of the bot's AS, at a phase of its own
        changes = [first]
        if dynamic[i]:
            period = as_period_s(asn, model.reassign_hours)
            t = first + rng.random() * period
            while t < last:
                changes.append(t)
                t += period
        changes.append(last)
        first_addr = len(a_ip)
        firsts.append(first_addr)
        for k in range(len(changes) - 1):
            if k:
                moved = addresses.near(ip, asn, cc or countries[i])
                if moved is not None:
                    ip = moved
                    cc, asn = addresses.geo_of(ip)
            a_bot.append(b)
            a_ip.append(ip)
            a_from.append(changes[k])
            a_until.append(changes[k + 1])
            a_cc.append(cc)
            a_asn.append(asn)
        # spans: sessions cut at address changes
        k = 0
        for s, e in bot_sessions:
            while a_until[first_addr + k] <= s:
                k += 1
            j = k
            while s < e:
                cut = min(e, a_until[first_addr + j])
                s_addr.append(first_addr + j)
                s_bot.append(b)
                s_start.append(s)
                s_end.append(cut)
                s = cut
                j += 1
    for b, i in enumerate(kept):  # static addresses a later botnet may share (co-infection)
        if not dynamic[i]:
            geo.used.setdefault(countries[i], []).append(v4_text(a_ip[firsts[b]]))
    idx = np.array(kept, dtype=np.int64)
    return Population(
        start=start,
        end=end,
        join=np.array(joins)[idx],
        leave=np.array(leaves)[idx],
        country=[countries[i] for i in kept],
        offset_h=np.array([offsets[countries[i]] for i in kept]),
        nat=nat[idx],
        port=np.array(ports, dtype=np.int64)[idx],
        bot_id=[ids[i] for i in kept],
        popularity=popularity[idx],
        knows_sensor=knows[idx],
        contact_period=contact_period[idx],
        jitter=jitter[idx],
        sessions=sessions,
        addr_bot=np.array(a_bot, dtype=np.int64),
        addr_ip=np.array(a_ip, dtype=np.int64),
        addr_from=np.array(a_from),
        addr_until=np.array(a_until),
        addr_country=a_cc,
        addr_asn=a_asn,
        home_asn=home,
        span_addr=np.array(s_addr, dtype=np.int64),
        span_bot=np.array(s_bot, dtype=np.int64),
        span_start=np.array(s_start),
        span_end=np.array(s_end),
    )


@dataclass
class Monitor:
    """A monitor in the trace, with what the record makers need to know about it."""

    kind: str
    own: bool
    ip: int
    port: int
    bot_id: str | None
    country: str | None
    asn: int | None
    period_s: float = 0.0
    """A foreign crawler's period between contacts with botmon's sensor."""
    phase_s: float = 0.0
    deviation: str | None = None


DEVIATIONS = (
    "announces a node ID that changes on every request",
    "asks for peers without ever answering a ping",
)


def monitors(model: object, geo: Geo, rng: random.Random, used: set[int]) -> list[Monitor]:
    """Foreign sensors, foreign crawlers, and botmon's own crawler and sensor (last two)."""
    from botmon.sim.trace import TraceModel

    assert isinstance(model, TraceModel)
    throttled = model.throttle[0] if model.throttle else None
    places = [c for c in MONITOR_COUNTRIES if c != throttled]
    wanted = [("sensor", False)] * model.foreign_sensors + [
        ("crawler", False)
    ] * model.foreign_crawlers
    wanted += [("crawler", True), ("sensor", True)]
    out: list[Monitor] = []
    for k, (kind, own) in enumerate(wanted):
        country = places[k % len(places)]
        ip = None
        for text in geo.sample(country, 4, rng):
            if v4_int(text) not in used:
                ip = v4_int(text)
                break
        if ip is None:
            raise ValueError(f"no address left for a monitor in {country}")
        used.add(ip)
        cc, asn = geo.lookup(v4_text(ip))
        bot_id = f"{rng.getrandbits(160):040x}" if model.with_ids else None
        m = Monitor(kind, own, ip, rng.randint(1024, 65535), bot_id, cc, asn)
        if kind == "crawler" and not own:
            m.period_s = rng.uniform(600.0, 1800.0)
            m.phase_s = rng.random() * m.period_s
            n_foreign = sum(1 for x in out if x.kind == "crawler" and not x.own)
            if n_foreign == 0:
                m.deviation = DEVIATIONS[0]
        out.append(m)
    return out
