"""Country and AS for every address botmon stores, fast enough to sit on the ingest path.

An :class:`Enricher` asks its sources in order: the lab database for loopback addresses (the
test bed's bots), then the user's own databases, then the default data, taking the country
from the first country source that knows one and the AS from the first AS source that does.
Answers are kept in a cache keyed by the 128-bit address (:mod:`botmon.enrich.cache`),
because a crawler reports the same bots round after round: a warm 10,000-reply batch costs
1.3-2.6 ms on this project's 2-core machine, a cold one about 130 ms
(``benchmarks/enrich_lookup.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from botmon.enrich.cache import CacheInfo, GenerationalCache
from botmon.enrich.defaults import (
    ASN_TABLE_NAME,
    COUNTRY_DB_NAME,
    LAB_DB,
    LAB_SOURCE,
    iso_date,
    read_manifest,
)
from botmon.enrich.defaults import default_dir as installed_dir
from botmon.enrich.sources import GeoSource, MmdbSource, open_source
from botmon.enrich.special import is_special
from botmon.enrich.types import UNKNOWN, DataSource, GeoInfo
from botmon.ipaddr import ip_to_int, is_loopback, is_v4
from botmon.validation import ValidatedBatch

log = logging.getLogger("botmon.enrich")

DEFAULT_CACHE_SIZE = 262_144
"""Addresses whose answers are kept; about 20 MB when full, more bots than most botnets have."""

_IP_LIMIT = 1 << 128


class Enricher:
    """Looks up country and AS per address through an ordered list of sources, with a cache.

    Thread-safe: the server calls :meth:`enrich_batch` from worker threads.
    """

    def __init__(
        self,
        country_sources: Sequence[GeoSource] = (),
        asn_sources: Sequence[GeoSource] = (),
        lab: GeoSource | None = None,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        descriptions: Sequence[DataSource] = (),
    ) -> None:
        if cache_size < 0:
            raise ValueError("cache_size must be 0 or more")
        self._country = tuple(country_sources)
        self._asn = tuple(asn_sources)
        self._lab = lab
        self._descriptions = list(descriptions)
        self._interned: dict[tuple[str | None, int | None, str | None], GeoInfo] = {}
        self._as_names: dict[int, str] = {}
        """AS number -> name as last seen; a batch's names come from here (cheaper than
        walking its 10,000 answers)."""
        self._cache: GenerationalCache[GeoInfo] = GenerationalCache(
            cache_size,
            self._resolve_uncached,  # type: ignore[arg-type]
        )

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        country_db: str | Path | None = None,
        asn_db: str | Path | None = None,
        *,
        use_default: bool = True,
        use_lab: bool = True,
        default_dir: Path | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> Enricher:
        """An enricher over the user's databases, backed by the default data and the lab one.

        ``country_db`` and ``asn_db`` are ``.mmdb`` files (GeoLite2/GeoIP2 Country or City,
        GeoLite2-ASN, DB-IP lite, ip-location-db; one file may serve both). A missing or
        invalid file raises :class:`~botmon.enrich.sources.GeoDataError` with its path.
        ``default_dir`` defaults to the installed data (``BOTMON_GEO_DIR`` or ``data/default``).
        """
        default_dir = default_dir or installed_dir()
        opened: dict[str, GeoSource] = {}
        descriptions: list[DataSource] = []

        def source(path: str | Path, kind: str) -> GeoSource:
            key = str(Path(path).resolve())
            if key not in opened:
                opened[key] = open_source(path)
                descriptions.append(_describe(opened[key], kind))
            return opened[key]

        try:
            country = [source(country_db, "country")] if country_db else []
            asn = [source(asn_db, "asn")] if asn_db else []
            if use_default:
                manifest = {s.kind: s for s in read_manifest(default_dir)}
                for name, kind, into in (
                    (COUNTRY_DB_NAME, "country", country),
                    (ASN_TABLE_NAME, "asn", asn),
                ):
                    path = default_dir / name
                    if path.is_file() and kind in manifest:
                        into.append(open_source(path, manifest[kind].name))
                        descriptions.append(manifest[kind])
                    else:
                        log.warning(
                            "botmon: default %s data missing in %s; run `make install`",
                            kind,
                            default_dir,
                        )
            lab = open_source(LAB_DB, "botmon-lab") if use_lab else None
        except Exception:
            for s in opened.values():
                s.close()
            raise
        if lab is not None:
            descriptions.append(LAB_SOURCE)
        return cls(country, asn, lab, cache_size=cache_size, descriptions=descriptions)

    @classmethod
    def default(cls, *, cache_size: int = DEFAULT_CACHE_SIZE) -> Enricher:
        """The default data plus the lab database: what a fresh install uses."""
        return cls.open(cache_size=cache_size)

    # -- lookups ---------------------------------------------------------------------------
    def _intern(self, country: str | None, asn: int | None, name: str | None) -> GeoInfo:
        key = (country, asn, name)
        info = self._interned.get(key)
        if info is None:
            info = self._interned.setdefault(key, GeoInfo(country, asn, name))
            if asn is not None and name is not None:
                self._as_names[asn] = name
        return info

    def _resolve_uncached(self, ip: int | str) -> GeoInfo:
        if isinstance(ip, str):
            ip = ip_to_int(ip.strip())
        elif not isinstance(ip, int) or isinstance(ip, bool) or not 0 <= ip < _IP_LIMIT:
            raise ValueError(f"not a botmon IP address (128-bit integer or text): {ip!r:.64}")
        if is_loopback(ip):
            # Only the lab knows loopback; real databases have nothing to add.
            if self._lab is None or not is_v4(ip):
                return UNKNOWN
            lab = self._lab.get(ip)
            return UNKNOWN if lab is None else self._intern(lab.country, lab.asn, lab.as_name)
        if is_special(ip):
            return UNKNOWN
        country: str | None = None
        asn: int | None = None
        name: str | None = None
        for src in self._country:
            info = src.get(ip)
            if info is not None and info.country is not None:
                country = info.country
                break
        for src in self._asn:
            info = src.get(ip)
            if info is not None and info.asn is not None:
                asn, name = info.asn, info.as_name
                break
        if country is None and asn is None:
            return UNKNOWN
        return self._intern(country, asn, name)

    def lookup(self, ip: int | str) -> GeoInfo:
        """Country and AS of one address (a botmon 128-bit integer or text).

        Unknown, private and reserved addresses give a :class:`GeoInfo` of Nones; a value that
        is not an address at all raises ``ValueError``.
        """
        try:
            return self._cache.get(ip)
        except TypeError:  # unhashable: certainly not an address
            raise ValueError(f"not a botmon IP address: {ip!r:.64}") from None

    def lookup_many(self, ips: Iterable[int | str]) -> list[GeoInfo]:
        """:meth:`lookup` for each address, in order."""
        keys = ips if isinstance(ips, list) else list(ips)
        try:
            return self._cache.get_many(keys)  # type: ignore[return-value]
        except TypeError:
            raise ValueError("not a list of botmon IP addresses") from None

    def enrich_batch(self, batch: ValidatedBatch) -> None:
        """Fill ``batch.replies.country``, ``batch.replies.asn`` (aligned) and ``as_names``."""
        infos = self.lookup_many(batch.replies.ip)
        batch.replies.country = [g.country for g in infos]
        asns = [g.asn for g in infos]
        batch.replies.asn = asns
        names = self._as_names
        for asn in set(asns):
            name = names.get(asn) if asn is not None else None
            if name is not None:
                batch.as_names[asn] = name  # type: ignore[index]

    def enrich(self, batch: ValidatedBatch) -> None:
        """Alias of :meth:`enrich_batch` (the name the server's ingest path uses)."""
        self.enrich_batch(batch)

    # -- bookkeeping -----------------------------------------------------------------------
    def sources(self) -> list[DataSource]:
        """The databases this enricher reads, in the order it asks them."""
        return list(self._descriptions)

    def cache_info(self) -> CacheInfo:
        """Hits, misses, size and capacity of the address cache."""
        return self._cache.info()

    def clear_cache(self) -> None:
        """Forget cached answers (after swapping a database file)."""
        self._cache.clear()

    def close(self) -> None:
        """Release every database file."""
        seen: set[int] = set()
        for src in (*self._country, *self._asn, *([self._lab] if self._lab else [])):
            if id(src) not in seen:
                seen.add(id(src))
                src.close()
        self.clear_cache()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _describe(source: GeoSource, kind: str) -> DataSource:
    if isinstance(source, MmdbSource):
        return DataSource(
            name=source.database_type,
            kind=kind,
            path=source.path,
            licence="as given by the database's provider",
            data_date=iso_date(source.build_epoch),
        )
    return DataSource(name=source.name, kind=kind, path=source.path, licence="unknown")


def default_enricher() -> Enricher:
    """:meth:`Enricher.default`, as a plain factory for the server's start-up."""
    return Enricher.default()
