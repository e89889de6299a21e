"""Read API behind the dashboard: one GET endpoint per table a view shows, JSON or CSV.

Every endpoint needs a viewer (or admin) token, takes ``start``/``end`` (epoch seconds or RFC
3339; default: the last 7 days) and, where it draws a time series, ``bucket`` in seconds. The
answer is one table: JSON ``{"view", "params", "columns", "rows"}`` or, with ``?format=csv``,
the same rows as CSV, so the dashboard's charts, tables and downloads come from one source.
The numbers come from :mod:`botmon.analysis`; this module only parses, checks limits, runs
the view in the store's worker threads and renders.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from botmon.analysis import compare as compare_views
from botmon.analysis import defaults
from botmon.analysis import devices as device_views
from botmon.analysis import facets as facet_views
from botmon.analysis import geo as geo_views
from botmon.analysis import overview as overview_views
from botmon.analysis import peers as peer_views
from botmon.analysis import population as population_views
from botmon.analysis import size as size_views
from botmon.analysis import sources as source_views
from botmon.analysis.table import Table, UnknownBotnet
from botmon.csvsafe import safe_cell
from botmon.limits import BOTNET_NAME_PATTERN, MAX_BUCKETS
from botmon.settings import one_line
from botmon.store.base import StoreError
from botmon.store.reads import SourceFilter, source_type
from botmon.web.access import Access
from botmon.web.http import (
    ApiError,
    JsonResponse,
    error_response,
    parse_int,
    parse_time,
    store_unavailable,
)
from botmon.web.openapi import describe, operation, path_param, query_param
from botmon.web.source_filter import (
    ALL,
    EXCLUDE_MONITORS_PARAM,
    SOURCE_TYPE_PARAM,
    exclude_default,
    parse_source,
    read_filter,
)

log = logging.getLogger("botmon.dashboard")

PREFIX = "/api/v1/stats"
DEFAULT_RANGE_S = defaults.DEFAULT_RANGE_S
DEFAULT_BUCKET_S = 3600
MIN_BUCKET_S = 60
MAX_BUCKET_S = 31 * 86400
DEFAULT_WINDOW_S = defaults.WINDOW_S
MAX_RANGE_S = 400 * 86400
MAX_COMPARED = defaults.MAX_COMPARED
VIEWER_ROLES = ("viewer",)
TAG = "read"


class ViewTable(msgspec.Struct):
    """One table of a dashboard view. ``params`` echoes the resolved query (defaults filled);
    ``rows`` are objects keyed by ``columns``. Times are epoch seconds (UTC); ``t`` is the
    start of a bucket."""

    view: str
    params: dict[str, Any]
    columns: list[str]
    rows: list[dict[str, Any]]


class FacetsView(msgspec.Struct):
    """What a botnet's protocol reveals about its bots: one entry per facet (a key of the
    replies' data some installed plugin declares, that at least one bot tells in the
    range), its values most bots first. ``params`` echoes the resolved query."""

    view: str
    params: dict[str, Any]
    facets: list[facet_views.FacetCounts]


Answer = Table | list[facet_views.FacetCounts]
"""What a view computes: a table, or (the facets view) a list of facets."""


@dataclass(frozen=True)
class Params:
    """Resolved query parameters of one request."""

    start: float
    end: float
    bucket: int
    fmt: str
    raw: dict[str, Any]
    source: SourceFilter
    """Only crawler or sensor records (``source_type``); None: both; with
    ``exclude_monitors``, a :class:`~botmon.store.reads.RecordFilter` without the excluded
    monitors' records."""
    excluding: bool = False


_COMMON = [
    query_param("start", "Range start: epoch seconds or RFC 3339 (default: end - 7 days)."),
    query_param("end", "Range end, exclusive: epoch seconds or RFC 3339 (default: now)."),
    query_param("format", "json (default) or csv.", {"type": "string", "enum": ["json", "csv"]}),
    SOURCE_TYPE_PARAM,
    EXCLUDE_MONITORS_PARAM,
]
_BUCKET = query_param(
    "bucket",
    f"Bucket length in seconds ({MIN_BUCKET_S}..{MAX_BUCKET_S}; 3600, 86400, 604800 are the "
    "dashboard's choices; weeks start on Monday 00:00 UTC).",
    {"type": "integer", "default": DEFAULT_BUCKET_S},
)
_BOTNET_Q = query_param("botnet", "Limit to one botnet (default: all botnets).")
_BOTNETS_Q = query_param(
    "botnets", f"Comma-separated botnet names, 1..{MAX_COMPARED} (default: all, up to the cap)."
)
_LIMIT = query_param("limit", "Most rows to return (1..1000).", {"type": "integer"})
_WINDOW = query_param(
    "window",
    "Seconds before end that count as 'current' (default 3600).",
    {"type": "integer", "default": DEFAULT_WINDOW_S},
)
_BY = query_param("by", "Count bots by 'ip' (default) or 'id'.", {"enum": ["ip", "id"]})


