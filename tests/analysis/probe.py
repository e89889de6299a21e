"""A small test-only analysis, registered in place of the real ones, so the frame (command,
API, schedule, cache) is tested on its own: distinct addresses and replies per address from
the store's ``sightings``, with one option of each kind and an exporter of its own.

``CALLS`` counts computations, so tests can tell a cached answer from a computed one.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from typing import IO

import msgspec
import pytest

from botmon.analysis import framework
from botmon.analysis.framework import Analysis, AnalysisRequest, Option, ResultBase, Section
from botmon.analysis.scope import botnet_id
from botmon.settings.analysis import AnalysisSettings
from botmon.store.base import Store

CALLS: Counter[str] = Counter()


class ProbeResult(ResultBase, kw_only=True):
    """Distinct addresses and replies per address."""

    addresses: int
    replies: int
    per_address: list[tuple[str, int]]


def _sections(self: ProbeResult) -> list[Section]:
    return [
        Section(
            "addresses",
            "Replies per address",
            ["address", "replies"],
            [[a, n] for a, n in self.per_address],
        ),
        Section("totals", "Totals", ["addresses", "replies"], [[self.addresses, self.replies]]),
    ]


ProbeResult.sections = _sections  # type: ignore[method-assign]


def _compute(store: Store, request: AnalysisRequest) -> ProbeResult:
    CALLS[request.botnet] += 1
    bid = botnet_id(store, request.botnet)
    opts = request.options
    table = store.sightings(
        bid, "replies", request.start, request.end, opts["bucket_s"], request.source
    ).to_pylist()
    counts: Counter[str] = Counter()
    for row in table:
        key = row["ip"] if opts["by"] == "ip" else f"{row['ip']}:{row['port']}"
        counts[key] += row["n"]
    rows = sorted(counts.items())[: opts["limit"]]
    return ProbeResult(
        analysis="probe",
        botnet=request.botnet,
        start=request.start,
        end=request.end,
        method=f"distinct {opts['by']} over {opts['bucket_s']} s buckets",
        params=dict(opts),
        vantage_points=[],
        computed_at=time.time(),
        addresses=len(counts),
        replies=sum(counts.values()) if opts["count_replies"] else 0,
        per_address=rows,
    )


def _export_lines(store: Store, request: AnalysisRequest, out: IO[bytes]) -> None:
    """One address a line: the exporter path of ``--format lines -o FILE``."""
    result = _compute(store, request)
    for address, n in result.per_address:
        out.write(f"{address} {n}\n".encode())


PROBE = Analysis(
    name="probe",
    title="Probe: replies per address",
    summary="Distinct addresses and the replies of each (test analysis).",
    options=(
        Option(
            "bucket_s",
            "int",
            AnalysisSettings().bucket_s,
            "Bucket (seconds).",
            minimum=60,
            maximum=86400,
        ),
        Option("by", "choice", "ip", "Count ip or ip_port.", choices=("ip", "ip_port")),
        Option("count_replies", "bool", True, "Sum replies."),
        Option("limit", "int", 1000, "Most addresses listed.", minimum=1),
        Option("ratio", "float", 0.5, "Unused by the numbers; echoed.", minimum=0, maximum=1),
    ),
    compute=_compute,
    result_type=ProbeResult,
    default_range_s=3 * 86400,
    exports={"lines": _export_lines},
)


@pytest.fixture
def probe_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Analysis]:
    """The registry holding only the probe analysis."""
    real_get = framework.get

    def get(name: str) -> Analysis:
        if name == "probe":
            return PROBE
        return real_get(name)

    monkeypatch.setattr(framework, "ANALYSIS_NAMES", ("probe",))
    monkeypatch.setattr(framework, "get", get)
    CALLS.clear()
    yield PROBE


def encode(result: ResultBase) -> bytes:
    return msgspec.json.encode(framework.to_json(result))
