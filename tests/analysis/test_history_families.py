"""Demo history of Sality, ZeroAccess and Hajime: given a store, the generated weeks carry the
data keys their crawlers and sensors record, with each family's known patterns, and the
dashboard's devices view shows Hajime's architectures from it."""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from typing import Any

from botmon.analysis import devices
from botmon.sim import history
from botmon.sim import history_families as fam
from botmon.store.base import Store

NEW = ("sality-history", "zeroaccess-history", "hajime-history")
DAY = 86400


def _rows(store: Store, botnet: str, table: str, columns: str) -> list[tuple[Any, ...]]:
    mark = "?" if store.backend == "duckdb" else "%s"
    return store.query(
        f"SELECT {columns} FROM {table} t JOIN botnets b ON b.id = t.botnet_id "
        f"WHERE b.name = {mark} ORDER BY ts",
        [botnet],
    )


def _profile(name: str) -> history.Profile:
    return next(p for p in history.PROFILES if p.name == name)


def test_new_families_reveal_what_their_protocols_do(store: Store) -> None:
    now = time.time()
    profiles = tuple(_profile(n) for n in NEW)
    made = history.generate(store, now, weeks=1, seed=5, profiles=profiles, scale=0.3)
    for g in made:
        counts = store.count_records(g.botnet)
        assert counts["replies"] == g.replies > 1000
        assert (counts["failed_tries"], counts["edges"]) == (g.failed_tries, g.edges)
    # The demo's botnet list says what each one is.
    for name, family in zip(NEW, ("Sality v3", "ZeroAccess v2", "Hajime"), strict=True):
        found = store.get_botnet(name)
        assert found is not None and found.description.startswith(f"{family} (generated history")
    start, end = now - 7 * DAY, now
    _check_sality(store)
    _check_zeroaccess(store)
    _check_hajime(store, start, end)


