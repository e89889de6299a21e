"""The retry policy and the token bucket as plain functions of time."""

from __future__ import annotations

import math

from botmon.crawl.ratelimit import TokenBucket
from botmon.crawl.retry import next_attempt, tries_for

TIMEOUTS = (4.0, 8.0, 16.0, 32.0)


def test_tracked_bots_get_every_deadline_discovery_peers_one() -> None:
    assert tries_for(True, TIMEOUTS) == 4
    assert tries_for(False, TIMEOUTS) == 1


def test_a_request_gets_its_tries_and_then_none() -> None:
    assert [next_attempt(a, 4) for a in range(4)] == [1, 2, 3, None]
    assert next_attempt(0, 1) is None


def test_token_bucket_paces_and_can_change_rate() -> None:
    b = TokenBucket(10.0, 0.5, now=0.0)
    assert b.available(0.0) == 1.0  # starts with one token, not a burst
    b.take(1)
    assert b.next_token_at(0.0) == 0.1
    assert b.available(10.0) == 5.0  # capped at rate x burst
    b.set_rate(0.0, 10.0)
    assert b.available(10.0) == math.inf
    assert b.next_token_at(10.0) == 10.0