def _params(request: Request, *, bucket: bool) -> Params:
    qp = request.query_params
    now = time.time()
    end = parse_time("end", qp.get("end"), now)
    start = parse_time("start", qp.get("start"), end - DEFAULT_RANGE_S)
    if end <= start:
        raise ApiError(422, "end must be after start", "invalid_parameter", field="end")
    if end - start > MAX_RANGE_S:
        raise ApiError(
            422,
            f"the range may span at most {MAX_RANGE_S // 86400} days",
            "invalid_parameter",
            field="start",
        )
    size = parse_int("bucket", qp.get("bucket"), DEFAULT_BUCKET_S, MIN_BUCKET_S, MAX_BUCKET_S)
    if bucket and (end - start) / size > MAX_BUCKETS:
        raise ApiError(
            422,
            f"{(end - start) / size:.0f} buckets requested; at most {MAX_BUCKETS}: "
            "choose a larger bucket or a shorter range",
            "too_many_buckets",
            field="bucket",
        )
    fmt = qp.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ApiError(422, "format must be json or csv", "invalid_parameter", field="format")
    source = parse_source(qp.get("source_type"))
    raw: dict[str, Any] = {"start": start, "end": end, "source_type": source or ALL}
    if bucket:
        raw["bucket"] = size
    return Params(start, end, size, fmt, raw, source)


def _botnet_name(name: str | None, field: str) -> str:
    import re

    if name is None or not re.match(BOTNET_NAME_PATTERN, name):
        raise ApiError(422, f"{field} must be a botnet name", "invalid_parameter", field=field)
    return name


def _botnet_list(text: str | None) -> list[str] | None:
    """Names from ``botnets=a,b``; None means every botnet (resolved by the caller)."""
    if not text:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not 1 <= len(names) <= MAX_COMPARED:
        raise ApiError(
            422,
            f"botnets must name 1..{MAX_COMPARED} botnets",
            "invalid_parameter",
            field="botnets",
        )
    seen: list[str] = []
    for n in names:
        _botnet_name(n, "botnets")
        if n not in seen:
            seen.append(n)
    return seen