def _check_sality(store: Store) -> None:
    replies = _rows(store, "sality-history", "replies", "ts, bot_id, data, source_type")
    lo, hi = fam.SUPERPEER_IDS
    classes: dict[str, str] = {}
    packs: dict[str, list[int]] = defaultdict(list)
    per_day: dict[int, Counter[int]] = defaultdict(Counter)
    for ts, bot_id, data, source_type in replies:
        # The bot's server ID is its ID, and it tells its class (PROTOCOLS.md section 5.2).
        assert set(data) <= {"url_pack", "peer_class", "server_id", "message"}
        assert data["server_id"] == bot_id and bot_id.isdigit()
        superpeer = lo <= int(bot_id) <= hi
        assert data["peer_class"] == ("superpeer" if superpeer else "client")
        assert int(bot_id) < lo or superpeer
        # The crawler hears superpeers only; NATed clients only come to the sensor.
        if source_type == "crawler":
            assert superpeer and "message" not in data
        else:
            assert source_type == "sensor" and data["message"] == "hello"
        classes[bot_id] = data["peer_class"]
        packs[bot_id].append(int(data["url_pack"]))
        per_day[int(ts // DAY)][int(data["url_pack"])] += 1
    # A bot's URL pack only ever steps up, and new packs reach the bots over the weeks.
    assert all(p == sorted(p) for p in packs.values())
    days = sorted(per_day)[1:-1]  # whole days
    firsts = [per_day[d].most_common(1)[0][0] for d in days]
    assert firsts == sorted(firsts) and firsts[-1] > firsts[0]
    assert any(len(per_day[d]) > 1 for d in days)  # a pack spreading for hours
    # Superpeers are a minority, within what the model makes of them: at least their true
    # share (the crawler sees every one), at most that share among the bots heard at all.
    model = _profile("sality-history")
    true = 1 - model.nat_share
    heard = true / (true + model.nat_share * fam.SALITY_SENSOR_SHARE)
    share = sum(c == "superpeer" for c in classes.values()) / len(classes)
    assert true - 0.06 < share < heard + 0.06 and share < 0.5
    # Peer exchange names publicly reachable peers only, by their server ID.
    for src_id, dst_id in _rows(store, "sality-history", "edges", "src_id, dst_id"):
        assert classes.get(dst_id, "superpeer") == "superpeer" and lo <= int(dst_id) <= hi
        assert classes[src_id] == "superpeer"
    for (bot_id,) in _rows(store, "sality-history", "failed_tries", "bot_id"):
        assert lo <= int(bot_id) <= hi
    # Office PCs: fewer replies on (local) weekends.
    weekday: list[int] = []
    weekend: list[int] = []
    for d in days:
        n = sum(per_day[d].values())
        (weekend if (d + 5) % 7 < 2 else weekday).append(n)
    assert weekend and sum(weekend) / len(weekend) < 0.85 * sum(weekday) / len(weekday)


def _check_zeroaccess(store: Store) -> None:
    replies = _rows(store, "zeroaccess-history", "replies", "ts, port, bot_id, data")
    variants: Counter[str] = Counter()
    ages: Counter[str] = Counter()
    for ts, port, bot_id, data in replies:
        assert bot_id is None
        words = data["peer_ts"]
        assert len(words) == fam.ZA_PEERS and all(0 <= w < 2**32 for w in words)
        variants[data["variant"]] += 1
        assert data["network"] == str(port)
        if data["variant"] == "2013":
            assert set(data) == {"variant", "network", "list_age", "peer_ts"}
            assert port in (16470, 16471) and data["list_age"] == "opaque"
            continue
        assert data["variant"] == "2015"
        assert data["arch"] == ("32-bit" if 0x4000 <= port < 0x8000 else "64-bit")
        assert 0x4000 <= port < 0xC000
        # Most recent first: the newest record's hour is the age list_age buckets.
        hours = [(w >> 14) & 0x3FFFF for w in words]
        assert hours == sorted(hours, reverse=True)
        age_h = (int(ts // 3600) - hours[0]) % (1 << 18)
        low, high = {
            "<1 h": (0, 1),
            "1-6 h": (1, 6),
            "6-24 h": (6, 24),
            "1-7 d": (24, 168),
            ">7 d": (168, 1 << 18),
        }[data["list_age"]]
        assert low <= age_h <= high
        ages[data["list_age"]] += 1
    assert variants["2013"] > variants["2015"] > 0
    assert ages["<1 h"] > 0.5 * sum(ages.values())
    # 16 peers a reply, within the bot's own network.
    per_reply: Counter[tuple[Any, ...]] = Counter()
    for ts, src_port, dst_port, src_id, dst_id in _rows(
        store, "zeroaccess-history", "edges", "ts, src_port, dst_port, src_id, dst_id"
    ):
        assert src_id is None and dst_id is None
        if src_port in (16470, 16471):
            assert dst_port == src_port
        else:
            assert src_port // 0x4000 == dst_port // 0x4000
        per_reply[(ts, src_port)] += 1
    assert per_reply and max(per_reply.values()) <= fam.ZA_PEERS


def _check_hajime(store: Store, start: float, end: float) -> None:
    replies = _rows(store, "hajime-history", "replies", "ts, bot_id, data")
    utp: Counter[str] = Counter()
    for ts, bot_id, data in replies:
        assert bot_id is None
        # The day key is the UTC day of the lookup: it changes at 00:00 UTC.
        assert data["day_key"] == time.strftime("%Y-%m-%d", time.gmtime(ts))
        if data["file"] == "config":
            assert "arch" not in data
        else:
            assert data["file"].split(".")[-2] == data["arch"] in fam.HAJIME_ARCHS
        utp[data["utp"]] += 1
    assert utp["confirmed"] > 0.7 * len(replies) and utp["unconfirmed"] > 0
    assert store.count_records("hajime-history")["edges"] == 0  # DHT lookups, no peer lists
    # The dashboard's devices view: every architecture, its share within four standard
    # deviations of the modelled one (each bot draws its architecture independently).
    table = devices.devices(store, "hajime-history", start, end).rows
    rows = {arch: share for arch, _, share in table}
    known = sum(n for arch, n, _ in table if arch != devices.UNKNOWN)
    assert set(rows) - {devices.UNKNOWN} == set(fam.HAJIME_ARCHS) and known > 100
    for arch, share in fam.HAJIME_ARCHS.items():
        assert abs(rows[arch] - share) < 4 * math.sqrt(share * (1 - share) / known), arch
