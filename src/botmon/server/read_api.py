"""Read API routes behind the dashboard (countries, ASes, comparison, ...)."""

from __future__ import annotations

from typing import Any

from starlette.routing import BaseRoute


def routes(state: Any) -> list[BaseRoute]:
    """The read API's routes; ``state`` is the server's shared state (store, auth, settings)."""
    return []
