"""Dashboard sign-in sessions: the browser's cookie holds a random session id, never a token.

A stolen or logged cookie then opens only the dashboard's reads, for at most the session's
lifetime, and cannot be replayed as a Bearer token. The server keeps the id's hash and the
hash of the token it was opened with, so the session ends with its token's revocation (the
token is looked up again on every use), at its expiry, or at sign-out. Sessions live in the
server's memory: a restart signs everyone out, which only costs a new sign-in.

Sans-I/O: the clock is a parameter.
"""

from __future__ import annotations

import hashlib
import secrets

SESSION_BYTES = 32
"""Random bytes of a session id (256 bits, as a token)."""
MAX_SESSIONS = 10_000
"""Most sessions kept; past it the oldest is dropped, so sign-ins cannot grow the server."""


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """Open sessions: session id hash -> (token hash, expiry)."""

    def __init__(self, lifetime_s: float, limit: int = MAX_SESSIONS) -> None:
        self.lifetime_s = lifetime_s
        self.limit = limit
        self._open: dict[str, tuple[str, float]] = {}

    def __len__(self) -> int:
        return len(self._open)

    def open(self, token_hash: str, now: float) -> str:
        """A new session for the token of ``token_hash``; returns its id (for the cookie)."""
        if len(self._open) >= self.limit:
            self._open = {k: v for k, v in self._open.items() if v[1] > now}
            while len(self._open) >= self.limit:
                del self._open[next(iter(self._open))]
        session_id = secrets.token_urlsafe(SESSION_BYTES)
        self._open[_key(session_id)] = (token_hash, now + self.lifetime_s)
        return session_id

    def token_hash(self, session_id: str, now: float) -> str | None:
        """The hash of the token a live session was opened with; None if unknown or expired."""
        key = _key(session_id)
        found = self._open.get(key)
        if found is None:
            return None
        if found[1] <= now:
            del self._open[key]
            return None
        return found[0]

    def close(self, session_id: str) -> None:
        """End a session (sign-out); unknown ids are ignored."""
        self._open.pop(_key(session_id), None)
