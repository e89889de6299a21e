"""A small hand-built botnet with known monitors, for the detection analysis's tests.

One day of a botnet of 80 bots, each keeping a peer list of 10 others (a fifth behind NAT:
listed, never answering). botmon's crawler asks every answering bot every 30 minutes and
records 6 peers of its list per answer; botmon's sensor is in half the lists and hears bots
contact it at random (about once an hour each). Planted among them:

- a foreign sensor in 60 % of the peer lists that answers the crawler and lists no one;
- a foreign crawler that polls botmon's sensor every 5 minutes (a few seconds of jitter);
- a second foreign crawler that asks at random times but sends a request no bot sends
  (its records carry ``data.deviation``);
- botmon's own crawler, polling the sensor every 10 minutes, known only by option ``own``.

The addresses are loopback ones: this is data, nothing is sent anywhere.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from botmon.store.base import Store
from botmon.wire import Edge, Reply
from tests.store.helpers import make_batch

BOTNET = "hand"
T0 = 1_760_000_000.0
SPAN = 86_400.0
FOREIGN_SENSOR = ("127.5.0.1", 5000)
OWN_SENSOR = ("127.6.0.1", 6000)
FOREIGN_CRAWLER = ("127.7.0.1", 7000)
DEVIANT_CRAWLER = ("127.7.0.2", 7001)
OWN_CRAWLER = ("127.8.0.1", 8000)


@dataclass(frozen=True)
class Planted:
    bots: list[tuple[str, int]]
    nat: set[tuple[str, int]]


def _chunks(items: list[object], size: int = 5000) -> list[list[object]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def load(store: Store, seed: int = 5, t0: float = T0) -> Planted:
    """Write the botnet's day from ``t0`` into ``store`` (crawler and sensor batches and
    the sensor's campaign) and return which addresses are bots."""
    rng = random.Random(seed)
    bots = [(f"127.1.{i // 250}.{i % 250 + 1}", 4000 + i) for i in range(80)]
    nat = set(rng.sample(bots, 16))
    lists = {}
    for b in bots:
        peers = rng.sample([x for x in bots if x != b], 10)
        if rng.random() < 0.6:
            peers[0] = FOREIGN_SENSOR
        if rng.random() < 0.5:
            peers[1] = OWN_SENSOR
        lists[b] = peers
    replies: list[Reply] = []
    edges: list[Edge] = []
    for r in range(int(SPAN // 1800)):
        t = t0 + r * 1800
        for b in [*bots, FOREIGN_SENSOR, OWN_SENSOR]:
            if b in nat:
                continue
            ts = t + rng.uniform(0, 60)
            replies.append(Reply(ts, b[0], b[1]))
            for p in rng.sample(lists[b], 6) if b in lists else []:
                edges.append(Edge(ts, b[0], b[1], p[0], p[1]))
    contacts: list[Reply] = []
    for b in bots:
        if OWN_SENSOR not in lists[b] and rng.random() < 0.5:
            continue
        t = t0 + rng.expovariate(1 / 3600)
        while t < t0 + SPAN:
            contacts.append(Reply(t, b[0], b[1]))
            t += rng.expovariate(1 / 3600)
    for t in range(int(t0) + 7, int(t0 + SPAN), 300):
        contacts.append(Reply(t + rng.uniform(-3, 3), *FOREIGN_CRAWLER))
    for t in range(int(t0) + 11, int(t0 + SPAN), 600):
        contacts.append(Reply(float(t), *OWN_CRAWLER))
    for _ in range(12):
        contacts.append(
            Reply(
                t0 + rng.uniform(0, SPAN),
                *DEVIANT_CRAWLER,
                data={"deviation": "peer request with a zero TTL"},
            )
        )
    store.create_botnet(BOTNET)
    for i, part in enumerate(_chunks(list(replies))):
        store.write_batch(make_batch(BOTNET, f"c-r{i}", part), "hand-crawler")  # type: ignore[arg-type]
    for i, part in enumerate(_chunks(list(edges))):
        store.write_batch(make_batch(BOTNET, f"c-e{i}", edges=part), "hand-crawler")  # type: ignore[arg-type]
    for i, part in enumerate(_chunks(list(contacts))):
        batch = make_batch(BOTNET, f"s-{i}", part, source_type="sensor")  # type: ignore[arg-type]
        store.write_batch(batch, "hand-sensor")
    store.start_campaign(
        BOTNET,
        "hand-sensor",
        {"kind": "sensor", "protocol": "hns", "listen": [f"{OWN_SENSOR[0]}:{OWN_SENSOR[1]}"]},
        t0,
    )
    return Planted(bots, nat)
