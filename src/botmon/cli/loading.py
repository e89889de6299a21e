"""Command-line options into the one settings loader (option > ``BOTMON_*`` > default).

Options that set a setting have no click default and no click range: the loader owns both,
so a value given as an option or as a variable is checked by the same rule and refused with
the same one line (exit status 2, like any other bad argument).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import click

from botmon.settings import Settings, SettingsError, load
from botmon.settings.loader import find_leaf

S = TypeVar("S", bound=Settings)


def load_settings(
    cls: type[S], options: Mapping[str, Any] | None = None, base: S | None = None
) -> S:
    """Section ``cls`` with the given options applied; a bad value is a usage error."""
    try:
        return load(cls, options=options, base=base).settings
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None


def default_help(cls: type[Settings], key: str) -> str:
    """The default of setting ``key`` and its variable, for an option's help text."""
    leaf = find_leaf(cls, key)
    return f"default: {leaf.show(leaf.default)}; env {leaf.env}"
