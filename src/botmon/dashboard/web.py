"""Dashboard pages and static files served by ``botmon serve``."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute


def routes(state: Any) -> list[BaseRoute]:
    """The dashboard's routes; ``state`` is the server's shared state (store, auth, settings)."""
    return []
