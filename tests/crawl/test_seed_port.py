"""The port of seeds given without one is the protocol plugin's, not the generic engine's."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from botmon.cli import crawl as crawl_cli
from botmon.crawl.runner import seed_port
from botmon.protocols import hns
from botmon.protocols.contract import Peer, Plugin
from botmon.settings import CrawlSettings
from tests.crawl.helpers import registry


def test_the_engine_has_no_protocol_port() -> None:
    assert CrawlSettings().port is None
    assert CrawlSettings.for_protocol(hns.DEFAULTS).port is None


def test_a_portless_seed_takes_the_plugin_default() -> None:
    plugin = registry().get("hns")
    moved = SimpleNamespace(defaults=dataclasses.replace(plugin.defaults, port=6123))
    assert seed_port(moved, CrawlSettings()) == 6123  # type: ignore[arg-type]
    assert seed_port(moved, CrawlSettings(port=7001)) == 7001  # type: ignore[arg-type]
    assert seed_port(plugin, CrawlSettings()) == hns.DEFAULTS.port == 6000


def test_botmon_crawl_hns_with_a_portless_seed_crawls_the_plugin_port(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plugin = registry().get("hns")
    moved = dataclasses.replace(plugin, defaults=dataclasses.replace(plugin.defaults, port=6123))
    monkeypatch.setattr(crawl_cli, "get_plugin", lambda name: moved)
    seen: list[Peer] = []

    async def crawl(
        plugin: Plugin, settings: CrawlSettings, seeds: list[Peer], *_: Any
    ) -> dict[str, Any]:
        seen.extend(seeds)
        return {}

    monkeypatch.setattr(crawl_cli, "_crawl", crawl)
    result = CliRunner().invoke(
        crawl_cli.command, ["hns", "--botnet", "x", "--seed", "127.0.0.1", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert [(p.ip, p.port) for p in seen] == [("127.0.0.1", 6123)]
