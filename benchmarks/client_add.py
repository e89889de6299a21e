"""What journaling costs the crawl loop: ``ReportClient.add()`` with and without the journal.

The report client writes each add() call's records to its journal before returning (so a
killed crawler loses nothing). The baseline, in the same run, is the same client with the
journal's write turned off, which is what add() cost before, so the difference is the
journal alone. The client is started against a closed loopback port, so sealed batches are
spooled by its writer thread, outside the time measured. Calls carry ``--per-call``
records, as the crawl engine's flushes do.

Usage: ``.venv/bin/python benchmarks/client_add.py [--records N] [--per-call K]``
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from botmon.client import ClientSettings, ReportClient
from botmon.wire import Reply


def _replies(n: int) -> list[Reply]:
    t0 = time.time() - 3600
    return [
        Reply(t0 + i * 1e-3, f"127.{1 + i // 65536}.{(i >> 8) & 255}.{i & 255}", 6000,
              bot_id=f"{i:040x}", data={"version": 3, "peers": 12})
        for i in range(n)
    ]  # fmt: skip


async def _run(records: list[Reply], per_call: int, journal: bool) -> float:
    """Records per second through add() (the time spent inside add() only)."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = ClientSettings(start_check_timeout_s=0.5, max_sealed_in_memory=1_000)
        client = ReportClient(
            "http://127.0.0.1:9", "t", "hns", spool_dir=Path(tmp) / "spool", settings=settings
        )
        if not journal:
            client._journal.append = lambda *args: None  # type: ignore[method-assign]
        await client.start()  # nothing listens on port 9: batches stay in the spool
        spent = 0.0
        for i in range(0, len(records), per_call):
            start = time.perf_counter()
            client.add(replies=records[i : i + per_call])
            spent += time.perf_counter() - start
            await asyncio.sleep(0)  # the writer thread and the loop go on between calls
        await client.close(timeout=0)
    return len(records) / spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--per-call", type=int, default=50)
    args = parser.parse_args()
    records = _replies(args.records)
    for _ in range(2):  # the second round is the one to read (warm caches and imports)
        without = asyncio.run(_run(records, args.per_call, journal=False))
        with_journal = asyncio.run(_run(records, args.per_call, journal=True))
    print(f"add() without journal: {without:,.0f} records/s")
    print(f"add() with journal:    {with_journal:,.0f} records/s ({with_journal / without:.0%})")
    print(f"journal cost: {1e6 / with_journal - 1e6 / without:.2f} µs per record")


if __name__ == "__main__":
    main()
