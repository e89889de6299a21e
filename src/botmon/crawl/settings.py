"""Every crawl-engine default, in one place, named by subsystem and checked at start.

A plugin's :class:`~botmon.protocols.contract.ProtocolDefaults` fill in the protocol-specific
values (port, timeouts, requests per round); the command line overrides any of them. A bad
value stops the crawler before it sends anything, with :class:`SettingsError` naming the
setting in one line.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from dataclasses import dataclass, field

from botmon.protocols.contract import ProtocolDefaults

DEFAULT_SCOPE = ("127.0.0.0/8", "::1/128")
"""Loopback only: a deployment widens the scope explicitly with ``--scope``."""


class SettingsError(ValueError):
    """A setting the engine cannot run with; the message is one line naming it."""


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """The double queue (the original's discovery and tracking loops)."""

    discovery_capacity: int = 10_000
    """Most requests in flight to new or unresponsive peers (the original's 10,000 workers)."""
    tracking_capacity: int = 10_000
    """Most requests in flight to confirmed bots; never taken by unresponsive peers."""
    tracking_remove_s: float = 900.0
    """A tracked bot silent this long falls back to the discovery queue."""
    discovery_remove_s: float = 1800.0
    """A discovery peer silent this long (and tried since) is forgotten."""
    max_known_peers: int = 2_000_000
    """Peer-table cap; hostile bots announcing endless peers cannot exhaust memory."""
    max_out_of_scope: int = 100_000
    """Distinct out-of-scope peers remembered (for counting); beyond it they are counted only."""


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """UDP retries of tracked bots: deadlines counted from the first send of a request."""

    timeouts: tuple[float, ...] = (4.0, 8.0, 16.0, 32.0)
    """Deadline of each try; its length is the number of tries (discovery peers get one)."""


@dataclass(frozen=True, slots=True)
class RoundSettings:
    """Rounds: every known peer plus every peer found during the round, repeated."""

    interval_s: float = 300.0
    """Seconds from one round's start to the next (the original's re-crawl interval)."""
    rounds: int = 0
    """Stop after this many rounds (0 = run until stopped)."""
    requests_per_round: int = 1
    """Most peer requests to one bot per round, one at a time (from the plugin)."""
    stale_replies: int = 3
    """Stop asking a bot this round after this many answers in a row named no new peer."""


@dataclass(frozen=True, slots=True)
class RateSettings:
    """Pacing; some botnets blacklist crawlers that ask too fast."""

    global_rate: float = 0.0
    """Requests per second over all targets (0 = unlimited)."""
    per_target_rate: float = 10.0
    """Requests per second to any one target (0 = unlimited)."""
    burst_s: float = 0.05
    """The global bucket holds this many seconds' worth of requests."""


@dataclass(frozen=True, slots=True)
class TransportSettings:
    """Sockets: UDP buffers, TCP timeouts and connection limit."""

    udp_sockets: int = 1
    """UDP sockets per address family; requests are spread over them."""
    recv_buffer_bytes: int = 64 * 1024 * 1024
    """Receive buffer asked for (SO_RCVBUFFORCE as root, else SO_RCVBUF up to rmem_max):
    room for more than 50,000 replies in flight."""
    send_buffer_bytes: int = 8 * 1024 * 1024
    """Send buffer asked for, so a burst of requests is not dropped by the kernel."""
    max_datagram: int = 65_535
    """Bytes read per datagram; plugins refuse anything above their own cap."""
    tcp_connect_timeout_s: float = 5.0
    """TCP: seconds to establish a connection (from the plugin)."""
    tcp_read_timeout_s: float = 10.0
    """TCP: seconds to read a whole answer after connecting (from the plugin)."""
    tcp_max_connections: int = 2_000
    """Open TCP connections at once (the open-file limit here is 20,000)."""
    max_reply_bytes: int = 1500
    """Bytes read from one TCP answer at most (from the plugin)."""
    send_batch: int = 4096
    """Requests sent per pass of the send loop before it yields to receiving."""


@dataclass(frozen=True, slots=True)
class ProgressSettings:
    """The live display and its plain-text fallback."""

    plain_interval_s: float = 10.0
    """Seconds between progress lines when stdout is not a terminal."""
    tick_s: float = 0.1
    """Longest the engine sleeps between checks of timers, rounds and commands."""


@dataclass(frozen=True, slots=True)
class CrawlSettings:
    """All engine settings, grouped by subsystem."""

    port: int = 6000
    """Port for seeds given without one (the plugin's default port)."""
    queues: QueueSettings = field(default_factory=QueueSettings)
    """The double queue."""
    retry: RetrySettings = field(default_factory=RetrySettings)
    """Tries and their deadlines."""
    rounds: RoundSettings = field(default_factory=RoundSettings)
    """Rounds and requests per bot per round."""
    rate: RateSettings = field(default_factory=RateSettings)
    """Global and per-target pacing."""
    transport: TransportSettings = field(default_factory=TransportSettings)
    """Sockets and TCP limits."""
    progress: ProgressSettings = field(default_factory=ProgressSettings)
    """The live display and the engine's tick."""
    scope: tuple[str, ...] = DEFAULT_SCOPE
    """CIDR ranges the engine may send to (``--scope`` widens; default loopback only)."""

    @classmethod
    def for_protocol(cls, d: ProtocolDefaults) -> CrawlSettings:
        """Engine defaults with the plugin's protocol-specific values filled in."""
        return cls(
            port=d.port,
            retry=RetrySettings(timeouts=tuple(d.timeouts)),
            rounds=RoundSettings(
                requests_per_round=d.requests_per_round, stale_replies=d.stale_replies
            ),
            transport=TransportSettings(
                tcp_connect_timeout_s=d.connect_timeout,
                tcp_read_timeout_s=d.read_timeout,
                max_reply_bytes=d.max_reply_bytes,
            ),
        )

    def replace(self, section: str, **changes: object) -> CrawlSettings:
        """A copy with some fields of one section changed (``replace("rate", global_rate=5)``)."""
        sub = getattr(self, section)
        return dataclasses.replace(self, **{section: dataclasses.replace(sub, **changes)})

    def validate(self) -> CrawlSettings:
        """Check every value; raise :class:`SettingsError` naming the first bad one."""
        q, r, rd, rt, t = self.queues, self.retry, self.rounds, self.rate, self.transport
        checks: list[tuple[bool, str]] = [
            (0 < self.port <= 65535, f"port: {self.port} is not in 1..65535"),
            (1 <= q.discovery_capacity <= 1_000_000, "queues.discovery_capacity: 1..1,000,000"),
            (1 <= q.tracking_capacity <= 1_000_000, "queues.tracking_capacity: 1..1,000,000"),
            (q.tracking_remove_s > 0, "queues.tracking_remove_s must be positive"),
            (q.discovery_remove_s > 0, "queues.discovery_remove_s must be positive"),
            (q.max_known_peers >= 1, "queues.max_known_peers must be at least 1"),
            (q.max_out_of_scope >= 0, "queues.max_out_of_scope must not be negative"),
            (
                bool(r.timeouts) and all(x > 0 for x in r.timeouts),
                "retry.timeouts must be positive seconds",
            ),
            (list(r.timeouts) == sorted(r.timeouts), "retry.timeouts must not decrease"),
            (len(r.timeouts) <= 16, "retry.timeouts: at most 16 tries"),
            (rd.interval_s >= 0, "rounds.interval_s must not be negative"),
            (rd.rounds >= 0, "rounds.rounds must not be negative"),
            (1 <= rd.requests_per_round <= 1000, "rounds.requests_per_round: 1..1000"),
            (rd.stale_replies >= 1, "rounds.stale_replies must be at least 1"),
            (rt.global_rate >= 0, "rate.global_rate must not be negative"),
            (rt.per_target_rate >= 0, "rate.per_target_rate must not be negative"),
            (rt.burst_s > 0, "rate.burst_s must be positive"),
            (1 <= t.udp_sockets <= 64, "transport.udp_sockets: 1..64"),
            (t.recv_buffer_bytes >= 65_536, "transport.recv_buffer_bytes: at least 64 KiB"),
            (t.tcp_connect_timeout_s > 0, "transport.tcp_connect_timeout_s must be positive"),
            (t.tcp_read_timeout_s > 0, "transport.tcp_read_timeout_s must be positive"),
            (1 <= t.tcp_max_connections <= 15_000, "transport.tcp_max_connections: 1..15,000"),
            (1 <= t.max_reply_bytes <= 1 << 20, "transport.max_reply_bytes: 1..1 MiB"),
            (t.send_batch >= 1, "transport.send_batch must be at least 1"),
            (self.progress.plain_interval_s > 0, "progress.plain_interval_s must be positive"),
            (0 < self.progress.tick_s <= 1, "progress.tick_s: more than 0, at most 1"),
            (bool(self.scope), "scope: at least one CIDR"),
        ]
        for ok, message in checks:
            if not ok:
                raise SettingsError(message)
        for cidr in self.scope:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise SettingsError(f"scope: {cidr!r} is not a CIDR network") from None
        return self
