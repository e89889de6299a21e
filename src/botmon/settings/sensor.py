"""The ``sensor`` section: what a passive sensor needs to listen and report.

A sensor (``botmon sensor``, the next issue) is a node that waits for bots to contact it,
answers as its protocol plugin says and reports what it saw. It needs only where to listen,
what it speaks, which botnet it watches and where its records go; batching, spooling and
retries are the ``client`` section, shared with crawlers.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from botmon.limits import BOTNET_NAME_PATTERN
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
