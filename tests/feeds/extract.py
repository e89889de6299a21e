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


def _stix(body: bytes) -> list[str]:
    """The address each Observed-Data refers to (one per bot and botnet), read with the
    stix2 library."""
    import stix2

    bundle = stix2.parse(body.decode(), allow_custom=False)
    addresses = {o.id: o.value for o in bundle.objects if o.type in ("ipv4-addr", "ipv6-addr")}
    return [addresses[o.object_refs[0]] for o in bundle.objects if o.type == "observed-data"]


def _misp(body: bytes) -> list[str]:
    """The ip-src attributes of the event, read with pymisp."""
    from pymisp import MISPEvent

    event = MISPEvent()
    event.load(body.decode())
    return [a.value for a in event.attributes if a.type == "ip-src"]


def _xarf(body: bytes) -> list[str]:
    """The Source of each mail's X-ARF report (second MIME part, YAML), read with the
    stdlib mailbox and email packages."""
    import email
    import email.policy
    import mailbox
    import tempfile
    from pathlib import Path

    import yaml

    ips = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "feed.mbox"
        path.write_bytes(body)
        box = mailbox.mbox(str(path), create=False)
        try:
            for entry in box:
                msg = email.message_from_bytes(entry.as_bytes(), policy=email.policy.default)
                assert msg["X-XARF"] == "PLAIN"
                report = list(msg.iter_parts())[1]
                ips.append(yaml.safe_load(report.get_content())["Source"])  # type: ignore[attr-defined]
        finally:
            box.close()
    return ips


EXTRACTORS: dict[str, Callable[[bytes], list[str]]] = {
    "csv": _csv,
    "json": _json,
    "n6": _n6,
    "intelmq": _intelmq,
    "stix": _stix,
    "misp": _misp,
    "xarf": _xarf,
}
"""Format name -> the addresses its answer lists (one per row)."""


def csv_rows(body: bytes) -> list[dict[str, str]]:
    """A CSV answer as dicts (plain csv module, for field checks)."""
    return list(csv.DictReader(io.StringIO(body.decode())))
