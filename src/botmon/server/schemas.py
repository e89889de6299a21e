"""Bodies of the core API's requests and answers, as msgspec structs.

The same structs decode requests (strict, fast) and feed :mod:`botmon.web.openapi`, so the
published schema cannot drift from what the server accepts.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from botmon.enrich.freshness import GeoStatus
from botmon.limits import BotnetName, MonitorName, Role
from botmon.store.base import (
    Botnet,
    BotnetSummary,
    Monitor,
    PopulationPoint,
)
from botmon.wire import (
    Campaign,
    CampaignStart,
    Command,
    CommandName,
    HeartbeatAnswer,
    HeartbeatBody,
)


class Error(msgspec.Struct):
    """Every error answer: a message a person can act on and a stable reason key."""

    error: str
    reason: str
    kind: str | None = None
    index: int | None = None
    field: str | None = None


class IngestResult(msgspec.Struct):
    """What ``POST /api/v1/ingest`` stored; ``duplicate`` when the batch id was seen before."""

    batch_id: str
    duplicate: bool
    stored: dict[str, int]


class RawHeartbeat(msgspec.Struct):
    """A heartbeat body with the status as sent, extra keys included: what is stored once
    :class:`botmon.wire.HeartbeatBody` has checked the known ones."""

    status: dict[str, Any]


class CommandIn(msgspec.Struct, forbid_unknown_fields=True):
    """An admin's instruction for the monitor named ``source``; ``args`` must fit the
    command (:data:`botmon.wire.COMMAND_ARGS`: ``set_rate`` takes ``{"rate": n}``,
    ``add_seeds`` takes ``{"peers": [...]}``, the others nothing)."""

    source: MonitorName
    command: CommandName
    args: dict[str, Any] = {}


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    """A token to create; ``botnets`` limits a crawler token, ``asns``/``cidrs``/``countries``
    are a feed token's networks (at least one; ASN 1..4294967295, CIDR such as
    ``198.51.100.0/24``, ISO 3166-1 alpha-2 country)."""

    name: MonitorName
    role: Role
    botnets: list[BotnetName] = []
    asns: Annotated[list[int], msgspec.Meta(max_length=256)] = []
    cidrs: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=256)
    ] = []
    countries: Annotated[
        list[Annotated[str, msgspec.Meta(max_length=2, min_length=2)]], msgspec.Meta(max_length=256)
    ] = []


class TokenCreated(msgspec.Struct):
    """The new token, shown once; only its hash is stored."""

    token: str
    monitor: Monitor


class TokenList(msgspec.Struct):
    tokens: list[Monitor]


class BotnetIn(msgspec.Struct, forbid_unknown_fields=True):
    name: BotnetName
    description: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class BotnetList(msgspec.Struct):
    botnets: list[Botnet]


class BotnetSummaries(msgspec.Struct):
    botnets: list[BotnetSummary]


class Population(msgspec.Struct):
    """Distinct IPs, bot IDs and ip:port pairs per bucket; ``t`` is the bucket start."""

    botnet: str
    bucket: int
    start: float
    end: float
    series: list[PopulationPoint]


class Counts(msgspec.Struct):
    counts: dict[str, int]


class Health(msgspec.Struct):
    status: str
    backend: str
    uptime_s: float
    geo: GeoStatus | None = None
    """Age of the default geolocation data (a warning when ``stale``, never unhealthy)."""


SCHEMA_TYPES: tuple[type, ...] = (
    Error,
    IngestResult,
    HeartbeatBody,
    HeartbeatAnswer,
    CommandIn,
    Command,
    CampaignStart,
    Campaign,
    TokenIn,
    TokenCreated,
    TokenList,
    BotnetIn,
    Botnet,
    BotnetList,
    BotnetSummaries,
    Population,
    Counts,
    Health,
)
"""Every struct the core API documents in ``components/schemas``."""
