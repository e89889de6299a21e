"""botmon's wire contract: everything a crawler or sensor and the server say to each other.

One module, imported by the protocol plugins, the crawl engine, the report client, the server
and the dashboard's health table, so a writer and its reader cannot disagree on a key:

- **records and batches** (:class:`Reply`, :class:`FailedTry`, :class:`Edge`, :class:`Batch`):
  what plugins produce, the client batches and (once checked by :mod:`botmon.validation`) the
  store writes. Field names follow DESIGN §3: the original BMS's ``other_data`` is ``data``
  and its ``src_bot_id``/``dst_bot_id`` are ``src_id``/``dst_id``. Timestamps are UTC epoch
  seconds. ``botnet`` and ``source`` are not part of a record: the batch names the botnet
  and the server takes the source from the caller's token.
- **heartbeat status** (:class:`HeartbeatStatus`): what a monitor reports every few seconds
  and the overview's health table shows.
- **commands** (:class:`Command` and the typed arguments of each name in
  :data:`COMMAND_ARGS`): what an admin queues and a monitor receives with a heartbeat answer.
- **campaigns** (:class:`CampaignSettings`, :class:`CampaignStart`, :class:`Campaign`): one
  crawl or sensor run and the parameters it was started with.

Plain msgspec structs and two small functions; no I/O, and nothing from the server or the
store, so a crawler process loads none of their dependencies.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

from botmon.digits import is_ascii_number
from botmon.ipaddr import normalise_ip

JsonObject = dict[str, Any]


class Reply(msgspec.Struct, frozen=True, omit_defaults=True):
    """Any interaction with a bot at a time: a crawl answer, a sensor contact, a honeypot hit."""

    timestamp: float
    ip: str
    port: int
    bot_id: str | None = None
    data: JsonObject | None = None


class FailedTry(msgspec.Struct, frozen=True, omit_defaults=True):
    """A peer that was contacted and did not answer; tells "offline" from "not asked"."""

    timestamp: float
    ip: str
    port: int
    bot_id: str | None = None
    reason: str | None = None
    data: JsonObject | None = None


class Edge(msgspec.Struct, frozen=True, omit_defaults=True):
    """Bot ``src`` listed bot ``dst`` as a peer: one edge of the P2P graph."""

    timestamp: float
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    src_id: str | None = None
    dst_id: str | None = None


SourceType = Literal["crawler", "sensor"]
"""What saw a batch's records: a crawler that asked bots, or a sensor that bots contacted."""
SOURCE_TYPES: tuple[SourceType, ...] = ("crawler", "sensor")


class Batch(msgspec.Struct, frozen=True):
    """The body of ``POST /api/v1/ingest``: at most 10,000 records of each kind."""

    botnet: str
    batch_id: str
    replies: list[Reply] = []
    failed_tries: list[FailedTry] = []
    edges: list[Edge] = []
    source_type: SourceType = "crawler"
    """Every record of the batch was seen by this kind of monitor (absent: ``crawler``)."""


RECORD_KINDS = ("replies", "failed_tries", "edges")
"""The record kinds in the order the API, the store and the metrics name them."""


# -- heartbeat status ----------------------------------------------------------------------

MonitorKind = Literal["crawler", "sensor"]
MonitorState = Literal["running", "paused", "stopping", "stopped"]
"""``running``; ``paused`` by a command or a full spool (sends nothing new; see
``paused_reason``); ``stopping``: asked to stop and
flushing what it gathered; ``stopped``: the run is over (its last heartbeat)."""

