"""The ``sim.sality`` section: what an emulated Sality v3 botnet can be told.

Its own module (not :mod:`botmon.settings.sim`) so the Sality emulator's settings grow without
touching the shared ones. ``nat`` is the share of clients (behind NAT, server IDs below
16,000,000); the rest are superpeers (16,000,000-20,000,000).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, ClassVar

from botmon.protocols import sality as sality_protocol
from botmon.settings.loader import setting
from botmon.settings.sim import CommonConfig


class SalityConfig(CommonConfig, frozen=True, kw_only=True):
    """The emulated Sality v3 botnet (UDP, peer exchange naming one superpeer per reply)."""

    section: ClassVar[str] = "sim.sality"

    port: Annotated[int, setting("First port bots listen on.", option="--port", ge=1, le=65535)] = (
        sality_protocol.DEFAULTS.port
    )
    url_pack: Annotated[
        int,
        setting(
            "URL-pack version every bot holds at the start (its packets carry it).",
            option="--url-pack",
            ge=1,
            le=2**32 - 2,
        ),
    ] = 390
    push_pack_at_s: (
        Annotated[
            float,
            setting(
                "Seconds after the start when a new URL-pack version (url_pack + 1) appears "
                "at push_pack_bots superpeers; it spreads as bots exchange (every "
                "exchange_interval_s: the 40-minute cycle, scaled), a few cycles to reach "
                "every bot. none: never.",
                option="--push-pack-at",
                ge=0,
            ),
        ]
        | None
    ) = None
    push_pack_bots: Annotated[
        int,
        setting(
            "Superpeers that receive the new URL pack first (push_pack_at_s).",
            option="--push-pack-bots",
            ge=1,
            le=1000,
        ),
    ] = 1

    def problems(self) -> Iterator[tuple[str, str]]:
        """The common rules, and at least one superpeer (someone must answer)."""
        yield from super().problems()
        if round(self.nat * self.bots) >= self.bots:
            yield "nat", "leaves no superpeer: every bot would be a client behind NAT"
