"""Time to produce one AS's daily feed and a whole per-AS report from a DuckDB store with
100 million replies, beside a plain DuckDB ``GROUP BY asn`` over the same rows.

Run: ``.venv/bin/python benchmarks/feeds.py [--replies 100M] [--db FILE] [--repeat 3]``.

Data (written by SQL inside DuckDB, as ``benchmarks/dashboard.py`` does: ingest speed is
measured elsewhere, the read side here): 28 days of six botnets, a pool of bots per botnet
(``replies / 200``, at least 10,000) of which each reply picks one by a hash, 3,000 ASes
with a skewed size (a few large providers, many small ones) spread over 40 countries, each
AS in one country; a sixth of the bots is heard by a sensor, the rest by a crawler; a tenth
of the bots changes address every day (dynamic addresses). The summary tables are built
once after generating (generated rows bypass the ingest path that keeps them current) and
that time is printed apart.

Measured over the last full UTC day of one botnet, each ``--repeat`` times after one warm-up
(median wall seconds, and the ratio to the baseline):

- baseline: ``SELECT asn, count(DISTINCT ip) FROM replies WHERE <botnet, day> GROUP BY asn``,
  plain DuckDB on the store's own connection, the least work that touches every row;
- one AS's daily feed: the store's ``feed_rows`` for the day's largest AS, encoded by the
  ``csv`` (event4_sinkhole) format to bytes, as ``GET /api/v1/feeds/infected`` does;
- the full per-AS report: ``botmon report daily`` (:func:`botmon.reports.build.write_report`):
  every AS's CSV file, summary, charts, methodology and manifest.

``--db FILE`` keeps the generated store and re-uses it on the next run with the same size.

Measured on the 2-core, 24 GiB test machine (``--repeat 3``, summary tables built):

| replies | bots that day | baseline | one AS's feed | full report (files) |
|---|---|---|---|---|
| 10M | 34,878 | 0.021 s | 0.096 s (4.5x) | 6.2 s, 2,986 files (288x) |
| 100M | 347,717 | 0.135 s | 1.09 s (8.1x, 24,267 bots) | 32.9 s, 3,000 files (244x) |

Generating 100M took 13 min and the one-off full summary build 27 min (both while other
work shared the machine); the store file is 3.4 GB.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from botmon.feeds.formats import feed_format
from botmon.feeds.model import FeedContext, FeedQuery, FeedScope
from botmon.reports.build import ReportRequest, write_report
from botmon.reports.period import period_for
from botmon.store import open_store
from botmon.store.base import Store

DAYS = 28
END = 1_780_012_800.0
"""2026-05-29 00:00 UTC: the data end here; the measured day is the one before."""
BOTNETS = tuple(
    f"bench-{name}" for name in ("hns", "mozi", "sality", "zeroaccess", "hajime", "kad")
)
ASES = 3000
COUNTRIES = [
    "CN",
    "IN",
    "BR",
    "RU",
    "US",
    "VN",
    "ID",
    "DE",
    "MX",
    "EG",
    "TR",
    "IR",
    "GB",
    "FR",
    "UA",
    "JP",
    "NG",
    "AR",
    "ZA",
    "AU",
    "KR",
    "TH",
    "PL",
    "IT",
    "MA",
    "KE",
    "CA",
    "ES",
    "PK",
    "BD",
    "PH",
    "MY",
    "CO",
    "PE",
    "VE",
    "CL",
    "SA",
    "RO",
    "NL",
    "TW",
]


def parse_size(text: str) -> int:
    text = text.strip().upper()
    scale = {"K": 1_000, "M": 1_000_000, "G": 1_000_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("KMG")) * scale)


def _prepare(store: Store) -> tuple[list[int], int, int]:
    store.migrate()
    for name in BOTNETS:
        if store.get_botnet(name) is None:
            store.create_botnet(name, "benchmark data")
    ids = {b.name: b.id for b in store.list_botnets()}
    now = time.time()
    store.record_heartbeat("bench-crawler", now, {"state": "crawling"})
    store.record_heartbeat("bench-sensor", now, {"state": "listening"})
    crawler = store.query("SELECT id FROM sources WHERE name = 'bench-crawler'")[0][0]
    sensor = store.query("SELECT id FROM sources WHERE name = 'bench-sensor'")[0][0]
    return [ids[n] for n in BOTNETS], int(crawler), int(sensor)


def generate(path: str, n: int) -> float:
    """``n`` replies straight into a DuckDB store file; returns the seconds it took."""
    import duckdb

    started = time.perf_counter()
    store = open_store(path)
    try:
        ids, crawler, sensor = _prepare(store)
    finally:
        store.close()
    pool = max(10_000, n // 200)
    start_us = int((END - DAYS * 86400) * 1e6)
    step = DAYS * 86400 * 1e6 / n
    countries = "[" + ",".join(f"'{c}'" for c in COUNTRIES) + "]"
    idarr = "[" + ",".join(str(i) for i in ids) + "]"
    con = duckdb.connect(
        path,
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        },
    )
    con.execute("SET enable_progress_bar = false")
    # b: the botnet; k: the bot; u in [0, 1) skews the AS: few large providers, many small
    bot = f"""
        SELECT i, (i % {len(BOTNETS)}) AS b, (hash(i) % {pool})::BIGINT AS k,
               {start_us} + (i * {step})::BIGINT AS ts_us
        FROM range({n}) t(i)"""
    asn = f"(4000 + floor({ASES} * pow((hash(k * 31 + b) % 1000000) / 1000000.0, 3)))"
    ip = (
        "(281470681743360 + 16777216 + ((b * 1000003 + k * 7919"
        " + CASE WHEN k % 10 = 0 THEN (ts_us // 86400000000) * 131 ELSE 0 END)"
        " % 3000000000))::UHUGEINT"
    )
    sensed = "k % 6 = 0"
    con.execute("BEGIN")
    con.execute(
        f"""INSERT INTO replies (botnet_id, source_id, ts, ip, port, bot_id, data, country,
                                 asn, source_type)
            SELECT list_extract({idarr}, b + 1)::SMALLINT,
                   CASE WHEN {sensed} THEN {sensor} ELSE {crawler} END,
                   make_timestamp(ts_us), {ip}, (1024 + k % 60000)::USMALLINT,
                   CASE WHEN b % 2 = 0 THEN NULL ELSE printf('%02d%010d', b, k) END, NULL,
                   list_extract({countries}, ({asn}::INTEGER % {len(COUNTRIES)}) + 1),
                   {asn}::UINTEGER,
                   CASE WHEN {sensed} THEN 'sensor' ELSE 'crawler' END
            FROM ({bot})"""
    )
    con.execute(
        f"INSERT INTO ases SELECT 4000 + i, 'Bench Net ' || i FROM range({ASES + 1}) t(i) "
        "ON CONFLICT DO NOTHING"
    )
    for b in ids:
        for kind, source in (("crawler", crawler), ("sensor", sensor)):
            con.execute(
                "INSERT INTO batches (source_id, batch_id, botnet_id, received_at, replies,"
                " failed_tries, edges, seq, first_ts, last_ts, source_type) VALUES (?, ?, ?,"
                " now(), 1, 0, 0, nextval('batches_seq'), make_timestamp(?), make_timestamp(?),"
                " ?)",
                [source, f"generated-{b}-{kind}", b, start_us, int(END * 1e6), kind],
            )
    con.execute("COMMIT")
    con.execute("CHECKPOINT")
    con.close()
    return time.perf_counter() - started


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall seconds of ``repeat`` runs after one warm-up, and the last result."""
    result = fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", default="100M", help="replies to generate (default 100M)")
    parser.add_argument("--db", help="keep the generated store in this file (re-used)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = parse_size(args.replies)
    tmp = Path(tempfile.mkdtemp(prefix="botmon-bench-feeds-"))
    db = args.db or str(tmp / "feeds.duckdb")
    marker = Path(db + ".replies")
    try:
        if Path(db).exists() and marker.exists() and marker.read_text() == str(n):
            print(f"re-using {db} ({n:,} replies)")
        else:
            Path(db).unlink(missing_ok=True)
            Path(db + ".summaries").unlink(missing_ok=True)
            took = generate(db, n)
            marker.write_text(str(n))
            print(f"generated {n:,} replies in {took:.1f} s")
        store = open_store(db)
        built = Path(db + ".summaries")
        try:
            if not built.exists():
                t0 = time.perf_counter()
                store.refresh_summaries(full=True)
                built.touch()
                took = time.perf_counter() - t0
                print(f"summary tables built in {took:.1f} s (once, not timed)")
            run(store, args.repeat, tmp)
        finally:
            store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(store: Store, repeat: int, tmp: Path) -> None:
    botnet = BOTNETS[1]
    day = datetime.fromtimestamp(END - 86400, UTC).date()
    period = period_for("daily", day)
    start, end = period.start, period.end
    botnet_id = next(b.id for b in store.list_botnets() if b.name == botnet)
    lo, hi = int(start * 1e6), int(end * 1e6)
    sql = (
        "SELECT asn, count(DISTINCT ip) FROM replies WHERE botnet_id = ? "
        "AND ts >= make_timestamp(?::BIGINT) AND ts < make_timestamp(?::BIGINT) "
        "GROUP BY asn"
    )
    base_s, groups = timed(lambda: store.query(sql, [botnet_id, lo, hi]), repeat)
    replies = store.query(
        "SELECT count(*) FROM replies WHERE botnet_id = ? AND ts >= make_timestamp(?::BIGINT) "
        "AND ts < make_timestamp(?::BIGINT)",
        [botnet_id, lo, hi],
    )[0][0]
    largest, largest_bots = max(groups, key=lambda g: g[1])
    total_bots = sum(g[1] for g in groups)
    print(
        f"day {day} of {botnet}: {replies:,} replies, {total_bots:,} bots in {len(groups):,} ASes;"
        f" the largest, AS{largest}, has {largest_bots:,}"
    )

    fmt = feed_format("csv")

    def one_as() -> int:
        query = FeedQuery(
            since=start, until=end, botnets=(botnet,), scope=FeedScope(asns=(int(largest),))
        )
        context = FeedContext(generated_at=time.time(), since=start, until=end)
        rows = (row for page in store.feed_rows(query) for row in page)
        return sum(len(chunk) for chunk in fmt.write(rows, context))

    feed_s, feed_bytes = timed(one_as, repeat)

    def report() -> int:
        out = Path(tempfile.mkdtemp(dir=tmp))
        try:
            made = write_report(store, ReportRequest(botnet, period, "asn"), out)
            return made.bots
        finally:
            shutil.rmtree(out, ignore_errors=True)

    report_s, report_bots = timed(report, repeat)
    assert report_bots == total_bots, (report_bots, total_bots)
    print()
    print(f"{'what':<44} {'median s':>9} {'x baseline':>11}")
    print(f"{'baseline: plain DuckDB GROUP BY asn':<44} {base_s:>9.3f} {1.0:>11.1f}")
    print(
        f"{f'one AS daily feed (csv, {feed_bytes / 1e6:.1f} MB)':<44} {feed_s:>9.3f}"
        f" {feed_s / base_s:>11.1f}"
    )
    print(
        f"{f'full per-AS report ({len(groups)} files)':<44} {report_s:>9.3f}"
        f" {report_s / base_s:>11.1f}"
    )


if __name__ == "__main__":
    main()
