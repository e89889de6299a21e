"""What the gRPC reporting tests share: a botmon server that also speaks BMS, a reporter that
hands records to several clients, and the export of a store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from botmon.wire import Edge, FailedTry, Reply
from tests.e2e.conftest import read_records
from tests.fixtures.server import LiveServer, free_port, start_live_server

KINDS = ("replies", "failed_tries", "edges")


class Reporter(Protocol):
    """Anything with the crawl engine's ``add`` (a report client, a list)."""

    def add(
        self,
        *,
        replies: Sequence[Reply] = (),
        failed_tries: Sequence[FailedTry] = (),
        edges: Sequence[Edge] = (),
    ) -> None: ...


class Both:
    """Hands every record the crawler reports to each reporter."""

    def __init__(self, reporters: Sequence[Reporter]) -> None:
        self.reporters = reporters

    def add(
        self,
        *,
        replies: Sequence[Reply] = (),
        failed_tries: Sequence[FailedTry] = (),
        edges: Sequence[Edge] = (),
    ) -> None:
        for reporter in self.reporters:
            reporter.add(replies=list(replies), failed_tries=list(failed_tries), edges=list(edges))


QUICK = ("--ingest-workers", "0")
"""Ingest in the server process: it starts and stops in half the time (tests, not figures)."""


def start_bms_server(workdir: Path) -> tuple[LiveServer, int]:
    """``botmon serve`` on a fresh DuckDB file with the BMS API in plaintext; its gRPC port."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = (*QUICK, "--grpc-port", str(port), "--grpc-plaintext")
    return start_live_server(str(workdir / "botmon.duckdb"), workdir, args), port


def export(server: LiveServer, botnet: str, kind: str) -> list[dict[str, Any]]:
    """The JSON-lines export of one kind, in a stable order: what ``botmon export`` fetches
    from a running server (``GET /api/v1/botnets/B/records/KIND?format=jsonl``)."""
    return sorted(read_records(server, botnet, kind), key=json.dumps)
