"""The protocol plugin contract (v2): every hook a plugin module may define, each documented once.

A plugin is a plain module registered under the ``botmon.protocols`` entry-point group (the
built-in ``hns`` and ``linenet`` come in the same way). It is sans-I/O: it turns a peer into
request bytes and reply bytes into records, and never opens a socket, sleeps or reads a clock;
the engine passes ``now`` in. Hostile input must come back as ``NO_REPLY`` with a short
reason, never as an exception, and a plugin caps the work one input can cause.

:data:`HOOKS` is the single list of hooks; the registry checks plugins against it, the
``botmon protocols`` command prints from it, and a test fails when a hook lacks a docstring.

What v2 adds to the original's two functions (``peer_request`` / ``read_reply``):

- **Context.** Every request and every reply comes with a :class:`RequestContext`: which
  request to this peer it is in this round, the try, the bot ID known so far, ``now``, and a
  small per-peer ``state`` the plugin owns (bytes, at most :data:`MAX_PEER_STATE` long; for
  example a DHT node's ID and its enumeration step). The engine reuses one context object:
  read it during the call, never keep it.
- **Match keys.** ``peer_request`` may return a :class:`Request` with a ``key``; the engine
  then matches each answer by ``(source, reply_key(answer))`` (KRPC: the transaction id), and
  up to ``DEFAULTS.max_in_flight_per_peer`` requests to one peer may be out at once. Plain
  ``bytes`` (or ``key=None``) keep the v1 rule: match by source address, one at a time.
- **TCP conversations.** A TCP plugin either answers in one piece (v1: the engine sends
  ``peer_request`` and reads until the bot closes) or defines ``conversation(peer, ctx)``,
  a :class:`Conversation` that exchanges several framed messages on one connection, each step
  under ``DEFAULTS.step_timeout`` and every message under ``DEFAULTS.max_reply_bytes``.
- **Find-peers loop** (the original's optional PeerFinder). For botnets that hide inside a
  larger overlay (BitTorrent DHT), ``find_peers(node, ctx)`` gives the lookups to send to one
  overlay node; their answers go through ``read_reply`` with ``ctx.purpose == "find"``. A
  result's ``nodes`` feed the finder queue (more overlay to walk), its ``peers`` the crawler's
  discovery queue. The engine runs lookups with their own queue and budget.
- **Settings.** A plugin with knobs of its own (Mozi's ID prefix and public keys) declares
  ``SETTINGS`` and ``configure``; ``botmon crawl`` and ``botmon sensor`` load the section and
  hand it over once before they start, so the hooks stay pure functions of their arguments
  plus that one configuration.
- **Sensor side.** ``handle_request(data, src, now, ctx)`` answers a bot that contacted a
  sensor and returns the records to report; ``announce(peer, ctx)`` is what a sensor sends
  to make a bot put it into its peer list. ``request_frame`` frames requests on TCP sensors.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple, Protocol

import msgspec

from botmon.wire import Edge, FailedTry, Reply

if TYPE_CHECKING:  # the settings package imports this module for ProtocolDefaults
    from botmon.settings.loader import Settings

MAX_PEER_STATE = 256
"""Largest per-peer ``state`` (bytes) a plugin may keep; a larger one is dropped and counted
as a plugin error. Tens of thousands of peers are tracked at once, so it must stay small."""

MAX_KEY_BYTES = 64
"""Largest match key; keys are compared, hashed and held per outstanding request."""


class Peer(NamedTuple):
    """An address to crawl: canonical IP text (``inet_ntop`` form) and a port."""

    ip: str
    port: int


class Status(enum.Enum):
    """What one reply was, as in the original BaseCrawler's ``CrawlResult``."""

    BOT_REPLY = "bot_reply"
    """A bot of this botnet answered: the peer is (still) a bot."""
    BENIGN_REPLY = "benign_reply"
    """Something answered that is not a bot of this botnet (another service on the port, an
    ordinary node of the overlay a botnet hides in)."""
    NO_REPLY = "no_reply"
    """Nothing usable: empty, truncated, garbage or oversized bytes; ``reason`` says which."""


Purpose = Literal["crawl", "find"]
"""Why a request was sent: to crawl a (possible) bot, or as a find-peers lookup."""