def _csv(table: Table) -> str:
    """The table as CSV; text a spreadsheet would run as a formula (a botnet's description, a
    monitor's reported version) is quoted by :func:`botmon.csvsafe.safe_cell`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(["" if v is None else safe_cell(v) for v in row] for row in table.rows)
    return out.getvalue()


def render(view: str, answer: Answer, params: Params) -> Response:
    """The table as JSON (``ViewTable``) or CSV (attachment named after the view); facets as
    JSON ``FacetsView`` or the CSV of :func:`botmon.analysis.facets.facets_table`."""
    table = answer if isinstance(answer, Table) else facet_views.facets_table(answer)
    if params.fmt == "csv":
        label = "-".join(str(params.raw[k]) for k in ("botnet",) if params.raw.get(k))
        kind = source_type(params.source)
        if kind is not None:
            label = f"{label}-{kind}" if label else kind
        if params.excluding:
            label = f"{label}-without-excluded" if label else "without-excluded"
        name = f"botmon-{view}{'-' + label if label else ''}-{int(params.start)}-{int(params.end)}"
        return Response(
            _csv(table),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if not isinstance(answer, Table):
        return JsonResponse(FacetsView(view=view, params=params.raw, facets=answer))
    return JsonResponse(
        ViewTable(view=view, params=params.raw, columns=list(table.columns), rows=table.dicts())
    )


Handler = Callable[[Request, Params], Awaitable[Answer]]


def _endpoint(
    state: Access, view: str, handler: Handler, *, bucket: bool, exclude: bool = False
) -> Any:
    async def endpoint(request: Request) -> Response:
        try:
            await state.authenticate(request, VIEWER_ROLES)
            params = _params(request, bucket=bucket)
            source, excluding = await read_filter(state, request.query_params, exclude)
            params = replace(params, source=source, excluding=excluding)
            params.raw["exclude_monitors"] = excluding
            table = await handler(request, params)
            return render(view, table, params)
        except ApiError as exc:
            return error_response(exc)
        except UnknownBotnet as exc:
            return error_response(
                ApiError(404, f"no botnet named {str(exc.args[0])[:80]!r}", "unknown_botnet")
            )
        except StoreError as exc:
            log.warning("dashboard table %s: store error: %s", view, one_line(exc))
            return error_response(store_unavailable())

    endpoint.__name__ = f"stats_{view.replace('-', '_')}"
    endpoint.__doc__ = f"Dashboard table '{view}'."
    return endpoint


def routes(st: Access) -> list[BaseRoute]:
    """The read API's routes."""
    store = st.store
    exclude = exclude_default(st)

    async def run(fn: Callable[..., Table], *args: Any) -> Table:
        return await st.run_read(fn, store, *args)

    async def all_botnets() -> list[str]:
        found = await st.run_store(store.list_botnets)
        return [b.name for b in found][:MAX_COMPARED]

    def limit(request: Request, default: int) -> int:
        return parse_int("limit", request.query_params.get("limit"), default, 1, 1000)

    def window(request: Request, p: Params) -> int:
        w = parse_int("window", request.query_params.get("window"), DEFAULT_WINDOW_S, 60, 7 * 86400)
        p.raw["window"] = w
        return w

    def one_botnet(request: Request, p: Params) -> str:
        name = _botnet_name(
            request.path_params.get("botnet") or request.query_params.get("botnet"), "botnet"
        )
        p.raw["botnet"] = name
        return name

    def maybe_botnet(request: Request, p: Params) -> str | None:
        text = request.query_params.get("botnet")
        if not text:
            return None
        name = _botnet_name(text, "botnet")
        p.raw["botnet"] = name
        return name

    async def botnets(request: Request, p: Params) -> list[str]:
        names = _botnet_list(request.query_params.get("botnets")) or await all_botnets()
        p.raw["botnets"] = names
        return names

    async def overview(r: Request, p: Params) -> Table:
        return await run(overview_views.overview, p.end, window(r, p), p.source)

    async def trend(r: Request, p: Params) -> Table:
        return await run(population_views.trend, p.start, p.end, p.bucket, p.source)

    async def monitors(r: Request, p: Params) -> Table:
        return await run(overview_views.monitors, p.end, window(r, p), time.time(), p.source)

    async def population(r: Request, p: Params) -> Table:
        name = one_botnet(r, p)
        return await run(population_views.population, name, p.start, p.end, p.bucket, p.source)

    async def sources(r: Request, p: Params) -> Table:
        name = one_botnet(r, p)
        return await run(source_views.sources, name, p.start, p.end, p.bucket, p.source)

    async def returning(r: Request, p: Params) -> Table:
        by = r.query_params.get("by", "ip")
        if by not in ("ip", "id"):
            raise ApiError(422, "by must be ip or id", "invalid_parameter", field="by")
        p.raw["by"] = by
        name = one_botnet(r, p)
        return await run(population_views.returning, name, p.start, p.end, p.bucket, by, p.source)

    async def top_peers(r: Request, p: Params) -> Table:
        n = limit(r, 20)
        p.raw["limit"] = n
        return await run(peer_views.top_peers, one_botnet(r, p), p.start, p.end, n, p.source)

    async def countries(r: Request, p: Params) -> Table:
        return await run(geo_views.countries, maybe_botnet(r, p), p.start, p.end, p.source)

    async def ases_(r: Request, p: Params) -> Table:
        n = limit(r, 25)
        p.raw["limit"] = n
        return await run(geo_views.ases, maybe_botnet(r, p), p.start, p.end, n, p.source)

    async def counting(r: Request, p: Params) -> Table:
        name = one_botnet(r, p)
        return await run(population_views.counting, name, p.start, p.end, p.bucket, p.source)

    async def cmp_population(r: Request, p: Params) -> Table:
        names = await botnets(r, p)
        return await run(
            population_views.compare_population, names, p.start, p.end, p.bucket, p.source
        )

    async def cmp_countries(r: Request, p: Params) -> Table:
        n = limit(r, 10)
        p.raw["limit"] = n
        names = await botnets(r, p)
        return await run(geo_views.compare_countries, names, p.start, p.end, n, p.source)

    async def cmp_overlap(r: Request, p: Params) -> Table:
        names = await botnets(r, p)
        return await run(compare_views.compare_overlap, names, p.start, p.end, p.source)

    async def cmp_hours(r: Request, p: Params) -> Table:
        names = await botnets(r, p)
        return await run(compare_views.compare_hours, names, p.start, p.end, p.source)

    async def devices(r: Request, p: Params) -> Table:
        name = one_botnet(r, p)
        return await run(device_views.devices, name, p.start, p.end, p.source)

    async def clients(r: Request, p: Params) -> Table:
        name = one_botnet(r, p)
        return await run(device_views.clients, name, p.start, p.end, p.source)

    async def facets(r: Request, p: Params) -> Answer:
        name = one_botnet(r, p)
        found: list[facet_views.FacetCounts] = await st.run_read(
            facet_views.facets, store, name, p.start, p.end, p.source
        )
        return found

    async def size_estimate(r: Request, p: Params) -> Table:
        name = one_botnet(r, p)
        return await run(size_views.size_estimate, name, p.start, p.end, p.source)

    async def cmp_devices(r: Request, p: Params) -> Table:
        names = await botnets(r, p)
        return await run(device_views.compare_devices, names, p.start, p.end, p.source)

    B = "/botnets/{botnet}"
    bp = path_param("botnet", "Botnet name.")
    specs: list[tuple[str, str, Handler, bool, list[dict[str, Any]], str]] = [
        (
            "/overview",
            "overview",
            overview,
            False,
            [_WINDOW],
            "Every botnet: distinct IPs, IDs, replies and failed tries in the current window; "
            "all-time first and last reply. Columns: botnet, description, ips, ids, replies, "
            "failed_tries, first_seen, last_seen.",
        ),
        (
            "/trend",
            "trend",
            trend,
            True,
            [_BUCKET],
            "Distinct IPs and IDs per botnet and bucket (sparklines). "
            "Columns: botnet, t, ips, ids.",
        ),
        (
            "/monitors",
            "monitors",
            monitors,
            False,
            [_WINDOW],
            "Every crawler and sensor: its last heartbeat (HeartbeatStatus: state, measured "
            "requests/s, requests, replies, errors, in flight, queues), its latest campaign, "
            "plus replies and failed tries stored from it in the window and tries per second. "
            "Columns: source, kind, last_heartbeat, heartbeat_age_s, state, paused_reason, botnet, "
            "version, "
            "reported_requests_per_s, reported_requests, reported_replies, reported_errors, "
            "in_flight, discovery_queue, tracking_queue, campaign, campaign_settings, "
            "campaign_started_at, campaign_ended_at, replies, failed_tries, tries_per_s, "
            "contacts_per_s, contacts, answered (a sensor's measured contacts per second, "
            "contacts and answers, from its heartbeat's sensor section).",
        ),
        (
            B + "/population",
            "population",
            population,
            True,
            [bp, _BUCKET],
            "Per bucket: distinct IPs, bot IDs and ip:port pairs, replies and failed tries. "
            "Columns: t, ips, ids, ip_ports, replies, failed_tries.",
        ),
        (
            "/sources",
            "sources",
            sources,
            True,
            [query_param("botnet", "Botnet name (required)."), _BUCKET],
            "Per bucket: bots seen by crawlers only, by both and by sensors only, by address and "
            "by bot ID; the last row (t null) counts the whole range, distinct over it. With "
            "source_type, only that kind's replies count (so all are of that kind only). "
            "Columns: t, ips_crawler_only, ips_both, ips_sensor_only, ids_crawler_only, "
            "ids_both, ids_sensor_only.",
        ),
        (
            B + "/returning",
            "returning",
            returning,
            True,
            [bp, _BUCKET, _BY],
            "Per bucket: bots seen, new ones (first reply ever in that bucket) and returning ones. "
            "Columns: t, bots, new, returning.",
        ),
        (
            B + "/top-peers",
            "top-peers",
            top_peers,
            False,
            [bp, _LIMIT],
            "Peers listed by the most distinct bots (in-degree) in edges. Columns: ip, port, "
            "bot_id, in_degree, mentions.",
        ),
        (
            B + "/devices",
            "devices",
            devices,
            False,
            [bp],
            "Affected devices: distinct bots per CPU architecture (the replies' data.arch, e.g. "
            "a Mozi bot's [cpu] tag), each bot by its latest reply that tells it; share of the "
            "bots with a known architecture ('unknown' last, share 0). Columns: arch, bots, share.",
        ),
        (
            B + "/clients",
            "clients",
            clients,
            False,
            [bp],
            "DHT client versions: distinct DHT nodes (replies with data.node_id; none: not a "
            "DHT) per client code and version (the replies' data.client and "
            "data.client_version, from the node's v), each node by its latest reply that "
            "tells it; version_text is major.minor (one byte each); share of the "
            "nodes with a known client ('unknown' last, share 0). Columns: client, version, "
            "version_text, bots, share.",
        ),
        (
            B + "/facets",
            "facets",
            facets,
            False,
            [bp],
            "What the botnet's protocol reveals about its bots: for every facet an installed "
            "protocol plugin declares (FACETS: a key of the replies' data with a categorical "
            "value, e.g. a CPU architecture or a URL-pack version) that at least one bot "
            "tells in the range, distinct bots per value, each bot by its latest reply that "
            "tells it, and the share of the bots telling the facet; a key several plugins "
            "declare is one facet. JSON: FacetsView (facets: key, label, doc, protocols, "
            "bots, unknown = bots with replies that never tell it, values: value, bots, "
            "share; most bots first, at most 100, more_values and more_bots count the "
            "rest). CSV columns: key, label, value, bots, share (value 'unknown' with share "
            "0 for the bots that never tell it).",
        ),
        (
            B + "/size-estimate",
            "size-estimate",
            size_estimate,
            False,
            [bp],
            "An estimate of the total population in the range (a DHT crawl never reaches every "
            "node), one row per method with data, the preferred first: Chapman's capture-"
            "recapture between crawlers and sensors or between the two halves of the time the "
            "range holds replies in (95 % "
            "interval: estimate +- 1.96 standard errors), and the node-ID density from the "
            "nearest node each node listed (exact 95 % interval). Columns: method, estimate, "
            "low, high, stderr, observed (distinct bot IDs seen), first, second, both (the "
            "capture-recapture samples), samples (the density's gaps), explanation (the "
            "method and its assumptions in words).",
        ),
        (
            "/countries",
            "countries",
            countries,
            False,
            [_BOTNET_Q],
            "Distinct IPs per country (ISO 3166 alpha-2, '??' unknown) and share. Columns: "
            "country, ips, share.",
        ),
        (
            "/ases",
            "ases",
            ases_,
            False,
            [_BOTNET_Q, _LIMIT],
            "Top autonomous systems by distinct IPs, with name, share and main country. Columns: "
            "asn, as_name, ips, share, country.",
        ),
        (
            "/counting",
            "counting",
            counting,
            True,
            [query_param("botnet", "Botnet name (required)."), _BUCKET],
            "IP-based vs ID-based counts per bucket and their ratio. Columns: t, ips, ids, "
            "ips_per_id.",
        ),
        (
            "/compare/population",
            "compare-population",
            cmp_population,
            True,
            [_BOTNETS_Q, _BUCKET],
            "Distinct IPs per botnet and bucket, also normalised to each botnet's peak. Columns: "
            "botnet, t, ips, normalised.",
        ),
        (
            "/compare/countries",
            "compare-countries",
            cmp_countries,
            False,
            [_BOTNETS_Q, _LIMIT],
            "Each botnet's top countries side by side. Columns: botnet, country, ips, share.",
        ),
        (
            "/compare/overlap",
            "compare-overlap",
            cmp_overlap,
            False,
            [_BOTNETS_Q],
            "Infected IPs shared by each pair of botnets. Columns: botnet_a, botnet_b, ips_a, "
            "ips_b, shared_ips, jaccard.",
        ),
        (
            "/compare/hours",
            "compare-hours",
            cmp_hours,
            False,
            [_BOTNETS_Q],
            "Hour-of-day profile: mean distinct IPs per hour of day, by UTC hour and by the bots' "
            "local hour (country time zone). Columns: botnet, hour, utc, local, utc_normalised, "
            "local_normalised.",
        ),
        (
            "/compare/devices",
            "compare-devices",
            cmp_devices,
            False,
            [_BOTNETS_Q],
            "Affected devices side by side: distinct bots per CPU architecture and share of "
            "each botnet's bots with a known architecture; rows with botnet null add up every "
            "named botnet. Columns: botnet, arch, bots, share.",
        ),
    ]
    out: list[BaseRoute] = []
    for path, view, handler, bucket, extra, summary in specs:
        endpoint = _endpoint(st, view, handler, bucket=bucket, exclude=exclude)
        route = Route(PREFIX + path, endpoint, methods=["GET"])
        schema = FacetsView if view == "facets" else ViewTable
        op = operation(
            summary.split(". ")[0] + ".",
            description=summary,
            roles=VIEWER_ROLES,
            params=[*extra, *_COMMON],
            errors=(404, 422) if "{botnet}" in path or view in ("counting", "sources") else (422,),
            tags=[TAG],
            content={
                "application/json": {"schema": {"$ref": f"#/components/schemas/{schema.__name__}"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        )
        out.append(describe(route, {"get": op}, [schema]))
    return out
