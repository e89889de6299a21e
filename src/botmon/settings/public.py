"""The ``public`` section: how ``botmon serve`` serves the dashboard views an admin made public.

Public views answer anyone without a token, so every answer is cached (one computation per
botnet, view and range per ``cache_s``, however many visitors come) and every client address
is rate limited: a crowd of readers costs the store one query per answer per ``cache_s``,
and one eager client gets 429 instead of the server's threads.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from botmon.settings.loader import Settings, setting


class PublicSettings(Settings, frozen=True, kw_only=True):
    """Caching and rate limits of the public views (``/public``, ``/api/v1/public``)."""

    section: ClassVar[str] = "public"

    cache_s: Annotated[
        float,
        setting(
            "How long a public answer is reused (and how long browsers and proxies may keep "
            "it: Cache-Control max-age); the numbers are at most this old.",
            ge=1,
            le=86_400,
        ),
    ] = 60.0
    rate_per_minute: Annotated[
        float,
        setting(
            "Requests per minute one client address may make to the public pages and API "
            "(a steady rate; beyond it and the burst: 429 with Retry-After).",
            gt=0,
            le=1_000_000,
        ),
    ] = 60.0
    burst: Annotated[
        int,
        setting(
            "Requests one client address may make at once before the rate applies (a page "
            "loads its views together).",
            ge=1,
            le=100_000,
        ),
    ] = 30
    max_clients: Annotated[
        int,
        setting(
            "Client addresses the rate limiter tracks; beyond it the longest idle are "
            "forgotten, so a flood of addresses cannot grow the server's memory.",
            ge=100,
            le=10_000_000,
        ),
    ] = 100_000
    max_cached: Annotated[
        int,
        setting(
            "Public answers kept in the cache (botnet, view and range each); beyond it the "
            "oldest go first.",
            ge=1,
            le=1_000_000,
        ),
    ] = 1000
