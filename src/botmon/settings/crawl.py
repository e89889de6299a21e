"""The ``crawl`` section: every crawl-engine default, named by subsystem and checked at start.

A plugin's :class:`~botmon.protocols.contract.ProtocolDefaults` fill in the protocol-specific
values (timeouts, requests per round and in flight per bot, lookups per overlay node, TCP
limits, and the port of seeds given without one);
environment variables and the command line override any of them. A bad value stops the
crawler before it sends anything, with one :class:`~botmon.settings.SettingsError` line.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Annotated, ClassVar

import msgspec

from botmon.protocols.contract import ProtocolDefaults
from botmon.settings.loader import Settings, setting

DEFAULT_SCOPE = ("127.0.0.0/8", "::1/128")
"""Loopback only: a deployment widens the scope explicitly with ``--scope``."""

Seconds = Annotated[float, msgspec.Meta(gt=0)]


class QueueSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The double queue (the original's discovery and tracking loops)."""

    discovery_capacity: Annotated[
        int,
        setting(
            "Most requests in flight to new or unresponsive peers (the original's 10,000 workers).",
            option="--concurrency",
            ge=1,
            le=1_000_000,
        ),
    ] = 10_000
    tracking_capacity: Annotated[
        int,
        setting(
            "Most requests in flight to confirmed bots; never taken by unresponsive peers.",
            option="--concurrency",
            ge=1,
            le=1_000_000,
        ),
    ] = 10_000
    tracking_remove_s: Annotated[
        float, setting("A tracked bot silent this long falls back to the discovery queue.", gt=0)
    ] = 900.0
    discovery_remove_s: Annotated[
        float, setting("A discovery peer silent this long (and tried since) is forgotten.", gt=0)
    ] = 1800.0
    max_known_peers: Annotated[
        int,
        setting(
            "Peer-table cap; hostile bots announcing endless peers cannot exhaust memory.", ge=1
        ),
    ] = 2_000_000
    max_out_of_scope: Annotated[
        int,
        setting(
            "Distinct out-of-scope peers remembered (for counting); beyond it they are counted "
            "only.",
            ge=0,
        ),
    ] = 100_000


class RetrySettings(msgspec.Struct, frozen=True, kw_only=True):
    """UDP retries of tracked bots: deadlines counted from the first send of a request."""

    timeouts: Annotated[
        tuple[Seconds, ...],
        setting(
            "Deadline of each try, not decreasing; its length is the number of tries "
            "(discovery peers get one).",
            option="--timeouts",
            min_length=1,
            max_length=16,
        ),
    ] = (4.0, 8.0, 16.0, 32.0)


class RoundSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Rounds: every known peer plus every peer found during the round, repeated."""

    interval_s: Annotated[
        float,
        setting(
            "Seconds from one round's start to the next (the original's re-crawl interval).",
            option="--interval",
            ge=0,
        ),
    ] = 300.0
    rounds: Annotated[
        int,
        setting("Stop after this many rounds (0 = run until stopped).", option="--rounds", ge=0),
    ] = 0
    requests_per_round: Annotated[
        int,
        setting(
            "Most peer requests to one bot per round, one at a time (from the plugin).",
            option="--requests-per-round",
            ge=1,
            le=1000,
        ),
    ] = 1
    stale_replies: Annotated[
        int,
        setting(
            "Stop asking a bot this round after this many answers in a row named no new peer.",
            ge=1,
        ),
    ] = 3
    max_in_flight_per_peer: Annotated[
        int,
        setting(
            "Most requests out to one bot at once; above 1 only for plugins with match keys "
            "(from the plugin).",
            ge=1,
            le=64,
        ),
    ] = 1


class FinderSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The find-peers loop, for plugins of botnets inside a larger overlay (``find_peers``).

    Overlay nodes come from the seeds (a seed is both a peer to crawl and a node to walk) and
    from the ``nodes`` of any answer; each round every known node gets its lookups.
    """

    capacity: Annotated[
        int, setting("Most find-peers lookups in flight at once.", ge=1, le=1_000_000)
    ] = 1000
    share: Annotated[
        float,
        setting(
            "Share of each send pass (so of the global rate) kept for lookups while crawl "
            "requests wait too; lookups also use whatever the crawl leaves.",
            gt=0,
            le=1,
        ),
    ] = 0.5
    max_nodes: Annotated[
        int,
        setting(
            "Overlay nodes remembered; more are counted (nodes_dropped) and never walked.", ge=1
        ),
    ] = 200_000
    lookups_per_node: Annotated[
        int,
        setting("Most lookups sent to one overlay node per round (from the plugin).", ge=1),
    ] = 16


class RateSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Pacing; some botnets blacklist crawlers that ask too fast."""

    global_rate: Annotated[
        float,
        setting("Requests per second over all targets (0 = unlimited).", option="--rate", ge=0),
    ] = 0.0
    per_target_rate: Annotated[
        float,
        setting(
            "Requests per second to any one target (0 = unlimited).",
            option="--per-target-rate",
            ge=0,
        ),
    ] = 10.0
    burst_s: Annotated[
        float, setting("The global bucket holds this many seconds' worth of requests.", gt=0)
    ] = 0.05


class TransportSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Sockets: UDP buffers, TCP timeouts and connection limit."""

    udp_sockets: Annotated[
        int, setting("UDP sockets per address family; requests are spread over them.", ge=1, le=64)
    ] = 1
    recv_buffer_bytes: Annotated[
        int,
        setting(
            "Receive buffer asked for (SO_RCVBUFFORCE as root, else SO_RCVBUF up to rmem_max): "
            "room for more than 50,000 replies in flight.",
            ge=65_536,
        ),
    ] = 64 * 1024 * 1024
    send_buffer_bytes: Annotated[
        int,
        setting(
            "Send buffer asked for, so a burst of requests is not dropped by the kernel.",
            ge=65_536,
        ),
    ] = 8 * 1024 * 1024
    max_datagram: Annotated[
        int,
        setting(
            "Bytes read per datagram; plugins refuse anything above their own cap.", ge=1, le=65_535
        ),
    ] = 65_535
    tcp_connect_timeout_s: Annotated[
        float, setting("TCP: seconds to establish a connection (from the plugin).", gt=0)
    ] = 5.0
    tcp_read_timeout_s: Annotated[
        float,
        setting("TCP: seconds to read a whole answer after connecting (from the plugin).", gt=0),
    ] = 10.0
    tcp_max_connections: Annotated[
        int,
        setting(
            "Open TCP connections at once (the open-file limit here is 20,000; --concurrency "
            "sets it too, up to 15,000).",
            ge=1,
            le=15_000,
        ),
    ] = 2_000
    max_reply_bytes: Annotated[
        int, setting("Bytes read from one TCP answer at most (from the plugin).", ge=1, le=1 << 20)
    ] = 1500
    send_batch: Annotated[
        int,
        setting("Requests sent per pass of the send loop before it yields to receiving.", ge=1),
    ] = 4096


class ProgressSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The live display and its plain-text fallback."""

    plain_interval_s: Annotated[
        float,
        setting(
            "Seconds between progress lines when stdout is not a terminal.",
            option="--progress-interval",
            gt=0,
        ),
    ] = 10.0
    tick_s: Annotated[
        float,
        setting(
            "Longest the engine sleeps between checks of timers, rounds and commands.", gt=0, le=1
        ),
    ] = 0.1


class CrawlSettings(Settings, frozen=True, kw_only=True):
    """All engine settings, grouped by subsystem."""

    section: ClassVar[str] = "crawl"

    port: (
        Annotated[
            int,
            setting(
                "Port for seeds given without one (none: the protocol plugin's default port).",
                option="--port",
                ge=1,
                le=65535,
            ),
        ]
        | None
    ) = None
    queues: QueueSettings = msgspec.field(default_factory=QueueSettings)
    retry: RetrySettings = msgspec.field(default_factory=RetrySettings)
    rounds: RoundSettings = msgspec.field(default_factory=RoundSettings)
    rate: RateSettings = msgspec.field(default_factory=RateSettings)
    transport: TransportSettings = msgspec.field(default_factory=TransportSettings)
    finder: FinderSettings = msgspec.field(default_factory=FinderSettings)
    progress: ProgressSettings = msgspec.field(default_factory=ProgressSettings)
    scope: Annotated[
        tuple[str, ...],
        setting(
            "CIDR ranges the engine may send to (default loopback only; --scope widens).",
            option="--scope",
            min_length=1,
        ),
    ] = DEFAULT_SCOPE

    @classmethod
    def for_protocol(cls, d: ProtocolDefaults) -> CrawlSettings:
        """Engine defaults with the plugin's protocol-specific values filled in."""
        return cls(
            retry=RetrySettings(timeouts=tuple(d.timeouts)),
            rounds=RoundSettings(
                requests_per_round=d.requests_per_round,
                stale_replies=d.stale_replies,
                max_in_flight_per_peer=d.max_in_flight_per_peer,
            ),
            finder=FinderSettings(lookups_per_node=d.lookups_per_node),
            rate=RateSettings(per_target_rate=d.per_target_rate),
            transport=TransportSettings(
                tcp_connect_timeout_s=d.connect_timeout,
                tcp_read_timeout_s=d.read_timeout,
                max_reply_bytes=d.max_reply_bytes,
            ),
        )

    def replace(self, section: str, **changes: object) -> CrawlSettings:
        """A copy with some fields of one group changed (``replace("rate", global_rate=5)``)."""
        group = msgspec.structs.replace(getattr(self, section), **changes)
        return msgspec.structs.replace(self, **{section: group})

    def problems(self) -> Iterator[tuple[str, str]]:
        """Deadlines grow from try to try; every scope entry is a CIDR network."""
        if list(self.retry.timeouts) != sorted(self.retry.timeouts):
            yield "retry.timeouts", "must not decrease"
        for cidr in self.scope:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                yield "scope", f"{cidr!r} is not a CIDR network"
