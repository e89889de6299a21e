"""What a route module needs of the running server: who is calling, and the store's threads.

:class:`botmon.server.state.ServerState` provides it; the dashboard's routes are written
against this protocol only, so they need nothing else of the server.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, Protocol, TypeVar

from starlette.requests import Request

from botmon.store.base import Monitor, Store

T = TypeVar("T")

SESSION_COOKIE = "botmon_session"
"""Cookie holding the dashboard's session id (:mod:`botmon.web.sessions`), never a token; read
when there is no Bearer header."""
SESSION_LIFETIME_S = 7 * 86400
"""How long a dashboard sign-in lasts; the token itself stays valid until revoked."""
COOKIE_METHODS = frozenset({"GET", "HEAD"})
"""The only methods the cookie authenticates: a foreign page can make a browser send it."""


class Access(Protocol):
    """The store, authentication and the store's worker threads."""

    store: Store

    async def authenticate(self, request: Request, roles: Collection[str]) -> Monitor:
        """The caller's monitor; ApiError 401/403 when it may not use a route of ``roles``."""
        ...

    async def monitor_for_token(self, token: str) -> Monitor | None:
        """The active monitor holding ``token``, if any."""
        ...

    def open_session(self, token: str) -> str:
        """A dashboard session for a checked ``token``; returns the id the cookie holds."""
        ...

    def close_session(self, session_id: str) -> None:
        """End a dashboard session."""
        ...

    async def run_store(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking store call in the store's worker threads."""
        ...

    async def run_read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a read-only store call in the read threads, apart from ingest's."""
        ...
