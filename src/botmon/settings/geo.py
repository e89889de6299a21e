"""The ``geo`` section: where the default geolocation data is and when its age is a warning.

Read by every process that enriches (the server, its ingest workers, imports) and by
``botmon doctor``; the variables reach ingest workers through their inherited environment.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from botmon.settings.loader import Settings, setting

STALE_AFTER_DAYS = 180
"""Default age (days since the data's own date) past which the data counts as stale. The
upstream projects rebuild daily to monthly; half a year leaves room for a release cycle of
botmon's pins while still flagging an install nobody has refreshed."""


class GeoSettings(Settings, frozen=True, kw_only=True):
    """The default country and AS data's folder and its staleness threshold."""

    section: ClassVar[str] = "geo"

    dir: (
        Annotated[
            str,
            setting(
                "Folder of default geolocation data built by `python -m "
                "botmon.enrich.build_default` (none: the data `make install` built into the "
                "package), for data a package manager installs elsewhere.",
                min_length=1,
            ),
        ]
        | None
    ) = None
    stale_days: Annotated[
        int,
        setting(
            "Age in days past which the geolocation data is reported stale (a warning in the "
            "serve log, /healthz, /metrics and botmon doctor; never an error).",
            ge=1,
            le=36_500,
        ),
    ] = STALE_AFTER_DAYS
