"""botmon's records as BMS storage messages: what the gRPC reporting path puts on the wire.

The field mapping is DESIGN.md's: ``data`` goes as ``other_data`` (JSON text),
``src_id``/``dst_id`` as ``src_bot_id``/``dst_bot_id``. BMS keeps microseconds, so a
timestamp is rounded to the microsecond here (the HTTP path stores the same microsecond).
Addresses go as the ``v4`` (a big-endian number) or ``v6`` (16 bytes) arm of ``IPAddress``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from botmon.bms import bms_storage_pb2 as pb
from botmon.wire import Edge, FailedTry, Reply

_encode_json = msgspec.json.encode
_pton = socket.inet_pton
_AF_INET, _AF_INET6 = socket.AF_INET, socket.AF_INET6


def timestamp(ts: float) -> pb.Timestamp:
    """Seconds since the epoch, to the microsecond, as a BMS ``Timestamp``."""
    seconds, micros = divmod(round(ts * 1_000_000), 1_000_000)
    return pb.Timestamp(unix_seconds=seconds, unix_nano_seconds=micros * 1000)


def address(ip: str) -> pb.IPAddress:
    """An address in text form as a BMS ``IPAddress`` (ValueError when it is not one)."""
    try:
        if ":" in ip:
            return pb.IPAddress(v6=pb.IPv6Address(address=_pton(_AF_INET6, ip)))
        return pb.IPAddress(v4=pb.IPv4Address(address=int.from_bytes(_pton(_AF_INET, ip), "big")))
    except (OSError, TypeError):
        raise ValueError(f"not an IP address: {ip[:60]!r}") from None


def _json(data: Any) -> pb.JSON:
    return pb.JSON(json_string=_encode_json(data).decode())


def reply(r: Reply) -> pb.DatedBotReply:
    """One reply; ``bot_id`` and ``data`` only when the record has them."""
    out = pb.DatedBotReply(timestamp=timestamp(r.timestamp), ip=address(r.ip))
    out.port.port = r.port
    if r.bot_id is not None:
        out.bot_id = r.bot_id
    if r.data is not None:
        out.other_data.CopyFrom(_json(r.data))
    return out


def failed_try(f: FailedTry) -> pb.DatedFailedTry:
    """One failed try; ``bot_id``, ``reason`` and ``data`` only when the record has them."""
    out = pb.DatedFailedTry(timestamp=timestamp(f.timestamp), ip=address(f.ip))
    out.port.port = f.port
    if f.bot_id is not None:
        out.bot_id = f.bot_id
    if f.reason is not None:
        out.reason = f.reason
    if f.data is not None:
        out.other_data.CopyFrom(_json(f.data))
    return out


def edge(e: Edge) -> pb.DatedEdge:
    """One edge; the bot ids only when the record has them."""
    out = pb.DatedEdge(
        timestamp=timestamp(e.timestamp), src_ip=address(e.src_ip), dst_ip=address(e.dst_ip)
    )
    out.src_port.port = e.src_port
    out.dst_port.port = e.dst_port
    if e.src_id is not None:
        out.src_bot_id = e.src_id
    if e.dst_id is not None:
        out.dst_bot_id = e.dst_id
    return out


def reply_batch(batch_id: int, records: Sequence[Reply]) -> pb.StoreDatedBotReplyBatchRequest:
    """A reply batch under ``batch_id`` (the caller keeps it at 10,000 records or fewer)."""
    return pb.StoreDatedBotReplyBatchRequest(batch_id=batch_id, replies=map(reply, records))


def failed_try_batch(
    batch_id: int, records: Sequence[FailedTry]
) -> pb.StoreDatedFailedTryBatchRequest:
    """A failed-try batch under ``batch_id``."""
    return pb.StoreDatedFailedTryBatchRequest(batch_id=batch_id, tries=map(failed_try, records))


def edge_batch(batch_id: int, records: Sequence[Edge]) -> pb.StoreDatedEdgeBatchRequest:
    """An edge batch under ``batch_id``."""
    return pb.StoreDatedEdgeBatchRequest(batch_id=batch_id, edges=map(edge, records))


BATCH_BUILDERS: dict[str, Callable[[int, Any], Any]] = {
    "replies": reply_batch,
    "failed_tries": failed_try_batch,
    "edges": edge_batch,
}
"""Batch request builder per record kind (the keys of :data:`botmon.wire.RECORD_KINDS`)."""
