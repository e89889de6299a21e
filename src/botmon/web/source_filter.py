"""The ``source_type`` query parameter of the read routes: crawler data, sensor data or both.

One parser and one OpenAPI description, so every route that filters by what saw the records
accepts and documents the same values and refuses the same others.
"""

from __future__ import annotations

from typing import Any

from botmon.store.reads import SourceFilter
from botmon.web.http import ApiError
from botmon.web.openapi import query_param
from botmon.wire import SOURCE_TYPES

ALL = "all"
"""The value that asks for both kinds of monitor (as leaving the parameter out does)."""

SOURCE_TYPE_PARAM: dict[str, Any] = query_param(
    "source_type",
    "Only records crawlers reported (crawler) or sensors reported (sensor); all or absent: both.",
    {"type": "string", "enum": [*SOURCE_TYPES, ALL], "default": ALL},
)


def parse_source(text: str | None) -> SourceFilter:
    """None (both) for an absent, empty or ``all`` value; 422 for anything but the types."""
    if text is None or text in ("", ALL):
        return None
    for kind in SOURCE_TYPES:
        if text == kind:
            return kind
    raise ApiError(
        422,
        f"source_type must be {', '.join(SOURCE_TYPES)} or {ALL}, not {text[:40]!r}",
        "invalid_parameter",
        field="source_type",
    )
