"""The ``sim.hns`` and ``sim.linenet`` sections: what an emulated botnet can be told.

Each emulator keeps its own config (the shared part in :class:`CommonConfig`) but loads
through the one loader, so a bad value is the same one line as any other setting, before any
socket is opened. Emulated bots listen on their protocol plugin's default port.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, ClassVar, Literal, NamedTuple

import msgspec

from botmon.protocols import hns as hns_protocol
from botmon.protocols import linenet as linenet_protocol
from botmon.settings.loader import Settings, setting

ChurnLevel = Literal["none", "light", "heavy"]
PeerOrder = Literal["random", "recent"]
NeighbourRestriction = Literal["none", "closest", "random"]

MAX_BOTS = 100_000
"""Upper bound on bots per emulator: memory and start-up time stay small (50k is the goal)."""
MAX_PORTS = 16
"""Bots share a few ports, one socket each; a socket per bot would hit the open-file limit."""
MAX_OVERSIZED_BYTES = 65_507
"""The largest UDP payload over IPv4."""
LINENET_MAX_PEERS_PER_REPLY = 62
"""64 lines per answer minus ``BOT`` and ``END`` (wire format)."""


class PopulationTraits(NamedTuple):
    """What a protocol adds to the shared population model, declared by its settings.

    :func:`botmon.sim.population.build_population` reads only these, so an emulator's
    population needs no code of its own: bot IDs, benign (non-bot) hosts, hostile roles by
    fraction (in :data:`botmon.sim.population.HOSTILE_MODES`) and address changes.
    """

    bot_ids: bool = False
    benign: int = 0
    hostile: tuple[tuple[str, float], ...] = ()
    ip_change: float = 0.0


def _fraction(description: str, option: str | None = None) -> msgspec.Meta:
    return setting(description, option=option, ge=0.0, le=1.0)


class CommonConfig(Settings, frozen=True, kw_only=True):
    """Settings every emulator shares: population, addressing, churn, anti-crawling, truth."""

    section: ClassVar[str] = "sim"

    bots: Annotated[int, setting("Number of bots.", option="--bots", ge=1, le=MAX_BOTS)] = 1000
    port: Annotated[int, setting("First port bots listen on.", option="--port", ge=1, le=65535)] = (
        hns_protocol.DEFAULTS.port
    )
    ports: Annotated[
        int,
        setting(
            "Bots are spread over port .. port+ports-1, one socket per port.",
            option="--ports",
            ge=1,
            le=MAX_PORTS,
        ),
    ] = 1
    host: Annotated[
        str,
        setting(
            "Bind address of the shared socket(s); datagrams from off the machine are dropped.",
            min_length=1,
        ),
    ] = "0.0.0.0"
    nat: Annotated[
        float,
        _fraction("Fraction of bots behind NAT: listed by others, never answering.", "--nat"),
    ] = 0.0
    churn: Annotated[
        ChurnLevel,
        setting(
            "Session model: light (online ~1 h, offline ~15 min) or heavy (~10 min each).",
            option="--churn",
        ),
    ] = "none"
    churn_scale: Annotated[
        float,
        setting(
            "Multiplies every session length; tests use ~0.01 to see churn within seconds. "
            "Shortest sessions then last 5 ms, so churn work stays bounded.",
            option="--churn-scale",
            ge=0.001,
        ),
    ] = 1.0
    seed_rng: (
        Annotated[
            int,
            setting(
                "Seed: the same seed gives the same botnet.",
                option="--seed-rng",
                ge=0,
                le=2**63 - 1,
            ),
        ]
        | None
    ) = None
    peers_min: Annotated[
        int, setting("Fewest peers a bot knows.", option="--peers-per-bot", ge=0, le=10_000)
    ] = 8
    peers_max: Annotated[
        int, setting("Most peers a bot knows.", option="--peers-per-bot", ge=0, le=10_000)
    ] = 32
    first_octets: Annotated[
        tuple[int, int],
        setting("Bots get 127.A.B.C with A in this range (weighted 1/rank, a skewed geography)."),
    ] = (1, 40)
    rate_limit: (
        Annotated[
            float,
            setting(
                "Requests per second a bot answers per source IP (token bucket); none: unlimited.",
                option="--rate-limit",
                gt=0,
            ),
        ]
        | None
    ) = None
    rate_burst: (
        Annotated[
            float,
            setting(
                "Token-bucket depth of the rate limit (none: max(1, rate)).",
                option="--rate-burst",
                ge=1,
            ),
        ]
        | None
    ) = None
    blacklist_after: (
        Annotated[
            int,
            setting(
                "A bot ignores a source IP forever after this many requests from it; none: never.",
                option="--blacklist-after",
                ge=1,
            ),
        ]
        | None
    ) = None
    budget_requests: (
        Annotated[
            int,
            setting(
                "Request budget: a source IP sending one bot more than this many requests "
                "within budget_window_s is blacklisted by that bot (GameOver Zeus style); "
                "none: no budget.",
                option="--budget",
                ge=1,
            ),
        ]
        | None
    ) = None
    budget_window_s: Annotated[
        float,
        setting(
            "Seconds over which the request budget is counted.", option="--budget-window", gt=0
        ),
    ] = 60.0
    blacklist_period_s: Annotated[
        float,
        setting(
            "Seconds a bot ignores a source that overspent its budget (0: for good).",
            option="--blacklist-period",
            ge=0,
        ),
    ] = 600.0
    ignore_unknown: Annotated[
        bool,
        setting(
            "Bots answer only sources they have heard of (listed, or that contacted them "
            "before); a stranger's first request is remembered, never answered.",
            option="--ignore-unknown",
        ),
    ] = False
    peer_order: Annotated[
        PeerOrder,
        setting(
            "Order a bot names its peers in: random, or recent (heard from most recently "
            "first, as ZeroAccess).",
            option="--peer-order",
        ),
    ] = "random"
    peer_list_cap: (
        Annotated[
            int,
            setting(
                "Replies name only the first this many peers of a bot's list (in peer_order).",
                option="--peer-list-cap",
                ge=1,
                le=10_000,
            ),
        ]
        | None
    ) = None
    neighbour_restriction: Annotated[
        NeighbourRestriction,
        setting(
            "none; closest: answer only the restrict_to peers closest to the requester's ID "
            "(P2P Zeus; protocols without IDs act as random); random: restrict_to at random.",
            option="--neighbour-restriction",
        ),
    ] = "none"
    restrict_to: Annotated[
        int,
        setting(
            "Peers a restricted reply is drawn from (neighbour_restriction).",
            option="--restrict-to",
            ge=1,
            le=1000,
        ),
    ] = 10
    reply_peers: (
        Annotated[
            int,
            setting(
                "Most peers one reply names (1: one peer per reply, as Sality); none: what "
                "the protocol allows.",
                option="--reply-peers",
                ge=1,
                le=1000,
            ),
        ]
        | None
    ) = None
    truth: (
        Annotated[
            Path,
            setting(
                "Ground-truth JSON-lines file, rewritten while sessions change.", option="--truth"
            ),
        ]
        | None
    ) = None
    truth_interval_s: Annotated[
        float,
        setting(
            "Least time between two rewrites of the truth file while sessions change.",
            option="--truth-interval",
            ge=0,
        ),
    ] = 1.0
    exchange_interval_s: Annotated[
        float,
        setting(
            "Seconds between two peer exchanges of one bot (each at its own random phase); "
            "0: bots never act (crawl benchmarks).",
            option="--exchange-interval",
            ge=0,
        ),
    ] = 60.0
    exchange_fanout: Annotated[
        int,
        setting(
            "Peers of its list a bot asks in each exchange.",
            option="--exchange-fanout",
            ge=1,
            le=64,
        ),
    ] = 8
    news_share: Annotated[
        int,
        setting(
            "Askers a bot hands one piece of news (a peer new to it) to before it is old.",
            ge=1,
            le=1000,
        ),
    ] = 8
    list_cap: Annotated[
        int,
        setting(
            "Most peers a bot keeps while peers are exchanged (or its first list's size if "
            "larger); a full list replaces a random entry that is not news.",
            ge=1,
            le=10_000,
        ),
    ] = 64

    def traits(self) -> PopulationTraits:
        """What this protocol adds to the shared population model (nothing here)."""
        return PopulationTraits()

    def problems(self) -> Iterator[tuple[str, str]]:
        """Ports, peer counts and the address range must fit together."""
        if self.port + self.ports - 1 > 65535:
            yield "ports", f"port {self.port} with {self.ports} ports leaves 1..65535"
        if self.peers_min > self.peers_max:
            yield "peers_max", f"must be at least peers_min ({self.peers_min})"
        low, high = self.first_octets
        if not 1 <= low <= high <= 250:
            yield "first_octets", "must lie in 1..250, low first (127.0.x.x is reserved)"
        elif (high - low + 1) * 254 * 254 < self.bots + 1000:
            yield "first_octets", f"too few addresses for {self.bots} bots"


class HnsConfig(CommonConfig, frozen=True, kw_only=True):
    """The emulated Hide'n'Seek botnet (UDP, one ``~`` -> one ``^`` peer)."""

    section: ClassVar[str] = "sim.hns"

    garbage: Annotated[
        float,
        _fraction(
            "Fraction of bots that answer random bytes that are not a valid reply.", "--garbage"
        ),
    ] = 0.0
    oversized: Annotated[
        float,
        _fraction(
            "Fraction of bots whose valid 8-byte reply is padded to oversized_bytes.", "--oversized"
        ),
    ] = 0.0
    oversized_bytes: Annotated[
        int,
        setting(
            "Size of an oversized answer (at most the largest UDP payload over IPv4).",
            option="--oversized-bytes",
            ge=9,
            le=MAX_OVERSIZED_BYTES,
        ),
    ] = 65_000
    flood: Annotated[
        float,
        _fraction(
            "Fraction of bots that answer each request with flood_count unsolicited replies.",
            "--flood",
        ),
    ] = 0.0
    flood_count: Annotated[
        int,
        setting(
            "Datagrams a flooding bot sends per request.", option="--flood-count", ge=1, le=1_000
        ),
    ] = 50
    flood_total_max: Annotated[
        int, setting("Per-bot cap on flood datagrams over the whole run.", ge=0)
    ] = 2_000
    out_of_scope: Annotated[
        float,
        _fraction(
            "Fraction of bots whose peer list also holds TEST-NET addresses (data, never "
            "contacted).",
            "--out-of-scope",
        ),
    ] = 0.0

    def traits(self) -> PopulationTraits:
        """Hostile roles by fraction."""
        return PopulationTraits(
            hostile=(
                ("garbage", self.garbage),
                ("oversized", self.oversized),
                ("flood", self.flood),
                ("out_of_scope", self.out_of_scope),
            )
        )

    def problems(self) -> Iterator[tuple[str, str]]:
        """The common rules, and hostile fractions that add up to at most 1."""
        yield from super().problems()
        total = self.garbage + self.oversized + self.flood + self.out_of_scope
        if total > 1.0 + 1e-9:
            yield "garbage", f"with oversized, flood and out_of_scope must be <= 1 (sum {total:g})"


class LinenetConfig(CommonConfig, frozen=True, kw_only=True):
    """The emulated linenet botnet (TCP, ``PEERS`` -> ``BOT``/``PEER``.../``END``)."""

    section: ClassVar[str] = "sim.linenet"

    port: Annotated[int, setting("First port bots listen on.", option="--port", ge=1, le=65535)] = (
        linenet_protocol.DEFAULTS.port
    )
    peers_per_reply: Annotated[
        int,
        setting(
            "Answer all peers when the list is this short, else a random subset of this size.",
            option="--peers-per-reply",
            ge=0,
            le=LINENET_MAX_PEERS_PER_REPLY,
        ),
    ] = LINENET_MAX_PEERS_PER_REPLY
    benign: Annotated[
        int,
        setting(
            "Extra addresses on the same port answering HELLO (not bots; some bots list them).",
            option="--benign",
            ge=0,
            le=1000,
        ),
    ] = 0
    read_timeout_s: Annotated[
        float, setting("Seconds a bot waits for a whole request line.", gt=0)
    ] = 5.0
    ip_change: Annotated[
        float,
        _fraction(
            "Fraction of bots that take a new address (same first octet, so same region) each "
            "time they come back online: one bot ID under several IPs, as behind dynamic IPs.",
            "--ip-change",
        ),
    ] = 0.0

    def traits(self) -> PopulationTraits:
        """Bot IDs, benign hosts and address changes."""
        return PopulationTraits(bot_ids=True, benign=self.benign, ip_change=self.ip_change)
