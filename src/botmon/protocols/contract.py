"""The protocol plugin contract: every hook a plugin module may define, each documented once.

A plugin is a plain module registered under the ``botmon.protocols`` entry-point group (the
built-in ``hns`` and ``linenet`` come in the same way). It is sans-I/O: it turns a peer into
request bytes and reply bytes into records, and never opens a socket, sleeps or reads a clock;
the crawl engine passes ``now`` in. Hostile input must come back as ``NO_REPLY`` with a short
reason, never as an exception, and a plugin caps the work one input can cause.

:data:`HOOKS` is the single list of hooks; the registry checks plugins against it, the
``botmon protocols`` command prints from it, and a test fails when a hook lacks a docstring.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import msgspec

from botmon.wire import Edge, FailedTry, Reply


class Peer(NamedTuple):
    """An address to crawl: canonical IP text (``inet_ntop`` form) and a port."""

    ip: str
    port: int


class Status(enum.Enum):
    """What one reply was, as in the original BaseCrawler's ``CrawlResult``."""

    BOT_REPLY = "bot_reply"
    """A bot of this botnet answered: the peer is (still) a bot."""
    BENIGN_REPLY = "benign_reply"
    """Something answered that is not a bot of this botnet (another service on the port)."""
    NO_REPLY = "no_reply"
    """Nothing usable: empty, truncated, garbage or oversized bytes; ``reason`` says which."""


class CrawlResult(msgspec.Struct, frozen=True):
    """What a plugin read from one reply; the engine queues ``peers`` and reports the records.

    A msgspec struct rather than a frozen dataclass: it is built once per reply, and a frozen
    dataclass costs about ten times as much to construct (measured: 4.5 vs 0.5 µs).
    """

    status: Status
    reason: str | None = None
    """Short stable key for a NO_REPLY (``short``, ``bad_magic``, ``oversized``, ...)."""
    peers: tuple[Peer, ...] = ()
    """Peers the bot announced, to be crawled next."""
    replies: tuple[Reply, ...] = ()
    edges: tuple[Edge, ...] = ()
    bot_id: str | None = None
    """The answering bot's ID when the protocol has one."""


def no_reply(reason: str) -> CrawlResult:
    """A NO_REPLY result with ``reason``; the one way plugins say "nothing usable here"."""
    return CrawlResult(Status.NO_REPLY, reason)


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
    """TCP only: seconds to read the whole answer after connecting."""
    max_reply_bytes: int = 1500
    """Largest answer the plugin accepts; larger ones are NO_REPLY ``oversized``."""
    peers_per_reply: int = 1
    """How many peers one reply announces at most; the plugin never returns more."""
    requests_per_round: int = 1
    """Most peer requests sent to one bot in one round (HNS announces one peer per reply,
    so the engine asks again, one request at a time, to enumerate the bot's peer list)."""
    stale_replies: int = 3
    """Stop asking a bot again in this round after this many replies in a row announced no
    peer it had not already announced in this round."""


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
        "peer_request(peer: Peer) -> bytes: the request asking a bot for its peers.",
    ),
    Hook(
        "read_reply",
        True,
        "read_reply(data: bytes, src: Peer, now: float) -> CrawlResult: classify one answer.",
    ),
    Hook(
        "handle_request",
        False,
        "handle_request(data, src: Peer, now) -> (answer bytes | None, records): sensor side.",
    ),
    Hook("DESCRIPTION", False, "One line naming the botnet, shown by `botmon protocols`."),
)
"""Every hook of the contract; nothing else on a plugin module is looked at."""

TRANSPORTS = ("udp", "tcp")

PeerRequest = Callable[[Peer], bytes]
ReadReply = Callable[[bytes, Peer, float], CrawlResult]
SensorRecords = Sequence[Reply | Edge | FailedTry]
HandleRequest = Callable[[bytes, Peer, float], tuple[bytes | None, SensorRecords]]


@dataclass(frozen=True, slots=True)
class Plugin:
    """A loaded, checked plugin: what the engine, the sensor and the CLI use."""

    name: str
    transport: str
    defaults: ProtocolDefaults
    peer_request: PeerRequest
    read_reply: ReadReply
    handle_request: HandleRequest | None = None
    description: str = ""
    module: str = ""
