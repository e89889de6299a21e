"""Limits that several parts check are defined once (botmon.limits) and agree everywhere."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

import botmon
from botmon import limits
from botmon.auth import check_monitor_name, check_role
from botmon.server import schemas
from botmon.settings import ServerSettings

SRC = Path(botmon.__file__).parent

ONCE = {
    "the role names": r"""["']admin["'],\s*["']crawler["'],\s*["']viewer["']""",
    "the botnet-name rule": re.escape(limits.BOTNET_NAME_PATTERN),
    "the monitor-name rule": re.escape(limits.MONITOR_NAME_PATTERN),
    "the earliest timestamp": r"946_?684_?800",
    "the latest timestamp": r"32_?503_?680_?000",
}


@pytest.mark.parametrize("what", sorted(ONCE))
def test_each_shared_limit_is_written_once(what: str) -> None:
    pattern = re.compile(ONCE[what])
    places = [
        str(path.relative_to(SRC))
        for path in sorted(SRC.rglob("*.py"))
        if pattern.search(path.read_text())
    ]
    assert places == ["limits.py"], f"{what} is written in {places}"


def test_the_api_the_cli_and_the_store_agree_on_roles_and_names() -> None:
    for role in limits.ROLES:
        assert check_role(role) == role
        msgspec.convert({"name": "m-1", "role": role}, schemas.TokenIn)
    with pytest.raises(ValueError):
        check_role("root")
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"name": "m 1", "role": "viewer"}, schemas.TokenIn)
    with pytest.raises(ValueError):
        check_monitor_name("m 1")


def test_the_population_bucket_cap_is_the_shared_one() -> None:
    assert ServerSettings().max_population_buckets == limits.MAX_BUCKETS
