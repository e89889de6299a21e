"""The trace generator against its own truth: what the modelled crawler and sensor recorded
must be exactly what the modelled population allowed them to record.

One small trace (DuckDB) is generated per module and inspected from several sides; a tiny one
runs on both backends to show they store the same; the CLI gets a run of its own.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from botmon.cli.main import cli
from botmon.sim.geo import Geo
from botmon.sim.trace import (
    CRAWLER_SOURCE,
    DAY,
    HOUR,
    SENSOR_SOURCE,
    TraceModel,
    TraceTruth,
    TruthBot,
    generate_trace,
)
from botmon.sim.trace_population import as_period_s, v4_text
from botmon.store import open_store
from botmon.store.base import Store

START = 1_790_000_000.0
"""A fixed start (2026-09-21 14:13 UTC) so the trace does not depend on today."""
MODEL = TraceModel(
    botnet="trace-test",
    bots=300,
    days=3,
    start=START,
    peers_per_reply=4,
    foreign_sensors=3,
    foreign_crawlers=2,
    loss=0.1,
)
SEED = 3


@pytest.fixture(scope="module")
def geo() -> Geo:
    return Geo()


@pytest.fixture(scope="module")
def traced(
    tmp_path_factory: pytest.TempPathFactory, geo: Geo
) -> Iterator[tuple[Store, TraceTruth]]:
    store = open_store(str(tmp_path_factory.mktemp("trace") / "trace.duckdb"))
    store.migrate()
    truth = generate_trace(store, MODEL, seed=SEED, geo=geo)
    yield store, truth
    store.close()


def _botnet_id(store: Store, name: str) -> int:
    found = store.get_botnet(name)
    assert found is not None
    return found.id


def _replies(store: Store, source: str) -> list[tuple[float, str, int, str | None]]:
    """(ts, ip, port, bot_id) of the replies one monitor recorded, sorted."""
    table = store.contacts(_botnet_id(store, MODEL.botnet), START, START + 10 * DAY, None)
    return sorted(
        (r["ts_us"] / 1e6, r["ip"], r["port"], r["bot_id"])
        for r in table.to_pylist()
        if r["source"] == source
    )


def _failed_first_day(store: Store) -> list[tuple[float, str, int]]:
    """(ts, ip, port) of the failed tries of the trace's first day (IPv4 read as a number:
    the generic text conversion of ``query`` is slow for this many rows)."""
    rows = store.query(
        "SELECT epoch_us(f.ts), (f.ip & 4294967295)::UBIGINT, f.port FROM failed_tries f"
        " JOIN botnets b ON b.id = f.botnet_id WHERE b.name = ? AND f.ts < make_timestamp(?)",
        [MODEL.botnet, int((START + DAY) * 1e6)],
    )
    return [(ts / 1e6, v4_text(ip), port) for ts, ip, port in rows]


class _Index:
    """Which truth bot had an address at an instant, and whether it was online then."""

    def __init__(self, truth: TraceTruth) -> None:
        self.by_address: dict[tuple[str, int], list[tuple[float, float, TruthBot]]] = defaultdict(
            list
        )
        for bot in truth.bots:
            for ip, port, since, until in bot.addresses:
                self.by_address[(ip, port)].append((since, until, bot))

    def bot_at(self, ip: str, port: int, t: float) -> TruthBot | None:
        for since, until, bot in self.by_address.get((ip, port), []):
            if since <= t < until:
                return bot
        return None

    @staticmethod
    def online(bot: TruthBot, t: float) -> bool:
        starts = _STARTS.get(id(bot))
        if starts is None:
            starts = _STARTS[id(bot)] = [s for s, _ in bot.sessions]
        i = bisect.bisect_right(starts, t) - 1
        return i >= 0 and t < bot.sessions[i][1]


_STARTS: dict[int, list[float]] = {}
"""Session starts per truth bot (by identity; the module's truth lives as long as this)."""


def _throttled(truth: TraceTruth, country: str | None, t: float) -> bool:
    throttle = truth.model.throttle
    if throttle is None or country != throttle[0]:
        return False
    return throttle[1] <= int(t // HOUR) % 24 < throttle[2]


def test_every_crawler_reply_comes_from_an_online_responsive_unthrottled_bot(
    traced: tuple[Store, TraceTruth], geo: Geo
) -> None:
    store, truth = traced
    index = _Index(truth)
    monitors = {(m.ip, m.port): m for m in truth.monitors}
    replies = _replies(store, CRAWLER_SOURCE)
    assert len(replies) == truth.replies > 10_000
    from_bots = 0
    for t, ip, port, bot_id in replies:
        monitor = monitors.get((ip, port))
        if monitor is not None:
            assert monitor.kind == "sensor" and bot_id == monitor.bot_id
            continue
        bot = index.bot_at(ip, port, t)
        assert bot is not None, (t, ip, port)
        assert bot.bot_id == bot_id
        assert not bot.nat
        assert index.online(bot, t)
        assert not _throttled(truth, bot.country, t)
        assert START <= t < truth.end
        from_bots += 1
    # Country and AS as ingest's enrichment places the address.
    seen = store.sightings(_botnet_id(store, MODEL.botnet), "replies", START, truth.end, 3600)
    places = {(r["ip"], r["country"], r["asn"]) for r in seen.to_pylist()}
    assert len(places) > 300
    assert all(geo.lookup(ip) == (country, asn) for ip, country, asn in places)
    nat_online = sum(1 for b in truth.bots if b.nat and b.sessions)
    assert nat_online > 30  # NATed bots were online, yet none of them answered above
    assert from_bots > 0.9 * len(replies)


def test_the_crawler_loses_replies_at_the_modelled_rate(traced: tuple[Store, TraceTruth]) -> None:
    """Tries of online, responsive, unthrottled bots fail only by loss: share ~ model.loss."""
    store, truth = traced
    index = _Index(truth)
    monitors = {(m.ip, m.port) for m in truth.monitors}
    failed = _failed_first_day(store)
    answered = sum(1 for r in _replies(store, CRAWLER_SOURCE) if r[0] < START + DAY)
    lost = 0
    reasons: Counter[str] = Counter()
    for t, ip, port in failed:
        bot = index.bot_at(ip, port, t)
        if (ip, port) in monitors:
            lost += 1  # sensors are always online: only loss makes them miss a round
        elif bot is None:
            reasons["old address or left"] += 1
        elif not index.online(bot, t):
            reasons["offline"] += 1
        elif bot.nat:
            reasons["nat"] += 1
        elif _throttled(truth, bot.country, t):
            reasons["throttled"] += 1
        else:
            lost += 1
    share = lost / (lost + answered)
    # Binomial standard error at ~40k tries is under 0.002: 0.02 is a wide margin.
    assert abs(share - MODEL.loss) < 0.02, share
    assert min(reasons.values()) > 0 and len(reasons) == 4, reasons


def test_the_sensor_hears_nat_bots_foreign_crawlers_and_botmons_crawler(
    traced: tuple[Store, TraceTruth],
) -> None:
    store, truth = traced
    index = _Index(truth)
    monitors = {(m.ip, m.port): m for m in truth.monitors}
    contacts = store.contacts(_botnet_id(store, MODEL.botnet), START, truth.end).to_pylist()
    assert len(contacts) == truth.sensor_contacts
    assert {c["source"] for c in contacts} == {SENSOR_SOURCE}
    nat_bots: set[str | None] = set()
    times: dict[tuple[str, int], list[float]] = defaultdict(list)
    for c in contacts:
        t = c["ts_us"] / 1e6
        key = (c["ip"], c["port"])
        if key in monitors:
            times[key].append(t)
            assert c["deviation"] == monitors[key].deviation
            continue
        assert c["deviation"] is None
        bot = index.bot_at(c["ip"], c["port"], t)
        assert bot is not None and bot.bot_id == c["bot_id"]
        assert index.online(bot, t) and not _throttled(truth, bot.country, t)
        if bot.nat:
            nat_bots.add(bot.bot_id)
    assert len(nat_bots) > 20
    for seen in times.values():
        seen.sort()

    crawlers = truth.foreign("crawler")
    assert len(crawlers) == MODEL.foreign_crawlers
    assert sum(1 for m in crawlers if m.deviation) == 1
    for m in crawlers:
        gaps = [
            b - a for a, b in zip(times[(m.ip, m.port)], times[(m.ip, m.port)][1:], strict=False)
        ]
        assert m.period_s is not None and 600 <= m.period_s <= 1800
        assert len(gaps) > MODEL.days * DAY / 1800 - 2
        # Regular: every gap within 5 % of the period (jitter is 2 % each side).
        assert all(abs(g - m.period_s) < 0.05 * m.period_s for g in gaps)
    (own_crawler,) = [m for m in truth.own() if m.kind == "crawler"]
    own_gaps = Counter(
        round(b - a)
        for a, b in zip(
            times[(own_crawler.ip, own_crawler.port)],
            times[(own_crawler.ip, own_crawler.port)][1:],
            strict=False,
        )
    )
    assert own_gaps == Counter(
        {MODEL.crawl_interval_s: MODEL.days * DAY / MODEL.crawl_interval_s - 1}
    )


def test_sensors_are_listed_by_many_and_list_no_one(traced: tuple[Store, TraceTruth]) -> None:
    store, truth = traced
    edges = store.edge_pairs(_botnet_id(store, MODEL.botnet), START, truth.end).to_pylist()
    assert sum(e["n"] for e in edges) == truth.edges
    listers: dict[tuple[str, int], set[tuple[str, int]]] = defaultdict(set)
    sources: set[tuple[str, int]] = set()
    for e in edges:
        listers[(e["dst_ip"], e["dst_port"])].add((e["src_ip"], e["src_port"]))
        sources.add((e["src_ip"], e["src_port"]))
    listed = sorted(((len(v), k) for k, v in listers.items()), reverse=True)
    top = {k for _, k in listed[: len(truth.foreign("sensor")) + 1]}
    for m in truth.foreign("sensor"):
        assert (m.ip, m.port) not in sources  # no out-edges
        assert len(listers[(m.ip, m.port)]) > 0.5 * len(sources)
        assert (m.ip, m.port) in top
    (own_sensor,) = [m for m in truth.own() if m.kind == "sensor"]
    assert (own_sensor.ip, own_sensor.port) in sources  # it answers with a few peers
    assert len(listers[(own_sensor.ip, own_sensor.port)]) > 0.2 * len(sources)
    # NATed bots are listed although they never answer.
    nat = {(a[0], a[1]) for b in truth.bots if b.nat for a in b.addresses}
    assert len(nat & set(listers)) > 20
    assert not nat & sources


def test_truth_methods_agree_with_the_sessions(traced: tuple[Store, TraceTruth]) -> None:
    _, truth = traced
    inside = [e - s for b in truth.bots for s, e in b.sessions if s > truth.start and e < truth.end]
    assert truth.median_session_s() == statistics.median(inside)
    # Log-normal sessions scaled by the diurnal cycle and cut by departures: near the model's.
    assert 0.6 * MODEL.session_median_s < truth.median_session_s() < 1.3 * MODEL.session_median_s
    lifetimes = [
        b.leave - b.join for b in truth.bots if b.join > truth.start and b.leave < truth.end
    ]
    assert truth.median_lifetime_s() == statistics.median(lifetimes)
    hour = (truth.start + DAY, truth.start + DAY + HOUR)
    online = [b for b in truth.bots if any(s < hour[1] and e > hour[0] for s, e in b.sessions)]
    assert truth.active_bots(*hour, responsive=False) == len(online)
    assert truth.active_bots(*hour) == sum(1 for b in online if not b.nat)
    assert 0.4 * MODEL.bots < truth.active_bots(*hour, responsive=False) < MODEL.bots
    assert truth.throttled_country == "CN"
    assert [m.kind for m in truth.own()] == ["crawler", "sensor"]
    # The population stays about steady: arrivals replace departures.
    alive_end = sum(1 for b in truth.bots if b.leave > truth.end)
    assert 0.75 * MODEL.bots < alive_end < 1.25 * MODEL.bots


def test_online_share_peaks_at_the_same_local_hour_everywhere(
    traced: tuple[Store, TraceTruth],
) -> None:
    _, truth = traced
    geo = Geo()
    for country in ("CN", "IN", "BR"):
        offset = geo.offset_hours(country, truth.start)
        bots = [b for b in truth.bots if b.country == country]
        re = im = 0.0
        for step in range(int((truth.end - truth.start) // 600)):
            t = truth.start + step * 600
            share = sum(1 for b in bots if _Index.online(b, t)) / len(bots)
            angle = 2 * math.pi * ((t / HOUR + offset) % 24) / 24
            re += share * math.cos(angle)
            im += share * math.sin(angle)
        peak = (math.degrees(math.atan2(im, re)) / 15) % 24
        distance = min(abs(peak - MODEL.peak_local_hour), 24 - abs(peak - MODEL.peak_local_hour))
        assert distance < 3.5, (country, peak)


def test_dynamic_addresses_follow_their_as(traced: tuple[Store, TraceTruth], geo: Geo) -> None:
    _, truth = traced
    moved = [b for b in truth.bots if len(b.addresses) > 1]
    assert 0.2 * len(truth.bots) < len(moved) < 0.8 * len(truth.bots)
    same_as = 0
    changes = 0
    for bot in moved:
        asns = [geo.lookup(a[0])[1] for a in bot.addresses]
        same_as += sum(1 for x, y in itertools.pairwise(asns) if x == y)
        changes += len(asns) - 1
        # The period is the bot's AS's; the addresses between the first and the last lasted
        # exactly one period each.
        period = as_period_s(bot.asn, MODEL.reassign_hours)
        for _, _, since, until in bot.addresses[1:-1]:
            assert until - since == pytest.approx(period)
    assert same_as > 0.8 * changes
    # The period belongs to the AS alone: the same for any seed or botnet.
    assert as_period_s(4134, (12.0, 96.0)) == as_period_s(4134, (12.0, 96.0))
    assert 12 * HOUR <= as_period_s(4134, (12.0, 96.0)) <= 96 * HOUR


def test_campaigns_and_idempotent_rerun(traced: tuple[Store, TraceTruth], geo: Geo) -> None:
    store, truth = traced
    campaigns = {c.source: c for c in store.latest_campaigns() if c.botnet == MODEL.botnet}
    crawler, sensor = campaigns[CRAWLER_SOURCE], campaigns[SENSOR_SOURCE]
    assert crawler.settings.get("kind", "crawler") == "crawler"  # the default is omitted
    assert crawler.settings["interval_s"] == MODEL.crawl_interval_s
    (own_sensor,) = [m for m in truth.own() if m.kind == "sensor"]
    assert sensor.settings["listen"] == [f"{own_sensor.ip}:{own_sensor.port}"]
    assert crawler.started_at == START and crawler.ended_at == truth.end

    before = store.count_records(MODEL.botnet)
    again = generate_trace(store, MODEL, seed=SEED, geo=geo)
    assert again.duplicate_batches == again.batches == truth.batches
    assert store.count_records(MODEL.botnet) == before
    ids = {c.id for c in store.latest_campaigns() if c.botnet == MODEL.botnet}
    assert ids == {crawler.id, sensor.id}
    assert (again.replies, again.failed_tries, again.edges) == (
        truth.replies,
        truth.failed_tries,
        truth.edges,
    )
    assert again.bots == truth.bots


def test_truth_file(traced: tuple[Store, TraceTruth], tmp_path: Path) -> None:
    _, truth = traced
    path = tmp_path / "truth.jsonl"
    truth.write_truth(path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == len(truth.bots) + len(truth.monitors)
    for line in lines:
        assert {"ip", "port", "bot_id", "nat", "sessions", "kind"} <= set(line)
        for s, e in line["sessions"]:
            assert truth.start <= s and (e is None or s < e < truth.end)
    bots = [x for x in lines if x["kind"] == "bot"]
    assert sum(x["nat"] for x in bots) == sum(b.nat for b in truth.bots)
    assert any(x["sessions"] and x["sessions"][-1][1] is None for x in bots)
    assert {x["kind"] for x in lines if x["kind"] != "bot"} == {"crawler", "sensor"}
    assert sum(1 for x in lines if x.get("own")) == 2


def test_same_seed_same_rows_other_seed_other_rows(tmp_path: Path, geo: Geo) -> None:
    small = TraceModel(botnet="tiny", bots=60, days=1, start=START, peers_per_reply=3)
    digests = []
    for i, seed in enumerate((5, 5, 6)):
        store = open_store(str(tmp_path / f"{i}.duckdb"))
        store.migrate()
        truth = generate_trace(store, small, seed=seed, geo=geo)
        digests.append((truth.replies, truth.edges, _digest(store, "tiny")))
        store.close()
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]
    # Another seed into the same store is another trace, not a re-run.
    store = open_store(str(tmp_path / "0.duckdb"))
    try:
        other = generate_trace(store, small, seed=6, geo=geo)
        assert other.duplicate_batches == 0 and other.batches > 0
    finally:
        store.close()


def _digest(store: Store, botnet: str) -> tuple[object, ...]:
    bid = _botnet_id(store, botnet)
    contacts = sorted(
        tuple(r.values()) for r in store.contacts(bid, START, START + 2 * DAY, None).to_pylist()
    )
    edges = sorted(
        tuple(r.values()) for r in store.edge_pairs(bid, START, START + 2 * DAY).to_pylist()
    )
    tries = sorted(
        tuple(r.values())
        for r in store.sightings(bid, "failed_tries", START, START + 2 * DAY, 300).to_pylist()
    )
    return tuple(contacts), tuple(edges), tuple(tries)


def test_both_backends_store_the_same_trace(store: Store, tmp_path: Path, geo: Geo) -> None:
    small = TraceModel(botnet="tiny-both", bots=50, days=0.5, start=START, peers_per_reply=3)
    generate_trace(store, small, seed=9, geo=geo)
    reference = open_store(str(tmp_path / "reference.duckdb"))
    reference.migrate()
    generate_trace(reference, small, seed=9, geo=geo)
    try:
        assert _digest(store, "tiny-both") == _digest(reference, "tiny-both")
    finally:
        reference.close()


def test_cli_writes_a_trace_and_its_truth(tmp_path: Path) -> None:
    db, truth = tmp_path / "cli.duckdb", tmp_path / "truth.jsonl"
    args = ["trace", "--db", str(db), "--botnet", "cli-trace", "--bots", "40", "--days", "0.25"]
    result = CliRunner().invoke(
        cli, [*args, "--throttle", "none", "--no-ids", "--truth", str(truth)]
    )
    assert result.exit_code == 0, result.output
    assert "cli-trace: " in result.output and "replies" in result.output
    lines = [json.loads(x) for x in truth.read_text().splitlines()]
    assert all(x["bot_id"] is None for x in lines if x["kind"] == "bot")
    store = open_store(str(db))
    try:
        assert store.count_records("cli-trace")["replies"] > 0
    finally:
        store.close()
    for bad in (
        ["--throttle", "CN:5-5"],
        ["--loss", "1.5"],
        ["--start", "yesterday"],
        ["--bots", "0"],
    ):
        result = CliRunner().invoke(cli, [*args, *bad])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
