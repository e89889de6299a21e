"""Monitoring traces with known truth: what a crawler and a sensor would have recorded.

Churn, diurnal cycles and address reassignment play out over days and weeks, which a live
loopback run cannot wait for. This generator models a botnet's population (infections with
lifetimes, on/off sessions inside them, NAT, per-AS dynamic address reassignment, a
local-time diurnal cycle, a regional throttling window, foreign crawlers and sensors,
botmon's own sensor) and turns it into exactly the replies, failed tries and edges that a
crawler polling every ``crawl_interval_s`` with packet loss ``loss`` and a sensor in the
bots' peer lists would have recorded, together with the truth the analyses of
:mod:`botmon.analysis` are checked against.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class TruthBot:
    """One infection as it really was."""

    bot_id: str | None
    country: str
    asn: int | None
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


@dataclass
class TraceTruth:
    """Everything the generator decided, for tests and ``--truth`` files."""

    model: TraceModel
    bots: list[TruthBot]
    monitors: list[TruthMonitor]
    replies: int = 0
    failed_tries: int = 0
    edges: int = 0
