"""The ``source_type`` and ``exclude_monitors`` query parameters of the read routes: crawler
data, sensor data or both, with or without the monitors of others a user excluded.

One parser and one OpenAPI description each, so every route that filters by what saw the
records accepts and documents the same values and refuses the same others.
"""

from __future__ import annotations

from typing import Any

from botmon.settings.analysis import AnalysisSettings
from botmon.settings.loader import load
from botmon.store.reads import SourceFilter, record_filter
from botmon.web.access import Access
from botmon.web.http import ApiError
from botmon.web.openapi import query_param
from botmon.wire import SOURCE_TYPES, SourceType

ALL = "all"
"""The value that asks for both kinds of monitor (as leaving the parameter out does)."""

SOURCE_TYPE_PARAM: dict[str, Any] = query_param(
    "source_type",
    "Only records crawlers reported (crawler) or sensors reported (sensor); all or absent: both.",
    {"type": "string", "enum": [*SOURCE_TYPES, ALL], "default": ALL},
)


def parse_source(text: str | None) -> SourceType | None:
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


EXCLUDE_MONITORS_PARAM: dict[str, Any] = query_param(
    "exclude_monitors",
    "true: leave out the records of the monitors of others excluded for the botnet (botmon "
    "monitors exclude; the admin route excluded-monitors): their replies and failed tries, "
    "and edges naming them. false: everyone. Default: the server's setting "
    "analysis.exclude_monitors (false unless set).",
    {"type": "boolean"},
)
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def parse_exclude(text: str | None, default: bool) -> bool:
    """``exclude_monitors``: ``default`` when absent or empty; 422 for anything but a
    boolean."""
    if text is None or text == "":
        return default
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ApiError(
        422,
        f"exclude_monitors must be true or false, not {text[:40]!r}",
        "invalid_parameter",
        field="exclude_monitors",
    )


def exclude_default(access: Any) -> bool:
    """The server's ``analysis.exclude_monitors``: the settings ``botmon serve`` loaded when
    it keeps them on its state (``analysis``), else the environment's (read once, when the
    routes are built; a bad value stops start-up like every setting)."""
    found = getattr(access, "analysis", None)
    if found is None:
        found = load(AnalysisSettings).settings
    return bool(found.exclude_monitors)


async def read_filter(
    access: Access, query: Any, default_exclude: bool
) -> tuple[SourceFilter, bool]:
    """What a read route's request asks to see (``source_type``, ``exclude_monitors``) as
    the store's filter, and whether it excludes. Excluding reads the exclusion list's
    fingerprint once, so cached answers never outlive a change of the list; without it the
    filter is exactly :func:`parse_source`'s."""
    kind = parse_source(query.get("source_type"))
    exclude = parse_exclude(query.get("exclude_monitors"), default_exclude)
    if not exclude:
        return kind, False
    revision = await access.run_read(access.store.exclusion_revision)
    return record_filter(kind, True, revision), True
