"""Which formats and record fields a file may carry, and how a format is chosen.

The field lists mirror :mod:`botmon.wire`; exports may add context columns (``botnet``,
``source``, enrichment) that an import ignores, so an export can be imported again as is.
``source_type`` (``crawler`` or ``sensor``, absent: ``crawler``) is the one context column an
import keeps: it says what saw the record, and is stored with it.
"""

from __future__ import annotations

from pathlib import Path

FORMATS = ("csv", "jsonl", "parquet")

KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "replies": ("timestamp", "ip", "port", "bot_id", "data"),
    "failed_tries": ("timestamp", "ip", "port", "bot_id", "reason", "data"),
    "edges": ("timestamp", "src_ip", "src_port", "dst_ip", "dst_port", "src_id", "dst_id"),
}
"""Record fields per kind, in the order exports write them."""

REQUIRED_FIELDS: dict[str, frozenset[str]] = {
    "replies": frozenset({"timestamp", "ip", "port"}),
    "failed_tries": frozenset({"timestamp", "ip", "port"}),
    "edges": frozenset({"timestamp", "src_ip", "src_port", "dst_ip", "dst_port"}),
}

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}

_EXTENSIONS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class TransferError(ValueError):
    """A file that cannot be read or written as asked; the message is one line for the user."""


def choose_format(path: str | None, explicit: str | None) -> str:
    """``explicit`` when given, else the format the file name's extension names."""
    if explicit is not None:
        if explicit not in FORMATS:
            raise TransferError(f"unknown format {explicit!r}: one of {', '.join(FORMATS)}")
        return explicit
    if path is None or path == "-":
        raise TransferError("give --format: it cannot be told from standard input/output")
    suffix = Path(path).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise TransferError(
            f"cannot tell the format of {path!r} from its extension; give --format "
            f"({', '.join(FORMATS)})"
        )
    return _EXTENSIONS[suffix]
