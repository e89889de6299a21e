"""A report request and the choices it takes, shared by the CLI and the API without loading
the report builder (and matplotlib) just to check an argument."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from botmon.feeds.model import Tlp
from botmon.reports.period import Period

Per = Literal["asn", "country"]
PERS: tuple[Per, ...] = ("asn", "country")
TLPS: tuple[str, ...] = get_args(Tlp)


class ReportError(Exception):
    """A report that cannot be made (unknown botnet, unusable directory): one line."""


@dataclass(frozen=True)
class ReportRequest:
    """Which report: the botnet, its period, files per AS or country, the TLP label."""

    botnet: str
    period: Period
    per: Per = "asn"
    tlp: Tlp = "amber"
    producer: str = "botmon"