Count = Annotated[int, msgspec.Meta(ge=0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Label = Annotated[str, msgspec.Meta(max_length=64)]


class SensorStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What a sensor reports beside the common fields of :class:`HeartbeatStatus`."""

    contacts: Count = 0
    """Messages from bots it received."""
    contacts_per_s: NonNegative | None = None
    """Contacts received per second, measured over the time since the previous heartbeat
    (the health table's rate for a sensor, as ``requests_per_s`` is for a crawler)."""
    answered: Count = 0
    """Of those, how many it answered (staying in the bots' peer lists needs answers)."""
    peers_known: Count = 0
    """Distinct peers it has heard of (from contacts and the peers they listed)."""


class HeartbeatStatus(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A monitor's status, the body's ``status`` of ``POST /api/v1/heartbeat``.

    Every field is optional (``None``: not reported), so a monitor reports what it has and an
    older one is still accepted; a field that is present must have its type (else 422).
    Other keys are accepted and kept with the heartbeat, never read by botmon itself.
    """

    kind: MonitorKind = "crawler"
    state: MonitorState | None = None
    paused_reason: Label | None = None
    """Why a ``paused`` monitor is paused: ``command`` (an admin's pause) or ``spool_full``
    (its report client cannot write more to disk, so it holds the crawl back until the
    server has taken batches; nothing is dropped)."""
    version: Label | None = None
    """The monitor's botmon version."""
    protocol: Label | None = None
    botnet: Label | None = None
    requests_per_s: NonNegative | None = None
    """Requests sent per second, measured over the time since the previous heartbeat."""
    requests: Count | None = None
    """Requests sent since the run started."""
    replies: Count | None = None
    """Answers received to those requests (a crawler's ``replies`` counter)."""
    errors: Count | None = None
    """Requests that could not be sent or whose answer could not be read (send errors,
    failed connects, malformed answers); silence is a failed try, not an error."""
    in_flight: Count | None = None
    discovery_queue: Count | None = None
    """Peers waiting in the discovery queue (new or unresponsive, one try each)."""
    tracking_queue: Count | None = None
    """Confirmed bots in the tracking queue."""
    campaign: int | None = None
    """The id of the campaign this run registered (``POST /api/v1/campaigns``)."""
    sensor: SensorStatus | None = None
    counters: JsonObject = {}
    """The engine's own counters and gauges under their stable keys, for people and
    debugging; the health table reads the typed fields above, never these."""
    client: dict[str, int] = {}
    """The report client's counters (:data:`botmon.client.STAT_KEYS`)."""


class HeartbeatBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The body of ``POST /api/v1/heartbeat``."""

    status: HeartbeatStatus


def read_status(raw: Mapping[str, Any]) -> HeartbeatStatus:
    """A stored status as :class:`HeartbeatStatus`; never raises.

    Statuses stored before the status was typed (or by a monitor that got a field wrong)
    keep every field that fits; the others read as not reported.
    """
    try:
        return msgspec.convert(raw, HeartbeatStatus)
    except msgspec.ValidationError:
        pass
    kept: JsonObject = {}
    for f in msgspec.structs.fields(HeartbeatStatus):
        if f.encode_name in raw:
            try:
                msgspec.convert({f.encode_name: raw[f.encode_name]}, HeartbeatStatus)
            except msgspec.ValidationError:
                continue
            kept[f.encode_name] = raw[f.encode_name]
    return msgspec.convert(kept, HeartbeatStatus)


# -- commands ------------------------------------------------------------------------------


class Command(msgspec.Struct, frozen=True, kw_only=True):
    """An instruction for one monitor: queued by an admin, stored, handed out exactly once in
    a heartbeat answer, applied by the monitor's engine.

    ``command`` is plain text rather than :data:`CommandName`: the server checks a command
    against the vocabulary when it is queued, while a monitor must still read a heartbeat
    answer naming a command newer than itself (it counts it as unknown) instead of failing on
    the whole answer.
    """

    id: int
    source: str = ""
    """The monitor the command is for."""
    command: str
    args: JsonObject = {}
    created_at: float = 0.0


class HeartbeatAnswer(msgspec.Struct, frozen=True):
    """The answer to a heartbeat: the commands queued for the caller, each handed out once."""

    commands: list[Command] = []


CommandName = Literal["pause", "resume", "set_rate", "add_seeds", "stop"]
MAX_RATE = 10_000_000.0
"""The highest ``set_rate`` accepted, requests per second (a typo guard, not a limit)."""
MAX_SEEDS = 100_000
"""The most peers one ``add_seeds`` may carry."""


class NoArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``pause`` (send nothing new), ``resume`` and ``stop`` (flush and end the run)."""


class SetRate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``set_rate``: the new global request rate."""

    rate: Annotated[float, msgspec.Meta(ge=0, le=MAX_RATE)]
    """Requests per second over all peers; 0 lifts the cap."""


class SeedAddress(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One peer of ``add_seeds`` as an object."""

    ip: str
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)]


class AddSeeds(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """``add_seeds``: peers to crawl, as ``"HOST:PORT"``, ``"HOST"`` (the protocol's default
    port), ``"[IPv6]:PORT"`` or ``{"ip": ..., "port": ...}``. Hosts are IP addresses."""

    peers: Annotated[list[str | SeedAddress], msgspec.Meta(min_length=1, max_length=MAX_SEEDS)]

    def __post_init__(self) -> None:
        for i, peer in enumerate(self.peers):
            try:
                if isinstance(peer, str):
                    parse_address(peer)
                else:
                    normalise_ip(peer.ip)
            except ValueError as exc:
                raise ValueError(f"peers[{i}]: {exc}") from None

    def addresses(self, default_port: int) -> list[tuple[str, int]]:
        """The peers as canonical ``(ip, port)``; ``default_port`` where none was given."""
        out = []
        for peer in self.peers:
            if isinstance(peer, str):
                ip, port = parse_address(peer)
                out.append((ip, default_port if port is None else port))
            else:
                out.append((normalise_ip(peer.ip), peer.port))
        return out


CommandArgs = NoArgs | SetRate | AddSeeds
COMMAND_ARGS: dict[str, type[CommandArgs]] = {
    "pause": NoArgs,
    "resume": NoArgs,
    "set_rate": SetRate,
    "add_seeds": AddSeeds,
    "stop": NoArgs,
}
"""Each command of :data:`CommandName` and the type its ``args`` must have."""


class CommandError(ValueError):
    """A command with arguments that do not fit its type (the message says which)."""


class UnknownCommand(CommandError):
    """A command name outside :data:`CommandName`."""


def command_args(command: str, args: Mapping[str, Any]) -> CommandArgs:
    """The typed arguments of a command; what the server checks and the engine applies."""
    kind = COMMAND_ARGS.get(command)
    if kind is None:
        raise UnknownCommand(f"unknown command {command[:64]!r} (known: {', '.join(COMMAND_ARGS)})")
    try:
        return msgspec.convert(args, kind)
    except msgspec.ValidationError as exc:
        raise CommandError(f"bad arguments for {command}: {exc}") from None


def parse_address(text: str) -> tuple[str, int | None]:
    """``1.2.3.4:6000``, ``[::1]:6000`` or a bare address: canonical IP and port (None when
    absent). ``ValueError`` with a one-line reason otherwise; names are never resolved."""
    text = text.strip()
    if not text or len(text) > 100:
        raise ValueError(f"not HOST:PORT: {text[:64]!r}")
    host, port_text = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"not [IPv6]:PORT: {text[:64]!r}")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    port: int | None = None
    if port_text:
        if not is_ascii_number(port_text) or len(port_text) > 5:
            raise ValueError(f"bad port in {text[:64]!r}")
        port = int(port_text)
        if not 0 < port <= 65535:
            raise ValueError(f"port out of range in {text[:64]!r}")
    try:
        return normalise_ip(host), port
    except ValueError:
        raise ValueError(f"not an IP address: {host[:64]!r}") from None


# -- campaigns -----------------------------------------------------------------------------


class CampaignSettings(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What a crawl or sensor run was started with; stored with its campaign."""

    kind: MonitorKind = "crawler"
    protocol: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    version: Label | None = None
    rounds: Count | None = None
    """Rounds to crawl; 0: until stopped."""
    interval_s: NonNegative | None = None
    """NonNegative between round starts."""
    discovery_capacity: Count | None = None
    tracking_capacity: Count | None = None
    rate: NonNegative | None = None
    """Global requests per second; 0: no cap."""
    per_target_rate: NonNegative | None = None
    timeouts: Annotated[list[NonNegative], msgspec.Meta(max_length=64)] = []
    scope: Annotated[list[Label], msgspec.Meta(max_length=1000)] = []
    seeds: Count | None = None
    """How many seeds the run started from (a sensor: peers it announces itself to)."""
    listen: Annotated[list[Label], msgspec.Meta(max_length=64)] = []
    """A sensor's listen addresses (``HOST:PORT``)."""


class CampaignStart(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The body of ``POST /api/v1/campaigns``: a run of the calling monitor begins."""

    botnet: Label
    settings: CampaignSettings


class Campaign(msgspec.Struct, frozen=True, kw_only=True):
    """One crawl or sensor run of a monitor (``source``) on a botnet; open while
    ``ended_at`` is None."""

    id: int
    botnet: str
    source: str
    started_at: float
    ended_at: float | None = None
    settings: JsonObject = {}
    """The :class:`CampaignSettings` it was started with, as stored."""

    def summary(self) -> str:
        """One line for the health table (``hns: 2 rounds every 5 s, 2000 seeds, scope
        127.0.0.0/8``); never raises, whatever version stored the settings."""
        bms = self.settings.get("bms")
        if self.settings.get("protocol") == "bms" and isinstance(bms, dict):
            return _bms_summary(bms)
        try:
            s = msgspec.convert(self.settings, CampaignSettings)
        except msgspec.ValidationError:
            return self.botnet
        if s.kind == "sensor":
            return _sensor_summary(s)
        parts = []
        if s.rounds is not None:
            rounds = "until stopped" if s.rounds == 0 else _plural(s.rounds, "round")
            every = f" every {s.interval_s:g} s" if s.interval_s is not None else ""
            parts.append(rounds + every)
        if s.seeds is not None:
            parts.append(_plural(s.seeds, "seed"))
        if s.rate:
            parts.append(f"{s.rate:g} requests/s")
        if s.scope:
            more = " ..." if len(s.scope) > 3 else ""
            parts.append("scope " + " ".join(s.scope[:3]) + more)
        return f"{s.protocol}: " + ", ".join(parts) if parts else s.protocol


def _bms_summary(bms: JsonObject) -> str:
    """``BMS monitor: campaign c-17, from 192.0.2.7:4444, frequency 300``: a monitor of
    the original BMS (:mod:`botmon.server.bms_api`), from what it registered with."""
    parts = []
    if "campaign_id" in bms:
        parts.append(f"campaign {str(bms['campaign_id'])[:64]}")
    if "public_ip" in bms:
        port = f":{bms['monitor_port']}" if "monitor_port" in bms else ""
        parts.append(f"from {bms['public_ip']}{port}")
    if "frequency" in bms:
        parts.append(f"frequency {bms['frequency']}")
    return "BMS monitor" + (": " + ", ".join(parts) if parts else "")


def _sensor_summary(s: CampaignSettings) -> str:
    """``hns sensor on 127.0.0.1:6000: announced to 20 peers every 60 s, ...``."""
    head = f"{s.protocol} sensor" + (f" on {' '.join(s.listen[:3])}" if s.listen else "")
    parts = []
    if s.seeds is not None:
        every = f" every {s.interval_s:g} s" if s.interval_s is not None else ""
        parts.append(f"announced to {_plural(s.seeds, 'peer')}{every}")
    if s.rate:
        parts.append(f"{s.rate:g} announcements/s")
    if s.scope:
        more = " ..." if len(s.scope) > 3 else ""
        parts.append("scope " + " ".join(s.scope[:3]) + more)
    return head + (": " + ", ".join(parts) if parts else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
