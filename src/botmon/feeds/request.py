"""A feed request's query parameters, checked against the caller's token.

Pure (no I/O): the route hands in the parameters and the caller's monitor and gets a
:class:`FeedRequest` or an :class:`~botmon.web.http.ApiError` naming the parameter:
422 for a malformed value, 403 for a network or botnet outside a feed token's scope. A feed
token's answer is always inside its scope: filters may only narrow it.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Sequence
from typing import get_args

import msgspec

from botmon.feeds.formats import FORMAT_NAMES
from botmon.feeds.model import FeedQuery, FeedScope, Tlp
from botmon.feeds.scope import ScopeError, parse_scope
from botmon.ipaddr import int_to_ip, ip_to_int
from botmon.limits import BOTNET_NAME_PATTERN
from botmon.store.base import Monitor
from botmon.web.http import ApiError, parse_int, parse_time

PARAMETERS = (
    "since",
    "until",
    "format",
    "asn",
    "cidr",
    "country",
    "botnet",
    "cursor",
    "limit",
    "tlp",
)
"""Every parameter the feed route takes; any other answers 422 (a misspelt filter must not
silently widen the answer)."""
DEFAULT_PERIOD_S = 86_400
MAX_PERIOD_S = 366 * 86_400
MAX_LIMIT = 100_000
"""Most rows one paged answer holds: a limited answer is read before its headers are sent
(they carry the next cursor), so ``limit`` bounds its memory; an unlimited one streams."""
TLPS: tuple[str, ...] = get_args(Tlp)
DEFAULT_FORMAT = "csv"
_BOTNET = re.compile(BOTNET_NAME_PATTERN)
_MAX_VALUES = 256


class FeedRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What the route asks the store and the format for."""

    query: FeedQuery
    format: str
    tlp: Tlp
    limited: bool


def _bad(field: str, message: str) -> ApiError:
    return ApiError(422, message, "invalid_parameter", field=field)


def _values(params: dict[str, list[str]], name: str) -> list[str]:
    """Every value of a repeatable parameter, commas splitting too (``asn=1,2&asn=3``)."""
    out = [v.strip() for raw in params.get(name, []) for v in raw.split(",") if v.strip()]
    if len(out) > _MAX_VALUES:
        raise _bad(name, f"at most {_MAX_VALUES} values of {name}")
    return out


def _single(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name, [])
    if len(values) > 1:
        raise _bad(name, f"{name} may be given once")
    return values[0] if values else None


def encode_cursor(key: tuple[str, str]) -> str:
    """The opaque cursor of a (botnet, ip) key."""
    raw = json.dumps([key[0], key[1]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[str, str]:
    """The key a cursor of :func:`encode_cursor` holds; 422 for anything else."""
    try:
        if len(text) > 200:
            raise ValueError("too long")
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        botnet, ip = json.loads(raw)
        if not isinstance(botnet, str) or not _BOTNET.match(botnet) or not isinstance(ip, str):
            raise ValueError("not a cursor")
        return botnet, int_to_ip(ip_to_int(ip))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise _bad(
            "cursor", "cursor is not one this server gave (take it from the Link header)"
        ) from None


def _inside(wanted: FeedScope, allowed: FeedScope) -> None:
    """403 unless every network of ``wanted`` is one of ``allowed``'s (a CIDR may be a
    part of an allowed one)."""
    for asn in wanted.asns:
        if asn not in allowed.asns:
            raise ApiError(
                403, f"AS{asn} is outside this token's networks", "forbidden_scope", field="asn"
            )
    for cc in wanted.countries:
        if cc not in allowed.countries:
            raise ApiError(
                403,
                f"country {cc} is outside this token's networks",
                "forbidden_scope",
                field="country",
            )
    mine = [ipaddress.ip_network(c) for c in allowed.cidrs]
    for cidr in wanted.cidrs:
        net = ipaddress.ip_network(cidr)
        if not any(net.version == m.version and net.subnet_of(m) for m in mine):  # type: ignore[arg-type]
            raise ApiError(
                403, f"{cidr} is outside this token's networks", "forbidden_scope", field="cidr"
            )


def parse_request(
    params: dict[str, list[str]], monitor: Monitor, now: float, known_botnets: Sequence[str]
) -> FeedRequest:
    """The checked request of ``monitor`` (its scope and botnets applied)."""
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise _bad(
            unknown[0], f"unknown parameter {unknown[0][:40]!r}: use {', '.join(PARAMETERS)}"
        )
    until = parse_time("until", _single(params, "until"), now)
    since = parse_time("since", _single(params, "since"), until - DEFAULT_PERIOD_S)
    if since >= until:
        raise _bad("since", "since must be before until")
    if until - since > MAX_PERIOD_S:
        raise _bad("since", f"a feed covers at most {MAX_PERIOD_S // 86400} days")
    fmt = _single(params, "format") or DEFAULT_FORMAT
    if fmt not in FORMAT_NAMES:
        raise _bad("format", f"format must be one of {', '.join(FORMAT_NAMES)}, not {fmt[:40]!r}")
    tlp = (_single(params, "tlp") or "amber").lower()
    if tlp not in TLPS:
        raise _bad("tlp", f"tlp must be one of {', '.join(TLPS)}")
    try:
        wanted = parse_scope(
            _values(params, "asn"), _values(params, "cidr"), _values(params, "country")
        )
    except ScopeError as exc:
        raise _bad(exc.field, str(exc)) from None
    botnets = _values(params, "botnet")
    for name in botnets:
        if not _BOTNET.match(name):
            raise _bad("botnet", f"invalid botnet name {name[:70]!r}")
        if name not in known_botnets:
            raise _bad("botnet", f"unknown botnet {name!r}")
    if monitor.role == "feed":
        _inside(wanted, monitor.scope)
        for name in botnets:
            if monitor.botnets and name not in monitor.botnets:
                raise ApiError(
                    403,
                    f"botnet {name!r} is outside this token's botnets",
                    "forbidden_scope",
                    field="botnet",
                )
        scope = monitor.scope if wanted.is_empty() else wanted
        chosen = tuple(sorted(set(botnets) or set(monitor.botnets)))
    else:
        scope, chosen = wanted, tuple(sorted(set(botnets)))
    cursor = _single(params, "cursor")
    limit_text = _single(params, "limit")
    limit = parse_int("limit", limit_text, MAX_LIMIT, 1, MAX_LIMIT) if limit_text else None
    query = FeedQuery(
        since=since,
        until=until,
        scope=scope,
        botnets=chosen,
        after=decode_cursor(cursor) if cursor else None,
        limit=None if limit is None else limit + 1,
    )
    return FeedRequest(query=query, format=fmt, tlp=tlp, limited=limit is not None)  # type: ignore[arg-type]
