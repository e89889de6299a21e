"""A plugin's own settings: declared with SETTINGS/configure, loaded once, checked like any."""

from __future__ import annotations

import types
from typing import Annotated, ClassVar

import click
import pytest

from botmon.cli.plugin_options import configure_plugin
from botmon.protocols import hns
from botmon.protocols.registry import PluginError, plugin_from_module
from botmon.settings import Settings, setting


class KnobSettings(Settings, frozen=True, kw_only=True):
    section: ClassVar[str] = "protocol.knob"
    prefix: Annotated[str, setting("ID prefix.", max_length=8)] = "8888"
    keys: Annotated[tuple[str, ...], setting("Keys.", max_length=4)] = ()


def _module(**extra: object) -> types.ModuleType:
    module = types.ModuleType("knob")
    for name in ("TRANSPORT", "DEFAULTS", "peer_request", "read_reply"):
        setattr(module, name, getattr(hns, name))
    for name, value in extra.items():
        setattr(module, name, value)
    return module


def test_settings_reach_configure_from_options_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[KnobSettings] = []
    plugin = plugin_from_module("knob", _module(SETTINGS=KnobSettings, configure=seen.append))
    monkeypatch.setenv("BOTMON_PROTOCOL_KNOB_KEYS", "aa,bb")
    configure_plugin(plugin, ("prefix=1234",))
    assert seen == [KnobSettings(prefix="1234", keys=("aa", "bb"))]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (("prefix",), "FIELD=VALUE"),
        (("nope=1",), "has no setting 'nope'"),
        (("prefix=123456789",), "protocol.knob.prefix"),
    ],
)
def test_bad_options_are_usage_errors(given: tuple[str, ...], message: str) -> None:
    plugin = plugin_from_module("knob", _module(SETTINGS=KnobSettings, configure=lambda s: None))
    with pytest.raises(click.UsageError, match=message):
        configure_plugin(plugin, given)


def test_a_plugin_without_settings_refuses_options() -> None:
    plugin = plugin_from_module("knob", _module())
    configure_plugin(plugin, ())
    with pytest.raises(click.UsageError, match="no settings"):
        configure_plugin(plugin, ("prefix=1",))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"SETTINGS": KnobSettings}, "must come together"),
        ({"SETTINGS": dict, "configure": print}, "Settings subclass"),
        ({"SETTINGS": KnobSettings, "configure": 3}, "not callable"),
    ],
)
def test_registry_checks_the_declaration(extra: dict[str, object], message: str) -> None:
    with pytest.raises(PluginError, match=message):
        plugin_from_module("knob", _module(**extra))
    with pytest.raises(PluginError, match=r"section must be protocol\.other"):
        plugin_from_module("other", _module(SETTINGS=KnobSettings, configure=print))
