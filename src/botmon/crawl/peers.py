"""What the engine remembers about one peer, overlay node and keyed request; kept small.

``__slots__`` classes rather than dataclasses: a crawl may know millions of peers (about 200
bytes each with its key), and attribute writes on the reply path stay cheap.
"""

from __future__ import annotations

from collections.abc import Hashable

from botmon.protocols.contract import Peer, Request

DISCOVERY = 0
"""Queue of new and unresponsive peers: one try per round."""
TRACKING = 1
"""Queue of confirmed bots: retries with back-off."""
FIND = 2
"""Capacity slot of find-peers lookups (their own queue and budget)."""
UNSENT: Hashable = object()
"""The key of an :class:`InFlight` not yet registered (no answer can carry it)."""


class PeerState:
    """One known peer: its queue, when it last answered, and its request in flight (if any).

    Unkeyed requests (v1 matching by source address) live on the peer itself: one at a time.
    Keyed requests are :class:`InFlight` objects; ``n_out`` counts them.
    """

    __slots__ = (
        "answered",
        "asked",
        "attempt",
        "bot_id",
        "fail_reason",
        "first_sent",
        "last_reply",
        "last_sent",
        "n_out",
        "peer",
        "queue",
        "retry_pending",
        "round",
        "since",
        "slot",
        "stale",
        "state",
        "token",
        "tried",
        "tries",
    )

    def __init__(self, peer: Peer, now: float) -> None:
        self.peer = peer
        self.queue = DISCOVERY
        self.bot_id: str | None = None
        self.since = now
        """When the peer entered its current queue (first seen, promoted or demoted)."""
        self.last_reply = 0.0
        """Last bot reply (0 = never)."""
        self.last_sent = -1e18
        self.tried = False
        """Tried at least once since entering its current queue."""
        self.round = 0
        """The round this peer was last queued in (so it is asked once per round)."""
        self.answered = 0
        """The round this peer last gave a bot reply in."""
        self.asked = 0
        self.stale = 0
        self.token = 0
        self.attempt = 0
        self.tries = 1
        self.first_sent = 0.0
        self.slot = DISCOVERY
        """The queue whose capacity the request in flight takes."""
        self.retry_pending = False
        self.fail_reason: str | None = None
        self.state: bytes | None = None
        """The plugin's per-peer state (contract v2), at most ``MAX_PEER_STATE`` bytes."""
        self.n_out = 0
        """Keyed requests to this peer in flight."""


class NodeState:
    """One overlay node of the find-peers loop: its lookups this round and when it answered."""

    __slots__ = ("last_answer", "last_sent", "n_out", "peer", "round", "sent", "since", "todo")

    def __init__(self, peer: Peer, now: float) -> None:
        self.peer = peer
        self.since = now
        self.last_answer = 0.0
        self.last_sent = -1e18
        self.round = 0
        """The round the node was last queued in (so it is walked once per round)."""
        self.sent = 0
        """Lookups sent to it this round."""
        self.n_out = 0
        self.todo: list[bytes | Request] | None = None
        """Lookups ``find_peers`` gave this round still to send (reversed); None: not asked."""


class InFlight:
    """One keyed request or find-peers lookup in flight: what matching and retries need."""

    __slots__ = (
        "attempt",
        "fail_reason",
        "first_sent",
        "key",
        "owner",
        "retry_pending",
        "slot",
        "token",
        "tries",
        "try_",
    )

    def __init__(
        self, owner: PeerState | NodeState, slot: int, attempt: int, tries: int, now: float
    ) -> None:
        self.owner = owner
        self.slot = slot
        """DISCOVERY or TRACKING (a crawl request) or FIND (a lookup)."""
        self.attempt = attempt
        """Index of this request to the peer in this round (the context's ``attempt``)."""
        self.try_ = 0
        self.tries = tries
        self.first_sent = now
        self.key: Hashable | None = UNSENT
        self.token = 0
        self.retry_pending = False
        self.fail_reason: str | None = None
