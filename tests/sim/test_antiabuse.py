"""Per-bot, per-source rate limit and blacklist on a virtual clock."""

from __future__ import annotations

from botmon.sim.antiabuse import AntiAbuse


def test_inactive_never_drops() -> None:
    guard = AntiAbuse(None, None, None)
    assert not guard.active
    assert all(guard.check(1, "127.0.0.1", 0.0) is None for _ in range(1000))


def test_rate_limit_answers_the_burst_then_the_rate() -> None:
    guard = AntiAbuse(rate=2.0, burst=2.0, blacklist_after=None)
    verdicts = [guard.check(0, "127.0.0.1", 10.0) for _ in range(5)]
    assert verdicts == [None, None, "rate_limit", "rate_limit", "rate_limit"]
    assert guard.check(0, "127.0.0.1", 10.5) is None  # one token back after 0.5 s at 2/s
    assert guard.check(0, "127.0.0.1", 10.5) == "rate_limit"
    # Limits are per bot and per source: others are untouched.
    assert guard.check(1, "127.0.0.1", 10.5) is None
    assert guard.check(0, "127.0.0.2", 10.5) is None


def test_blacklist_after_n_requests_is_forever() -> None:
    guard = AntiAbuse(rate=None, burst=None, blacklist_after=3)
    assert [guard.check(0, "127.0.0.9", t) for t in range(3)] == [None, None, None]
    assert guard.check(0, "127.0.0.9", 1e6) == "blacklist"
    assert guard.blacklisted(0, "127.0.0.9")
    assert not guard.blacklisted(1, "127.0.0.9")
    assert guard.check(1, "127.0.0.9", 1e6) is None
