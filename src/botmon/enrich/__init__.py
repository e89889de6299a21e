"""Enrichment: country, autonomous system and time zone for every address botmon stores.

:class:`Enricher` reads MaxMind-format databases (the user's GeoLite2/GeoIP2 or DB-IP files,
the default data installed offline by ``make install``, and the lab database for the test
bed's 127.A.0.0/16 addresses). ``DATA.md`` beside this file names every data source.
"""

from botmon.enrich.defaults import data_sources
from botmon.enrich.enricher import DEFAULT_CACHE_SIZE, Enricher, default_enricher
from botmon.enrich.freshness import GeoStatus, geo_status
from botmon.enrich.labplan import LAB_PLAN, LabNet, lab_net, octets_for_country
from botmon.enrich.sampling import sample_ases, sample_public_ips
from botmon.enrich.sources import GeoDataError, geo_from_record
from botmon.enrich.timezones import timezone_for_country, utc_offset_hours
from botmon.enrich.types import UNKNOWN, DataSource, GeoInfo

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "LAB_PLAN",
    "UNKNOWN",
    "DataSource",
    "Enricher",
    "GeoDataError",
    "GeoInfo",
    "GeoStatus",
    "LabNet",
    "data_sources",
    "default_enricher",
    "geo_from_record",
    "geo_status",
    "lab_net",
    "octets_for_country",
    "sample_ases",
    "sample_public_ips",
    "timezone_for_country",
    "utc_offset_hours",
]
