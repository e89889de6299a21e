"""The ``sim.zeroaccess`` section: what an emulated ZeroAccess v2 botnet can be told.

The shared fields come from :class:`~botmon.settings.sim.CommonConfig`; ZeroAccess adds its
variant and changes three defaults to what the botnet does: bots listen on the 2013
network's port 16471 (inside the 2015 variant's 32-bit range too), lists hold at least the
16 peers a retL names, and replies name the peers heard from most recently first
(``peer_order`` ``recent``, ZeroAccess's own answer to crawlers and its weak spot for
sensors).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, ClassVar

from botmon.protocols import zeroaccess as zeroaccess_protocol
from botmon.protocols import zeroaccess_wire as wire
from botmon.settings.loader import setting
from botmon.settings.sim import CommonConfig, PeerOrder


class ZeroAccessConfig(CommonConfig, frozen=True, kw_only=True):
    """The emulated ZeroAccess v2 botnet (UDP, getL -> retL with 16 peers and timestamps)."""

    section: ClassVar[str] = "sim.zeroaccess"

    variant: Annotated[
        wire.Variant,
        setting(
            "2013 (key 'ftp2', records without ports: every bot on one port) or 2015 (key "
            "'1234', records with a 14-bit port offset in the 32- or 64-bit range).",
            option="--variant",
        ),
    ] = "2013"
    port: Annotated[int, setting("First port bots listen on.", option="--port", ge=1, le=65535)] = (
        zeroaccess_protocol.DEFAULTS.port
    )
    peers_min: Annotated[
        int, setting("Fewest peers a bot knows.", option="--peers-per-bot", ge=0, le=10_000)
    ] = 16
    peers_max: Annotated[
        int, setting("Most peers a bot knows.", option="--peers-per-bot", ge=0, le=10_000)
    ] = 48
    peer_order: Annotated[
        PeerOrder,
        setting(
            "Order a bot names its peers in: recent (heard from most recently first, as "
            "ZeroAccess does) or random.",
            option="--peer-order",
        ),
    ] = "recent"
    newest_age_s: Annotated[
        float,
        setting(
            "Initial peer-list entries were last heard up to this many seconds before the "
            "start (skewed towards fresh), so list ages spread over the buckets.",
            ge=0,
        ),
    ] = 14 * 86400.0

    def problems(self) -> Iterator[tuple[str, str]]:
        """The common rules; 2013 bots share one port, 2015 ports stay in one range."""
        yield from super().problems()
        last = self.port + self.ports - 1
        if self.variant == "2013" and self.ports != 1:
            yield "ports", "the 2013 variant names peers without ports: use one port"
        if self.variant == "2015":
            base = wire.port_base(self.port)
            if not base <= self.port <= last < base + wire.PORT_BASE_32:
                yield (
                    "port",
                    f"the 2015 variant needs ports in 16384..32767 or 32768..49151 "
                    f"(got {self.port}..{last})",
                )
