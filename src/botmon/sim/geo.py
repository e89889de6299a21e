"""Public addresses per country and their enrichment, shared by the history and trace
generators.

Both generators place bots in real countries and ASes; this is the one place where they
depend on the enrichment package, and its caches let several botnets generated in one run
share lookups (and, for co-infections, addresses).
"""

from __future__ import annotations

import random


class Geo:
    """Public addresses per country and their enrichment, from :mod:`botmon.enrich`.

    Isolated here so the generators depend on the enrichment package at one place only.
    """

    def __init__(self) -> None:
        from botmon import enrich

        self._enrich = enrich
        self.enricher = enrich.Enricher.default()
        self._cache: dict[str, tuple[str | None, int | None]] = {}
        self.as_names: dict[int, str] = {}
        self._written: set[int] = set()
        self.used: dict[str, list[str]] = {}
        """Static addresses of botnets generated so far, per country (for co-infections)."""

    def sample(self, country: str, n: int, rng: random.Random) -> list[str]:
        """``n`` distinct public addresses located in ``country`` (fewer if it has few)."""
        return list(self._enrich.sample_public_ips(country, n, rng))

    def offset_hours(self, country: str, at: float) -> float:
        """The country's UTC offset in hours at ``at`` (0 for unknown countries)."""
        offset = self._enrich.utc_offset_hours(country, at)
        return 0.0 if offset is None else offset

    def take_new_as_names(self) -> dict[int, str]:
        """AS names found since the last call (each is written to the store once)."""
        new = {asn: name for asn, name in self.as_names.items() if asn not in self._written}
        self._written.update(new)
        return new

    def lookup(self, ip: str) -> tuple[str | None, int | None]:
        """(country, asn) of an address, as ingest would store them."""
        hit = self._cache.get(ip)
        if hit is None:
            info = self.enricher.lookup(ip)
            country = getattr(info, "country", None)
            asn = getattr(info, "asn", None)
            as_name = getattr(info, "as_name", None)
            if asn is not None and as_name:
                self.as_names[int(asn)] = str(as_name)
            hit = (country, asn)
            self._cache[ip] = hit
        return hit
