"""BMS batches to botmon's wire batch: what a BMS monitor sends, in the shape HTTP ingest takes.

A BMS batch request (``StoreDated*BatchRequest``, serialized) becomes the JSON body of
``POST /api/v1/ingest`` (:class:`botmon.wire.Batch`), so it then takes the very path an HTTP
batch takes (:func:`botmon.validation.validate_batch`, enrichment, the store's rows). What
only the BMS encoding can get wrong (an IPv6 address that is not 16 bytes, a port of 65536, a
``JSON`` that does not parse, a negative time) is refused here; everything else by the shared
validation. Either way the error names the first bad item in the BMS's own words
(``tries[3].other_data``), which :func:`bms_rejection` makes of botmon's.

Pure functions of bytes: they run in the server's ingest worker processes.
"""

from __future__ import annotations

import hashlib
import socket
from typing import Any

import msgspec
from google.protobuf.message import DecodeError

from botmon.bms import bms_storage_pb2 as pb
from botmon.validation import MAX_RECORDS_PER_KIND, BatchRejected

KINDS = ("replies", "failed_tries", "edges")
"""botmon's record kinds, in the order of the three BMS stream calls."""

BMS_ITEMS = {"replies": "replies", "failed_tries": "tries", "edges": "edges"}
"""The repeated field of each kind's BMS batch request."""

_REQUESTS: dict[str, Any] = {
    "replies": pb.StoreDatedBotReplyBatchRequest,
    "failed_tries": pb.StoreDatedFailedTryBatchRequest,
    "edges": pb.StoreDatedEdgeBatchRequest,
}
RESPONSES: dict[str, Any] = {
    "replies": pb.StoreDatedBotReplyBatchResponse,
    "failed_tries": pb.StoreDatedFailedTryBatchResponse,
    "edges": pb.StoreDatedEdgeBatchResponse,
}
"""The answer message of each kind's batch stream (its only field is the batch id)."""

_BMS_FIELDS = {"data": "other_data", "src_id": "src_bot_id", "dst_id": "dst_bot_id"}
"""botmon field names that differ from the BMS ones (DESIGN §3)."""

_NANOS = 1_000_000_000
_ntop = socket.inet_ntop
_AF_INET6 = socket.AF_INET6
_encode = msgspec.json.Encoder().encode
_decode_json = msgspec.json.Decoder().decode


class BadValue(Exception):
    """A value only the BMS encoding can get wrong: its BMS field and what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _rejected(kind: str, index: int | None, field: str | None, message: str) -> BatchRejected:
    where = BMS_ITEMS[kind] + ("" if index is None else f"[{index}]")
    where += "" if field is None else f".{field}"
    return BatchRejected(
        f"{where}: {message}",
        reason="invalid_record",
        kind=BMS_ITEMS[kind],
        index=index,
        field=field,
    )


def batch_id_for(botnet: str, kind: str, raw: bytes, request: Any) -> str:
    """The botmon batch id of the serialized BMS batch ``raw`` (parsed: ``request``).

    It names the botnet, the kind and a digest of the batch's items, not its BMS batch id
    nor its session: a batch re-sent after a lost acknowledgement is stored once, whether
    in the same session, on a new stream or after the monitor registered anew (a restarted
    server forgot its sessions), and whatever BMS batch id it carries this time. Two
    different batches never share items down to the microsecond, so no new batch is taken
    for an old one.
    """
    lead = _id_field(request.batch_id)
    if raw.startswith(lead):  # protobuf writers (C++, Go, Python) put field 1 first
        items = raw[len(lead) :]
    else:
        copy = type(request)()
        copy.CopyFrom(request)
        copy.ClearField("batch_id")
        items = copy.SerializeToString(deterministic=True)
    return f"bms-{botnet}-{kind}-{hashlib.blake2b(items, digest_size=16).hexdigest()}"


def request_batch_id(kind: str, raw: bytes) -> int:
    """The BMS batch id of the serialized batch request ``raw`` (one :func:`wire_body`
    took), without decoding its items: read as the kind's response message, which has the
    same field 1 and keeps the items as unknown bytes (0.04 ms for 10,000 replies)."""
    batch_id: int = RESPONSES[kind].FromString(raw).batch_id
    return batch_id


def _id_field(batch_id: int) -> bytes:
    """Field 1 (``batch_id``) as protobuf writes it; nothing for 0, proto3's default."""
    if not batch_id:
        return b""
    out = bytearray(b"\x08")
    while batch_id >= 0x80:
        out.append(batch_id & 0x7F | 0x80)
        batch_id >>= 7
    out.append(batch_id)
    return bytes(out)


