"""Reading the bots back out of every feed format: one IP extractor per format, each
written to that format's published layout, not to botmon's writer."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

from tests.feeds.sinkhole import parse_sinkhole_csv


def _csv(body: bytes) -> list[str]:
    return [row["src_ip"] for row in parse_sinkhole_csv(body.decode())]


def _json(body: bytes) -> list[str]:
    return [item["src_ip"] for item in json.loads(body)]


def _n6(body: bytes) -> list[str]:
    events = json.loads(body)
    assert all(e["category"] == "bots" for e in events)
    return [a["ip"] for e in events for a in e["address"]]


def _intelmq(body: bytes) -> list[str]:
    lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
    assert all(e["classification.type"] == "infected-system" for e in lines)
    return [e["source.ip"] for e in lines]


EXTRACTORS: dict[str, Callable[[bytes], list[str]]] = {
    "csv": _csv,
    "json": _json,
    "n6": _n6,
    "intelmq": _intelmq,
}
"""Format name -> the addresses its answer lists (one per row). stix, misp and xarf
extractors come with those formats."""


def csv_rows(body: bytes) -> list[dict[str, str]]:
    """A CSV answer as dicts (plain csv module, for field checks)."""
    return list(csv.DictReader(io.StringIO(body.decode())))
