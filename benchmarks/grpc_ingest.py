"""Ingest over the BMS gRPC API beside the HTTP JSON API: replies/s into DuckDB, same run.

Run: ``.venv/bin/python benchmarks/grpc_ingest.py [--replies N] [--rounds R]``.

One ``botmon serve --grpc-port --grpc-plaintext`` subprocess (its default ingest workers) on
a fresh DuckDB file takes the same 10,000-reply batches (the records of
``benchmarks/ingest.py``: loopback addresses, bot ids, a tenth with data) both ways, from one
sender process at a time with one batch in flight, as a crawler's report client sends:

- HTTP: ``POST /api/v1/ingest`` with the JSON body;
- gRPC: ``StoreDatedBotReplyBatch`` requests on one stream of one session, each waiting for
  its acknowledgement.

Senders encode every body before the clock starts (JSON once per record set; protobuf once,
each batch id prepended as bytes), so the figures are the server's: receive, decode, validate,
enrich, write. The two paths alternate for ``--rounds`` rounds after a warm-up of each
(workers started, caches filled); the best round of each is compared, with the server's CPU
per million replies. ``--client`` adds the whole report client (``ReportClient`` with its
journal, spool and encoding) over each protocol, end to end. Target: gRPC at least as fast as
HTTP (ratio >= 1.0).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import queue as queue_module
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import grpc
import httpx
import msgspec

import ingest
from botmon.bms import bms_storage_pb2 as pb
from botmon.client.bms_records import reply_batch
from botmon.wire import Reply
from ingest import BATCH, body, cpu_s, free_port, record_payloads

MONITOR = "bench-crawler"
TEMPLATES = 4
_METHOD = "/grpc_api.BMSStorageService/StoreDatedBotReplyBatch"


class Server(ingest.Server):
    """``botmon serve`` with the BMS API in plaintext, a crawler token and botnet ``bench``."""

    def __init__(self, db: str, workdir: Path) -> None:
        self.grpc_port = free_port()
        grpc_args = ("--grpc-port", str(self.grpc_port), "--grpc-plaintext")
        super().__init__(db, workdir, extra_args=grpc_args, startup_s=60)
        self.token = self.crawler


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def bms_payloads(payloads: list[bytes]) -> list[bytes]:
    """The same replies as serialized BMS batch requests without their batch id (field 1,
    prepended per batch: a proto3 message may be concatenated field by field)."""
    return [
        reply_batch(0, msgspec.json.decode(p, type=list[Reply])).SerializeToString()
        for p in payloads
    ]


def _http_sender(url: str, token: str, batches: int, out: Any) -> None:
    payloads = record_payloads(TEMPLATES)
    bodies = [
        body("bench", payloads[n % TEMPLATES], f"h-{uuid.uuid4().hex}") for n in range(batches)
    ]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=url, headers=headers, timeout=120, trust_env=False) as client:
        out.put(("ready", 0))
        sent = 0
        for b in bodies:
            r = client.post("/api/v1/ingest", content=b)
            if r.status_code != 200:
                out.put(("error", f"{r.status_code} {r.text[:200]}"))
                return
            sent += r.json()["stored"]["replies"]
    out.put(("done", sent))


def _grpc_sender(target: str, token: str, batches: int, out: Any) -> None:
    from botmon.client.grpc_transport import token_bytes

    templates = bms_payloads(record_payloads(TEMPLATES))
    with grpc.insecure_channel(target, [("grpc.enable_http_proxy", 0)]) as channel:
        register = channel.unary_unary(
            "/grpc_api.BMSStorageService/RegisterSession",
            request_serializer=pb.RegisterSessionRequest.SerializeToString,
            response_deserializer=pb.RegisterSessionResponse.FromString,
        )
        answer = register(
            pb.RegisterSessionRequest(botnet_id="bench"),
            metadata=(("auth-monitor-id", MONITOR), ("auth-token-bin", token_bytes(token))),
        )
        session = (("session-token-bin", answer.session_token.token),)
        first = int(time.time() * 1000) % (1 << 30)  # unique within the session anyway
        requests = [b"\x08" + _varint(first + n) + templates[n % TEMPLATES] for n in range(batches)]
        stream = channel.stream_stream(
            _METHOD,
            request_serializer=lambda raw: raw,
            response_deserializer=pb.StoreDatedBotReplyBatchResponse.FromString,
        )
        out.put(("ready", 0))
        # One batch in flight: the next request is released by the previous acknowledgement.
        acked: queue_module.SimpleQueue[int] = queue_module.SimpleQueue()

        def feed() -> Any:
            for n, request in enumerate(requests):
                if n:
                    acked.get()
                yield request

        sent = 0
        try:
            for response in stream(feed(), metadata=session):
                if response.batch_id != first + sent // BATCH:
                    out.put(("error", f"acknowledged {response.batch_id} out of order"))
                    return
                sent += BATCH
                acked.put(response.batch_id)
        except grpc.RpcError as exc:
            out.put(("error", f"{exc.code()} {exc.details()}"))
            return
    out.put(("done", sent))


def rate(server: Server, protocol: str, replies: int) -> tuple[float, float]:
    """(replies/s, server CPU-s per million replies) of one sender process."""
    batches = max(1, replies // BATCH)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    if protocol == "http":
        args: tuple[Any, ...] = (server.url, server.token, batches, queue)
        proc = ctx.Process(target=_http_sender, args=args)
    else:
        args = (f"127.0.0.1:{server.grpc_port}", server.token, batches, queue)
        proc = ctx.Process(target=_grpc_sender, args=args)
    proc.start()
    kind, value = queue.get(timeout=300)
    if kind != "ready":
        raise RuntimeError(f"{protocol} sender: {value}")
    cpu0, start = cpu_s(server.proc.pid), time.perf_counter()
    kind, value = queue.get(timeout=3600)
    elapsed = time.perf_counter() - start
    cpu = cpu_s(server.proc.pid) - cpu0
    proc.join(30)
    if kind != "done":
        raise RuntimeError(f"{protocol} ingest failed: {value}")
    return value / elapsed, cpu / value * 1e6


async def _client_rate(server: Server, url: str, replies: int, spool: Path) -> float:
    from botmon.client import ClientSettings, ReportClient

    records = [
        r for p in record_payloads(TEMPLATES) for r in msgspec.json.decode(p, type=list[Reply])
    ]
    client = ReportClient(
        url,
        server.token,
        "bench",
        spool_dir=spool,
        settings=ClientSettings(flush_interval_s=0.2),
        monitor_id=MONITOR,
    )
    await client.start()
    start = time.perf_counter()
    added = 0
    while added < replies:
        chunk = records[: min(len(records), replies - added)]
        client.add(replies=chunk)
        added += len(chunk)
        await asyncio.sleep(0)
    ok = await client.flush(timeout=600)
    elapsed = time.perf_counter() - start
    await client.close(timeout=30)
    if not ok or client.stats["stored_replies"] != replies:
        raise RuntimeError(f"client over {url} did not deliver: {client.stats}")
    return replies / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=500_000, help="replies per timed run")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs of each protocol")
    parser.add_argument("--client", action="store_true", help="also the whole report client")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="botmon-bench-grpc-") as tmp:
        workdir = Path(tmp)
        server = Server(str(workdir / "bench.duckdb"), workdir)
        try:
            for protocol in ("http", "grpc"):  # warm-up: worker start-up, address caches
                rate(server, protocol, 100_000)
            results: dict[str, list[tuple[float, float]]] = {"http": [], "grpc": []}
            for _ in range(args.rounds):
                for protocol in ("http", "grpc"):
                    results[protocol].append(rate(server, protocol, args.replies))
            best = {p: max(rs) for p, rs in results.items()}
            for protocol, runs in results.items():
                shown = ", ".join(f"{r:,.0f}" for r, _ in runs)
                print(
                    f"DuckDB, {protocol:4}: best {best[protocol][0]:,.0f} replies/s "
                    f"(runs: {shown}); server and workers {best[protocol][1]:.2f} CPU-s per "
                    "million replies"
                )
            ratio = best["grpc"][0] / best["http"][0]
            verdict = "meets" if ratio >= 1.0 else "MISSES"
            print(f"gRPC/HTTP = {ratio:.2f} ({verdict} the target: gRPC at least as fast)")
            if args.client:
                urls = {
                    "http": server.url,
                    "grpc": f"grpc://127.0.0.1:{server.grpc_port}",
                }
                client = {
                    p: asyncio.run(_client_rate(server, u, args.replies, workdir / f"spool-{p}"))
                    for p, u in urls.items()
                }
                print(
                    f"report client end to end: HTTP {client['http']:,.0f} replies/s, gRPC "
                    f"{client['grpc']:,.0f} replies/s, gRPC/HTTP = "
                    f"{client['grpc'] / client['http']:.2f}"
                )
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
