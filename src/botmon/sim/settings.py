"""Every setting of the emulated botnets, their defaults and their validation, in one place.

The CLI, tests and benchmarks build these frozen dataclasses; :func:`validate_hns` and
:func:`validate_linenet` turn a bad value into one :class:`SimConfigError` line before any
socket is opened, so a mistyped flag never half-starts an emulator.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ChurnLevel = Literal["none", "light", "heavy"]

DEFAULT_HNS_PORT = 6000
DEFAULT_LINENET_PORT = 7070
MAX_BOTS = 100_000
"""Upper bound on bots per emulator: memory and start-up time stay small (50k is the goal)."""
MAX_PORTS = 16
"""Bots share a few ports, one socket each; a socket per bot would hit the open-file limit."""
MAX_FLOOD_PER_REQUEST = 1_000
MAX_OVERSIZED_BYTES = 65_507
"""The largest UDP payload over IPv4."""
LINENET_MAX_PEERS_PER_REPLY = 62
"""64 lines per answer minus ``BOT`` and ``END`` (wire format)."""
RECEIVE_BUFFER_BYTES = 64 * 1024 * 1024
"""Asked with SO_RCVBUFFORCE (root) or SO_RCVBUF; bursts of 20k+ requests must not drop."""
MIN_CHURN_SCALE = 0.001
"""Shortest sessions then last 5 ms: churn work and session lists stay bounded."""
TICK_S = 0.05
"""How often churn events are applied; bounds how late a bot goes on- or offline."""


class SimConfigError(ValueError):
    """A setting that cannot work; the message is one line for the command line."""


@dataclass(frozen=True, slots=True)
class ChurnProfile:
    """Session model of one churn level (seconds before scaling).

    Online sessions are Weibull-distributed (shape ``online_shape`` below 1: many short
    sessions and a long tail, as measured for P2P networks); offline gaps are exponential.
    Every drawn duration is at least ``min_period_s``. A bot starts online with the
    stationary probability ``online_mean / (online_mean + offline_mean)``.
    """

    online_mean_s: float
    online_shape: float
    offline_mean_s: float
    min_period_s: float = 5.0


CHURN_PROFILES: dict[str, ChurnProfile | None] = {
    "none": None,
    "light": ChurnProfile(online_mean_s=3600.0, online_shape=0.8, offline_mean_s=900.0),
    "heavy": ChurnProfile(online_mean_s=600.0, online_shape=0.6, offline_mean_s=600.0),
}
"""``none``: every bot online for the whole run (one open session)."""


@dataclass(frozen=True, slots=True)
class CommonConfig:
    """Settings every emulator shares: population, addressing, churn, anti-crawling, truth."""

    bots: int = 1000
    port: int = DEFAULT_HNS_PORT
    ports: int = 1
    """Bots are spread over ``port .. port+ports-1``, one socket per port."""
    host: str = "0.0.0.0"
    """Bind address of the shared socket(s); datagrams from off the machine are dropped."""
    nat: float = 0.0
    churn: ChurnLevel = "none"
    churn_scale: float = 1.0
    """Multiplies every session length; tests use ~0.01 to see churn within seconds."""
    seed_rng: int | None = None
    peers_min: int = 8
    peers_max: int = 32
    first_octets: tuple[int, int] = (1, 40)
    """Bots get 127.A.B.C with A in this range (weighted 1/rank, like a skewed geography)."""
    rate_limit: float | None = None
    """Requests per second a bot answers per source IP (token bucket); None = unlimited."""
    rate_burst: float | None = None
    blacklist_after: int | None = None
    """A bot ignores a source IP forever after this many requests from it; None = never."""
    truth: Path | None = None
    truth_interval_s: float = 1.0
    """Least time between two rewrites of the truth file while sessions change."""


@dataclass(frozen=True, slots=True)
class HnsConfig(CommonConfig):
    """The emulated Hide'n'Seek botnet (UDP, one ``~`` -> one ``^`` peer)."""

    garbage: float = 0.0
    """Fraction of bots that answer random bytes that are not a valid reply."""
    oversized: float = 0.0
    """Fraction of bots whose valid 8-byte reply is padded to ``oversized_bytes``."""
    oversized_bytes: int = 65_000
    flood: float = 0.0
    """Fraction of bots that answer each request with ``flood_count`` unsolicited replies."""
    flood_count: int = 50
    flood_total_max: int = 2_000
    """Per-bot cap on flood datagrams over the whole run."""
    out_of_scope: float = 0.0
    """Fraction of bots whose peer list also holds TEST-NET addresses (data, never contacted)."""


@dataclass(frozen=True, slots=True)
class LinenetConfig(CommonConfig):
    """The emulated linenet botnet (TCP, ``PEERS`` -> ``BOT``/``PEER``.../``END``)."""

    port: int = DEFAULT_LINENET_PORT
    peers_per_reply: int = LINENET_MAX_PEERS_PER_REPLY
    """Answer all peers when the list is this short, else a random subset of this size."""
    benign: int = 0
    """Extra addresses on the same port answering ``HELLO`` (not bots; some bots list them)."""
    read_timeout_s: float = 5.0
    ip_change: float = 0.0
    """Fraction of bots that take a new address (same first octet, so same region) each time
    they come back online: one bot ID seen under several IPs, as behind dynamic IPs."""


def _fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise SimConfigError(f"--{name.replace('_', '-')} must be between 0 and 1, got {value}")


def validate_common(cfg: CommonConfig) -> None:
    """Raise :class:`SimConfigError` for a setting no emulator can run with."""
    if not 1 <= cfg.bots <= MAX_BOTS:
        raise SimConfigError(f"--bots must be between 1 and {MAX_BOTS}, got {cfg.bots}")
    if not 1 <= cfg.ports <= MAX_PORTS:
        raise SimConfigError(f"--ports must be between 1 and {MAX_PORTS}, got {cfg.ports}")
    if cfg.port < 1 or cfg.port + cfg.ports - 1 > 65535:
        raise SimConfigError(f"--port {cfg.port} with {cfg.ports} ports leaves 1..65535")
    _fraction("nat", cfg.nat)
    if cfg.churn not in CHURN_PROFILES:
        raise SimConfigError(f"--churn must be none, light or heavy, got {cfg.churn!r}")
    if not cfg.churn_scale >= MIN_CHURN_SCALE:
        raise SimConfigError(
            f"--churn-scale must be at least {MIN_CHURN_SCALE}, got {cfg.churn_scale}"
        )
    if not 0 <= cfg.peers_min <= cfg.peers_max:
        raise SimConfigError("--peers-per-bot needs 0 <= min <= max")
    low, high = cfg.first_octets
    if not 1 <= low <= high <= 250:
        raise SimConfigError("first octets must lie in 1..250 (127.0.x.x is reserved)")
    if (high - low + 1) * 254 * 254 < cfg.bots + 1000:
        raise SimConfigError("too few addresses in the first-octet range for this many bots")
    if cfg.rate_limit is not None and not cfg.rate_limit > 0:
        raise SimConfigError(f"--rate-limit must be positive, got {cfg.rate_limit}")
    if cfg.rate_burst is not None and not cfg.rate_burst >= 1:
        raise SimConfigError(f"rate burst must be at least 1, got {cfg.rate_burst}")
    if cfg.blacklist_after is not None and cfg.blacklist_after < 1:
        raise SimConfigError(f"--blacklist-after must be at least 1, got {cfg.blacklist_after}")
    if not cfg.truth_interval_s >= 0:
        raise SimConfigError("truth interval must not be negative")


def validate_hns(cfg: HnsConfig) -> None:
    """Validate an :class:`HnsConfig`; hostile fractions may not add up to more than 1."""
    validate_common(cfg)
    for name in ("garbage", "oversized", "flood", "out_of_scope"):
        _fraction(name, getattr(cfg, name))
    if cfg.garbage + cfg.oversized + cfg.flood + cfg.out_of_scope > 1.0 + 1e-9:
        raise SimConfigError("hostile fractions (garbage, oversized, flood, out-of-scope) exceed 1")
    if not 9 <= cfg.oversized_bytes <= MAX_OVERSIZED_BYTES:
        raise SimConfigError(f"oversized replies must be 9..{MAX_OVERSIZED_BYTES} bytes")
    if not 1 <= cfg.flood_count <= MAX_FLOOD_PER_REQUEST:
        raise SimConfigError(f"flood count must be 1..{MAX_FLOOD_PER_REQUEST}")
    if cfg.flood_total_max < 0:
        raise SimConfigError("flood total must not be negative")


def validate_linenet(cfg: LinenetConfig) -> None:
    """Validate a :class:`LinenetConfig`."""
    validate_common(cfg)
    if not 0 <= cfg.peers_per_reply <= LINENET_MAX_PEERS_PER_REPLY:
        raise SimConfigError(f"peers per reply must be 0..{LINENET_MAX_PEERS_PER_REPLY}")
    _fraction("ip_change", cfg.ip_change)
    if not 0 <= cfg.benign <= 1000:
        raise SimConfigError(f"--benign must be 0..1000, got {cfg.benign}")
    if not cfg.read_timeout_s > 0:
        raise SimConfigError("read timeout must be positive")