class RequestContext:
    """What the engine knows about the peer a request goes to or a reply comes from.

    One instance is reused for every call (allocating one per request costs more than the
    HNS plugin's whole work); read it during the call and never keep a reference.
    """

    __slots__ = ("attempt", "bot_id", "now", "purpose", "round", "state", "try_")

    def __init__(self) -> None:
        self.attempt = 0
        """Index of this request to this peer in this round: 0 for the first, then 1, 2, ...
        (HNS asks a bot again to enumerate its list; a DHT crawler changes the target)."""
        self.try_ = 0
        """0 for a first send, 1.. for retries of the same request after a timeout."""
        self.bot_id: str | None = None
        """The peer's bot ID as far as the engine knows (from an earlier reply), else None."""
        self.state: bytes | None = None
        """The plugin's own per-peer state (None until the plugin sets one)."""
        self.now = 0.0
        """The engine's clock (epoch seconds)."""
        self.round = 0
        """The crawl round this request belongs to (1, 2, ...)."""
        self.purpose: Purpose = "crawl"
        """``"crawl"`` or ``"find"`` (a find-peers lookup to an overlay node)."""


KEEP: bytes = b"\x00botmon:keep-state\x00"
"""Sentinel for :attr:`Request.state` / :attr:`CrawlResult.state`: leave the state as it is.
Compared by identity, so no plugin value can be mistaken for it."""


class Request(msgspec.Struct, frozen=True):
    """One request with what the engine needs to match and remember it.

    A plugin may return plain ``bytes`` instead: that is ``Request(data)``.
    """

    data: bytes
    key: Hashable | None = None
    """What the answer will carry to identify this request (for example the KRPC transaction
    id, as bytes); ``reply_key`` must find the same value in the answer. bytes, str or int of
    at most :data:`MAX_KEY_BYTES` (anything else is refused), unique among the requests out to
    one peer. None: match by the source address, one request to the peer at a time. Only
    used by plugins that define ``reply_key``, and only over UDP."""
    state: bytes | None = KEEP
    """New per-peer state to store now (None clears it); ``KEEP`` leaves it unchanged."""


class CrawlResult(msgspec.Struct, frozen=True):
    """What a plugin read from one reply; the engine queues ``peers`` and reports the records.

    A msgspec struct rather than a frozen dataclass: it is built once per reply, and a frozen
    dataclass costs about ten times as much to construct (measured: 4.5 vs 0.5 µs).
    """

    status: Status
    reason: str | None = None
    """Short stable key for a NO_REPLY (``short``, ``bad_magic``, ``oversized``, ...)."""
    peers: tuple[Peer, ...] = ()
    """Peers the bot announced (or a lookup found), to be crawled next."""
    replies: tuple[Reply, ...] = ()
    edges: tuple[Edge, ...] = ()
    bot_id: str | None = None
    """The answering bot's ID when the protocol has one."""
    nodes: tuple[Peer, ...] = ()
    """Overlay nodes to walk with the find-peers loop (ignored when the plugin has none)."""
    state: bytes | None = KEEP
    """New per-peer state for the answering peer; ``KEEP`` leaves it unchanged."""
    more: bool = True
    """False: this peer has nothing more to give this round (stop asking it again), whatever
    ``requests_per_round`` allows; True leaves it to the engine's staleness rule."""


def no_reply(reason: str) -> CrawlResult:
    """A NO_REPLY result with ``reason``; the one way plugins say "nothing usable here"."""
    return CrawlResult(Status.NO_REPLY, reason)


class Conversation(Protocol):
    """A TCP exchange of several framed messages with one bot (sans-I/O).

    The engine connects, sends :meth:`opening` (unless empty: then it waits for the bot to
    speak first), then repeatedly reads until :meth:`frame` says a whole message is buffered
    and hands it to :meth:`receive`, which answers with the next message to send or with the
    :class:`CrawlResult` that ends the conversation. Each step has ``DEFAULTS.step_timeout``;
    a conversation has at most ``DEFAULTS.max_messages`` messages from the bot; every message
    is at most ``DEFAULTS.max_reply_bytes``. A timeout, a close or a cap ends it as NO_REPLY
    (with what was learnt so far, if :meth:`partial` returns a result).
    """

    def opening(self) -> bytes:
        """The first message to send after connecting (``b""``: the bot speaks first)."""
        ...

    def frame(self, buffer: bytes) -> int:
        """Length of the complete message at the start of ``buffer``; 0 if more bytes are
        needed; negative if ``buffer`` can never become a valid message (malformed)."""
        ...

    def receive(self, message: bytes, now: float) -> bytes | CrawlResult:
        """One whole message from the bot: the next message to send, or the final result."""
        ...

    def partial(self, reason: str, now: float) -> CrawlResult | None:
        """The result when the conversation ends early (``reason``: ``step_timeout``,
        ``closed``, ``reset``, ``too_many_messages``, ``oversized``, ``malformed``); None: the
        try fails for ``reason`` (the first three count as stream errors, the rest as
        malformed answers)."""
        ...


