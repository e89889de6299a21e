"""Compute what the dashboard shows by default before anyone opens it.

After a start, the first visitor would otherwise wait for the per-bucket counts over every
reply in the default range. The server runs :func:`warm_up` once after its first summary
refresh; it computes exactly the page's default requests (:func:`defaults.default_requests`),
so they are then answered from the cache and later refreshes recompute only new buckets.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from botmon.analysis import (
    compare,
    devices,
    facets,
    geo,
    overview,
    peers,
    population,
    size,
    sources,
)
from botmon.analysis.defaults import ViewRequest, default_requests
from botmon.analysis.scope import botnet_ids
from botmon.analysis.table import Table
from botmon.store.base import Store

View = Callable[[Store, dict[str, str], str | None], Table | list[facets.FacetCounts]]


def _span(p: dict[str, str]) -> tuple[float, float]:
    return float(p["start"]), float(p["end"])


_VIEWS: dict[str, View] = {
    "overview": lambda s, p, _: overview.overview(s, float(p["end"]), int(p["window"])),
    "trend": lambda s, p, _: population.trend(s, *_span(p), int(p["bucket"])),
    "monitors": lambda s, p, _: overview.monitors(s, float(p["end"]), int(p["window"])),
    "population": lambda s, p, b: population.population(s, str(b), *_span(p), int(p["bucket"])),
    "returning": lambda s, p, b: population.returning(
        s, str(b), *_span(p), int(p["bucket"]), "id" if p["by"] == "id" else "ip"
    ),
    "top-peers": lambda s, p, b: peers.top_peers(s, str(b), *_span(p), int(p["limit"])),
    "countries": lambda s, p, _: geo.countries(s, p.get("botnet"), *_span(p)),
    "ases": lambda s, p, _: geo.ases(s, p.get("botnet"), *_span(p), int(p["limit"])),
    "counting": lambda s, p, _: population.counting(s, p["botnet"], *_span(p), int(p["bucket"])),
    "sources": lambda s, p, _: sources.sources(s, p["botnet"], *_span(p), int(p["bucket"])),
    "compare/population": lambda s, p, _: population.compare_population(
        s, p["botnets"].split(","), *_span(p), int(p["bucket"])
    ),
    "compare/countries": lambda s, p, _: geo.compare_countries(
        s, p["botnets"].split(","), *_span(p), int(p["limit"])
    ),
    "compare/overlap": lambda s, p, _: compare.compare_overlap(
        s, p["botnets"].split(","), *_span(p)
    ),
    "compare/hours": lambda s, p, _: compare.compare_hours(s, p["botnets"].split(","), *_span(p)),
    "clients": lambda s, p, b: devices.clients(s, str(b), *_span(p)),
    "devices": lambda s, p, b: devices.devices(s, str(b), *_span(p)),
    "facets": lambda s, p, b: facets.facets(s, str(b), *_span(p)),
    "size-estimate": lambda s, p, b: size.size_estimate(s, str(b), *_span(p)),
    "compare/devices": lambda s, p, _: devices.compare_devices(
        s, p["botnets"].split(","), *_span(p)
    ),
}


def compute(store: Store, request: ViewRequest) -> Table | list[facets.FacetCounts]:
    """Answer one of the page's default requests as the read API would."""
    path = request.path.strip("/")
    botnet: str | None = None
    if path.startswith("botnets/"):
        _, botnet, path = path.split("/", 2)
    return _VIEWS[path](store, dict(request.params), botnet)


def planned(store: Store, now: float) -> list[ViewRequest]:
    """The page's default requests at ``now`` for the botnets the store holds. Like the page,
    it counts returning bots by ID for botnets whose population shows bot IDs, and asks for
    the size estimate of the botnets with DHT client versions (computing that population
    and those versions here is the first step of the warm-up anyway)."""
    names = list(botnet_ids(store))
    by_ip = default_requests(now, names)

    def rows(request: ViewRequest) -> list[tuple[object, ...]]:
        found = compute(store, request)
        return found.rows if isinstance(found, Table) else []

    def having(view: str, column: int | None) -> list[str]:
        return [
            name
            for name in names
            for request in by_ip
            if request.path == f"/botnets/{name}/{view}"
            and any(column is None or row[column] for row in rows(request))
        ]

    return default_requests(now, names, having("population", 2), having("clients", None))


def warm_up(store: Store, now: float, deadline_s: float = 600.0) -> int:
    """Compute the page's default requests at ``now``; stop after ``deadline_s`` (what is
    done stays cached). Returns how many were computed."""
    began = time.monotonic()
    done = 0
    for request in planned(store, now):
        if time.monotonic() - began > deadline_s:
            break
        compute(store, request)
        done += 1
    return done