def _time(ts: Any, field: str) -> float:
    seconds: int = ts.unix_seconds
    nanos: int = ts.unix_nano_seconds
    if seconds < 0 or nanos < 0:
        raise BadValue(field, f"negative time ({seconds} s, {nanos} ns)")
    if nanos >= _NANOS:
        raise BadValue(field, f"{nanos} ns is not below one second")
    # BMS keeps microseconds; whole microseconds as a float round-trip exactly.
    return seconds + (nanos // 1000) / 1_000_000


def ip_text(address: Any, field: str) -> str:
    """An ``IPAddress`` as botmon's address text; :class:`BadValue` naming ``field``."""
    which = address.WhichOneof("address")
    if which == "v4":
        n = address.v4.address
        return f"{n >> 24}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
    if which == "v6":
        raw = address.v6.address
        if len(raw) != 16:
            raise BadValue(field, f"an IPv6 address is 16 bytes, not {len(raw)}")
        return _ntop(_AF_INET6, raw)
    raise BadValue(field, "no address (neither v4 nor v6)")


def port_number(port: Any, field: str) -> int:
    """A ``Port``'s number; :class:`BadValue` naming ``field`` when it is not a port."""
    number: int = port.port
    if number > 65535:
        raise BadValue(field, f"{number} is not a port")
    return number


def _json(holder: Any, name: str) -> msgspec.Raw | None:
    """The ``JSON`` field ``name`` as raw JSON for the batch body, or None when absent."""
    if not holder.HasField(name):
        return None
    text = getattr(holder, name).json_string.strip()
    try:
        value = _decode_json(text)
    except msgspec.DecodeError as exc:
        raise BadValue(name, f"not valid JSON ({exc})") from None
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadValue(name, f"must be a JSON object, not {type(value).__name__}")
    return msgspec.Raw(text.encode())


def _reply(item: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "timestamp": _time(item.timestamp, "timestamp"),
        "ip": ip_text(item.ip, "ip"),
        "port": port_number(item.port, "port"),
    }
    if item.HasField("bot_id"):
        out["bot_id"] = item.bot_id
    data = _json(item, "other_data")
    if data is not None:
        out["data"] = data
    return out


def _failed_try(item: Any) -> dict[str, Any]:
    out = _reply(item)
    if item.HasField("reason"):
        out["reason"] = item.reason
    return out


def _edge(item: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "timestamp": _time(item.timestamp, "timestamp"),
        "src_ip": ip_text(item.src_ip, "src_ip"),
        "src_port": port_number(item.src_port, "src_port"),
        "dst_ip": ip_text(item.dst_ip, "dst_ip"),
        "dst_port": port_number(item.dst_port, "dst_port"),
    }
    if item.HasField("src_bot_id"):
        out["src_id"] = item.src_bot_id
    if item.HasField("dst_bot_id"):
        out["dst_id"] = item.dst_bot_id
    return out


_CONVERT = {"replies": _reply, "failed_tries": _failed_try, "edges": _edge}


def wire_body(kind: str, botnet: str, raw: bytes) -> bytes:
    """The ingest JSON body of one serialized BMS batch request of ``kind``.

    Raises :class:`BatchRejected` (in BMS words) for a request that does not decode, holds
    more than 10,000 items or an item only the BMS encoding can get wrong.
    """
    request = _REQUESTS[kind]()
    try:
        request.ParseFromString(raw)
    except DecodeError:
        raise BatchRejected(
            f"not a {type(request).__name__} message", reason="malformed_json"
        ) from None
    items = getattr(request, BMS_ITEMS[kind])
    if len(items) > MAX_RECORDS_PER_KIND:
        raise _rejected(
            kind, None, None, f"{len(items)} items; a batch holds at most {MAX_RECORDS_PER_KIND}"
        )
    records = _one_by_one(kind, items)
    body: dict[str, Any] = {
        "botnet": botnet,
        "batch_id": batch_id_for(botnet, kind, raw, request),
    }
    body[kind] = records
    return _encode(body)


def _one_by_one(kind: str, items: Any) -> list[dict[str, Any]]:
    convert = _CONVERT[kind]
    records = []
    for index, item in enumerate(items):
        try:
            records.append(convert(item))
        except BadValue as bad:
            raise _rejected(kind, index, bad.field, bad.message) from None
    return records


def bms_rejection(exc: BatchRejected, kind: str) -> str:
    """The message of a refused batch in BMS words (``tries[3].other_data: ...``)."""
    if exc.kind != kind or exc.index is None:
        return exc.message  # batch-level, or made by wire_body (already in BMS words)
    field = _BMS_FIELDS.get(exc.field or "", exc.field)
    botmon_where = f"{kind}[{exc.index}]" + (f".{exc.field}" if exc.field else "")
    detail = exc.message
    if detail.startswith(botmon_where + ": "):
        detail = detail[len(botmon_where) + 2 :]
    where = f"{BMS_ITEMS[kind]}[{exc.index}]" + (f".{field}" if field else "")
    return f"{where}: {detail}"