class SensorContext:
    """What a sensor knows when a bot contacts it; one instance per sensor, reused."""

    __slots__ = ("contacts", "listen", "now", "sensor_id", "state")

    def __init__(self, listen: Peer, sensor_id: str | None = None) -> None:
        self.listen = listen
        """The address this sensor listens on (what it announces)."""
        self.sensor_id = sensor_id
        """The sensor's own ID for protocols whose peers have one (stable per sensor)."""
        self.contacts: Sequence[Peer] = ()
        """A bounded sample of peers that contacted this sensor recently (newest last): what
        a sensor may name when the protocol expects it to hand out peers."""
        self.now = 0.0
        """The sensor's clock (epoch seconds)."""
        self.state: dict[str, object] = {}
        """Small sensor-wide state the plugin owns (for example a token secret)."""


SensorRecords = Sequence[Reply | Edge | FailedTry]
SensorAnswer = tuple[bytes | None, SensorRecords]
"""What ``handle_request`` returns: bytes to answer (None: stay silent) and the records."""


@dataclass(frozen=True, slots=True)
class ProtocolDefaults:
    """A plugin's defaults; each one can be overridden from the command line or settings."""

    port: int
    """The port bots of this botnet usually listen on."""
    timeouts: tuple[float, ...] = (4.0, 8.0, 16.0, 32.0)
    """Reply deadlines of successive tries to a tracked bot, counted from the first send
    (the original's 4, 8, 16, 32 s); its length is the number of tries. Discovery peers get
    one try with the first deadline. For TCP the first must cover connect + read."""
    connect_timeout: float = 5.0
    """TCP only: seconds to establish a connection."""
    read_timeout: float = 10.0
    """TCP only: seconds to read the whole answer after connecting (one-piece answers)."""
    max_reply_bytes: int = 1500
    """Largest answer (TCP conversations: largest message) the plugin accepts; larger ones are
    NO_REPLY ``oversized``."""
    peers_per_reply: int = 1
    """How many peers one reply announces at most; the plugin never returns more."""
    requests_per_round: int = 1
    """Most peer requests sent to one bot in one round (HNS announces one peer per reply,
    so the engine asks again, one request at a time, to enumerate the bot's peer list)."""
    stale_replies: int = 3
    """Stop asking a bot again in this round after this many replies in a row announced no
    peer it had not already announced in this round."""
    max_in_flight_per_peer: int = 1
    """Requests to one peer that may be outstanding at once; more than 1 needs match keys."""
    step_timeout: float = 10.0
    """TCP conversations: seconds for each step (one message out, the next one in)."""
    max_messages: int = 8
    """TCP conversations: most messages read from one bot on one connection."""
    lookups_per_node: int = 16
    """Find-peers loop: most lookups sent to one overlay node in one round."""
    per_target_rate: float = 10.0
    """Requests per second to any one target (0 = unlimited): overlays that ban fast askers
    (libtorrent DHT nodes: 5 a second) need less than the engine's usual 10."""


FACET_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
"""What a facet key looks like: it names a key of a reply's ``data`` and goes into SQL."""


@dataclass(frozen=True, slots=True)
class Facet:
    """Something a protocol reveals about each bot, which the dashboard counts bots by.

    The plugin's ``read_reply`` (or ``handle_request``) puts a short categorical text under
    ``data[key]`` of a bot's replies (Sality's URL-pack version, a Hajime bot's CPU
    architecture); the single-botnet view then shows, per facet, how many bots carry each
    value (a bot counts once, by its latest reply in the range that has one). Values should
    be few and categorical: bucket numbers (``"1-6 h"``) rather than send raw ones.
    """

    key: str
    """The ``data`` key, matching :data:`FACET_KEY`."""
    label: str
    """A short title for the panel (``URL-pack version``)."""
    doc: str
    """One sentence saying what the value is and why it matters, shown beside the chart."""


@dataclass(frozen=True, slots=True)
class Hook:
    """One name a plugin module may define, whether it must, and what it is for."""

    name: str
    required: bool
    doc: str


