"""What every route of ``botmon serve`` shares: the store, settings, enrichment and auth.

Route modules (core API, read API, dashboard) receive one :class:`ServerState` and use only
this surface, so they can be written and tested apart.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.requests import Request

from botmon.store.base import Monitor, Store

T = TypeVar("T")


@dataclass
class ServerState:
    """Shared server state. The server engineer fills in the method bodies."""

    store: Store
    settings: Any
    enricher: Any | None = None
    """A :class:`botmon.enrich.Enricher` (or None when enrichment is off)."""
    started_at: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    async def run_store(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking store call in the store's worker threads and return its result."""
        raise NotImplementedError

    async def authenticate(self, request: Request, roles: Collection[str]) -> Monitor:
        """The caller's monitor (Bearer header, or the dashboard's session cookie).

        Raises starlette HTTPException 401 without a valid token and 403 when the token's role
        is not in ``roles`` (admin is always allowed).
        """
        raise NotImplementedError
