"""Demo history: given a store, the generator writes botnets whose data shows what the
dashboard is for: churn, daily cycles in local time, Chinese Mozi bots vanishing for hours
each day, bot IDs changing address, countries and ASes from the real data, peer edges."""

from __future__ import annotations

import time
from collections import Counter

from botmon import enrich
from botmon.analysis import compare, geo, population
from botmon.sim import history
from botmon.store.base import Store


def _chinese(contacts: list[dict[str, object]]) -> set[tuple[object, object]]:
    """The (ip, port) of the contacts that enrichment places in China."""
    enricher = enrich.Enricher.default()
    return {(c["ip"], c["port"]) for c in contacts if enricher.lookup(str(c["ip"])).country == "CN"}


def test_history_has_the_shapes_the_dashboard_shows(store: Store) -> None:
    now = time.time()
    made = history.generate(store, now, weeks=1, seed=11, scale=0.15)
    assert [g.botnet for g in made] == list(history.BOTNET_NAMES)
    for g in made:
        counts = store.count_records(g.botnet)
        assert counts["replies"] == g.replies > 1000
        assert counts["failed_tries"] == g.failed_tries
        assert counts["edges"] == g.edges
        # Hajime's crawler looks bots up in the DHT: it tries no bot and reads no peer list.
        assert (g.failed_tries > 0 and g.edges > 0) is (g.botnet != "hajime-history")
    start, end = now - 7 * 86400, now

    # Bot IDs: none for Hide'n'Seek; Mozi and Sality have them, and some change address.
    ids = {
        name: store.query(
            "SELECT count(DISTINCT bot_id), count(DISTINCT ip) FROM replies r "
            "JOIN botnets b ON b.id = r.botnet_id WHERE b.name = "
            + ("?" if store.backend == "duckdb" else "%s"),
            [name],
        )[0]
        for name in history.BOTNET_NAMES
    }
    assert ids["hns-history"][0] == 0
    for name in ("mozi-history", "sality-history"):
        n_ids, n_ips = ids[name]
        assert 0 < n_ids < n_ips  # IP churn under one ID

    # Countries come from enrichment and agree with it; Mozi is mostly Chinese.
    mozi = geo.countries(store, "mozi-history", start, end).rows
    assert mozi[0][0] == "CN"
    enricher = enrich.Enricher.default()
    sample = store.query("SELECT ip, country, asn FROM replies LIMIT 200")
    for ip, country, asn in sample:
        info = enricher.lookup(ip)
        assert (info.country, info.asn) == (country, asn)
    assert len(geo.ases(store, None, start, end, 50).rows) >= 20

    # The regional dip: Chinese Mozi bots vanish 18:00-23:00 China time (10-15 UTC).
    hourly: Counter[int] = Counter()
    per_bucket = store.query(
        "SELECT ts, ip FROM replies r JOIN botnets b ON b.id = r.botnet_id "
        "WHERE b.name = 'mozi-history' AND country = 'CN'"
    )
    seen: dict[tuple[int, int], set[str]] = {}
    for ts, ip in per_bucket:
        seen.setdefault((int(ts // 3600), int(ts // 3600) % 24), set()).add(ip)
    for (_, hour), ips in seen.items():
        hourly[hour] += len(ips)
    dip = sum(hourly[h] for h in range(11, 14)) / 3
    normal = sum(hourly[h] for h in range(0, 6)) / 6
    assert dip < 0.2 * normal

    # Mozi's history is a trace: botmon's sensor heard its bots too (not in the dip), and
    # other researchers' crawlers, one with a protocol deviation; both runs are campaigns.
    mozi_id = store.get_botnet("mozi-history").id  # type: ignore[union-attr]
    heard = store.contacts(mozi_id, start, end).to_pylist()
    assert len({(c["ip"], c["port"]) for c in heard}) > 100
    assert any(c["deviation"] for c in heard)
    throttled = [c for c in heard if 10 <= c["ts_us"] // 3_600_000_000 % 24 < 15]
    assert not {(c["ip"], c["port"]) for c in throttled} & _chinese(heard)
    sources = {c.source for c in store.latest_campaigns() if c.botnet == "mozi-history"}
    assert sources == {"trace-crawler", "trace-sensor"}

    # Diurnal: Sality (office PCs) peaks in the afternoon of its bots' local time.
    hours = [r for r in compare.compare_hours(store, ["sality-history"], start, end).rows]
    local = [r[3] for r in hours]
    assert max(local) > 2 * min(local)
    assert 10 <= max(range(24), key=lambda h: local[h]) <= 18

    # Co-infection: some Mozi addresses also run Hide'n'Seek.
    overlap = compare.compare_overlap(store, ["hns-history", "mozi-history"], start, end).rows[0]
    assert overlap[4] > 0

    # Churn: bots come and go, so new bots keep appearing after the first day.
    ret = population.returning(store, "hns-history", start + 86400, end, 86400).rows
    assert all(r[2] > 0 for r in ret[1:-1])

    # Idempotent: the same seed and window store nothing twice.
    again = history.generate(store, now, weeks=1, seed=11, scale=0.15)
    assert all(g.duplicate_batches == g.batches for g in again)
    assert store.count_records("mozi-history")["replies"] == made[1].replies
