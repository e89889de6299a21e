"""``--protocol-option FIELD=VALUE``: a protocol plugin's own settings on the command line.

A plugin that declares ``SETTINGS`` (section ``protocol.<name>``) gets them loaded like every
other section (option > ``BOTMON_PROTOCOL_<NAME>_<FIELD>`` > default, one error line for a bad
value) and handed to its ``configure`` hook before ``botmon crawl`` or ``botmon sensor`` sends
anything, so a Mozi crawler can be told the ID prefix and public keys of the botnet it watches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from botmon.protocols.contract import Plugin
from botmon.settings import SettingsError, leaves, load

F = TypeVar("F", bound=Callable[..., Any])


def protocol_options(fn: F) -> F:
    """The repeatable ``--protocol-option`` option (parameter ``protocol_options``)."""
    return click.option(
        "--protocol-option",
        "protocol_options",
        multiple=True,
        metavar="FIELD=VALUE",
        help="A setting of the protocol plugin (see `botmon config show`, section "
        "protocol.<name>); repeatable.",
    )(fn)


def configure_plugin(plugin: Plugin, given: tuple[str, ...]) -> None:
    """Load the plugin's settings from ``given``, the environment and its defaults, and hand
    them to its ``configure`` hook; a bad field or value is a usage error."""
    if plugin.settings is None or plugin.configure is None:
        if given:
            raise click.UsageError(f"protocol {plugin.name!r} has no settings of its own")
        return
    section = plugin.settings.section
    by_key = {leaf.key: leaf for leaf in leaves(plugin.settings)}
    options: dict[str, Any] = {}
    for item in given:
        field, sep, text = item.partition("=")
        if not sep:
            raise click.UsageError(f"--protocol-option takes FIELD=VALUE, not {item!r}")
        leaf = by_key.get(field.strip())
        if leaf is None:
            known = ", ".join(sorted(by_key))
            raise click.UsageError(f"{section} has no setting {field.strip()!r} (it has {known})")
        try:
            options[leaf.key] = leaf.parse(text)
        except SettingsError as exc:
            raise click.UsageError(str(exc)) from None
    try:
        settings = load(plugin.settings, options=options).settings
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    plugin.configure(settings)
