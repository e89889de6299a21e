"""The sessions of BMS monitors: what a 4-byte ``session-token-bin`` stands for.

A BMS monitor registers once (``RegisterSession``, authenticated by its token) and then
authenticates every batch by the 4-byte session token it got back. A session lives in the
server's memory: it names the monitor, the botnet and the botmon campaign its records belong
to, and it ends on ``Disconnect`` or after ``bms_session_timeout_s`` without a call (the
monitor registers again and resumes). The clock is a parameter, so tests need no sleeps.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from botmon.store.base import Monitor

TOKEN_BYTES = 4
MAX_SESSIONS = 10_000
"""Open sessions at most; a flood of registrations cannot grow the server's memory."""


class TooManySessions(Exception):
    """Every session slot is taken by a session that has not expired."""


@dataclass
class BmsSession:
    """One registered BMS monitor."""

    token: bytes
    monitor: Monitor
    """The token's monitor; its name is the source of every record of the session."""
    token_hash: str
    """Of the monitor's auth token: each batch checks it is still valid (not revoked)."""
    botnet: str
    campaign_id: int
    expires_at: float


class BmsSessions:
    """Open sessions by token, each ending ``timeout_s`` after its last use."""

    def __init__(self, timeout_s: float, limit: int = MAX_SESSIONS) -> None:
        self.timeout_s = timeout_s
        self._limit = limit
        self._open: dict[bytes, BmsSession] = {}

    def __len__(self) -> int:
        return len(self._open)

    def open(
        self, monitor: Monitor, token_hash: str, botnet: str, campaign_id: int, now: float
    ) -> BmsSession:
        """A new session with a fresh token; :class:`TooManySessions` when none is free."""
        if len(self._open) >= self._limit:
            self._drop_expired(now)
            if len(self._open) >= self._limit:
                raise TooManySessions(f"{self._limit} BMS sessions are open; try again later")
        token = secrets.token_bytes(TOKEN_BYTES)
        while token in self._open:  # 1 in 4 billion per open session; never loops long
            token = secrets.token_bytes(TOKEN_BYTES)
        session = BmsSession(token, monitor, token_hash, botnet, campaign_id, now + self.timeout_s)
        self._open[token] = session
        return session

    def use(self, token: bytes, now: float) -> BmsSession | None:
        """The live session of ``token`` (its timeout starts again), or None."""
        session = self._open.get(token)
        if session is None:
            return None
        if session.expires_at <= now:
            del self._open[token]
            return None
        session.expires_at = now + self.timeout_s
        return session

    def close(self, token: bytes) -> BmsSession | None:
        """End a session; returns it (None when it was not open)."""
        return self._open.pop(token, None)

    def _drop_expired(self, now: float) -> None:
        for token in [t for t, s in self._open.items() if s.expires_at <= now]:
            del self._open[token]