HOOKS: tuple[Hook, ...] = (
    Hook("TRANSPORT", True, '"udp" or "tcp": how the engine reaches bots of this botnet.'),
    Hook("DEFAULTS", True, "A ProtocolDefaults: port, timeouts, size cap, requests per round."),
    Hook(
        "peer_request",
        True,
        "peer_request(peer: Peer, ctx: RequestContext) -> bytes | Request: the request asking "
        "a bot for its peers (a Request adds a match key and new per-peer state).",
    ),
    Hook(
        "read_reply",
        True,
        "read_reply(data: bytes, src: Peer, now: float, ctx: RequestContext) -> CrawlResult: "
        "classify one answer (a crawl reply, or a lookup answer when ctx.purpose is 'find').",
    ),
    Hook(
        "reply_key",
        False,
        "reply_key(data: bytes) -> Hashable | None: the match key an answer carries (KRPC "
        "transaction id); needed when peer_request returns keyed Requests.",
    ),
    Hook(
        "conversation",
        False,
        "conversation(peer: Peer, ctx: RequestContext) -> Conversation: TCP only, a framed "
        "exchange of several messages instead of one request and one answer.",
    ),
    Hook(
        "find_peers",
        False,
        "find_peers(node: Peer, ctx: RequestContext) -> Sequence[bytes | Request]: the lookups "
        "to send to one overlay node (find-peers loop; answers go to read_reply).",
    ),
    Hook(
        "handle_request",
        False,
        "handle_request(data: bytes, src: Peer, now: float, ctx: SensorContext) -> "
        "(answer bytes | None, records): a sensor answering a bot that contacted it.",
    ),
    Hook(
        "announce",
        False,
        "announce(peer: Peer, ctx: SensorContext) -> bytes | None: what a sensor sends a bot so "
        "that the bot puts the sensor into its peer list.",
    ),
    Hook(
        "request_frame",
        False,
        "request_frame(buffer: bytes) -> int: TCP sensors, length of the whole request at the "
        "start of buffer (0: need more, negative: malformed).",
    ),
    Hook("DESCRIPTION", False, "One line naming the botnet, shown by `botmon protocols`."),
    Hook(
        "FACETS",
        False,
        "A tuple of Facet: what the protocol reveals about each bot (a key of its replies' "
        "data with a categorical value), which the dashboard counts bots by.",
    ),
    Hook(
        "SETTINGS",
        False,
        "A botmon.settings.Settings subclass of section protocol.<name>: the plugin's own "
        "settings (a Mozi ID prefix, public keys), read from BOTMON_PROTOCOL_<NAME>_<FIELD> "
        "and --protocol-option FIELD=VALUE; needs configure.",
    ),
    Hook(
        "configure",
        False,
        "configure(settings) -> None: take the loaded SETTINGS before the first request; "
        "crawl and sensor call it once at start.",
    ),
)
"""Every hook of the contract; nothing else on a plugin module is looked at."""

TRANSPORTS = ("udp", "tcp")

PeerRequest = Callable[[Peer, RequestContext], "bytes | Request"]
ReadReply = Callable[[bytes, Peer, float, RequestContext], CrawlResult]
ReplyKey = Callable[[bytes], "Hashable | None"]
OpenConversation = Callable[[Peer, RequestContext], Conversation]
FindPeers = Callable[[Peer, RequestContext], "Sequence[bytes | Request]"]
HandleRequest = Callable[[bytes, Peer, float, SensorContext], SensorAnswer]
Announce = Callable[[Peer, SensorContext], "bytes | None"]
RequestFrame = Callable[[bytes], int]


@dataclass(frozen=True, slots=True)
class Plugin:
    """A loaded, checked plugin: what the engine, the sensor and the CLI use."""

    name: str
    transport: str
    defaults: ProtocolDefaults
    peer_request: PeerRequest
    read_reply: ReadReply
    reply_key: ReplyKey | None = None
    conversation: OpenConversation | None = None
    find_peers: FindPeers | None = None
    handle_request: HandleRequest | None = None
    announce: Announce | None = None
    request_frame: RequestFrame | None = None
    description: str = ""
    module: str = ""
    settings: type[Settings] | None = None
    """The plugin's settings section (``protocol.<name>``), if it has one."""
    configure: Callable[[Settings], None] | None = None
    facets: tuple[Facet, ...] = ()
    """What the protocol reveals about each bot (``FACETS``), for the dashboard."""

    @property
    def can_sense(self) -> bool:
        """Whether ``botmon sensor`` can run this plugin (it handles requests)."""
        return self.handle_request is not None
