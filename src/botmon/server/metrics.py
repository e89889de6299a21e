"""Prometheus metrics of one server app, in its own registry.

Each app gets its own :class:`CollectorRegistry` so several apps in one process (tests,
benchmarks) never share or double-register counters. Latency is measured by a plain ASGI
middleware with two clock reads per request; no timers are armed on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

from botmon.store.configs import ConfigStats
from botmon.wire import RECORD_KINDS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The counters the server updates; names are stable (dashboards and alerts use them)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.ingested = Counter(
            "botmon_ingested_records",
            "Records stored through the ingest API, by kind.",
            ["kind"],
            registry=self.registry,
        )
        self.batches = Counter(
            "botmon_ingested_batches", "Batches stored (not duplicates).", registry=self.registry
        )
        self.duplicates = Counter(
            "botmon_duplicate_batches",
            "Batches whose id was stored before; nothing stored twice.",
            registry=self.registry,
        )
        self.rejected = Counter(
            "botmon_rejected_batches",
            "Ingest requests refused, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.heartbeats = Counter(
            "botmon_heartbeats", "Heartbeats received.", registry=self.registry
        )
        self.latency = Histogram(
            "botmon_request_duration_seconds",
            "Time from request start to the end of the response, by route.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.summary_refreshes = Counter(
            "botmon_summary_refreshes",
            "Background refreshes of the dashboard's summary tables, by outcome "
            "(merged: new batches merged, idle: nothing new, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self.summary_seconds = Histogram(
            "botmon_summary_refresh_duration_seconds",
            "Time one background summary refresh took.",
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.warm_up_seconds = Gauge(
            "botmon_dashboard_warm_up_seconds",
            "How long computing the dashboard's default views after start took (0: not yet).",
            registry=self.registry,
        )
        self.ingest_workers = Gauge(
            "botmon_ingest_workers",
            "Processes that validate, enrich and build rows for ingest (0: in the server).",
            registry=self.registry,
        )
        self.ingest_worker_restarts = Counter(
            "botmon_ingest_worker_restarts",
            "Times the ingest workers were replaced because one died.",
            registry=self.registry,
        )
        self.analysis_runs = Counter(
            "botmon_analysis_runs",
            "Scheduled analysis runs (one analysis of one botnet), by analysis and outcome "
            "(ok, failed).",
            ["analysis", "outcome"],
            registry=self.registry,
        )
        self.analysis_seconds = Histogram(
            "botmon_analysis_run_duration_seconds",
            "Time one scheduled analysis run took, by analysis.",
            ["analysis"],
            buckets=(*_LATENCY_BUCKETS, 30.0, 60.0, 300.0),
            registry=self.registry,
        )
        self._configs = _ConfigCollector()
        self.registry.register(self._configs)
        for outcome in ("merged", "idle", "failed"):
            self.summary_refreshes.labels(outcome).inc(0)
        self._by_kind = {kind: self.ingested.labels(kind) for kind in RECORD_KINDS}
        for kind in RECORD_KINDS:
            self._by_kind[kind].inc(0)

    def observe_analysis(self, analysis: str, outcome: str, seconds: float) -> None:
        """Count one scheduled analysis run and the time it took."""
        self.analysis_runs.labels(analysis, outcome).inc()
        self.analysis_seconds.labels(analysis).observe(seconds)

    def watch_group_commit(self, group_commit: Any) -> None:
        """Export a store's group-commit counters (:mod:`botmon.store.group_commit`), read
        at each scrape; how many batches share a transaction shows whether ingest is
        commit-bound."""
        self.registry.register(_GroupCommitCollector(group_commit))

    def watch_geo_age(self, age_days: Callable[[], int | None]) -> None:
        """Export the geolocation data's age in days, asked at each scrape (it grows while
        the server runs); absent while no default data is installed."""
        self.registry.register(_GeoAgeCollector(age_days))

    def show_configs(self, stats: ConfigStats) -> None:
        """The store's configuration counts for the next scrape (the server reads them in
        its store threads before rendering, never on the event loop)."""
        self._configs.stats = stats

    def count_stored(self, stored: dict[str, int], duplicate: bool) -> None:
        if duplicate:
            self.duplicates.inc()
            return
        self.batches.inc()
        for kind, n in stored.items():
            counter = self._by_kind.get(kind)
            if counter is not None and n:
                counter.inc(n)

    def count_rejected(self, reason: str) -> None:
        self.rejected.labels(reason).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _GroupCommitCollector(Collector):
    def __init__(self, group_commit: Any) -> None:
        self._group_commit = group_commit

    def collect(self) -> Any:
        g = self._group_commit
        yield CounterMetricFamily(
            "botmon_store_write_transactions",
            "Write transactions that stored ingest batches (a group of batches is one).",
            value=g.groups,
        )
        yield CounterMetricFamily(
            "botmon_store_grouped_batches",
            "Batches written through group commit; divided by the transactions, the mean "
            "group size.",
            value=g.items,
        )
        yield GaugeMetricFamily(
            "botmon_store_largest_write_group",
            "Most batches one write transaction has held since the server started.",
            value=g.largest,
        )


class _ConfigCollector(Collector):
    """Configuration alerts per botnet and kind (a counter: alerts are never deleted),
    unacknowledged stop orders and configurations per botnet (:mod:`botmon.store.configs`)."""

    def __init__(self) -> None:
        self.stats = ConfigStats(alerts={}, stop_orders={}, configs={})

    def collect(self) -> Any:
        s = self.stats
        alerts = CounterMetricFamily(
            "botmon_config_alerts",
            "Configuration alerts raised, by botnet and kind (new_config, new_version, "
            "stop_order, bad_signature).",
            labels=["botnet", "kind"],
        )
        for botnet, kinds in sorted(s.alerts.items()):
            for kind, n in sorted(kinds.items()):
                alerts.add_metric([botnet, kind], n)
        yield alerts
        yield _per_botnet(
            "botmon_botnet_stop_order",
            "1 while the botnet has an unacknowledged stop-order alert.",
            {botnet: int(on) for botnet, on in s.stop_orders.items()},
        )
        yield _per_botnet(
            "botmon_botnet_configs", "Distinct configurations seen per botnet.", s.configs
        )


def _per_botnet(name: str, text: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text, labels=["botnet"])
    for botnet, n in sorted(values.items()):
        family.add_metric([botnet], n)
    return family


class _GeoAgeCollector(Collector):
    def __init__(self, age_days: Callable[[], int | None]) -> None:
        self._age_days = age_days

    def collect(self) -> Any:
        age = self._age_days()
        if age is not None:
            yield GaugeMetricFamily(
                "botmon_geo_data_age_days",
                "Days since the date of the default geolocation data (stale past "
                "BOTMON_GEO_STALE_DAYS, default 180).",
                value=age,
            )


class LatencyMiddleware:
    """Observe each HTTP request's duration under its route template (not its raw path)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route: Any = scope.get("route")
            name = getattr(route, "path", None) or "unmatched"
            self.metrics.latency.labels(name, scope.get("method", "")).observe(
                time.perf_counter() - start
            )
