"""A parser for Shadowserver sinkhole event CSV written to the published column list
(``tests/fixtures/shadowserver_event4_sinkhole.txt``), as a recipient's pipeline would:
the header must name exactly those columns in that order, numbers must parse, addresses
must be addresses, timestamps UTC."""

from __future__ import annotations

import csv
import datetime as dt
import io
import ipaddress
from pathlib import Path

FIXTURE = Path(__file__).parent.parent / "fixtures" / "shadowserver_event4_sinkhole.txt"


def published_columns() -> list[str]:
    lines = FIXTURE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def parse_sinkhole_csv(text: str) -> list[dict[str, str]]:
    """Rows of a sinkhole CSV; AssertionError when it does not follow the layout."""
    columns = published_columns()
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    assert header == columns, f"header {header} is not the published layout"
    rows = []
    for values in reader:
        assert len(values) == len(columns)
        row = dict(zip(columns, values, strict=True))
        when = dt.datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00"))
        assert when.utcoffset() == dt.timedelta(0)
        ipaddress.ip_address(row["src_ip"])
        for number in ("src_port", "src_asn", "dst_port", "dst_asn"):
            if row[number]:
                int(row[number])
        if row["src_geo"]:
            assert len(row["src_geo"]) == 2 and row["src_geo"].isupper()
        rows.append(row)
    return rows
