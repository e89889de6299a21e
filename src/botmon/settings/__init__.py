"""botmon's settings: one loader, one section per part, one error style.

========== ===================== ==================================================
section    struct                used by
========== ===================== ==================================================
server     ServerSettings        ``botmon serve``
crawl      CrawlSettings         ``botmon crawl`` (the engine; the plugin fills in)
client     ClientSettings        the report client of crawlers and sensors
sensor     SensorSettings        ``botmon sensor`` (passive sensors)
geo        GeoSettings           enrichment (server, ingest workers, import, doctor)
analysis   AnalysisSettings      ``botmon analyze`` and the analyses ``botmon serve`` schedules
public     PublicSettings        the public views of ``botmon serve`` (cache, rate limit)
sim.hns    HnsConfig             ``botmon simulate hns``
sim.linenet LinenetConfig        ``botmon simulate linenet``
========== ===================== ==================================================

Each setting is given by a command-line option, else a ``BOTMON_<SECTION>_<NAME>``
environment variable, else its default (:mod:`botmon.settings.loader` says how);
``botmon config show`` prints what is in effect and where each value came from.
"""

from __future__ import annotations

from botmon.settings.analysis import AnalysisSettings
from botmon.settings.client import ClientSettings
from botmon.settings.crawl import CrawlSettings
from botmon.settings.geo import GeoSettings
from botmon.settings.loader import (
    Leaf,
    Loaded,
    Settings,
    SettingsError,
    Source,
    leaves,
    load,
    setting,
)
from botmon.settings.public import PublicSettings
from botmon.settings.sensor import SensorSettings
from botmon.settings.server import (
    DEFAULT_DB,
    MAX_INGEST_WORKERS,
    ServerSettings,
    duckdb_path,
    is_database_url,
    one_line,
    redact,
    server_file_for,
)
from botmon.settings.sim import HnsConfig, LinenetConfig

SECTIONS: tuple[type[Settings], ...] = (
    ServerSettings,
    CrawlSettings,
    ClientSettings,
    SensorSettings,
    GeoSettings,
    AnalysisSettings,
    PublicSettings,
    HnsConfig,
    LinenetConfig,
)
"""Every section, in the order ``botmon config show`` prints them."""

__all__ = [
    "DEFAULT_DB",
    "MAX_INGEST_WORKERS",
    "SECTIONS",
    "AnalysisSettings",
    "ClientSettings",
    "CrawlSettings",
    "GeoSettings",
    "HnsConfig",
    "Leaf",
    "LinenetConfig",
    "Loaded",
    "PublicSettings",
    "SensorSettings",
    "ServerSettings",
    "Settings",
    "SettingsError",
    "Source",
    "duckdb_path",
    "is_database_url",
    "leaves",
    "load",
    "one_line",
    "redact",
    "server_file_for",
    "setting",
]
