"""Emulators are found through entry points; every installed one is run the same way.

The parametrised tests take their emulators from the registry and name none by hand: each
installed emulator's declared settings are options of ``botmon simulate``, and each one is
started and crawled end to end by the real crawler, checked against its own ground truth.
"""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pytest
import uvloop
from click.testing import CliRunner

from botmon.cli.simulate import emulator_command
from botmon.crawl.runner import CrawlRunner
from botmon.crawl.sink import ListReporter
from botmon.protocols.contract import Peer
from botmon.protocols.registry import PluginError, get_plugin
from botmon.settings import leaves, load
from botmon.settings.crawl import CrawlSettings
from botmon.settings.loader import find_leaf
from botmon.settings.sim import HnsConfig
from botmon.sim.hns import HnsBotnet
from botmon.sim.registry import EmulatorError, EmulatorRegistry, EmulatorSpec, default_registry
from tests.sim.helpers import free_port

INSTALLED = default_registry().names()


def test_built_in_emulators_are_found_through_entry_points_like_any_other() -> None:
    registry = EmulatorRegistry()
    assert {"hns", "linenet"} <= set(registry.names())
    assert registry.errors() == {}
    assert EmulatorRegistry(discover=False).names() == []
    with pytest.raises(EmulatorError, match=r"unknown emulator 'nope' \(installed: "):
        registry.get("nope")


@pytest.mark.parametrize("name", INSTALLED)
def test_declared_settings_become_options_of_botmon_simulate(name: str) -> None:
    spec = default_registry().get(name)
    command = emulator_command(spec)
    given = {o for p in command.params for o in p.opts}
    declared = {leaf.option for leaf in leaves(spec.settings) if leaf.option}
    assert declared and declared <= given
    assert {"--duration", "--seeds", "--seeds-file"} <= given
    help_text = CliRunner().invoke(command, ["--help"], terminal_width=200).output
    for leaf in leaves(spec.settings):
        if leaf.option:
            assert leaf.option in help_text and leaf.env in help_text
    # A bad value is the loader's one line, exit 2, before any socket is opened.
    count = find_leaf(spec.settings, "bots").option  # --bots, or --nodes for DHT nodes
    bad = CliRunner().invoke(command, [str(count), "0", "--duration", "1"])
    assert bad.exit_code == 2 and f"{spec.settings.section}.bots: must be >= 1" in bad.output


def _crawl_settings(name: str) -> CrawlSettings:
    plugin = get_plugin(name)
    settings = CrawlSettings.for_protocol(plugin.defaults)
    settings = settings.replace("rounds", rounds=2, interval_s=0.0)
    # Emulated and test libtorrent nodes ban nobody: no need for a DHT plugin's polite pace.
    return settings.replace("rate", per_target_rate=max(settings.rate.per_target_rate, 50.0))


@pytest.mark.parametrize("name", INSTALLED)
def test_every_installed_emulator_is_crawled_end_to_end(name: str) -> None:
    spec = default_registry().get(name)
    try:
        get_plugin(name)
    except PluginError:  # as in the demo: an emulator nothing can crawl is not crawled
        pytest.skip(f"no protocol plugin {name!r} installed")
    options: dict[str, Any] = {"bots": 150, "port": free_port(), "seed_rng": 4}
    options["exchange_interval_s"] = 1.0  # bots act while they are crawled
    if "nat" in spec.capabilities:
        options["nat"] = 0.2
    cfg = load(spec.settings, options=options, env={}).settings
    reporter = ListReporter()

    async def main() -> list[dict[str, Any]]:
        async with spec.build(cfg) as net:
            runner = CrawlRunner(get_plugin(name), _crawl_settings(name), reporter)
            runner.add_seeds(Peer(ip, port) for ip, port in net.seeds(3))
            await asyncio.wait_for(runner.run(), 90)
            await asyncio.sleep(1.5)  # bots go on acting: their contacts to the crawler
        return net.truth()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
        truth = r.run(main())
    bots = {f"{b['ip']}:{b['port']}": b for b in truth}
    natted = {a for a, b in bots.items() if b["nat"]}
    answering = set(bots) - natted
    answered = {f"{r.ip}:{r.port}" for r in reporter.replies}
    assert answered <= answering, "a reply from an address that is no answering bot"
    assert len(answered) >= 0.95 * len(answering), f"{len(answered)}/{len(answering)}"
    if "nat" in spec.capabilities:
        assert natted
    if "bot_ids" in spec.capabilities:
        # A reply may not know its bot's ID yet (Sality: only once a peer named the bot);
        # every ID given is a real bot's, and IDs are given.
        ids = {r.bot_id for r in reporter.replies} - {None}
        assert ids and ids <= {b["bot_id"] for b in truth}
    for edge in reporter.edges:  # every peer a bot named was on its list (the truth's peers)
        assert f"{edge.dst_ip}:{edge.dst_port}" in bots[f"{edge.src_ip}:{edge.src_port}"]["peers"]
    assert all(isinstance(b["contacted"], dict) for b in truth)


class ToyConfig(HnsConfig, frozen=True, kw_only=True):
    """A third party's settings: its own section, the shared fields."""

    section = "sim.toy"


def _toy_module(**override: Any) -> types.ModuleType:
    module = types.ModuleType("toy_emulator")
    module.PROTOCOL = "toy"
    module.SETTINGS = ToyConfig
    module.CAPABILITIES = ("nat", "peer_exchange")
    module.DESCRIPTION = "toy"
    module.DEMO = {"nat": 0.5}
    module.build = HnsBotnet
    for key, value in override.items():
        setattr(module, key, value)
    return module


def test_a_third_party_emulator_registered_by_hand_gets_a_working_command() -> None:
    registry = EmulatorRegistry(discover=False)
    spec: EmulatorSpec = registry.register("toy", _toy_module())
    assert registry.names() == ["toy"] and spec.capabilities == {"nat", "peer_exchange"}
    port = free_port()
    args = ["--bots", "20", "--port", str(port), "--duration", "0.5", "--exchange-interval", "0"]
    result = CliRunner().invoke(emulator_command(spec), args)
    assert result.exit_code == 0, result.output
    assert "20 bots on 127.A.B.C" in result.output and "stopped" in result.output


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"PROTOCOL": "other"}, "is not its name"),
        ({"SETTINGS": dict}, "SETTINGS must be a CommonConfig subclass"),
        ({"SETTINGS": HnsConfig}, "section must be sim.toy"),
        ({"CAPABILITIES": ("nat", "telepathy")}, "unknown capability 'telepathy'"),
        ({"DEMO": {"no_such_setting": 1}}, "DEMO sets 'no_such_setting', which is no setting"),
        ({"DEMO": {"host": "127.0.0.1"}}, "DEMO sets 'host', which has no option"),
        ({"build": None}, "build is not callable"),
    ],
)
def test_a_broken_emulator_module_is_one_clear_line(override: dict[str, Any], message: str) -> None:
    with pytest.raises(EmulatorError, match=message) as info:
        EmulatorRegistry(discover=False).register("toy", _toy_module(**override))
    assert "\n" not in str(info.value)
