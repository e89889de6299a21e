"""What the feed formats share: times in UTC text, stable event ids, a botnet's transport,
and chunking rows into bytes without holding more than a chunk."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache

from botmon.feeds.model import FeedRow, Tlp

CHUNK_ROWS = 1000
"""Rows encoded per chunk the writers yield: large enough that the HTTP layer is not called
per row, small enough to stay a few hundred kilobytes."""

N6_RESTRICTION: dict[Tlp, str] = {
    "clear": "public",
    "green": "need-to-know",
    "amber": "need-to-know",
    "amber+strict": "internal",
    "red": "internal",
}
"""n6's ``restriction`` for a TLP label: who may see the event (public, a need-to-know
circle, or the recipient's organisation only)."""


def iso_utc(epoch: float) -> str:
    """``2024-05-01T12:00:00Z``: seconds precision, UTC, as the sinkhole reports give it."""
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_offset(epoch: float) -> str:
    """``2024-05-01T12:00:00+00:00``: the form IntelMQ's DateTime fields are kept in."""
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).isoformat()


def event_id(row: FeedRow, producer: str = "botmon") -> str:
    """A stable id of one sighting (producer, botnet, address, first seen): the same bot
    in the same period has the same id in every format and every request, so a recipient
    can de-duplicate deliveries that overlap."""
    key = f"{producer}|{row.botnet}|{row.ip}|{row.first_seen:.6f}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@lru_cache(maxsize=256)
def transport(botnet: str) -> str:
    """``udp`` or ``tcp``: the transport of the protocol plugin named like the botnet, or
    ``""`` when no plugin has that name (a botnet may be named freely)."""
    from botmon.protocols.registry import PluginError, get_plugin

    try:
        return get_plugin(botnet).transport
    except PluginError:
        return ""


def chunked(rows: Iterable[FeedRow], encode: Callable[[list[FeedRow]], bytes]) -> Iterator[bytes]:
    """``encode`` applied to :data:`CHUNK_ROWS` rows at a time, reading ``rows`` lazily."""
    chunk: list[FeedRow] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK_ROWS:
            yield encode(chunk)
            chunk = []
    if chunk:
        yield encode(chunk)


def json_array(items: Iterator[bytes]) -> Iterator[bytes]:
    """A JSON array streamed from chunks of comma-joined encoded items."""
    yield b"["
    first = True
    for item in items:
        if not item:
            continue
        yield item if first else b"," + item
        first = False
    yield b"]\n"
