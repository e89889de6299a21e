"""What the engine remembers about one peer; kept small because a crawl may know millions.

A ``__slots__`` class rather than a dataclass: about 200 bytes per peer with its key, and
attribute writes on the reply path stay cheap.
"""

from __future__ import annotations

from botmon.protocols.contract import Peer

DISCOVERY = 0
"""Queue of new and unresponsive peers: one try per round."""
TRACKING = 1
"""Queue of confirmed bots: retries with back-off."""


class PeerState:
    """One known peer: its queue, when it last answered, and its request in flight (if any)."""

    __slots__ = (
        "answered",
        "asked",
        "attempt",
        "bot_id",
        "fail_reason",
        "first_sent",
        "last_reply",
        "last_sent",
        "peer",
        "queue",
        "retry_pending",
        "round",
        "since",
        "slot",
        "stale",
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
