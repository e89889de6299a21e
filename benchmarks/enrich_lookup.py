"""Benchmark: enrichment of 10,000-reply batches, warm cache vs cold vs no cache.

Run ``.venv/bin/python benchmarks/enrich_lookup.py`` (``make bench`` runs it). A population
of public addresses drawn from the default data (weighted like a botnet: many in a few
countries) is reported in batches of 10,000 replies with repetition, as a crawler re-reports
the same bots every round. Times are the thread's CPU time, so other work on the machine does
not blur them (garbage collection still counts).
"""

from __future__ import annotations

import json
import random
import statistics
import time

from botmon.enrich import Enricher, sample_public_ips
from botmon.ipaddr import ip_to_int
from botmon.validation import validate_batch

BATCH = 10_000
POPULATION = 50_000
COUNTRIES = {"CN": 20, "US": 15, "IN": 12, "BR": 10, "RU": 8, "VN": 6, "DE": 5, "MX": 4,
             "EG": 4, "TR": 4, "ID": 4, "UA": 3, "FR": 3, "NG": 2}  # fmt: skip


def _population(rng: random.Random) -> list[int]:
    total = sum(COUNTRIES.values())
    ips: list[int] = []
    for cc, weight in COUNTRIES.items():
        ips += [ip_to_int(ip) for ip in sample_public_ips(cc, POPULATION * weight // total, rng)]
    return ips


def _batch(ips: list[int], rng: random.Random) -> bytes:
    now = time.time() - 60
    texts = [f"{(ip >> 24) & 255}.{(ip >> 16) & 255}.{(ip >> 8) & 255}.{ip & 255}" for ip in ips]
    replies = [{"timestamp": now, "ip": rng.choice(texts), "port": 4000} for _ in range(BATCH)]
    return json.dumps({"botnet": "bench", "batch_id": "b", "replies": replies}).encode()


def _time_ms(enricher: Enricher, body: bytes, rounds: int) -> list[float]:
    """CPU milliseconds of this thread per enrich_batch (other processes' load excluded)."""
    out = []
    for _ in range(rounds):
        batch = validate_batch(body)
        started = time.thread_time()
        enricher.enrich_batch(batch)
        out.append((time.thread_time() - started) * 1000)
    return out


def main() -> None:
    rng = random.Random(1)
    population = _population(rng)
    bodies = [_batch(population, rng) for _ in range(8)]
    unique = statistics.mean(len(set(validate_batch(b).replies.ip)) for b in bodies)
    print(f"population {len(population)} public IPs, batches of {BATCH} ({unique:.0f} distinct)")

    no_cache = Enricher.default(cache_size=0)
    baseline = [t for b in bodies[:3] for t in _time_ms(no_cache, b, 1)]
    print(f"no cache (baseline):  {statistics.median(baseline):7.2f} ms per batch")

    enricher = Enricher.default()
    cold = _time_ms(enricher, bodies[0], 1)
    print(f"cold cache, 1st batch:{cold[0]:7.2f} ms")
    for body in bodies:  # a few crawl rounds: the cache now holds the botnet
        _time_ms(enricher, body, 1)
    warm = [t for body in bodies for t in _time_ms(enricher, body, 3)]
    print(
        f"warm cache:           {statistics.median(warm):7.2f} ms CPU per batch median, "
        f"{min(warm):.2f} best, p95 {sorted(warm)[int(len(warm) * 0.95)]:.2f} (target < 5 ms)"
    )
    info = enricher.cache_info()
    print(f"cache: {info.currsize} entries, {info.hits} hits, {info.misses} misses")


if __name__ == "__main__":
    main()
