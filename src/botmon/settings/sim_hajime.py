"""The ``sim.hajime`` section: emulated Hajime bots among plain DHT nodes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from botmon.settings.loader import setting
from botmon.settings.sim import MAX_BOTS, CommonConfig

DHT_PORT = 6891
"""Not 6881 (``botmon simulate btdht``) nor 6890 (``simulate mozi``): all can run together."""
_UNUSED = "Not used by DHT nodes, which keep routing tables instead of peer lists."


class HajimeConfig(CommonConfig, frozen=True, kw_only=True):
    """Emulated Hajime bots (DHT nodes seeding and fetching files over uTP) (``sim.hajime``)."""

    section: ClassVar[str] = "sim.hajime"

    port: Annotated[
        int, setting("UDP port every node listens on (DHT and uTP).", option="--port",
                     ge=1, le=65535)
    ] = DHT_PORT  # fmt: skip
    ports: Annotated[int, setting("One socket plays every node.", ge=1, le=1)] = 1
    peers_min: Annotated[int, setting(_UNUSED, ge=0, le=0)] = 0
    peers_max: Annotated[int, setting(_UNUSED, ge=0, le=0)] = 0
    exchange_fanout: Annotated[int, setting(_UNUSED, ge=1, le=64)] = 8
    news_share: Annotated[int, setting(_UNUSED, ge=1, le=1000)] = 8
    list_cap: Annotated[int, setting(_UNUSED, ge=1, le=10_000)] = 64
    exchange_interval_s: Annotated[
        float,
        setting(
            "Seconds between two routing rounds of one node (pings, candidates, one lookup "
            "hop); 0: nodes only answer (and bots still announce and fetch).",
            option="--exchange-interval",
            ge=0,
        ),
    ] = 30.0
    fetch_interval_s: Annotated[
        float,
        setting(
            "Seconds between two fetches of a NATed bot (a get_peers lookup for config or its "
            "stage-2 module, then uTP to the peers found); 0: never.",
            option="--fetch-interval",
            ge=0,
        ),
    ] = 60.0
    reannounce_s: Annotated[
        float,
        setting(
            "Seconds after which a reachable bot announces its files again (also at UTC "
            "midnight, under the new day's keys).",
            option="--reannounce",
            gt=0,
        ),
    ] = 900.0
    tables: Annotated[
        Literal["random", "converged"],
        setting(
            "Routing tables at start: random (--known random others) or converged (--known "
            "per bucket).",
            option="--tables",
        ),
    ] = "random"
    known: Annotated[
        int,
        setting(
            "Nodes each node knows at start: in all (random) or per bucket (converged, at "
            "most 8); 0: empty tables, join through --bootstrap.",
            option="--known",
            ge=0,
            le=64,
        ),
    ] = 8
    preload: Annotated[
        bool,
        setting(
            "At start the emulated DHT already holds the day's announcements of every "
            "reachable bot, at the nodes nearest each key (a botnet running since midnight); "
            "bots still announce themselves on their schedule.",
            option="--preload",
        ),
    ] = True
    benign: Annotated[
        int,
        setting("Plain DHT nodes (not bots) in the same process.", option="--benign", ge=0,
                le=MAX_BOTS),
    ] = 0  # fmt: skip
    plain_first_octets: Annotated[
        tuple[int, int],
        setting("Plain nodes get 127.A.B.C with A in this range (apart from the bots)."),
    ] = (41, 63)
    architectures: Annotated[
        tuple[str, ...],
        setting("Bots' CPU architectures, drawn evenly (comma-separated).", min_length=1,
                max_length=12),
    ] = ("arm5", "arm6", "arm7", "armv4l", "armv6l", "mipseb", "mipsel")  # fmt: skip
    bootstrap: (
        Annotated[
            Path,
            setting(
                "Peer list (ip:port a line) of DHT nodes to join, e.g. botmon simulate btdht's "
                "seeds; re-read when it changes.",
                option="--bootstrap",
            ),
        ]
        | None
    ) = None
    peerlist: (
        Annotated[
            Path,
            setting(
                "Write every reachable node (bots and plain) here, ip:port a line.",
                option="--peerlist",
            ),
        ]
        | None
    ) = None

    def problems(self) -> Iterator[tuple[str, str]]:
        """The common rules; plain nodes' addresses apart from the bots' and enough of them."""
        yield from super().problems()
        low, high = self.plain_first_octets
        if not 1 <= low <= high <= 250:
            yield "plain_first_octets", "must lie in 1..250, low first"
        elif not (high < self.first_octets[0] or low > self.first_octets[1]):
            yield "plain_first_octets", f"must not overlap first_octets {self.first_octets}"
        elif (high - low + 1) * 254 * 254 < self.benign:
            yield "plain_first_octets", f"too few addresses for {self.benign} plain nodes"
        for arch in self.architectures:
            if not (arch.isascii() and arch.isalnum() and len(arch) <= 16):
                yield "architectures", f"{arch!r}: letters and digits, at most 16"
