"""The ``sensor`` section: what a passive sensor needs to listen and report.

A sensor (``botmon sensor``) is a node that waits for bots to contact it, answers as its
protocol plugin says, announces itself to bots and reports what it saw. Beside where it
listens, what it speaks and where its records go, its settings are the caps that keep a
sensor on the open Internet safe: the scope it may send to, answer and announcement rates,
per-source limits and table sizes. Batching, spooling and retries are the ``client``
section, shared with crawlers.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Annotated, ClassVar

from botmon.limits import BOTNET_NAME_PATTERN
from botmon.settings.crawl import DEFAULT_SCOPE
from botmon.settings.loader import Settings, setting

PROTOCOL_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}(?!\n)$"
"""A protocol plugin's entry-point name (``hns``, ``linenet``)."""


class SensorSettings(Settings, frozen=True, kw_only=True):
    """Where a sensor listens, what it speaks, and where it reports (all needed to start)."""

    section: ClassVar[str] = "sensor"

    protocol: (
        Annotated[
            str,
            setting(
                "Protocol plugin that answers bots and reads their messages.",
                pattern=PROTOCOL_NAME_PATTERN,
            ),
        ]
        | None
    ) = None
    botnet: (
        Annotated[
            str,
            setting(
                "Botnet the sensor's records are stored under.",
                option="--botnet",
                pattern=BOTNET_NAME_PATTERN,
            ),
        ]
        | None
    ) = None
    listen_host: Annotated[
        str,
        setting(
            "Address to listen on; loopback by default, a deployment opens it explicitly.",
            option="--listen",
            min_length=1,
        ),
    ] = "127.0.0.1"
    listen_port: (
        Annotated[
            int,
            setting(
                "Port to listen on (none: the protocol plugin's default port, where bots look).",
                option="--listen",
                ge=1,
                le=65535,
            ),
        ]
        | None
    ) = None
    server: (
        Annotated[
            str,
            setting(
                "URL of the botmon server the sensor reports to.",
                option="--server",
                pattern=r"^https?://[^\s/]+",
            ),
        ]
        | None
    ) = None
    token: (
        Annotated[
            str,
            setting(
                "Crawler-role API token the sensor reports with (secret).",
                option="--token",
                secret=True,
                min_length=16,
            ),
        ]
        | None
    ) = None
    scope: Annotated[
        tuple[str, ...],
        setting(
            "CIDR ranges the sensor may answer and announce to (default loopback only; --scope "
            "widens). Contacts from outside are recorded, never answered.",
            option="--scope",
            min_length=1,
        ),
    ] = DEFAULT_SCOPE
    announce_interval_s: Annotated[
        float,
        setting(
            "Seconds between announcement passes over the peer list (re-announcing keeps the "
            "sensor in the bots' peer lists).",
            option="--announce-interval",
            gt=0,
        ),
    ] = 60.0
    announce_rate: Annotated[
        float,
        setting(
            "Most announcements sent per second (0: no cap); the server's set_rate changes it.",
            option="--announce-rate",
            ge=0,
        ),
    ] = 100.0
    max_announce_peers: Annotated[
        int, setting("Most peers announced to (peer list plus add_seeds); the rest counted.", ge=0)
    ] = 100_000
    answer_rate: Annotated[
        float,
        setting(
            "Most answers per second over all sources (0: no cap); a flood cannot turn the "
            "sensor into an amplifier.",
            option="--answer-rate",
            ge=0,
        ),
    ] = 10_000.0
    per_source_rate: Annotated[
        float,
        setting(
            "Messages per second handled from one source address (0: no cap); more are "
            "dropped and counted.",
            option="--per-source-rate",
            ge=0,
        ),
    ] = 5.0
    per_source_burst: Annotated[
        float, setting("Messages one source may send at once before its rate applies.", ge=1)
    ] = 20.0
    max_sources: Annotated[
        int,
        setting("Source addresses whose rate is tracked (least recently seen forgotten).", ge=1),
    ] = 65_536
    max_known_peers: Annotated[
        int, setting("Distinct peers remembered for peers_known; beyond it counted only.", ge=0)
    ] = 1_000_000
    contacts_sample: Annotated[
        int, setting("Recent contacts kept per listen address for the plugin to name.", ge=0)
    ] = 64
    max_request_bytes: (
        Annotated[
            int,
            setting(
                "Largest message from a bot (none: the plugin's max_reply_bytes); larger "
                "datagrams and TCP requests are dropped and counted as oversized.",
                ge=1,
                le=65_535,
            ),
        ]
        | None
    ) = None
    tcp_max_connections: Annotated[
        int, setting("TCP sensors: most connections open at once; more are closed at once.", ge=1)
    ] = 1_000
    tcp_timeout_s: Annotated[
        float,
        setting("TCP: seconds a bot's connection (or an announcement) may take in all.", gt=0),
    ] = 10.0
    recv_buffer_bytes: Annotated[
        int, setting("UDP receive buffer asked per listen socket (bursts of contacts).", ge=65_536)
    ] = 8 * 1024 * 1024
    duration_s: (
        Annotated[
            float,
            setting(
                "Stop after this many seconds (none: until stopped).", option="--duration", gt=0
            ),
        ]
        | None
    ) = None
    progress_interval_s: Annotated[
        float,
        setting(
            "Seconds between progress lines when stdout is not a terminal.",
            option="--progress-interval",
            gt=0,
        ),
    ] = 10.0

    def problems(self) -> Iterator[tuple[str, str]]:
        """Every scope entry is a CIDR network."""
        for cidr in self.scope:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                yield "scope", f"{cidr!r} is not a CIDR network"
