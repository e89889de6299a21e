"""The public views' rate limiter and answer cache, on a virtual clock."""

from __future__ import annotations

import pytest

from botmon.web.ratelimit import RateLimiter, retry_after
from botmon.web.ttlcache import TtlCache


def test_a_client_gets_its_burst_then_the_rate() -> None:
    limiter = RateLimiter(rate_per_s=2.0, burst=3, max_clients=10)
    assert [limiter.take("a", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.take("a", 100.0)
    assert wait == pytest.approx(0.5)
    assert retry_after(wait) == "1"
    assert limiter.take("b", 100.0) == 0.0  # another address has its own bucket
    assert limiter.take("a", 100.25) == pytest.approx(0.25)  # refused: nothing spent
    assert limiter.take("a", 100.5) == 0.0
    assert limiter.take("a", 100.5) > 0
    assert limiter.take("a", 1000.0) == 0.0  # idle long: the burst is back, never more
    assert [limiter.take("a", 1000.0) for _ in range(3)][-1] > 0


def test_the_client_table_is_capped() -> None:
    limiter = RateLimiter(rate_per_s=1.0, burst=1, max_clients=100)
    for i in range(10_000):
        limiter.take(f"10.0.{i // 256}.{i % 256}", 5.0)
    assert len(limiter) == 100


def test_cache_entries_expire_and_the_oldest_go_first() -> None:
    cache: TtlCache[str, int] = TtlCache(ttl=60.0, max_entries=2)
    cache.put("a", 1, 0.0)
    assert cache.get("a", 59.0) == (1, 1.0)
    assert cache.get("a", 60.0) is None
    cache.put("a", 1, 100.0)
    cache.put("b", 2, 101.0)
    cache.put("c", 3, 102.0)
    assert cache.get("a", 103.0) is None and cache.get("c", 103.0) == (3, 59.0)
    assert len(cache) == 2
