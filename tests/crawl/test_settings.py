"""Crawl settings: defaults valid, bad values stopped with one line naming the setting."""

from __future__ import annotations

import msgspec
import pytest

from botmon.crawl.scope import Scope
from botmon.settings import CrawlSettings, SettingsError


def test_defaults_are_valid_and_follow_the_original() -> None:
    s = CrawlSettings().validate()
    assert s.retry.timeouts == (4.0, 8.0, 16.0, 32.0)
    assert s.rounds.interval_s == 300.0
    assert s.queues.tracking_capacity == s.queues.discovery_capacity == 10_000
    assert s.scope == ("127.0.0.0/8", "::1/128")


@pytest.mark.parametrize(
    ("section", "changes", "message"),
    [
        ("queues", {"discovery_capacity": 0}, "crawl.queues.discovery_capacity: must be >= 1"),
        ("retry", {"timeouts": (4.0, -1.0)}, "crawl.retry.timeouts: value 2 must be > 0"),
        ("retry", {"timeouts": ()}, "crawl.retry.timeouts: needs at least 1 value"),
        ("retry", {"timeouts": (8.0, 4.0)}, "crawl.retry.timeouts: must not decrease"),
        ("rounds", {"requests_per_round": 0}, "rounds.requests_per_round"),
        ("rate", {"global_rate": -5.0}, "rate.global_rate"),
        ("transport", {"tcp_max_connections": 50_000}, "transport.tcp_max_connections"),
        ("progress", {"tick_s": 0.0}, "progress.tick_s"),
    ],
)
def test_bad_settings_name_themselves(
    section: str, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(SettingsError, match=message) as info:
        CrawlSettings().replace(section, **changes).validate()
    assert "\n" not in str(info.value)


def test_bad_scope_is_refused() -> None:
    with pytest.raises(SettingsError, match="not a CIDR"):
        msgspec.structs.replace(CrawlSettings(), scope=("127.0.0.0/99",)).validate()


def test_scope_checks() -> None:
    s = Scope()
    assert s.allows("127.0.0.1") and s.allows("127.255.255.254") and s.allows("::1")
    assert not s.allows("128.0.0.1") and not s.allows("192.0.2.1") and not s.allows("::2")
    assert not s.allows("localhost") and not s.allows("") and not s.allows("127.1")
    wide = Scope(["192.0.2.0/24", "2001:db8::/32"])
    assert wide.allows("192.0.2.200") and wide.allows("2001:db8::5")
    assert not wide.allows("192.0.3.1") and not wide.allows("127.0.0.1")
