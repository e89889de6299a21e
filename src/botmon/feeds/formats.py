"""Every feed format botmon serves, by the name ``format=`` takes.

The modules are imported on first use, so a deployment that never serves STIX never loads
the STIX library. Each named module has a module attribute ``FORMAT`` implementing
:class:`botmon.feeds.model.FeedFormat`.
"""

from __future__ import annotations

import importlib
from functools import cache

from botmon.feeds.model import FeedFormat

FORMAT_MODULES: dict[str, str] = {
    "csv": "botmon.feeds.fmt_event4",
    "json": "botmon.feeds.fmt_event4",
    "n6": "botmon.feeds.fmt_n6",
    "intelmq": "botmon.feeds.fmt_intelmq",
    "stix": "botmon.feeds.fmt_stix",
    "misp": "botmon.feeds.fmt_misp",
    "xarf": "botmon.feeds.fmt_xarf",
}
"""``csv`` and ``json`` are Shadowserver's ``event4_sinkhole`` layout (``CSV_FORMAT`` and
``JSON_FORMAT`` of that module); the others one ``FORMAT`` each."""

FORMAT_NAMES: tuple[str, ...] = tuple(FORMAT_MODULES)


@cache
def feed_format(name: str) -> FeedFormat:
    """The format called ``name``; KeyError when there is none."""
    module = importlib.import_module(FORMAT_MODULES[name])
    attr = {"csv": "CSV_FORMAT", "json": "JSON_FORMAT"}.get(name, "FORMAT")
    fmt: FeedFormat = getattr(module, attr)
    return fmt
