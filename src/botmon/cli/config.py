"""``botmon config show``: every setting in effect, its value and where it came from.

It loads every section through the same loader the commands use, with no command-line
options, so it prints what a command started from this environment runs with unless an
option says otherwise. Secrets (tokens, a database URL's password) are never printed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from botmon.cli.admin import Group
from botmon.protocols.registry import default_registry as protocol_registry
from botmon.settings import SECTIONS, Leaf, Settings, SettingsError, leaves, load
from botmon.sim.registry import default_registry as emulator_registry


@click.group("config", cls=Group)
def command() -> None:
    """Show botmon's settings (options > BOTMON_* variables > defaults)."""


@command.command("show")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="text: one block per section; json: {section: {setting: {value, source, env, ...}}}; "
    "markdown: the settings table of docs/settings.md (botmon's own plugins and emulators only).",
)
def show(fmt: str) -> None:
    """Print every setting in effect, per section, with where its value came from."""
    try:
        sections = all_sections(builtin_only=fmt == "markdown")
        loaded = [(cls.section, leaves(cls), load(cls)) for cls in sections]
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    if fmt == "json":
        out = {
            section: {
                leaf.key: {
                    "value": _plain(leaf, leaf.get(settings)),
                    "source": sources[leaf.key],
                    "env": leaf.env,
                    "option": leaf.option,
                    "description": leaf.description,
                }
                for leaf in section_leaves
            }
            for section, section_leaves, (settings, sources) in loaded
        }
        click.echo(json.dumps(out, indent=2))
        return
    if fmt == "markdown":
        click.echo(_markdown(loaded), nl=False)
        return
    for section, section_leaves, (settings, sources) in loaded:
        click.echo(f"[{section}]")
        width = max(len(leaf.key) for leaf in section_leaves)
        for leaf in section_leaves:
            source = "env " + leaf.env if sources[leaf.key] == "env" else sources[leaf.key]
            click.echo(f"  {leaf.key:<{width}}  {leaf.show(leaf.get(settings))}  ({source})")


def all_sections(*, builtin_only: bool = False) -> list[type[Settings]]:
    """botmon's sections, then each installed protocol plugin's and emulator's own section
    (``protocol.<name>``, ``sim.<name>``), by name; ``builtin_only`` skips third-party ones."""
    out: list[type[Settings]] = list(SECTIONS)
    found: list[tuple[str, type[Settings]]] = []
    for plugin in protocol_registry().plugins():
        if plugin.settings is not None:
            found.append((plugin.module, plugin.settings))
    for spec in emulator_registry().items():
        found.append((spec.module, spec.settings))
    for module, cls in sorted(found, key=lambda item: item[1].section):
        if cls in out or (builtin_only and not module.startswith("botmon.")):
            continue
        out.append(cls)
    return out


def _markdown(loaded: list[tuple[str, tuple[Leaf, ...], Any]]) -> str:
    """One table per section: setting, variable, option, value in effect, limits, reason."""
    out = []
    for section, section_leaves, (settings, _sources) in loaded:
        out += [
            f"### `{section}`",
            "",
            "| setting | variable | option | value | limits | what for |",
            "|---|---|---|---|---|---|",
        ]
        for leaf in section_leaves:
            cells = [
                f"`{leaf.key}`",
                f"`{leaf.env}`",
                f"`{leaf.option}`" if leaf.option else "",
                f"`{leaf.show(leaf.get(settings))}`",
                leaf.limits,
                leaf.description,
            ]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        out.append("")
    return "\n".join(out)


def _plain(leaf: Leaf, value: Any) -> Any:
    """A value for JSON: numbers stay numbers, secrets and passwords stay hidden."""
    if value is None or (isinstance(value, bool | int | float) and not leaf.secret):
        return value
    if isinstance(value, tuple) and not leaf.secret:
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return leaf.show(value)
