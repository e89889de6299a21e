"""botmon's wire contract: the records it stores and the batch that carries them over HTTP.

These frozen msgspec structs are what protocol plugins produce, what the crawler client
batches and encodes, and (once decoded by :mod:`botmon.validation`) what the store writes.
Field names follow DESIGN §3: the original BMS's ``other_data`` is ``data`` here and its
``src_bot_id``/``dst_bot_id`` are ``src_id``/``dst_id``. Timestamps are UTC epoch seconds.
``botnet`` and ``source`` are not part of a record: the batch names the botnet and the
server takes the source from the caller's token.
"""

from __future__ import annotations

from typing import Any

import msgspec

JsonObject = dict[str, Any]


class Reply(msgspec.Struct, frozen=True, omit_defaults=True):
    """Any interaction with a bot at a time: a crawl answer, a sensor contact, a honeypot hit."""

    timestamp: float
    ip: str
    port: int
    bot_id: str | None = None
    data: JsonObject | None = None


class FailedTry(msgspec.Struct, frozen=True, omit_defaults=True):
    """A peer that was contacted and did not answer; tells "offline" from "not asked"."""

    timestamp: float
    ip: str
    port: int
    bot_id: str | None = None
    reason: str | None = None
    data: JsonObject | None = None


class Edge(msgspec.Struct, frozen=True, omit_defaults=True):
    """Bot ``src`` listed bot ``dst`` as a peer: one edge of the P2P graph."""

    timestamp: float
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    src_id: str | None = None
    dst_id: str | None = None


class Batch(msgspec.Struct, frozen=True):
    """The body of ``POST /api/v1/ingest``: at most 10,000 records of each kind."""

    botnet: str
    batch_id: str
    replies: list[Reply] = []
    failed_tries: list[FailedTry] = []
    edges: list[Edge] = []


RECORD_KINDS = ("replies", "failed_tries", "edges")
"""The record kinds in the order the API, the store and the metrics name them."""
