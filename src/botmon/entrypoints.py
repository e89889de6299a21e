"""Things installed through entry points (protocol plugins, emulators), found the same way.

A :class:`EntryPointRegistry` reads its group lazily, once; a module that fails to import or
to pass its kind's checks is kept as a one-line error, so one broken package never hides the
others. Built-ins are registered in botmon's own ``pyproject.toml`` under the same groups, so
they are found exactly like third-party ones. Tests build one with ``discover=False`` and
register modules by hand.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points
from types import ModuleType
from typing import Generic, TypeVar

T = TypeVar("T")


class EntryPointRegistry(Generic[T]):
    """Installed things of one kind by name.

    ``check`` turns a module into the thing (raising ``error`` with one line when it cannot);
    ``kind`` names one in messages (``plugin``), ``noun`` what a name names (``protocol``).
    """

    def __init__(
        self,
        group: str,
        check: Callable[[str, ModuleType], T],
        error: type[Exception],
        *,
        kind: str,
        noun: str,
        discover: bool = True,
    ) -> None:
        self._group = group
        self._check = check
        self._error = error
        self._kind = kind
        self._noun = noun
        self._discover = discover
        self._loaded = False
        self._items: dict[str, T] = {}
        self._errors: dict[str, str] = {}

    def register(self, name: str, module: ModuleType | str) -> T:
        """Add one by module (or dotted module name); a broken one raises the kind's error."""
        if isinstance(module, str):
            try:
                module = importlib.import_module(module)
            except Exception as exc:  # a third-party module may fail in any way on import
                raise self._error(f"{self._kind} {name}: cannot import {module}: {exc}") from None
        item = self._check(name, module)
        self._items[name] = item
        return item

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if not self._discover:
            return
        for ep in entry_points(group=self._group):
            if ep.name in self._items:
                continue
            try:
                self.register(ep.name, ep.load())
            except self._error as exc:
                self._errors[ep.name] = str(exc)
            except Exception as exc:  # keep one broken module from hiding the others
                self._errors[ep.name] = f"{self._kind} {ep.name}: cannot load {ep.value}: {exc}"

    def names(self) -> list[str]:
        """Sorted names of those that loaded."""
        self._load()
        return sorted(self._items)

    def items(self) -> list[T]:
        """Every one that loaded, by name."""
        self._load()
        return [self._items[n] for n in sorted(self._items)]

    def errors(self) -> dict[str, str]:
        """Those found but not loaded, with the reason."""
        self._load()
        return dict(self._errors)

    def get(self, name: str) -> T:
        """The one called ``name``; the kind's error naming the installed ones otherwise."""
        self._load()
        if name in self._items:
            return self._items[name]
        if name in self._errors:
            raise self._error(self._errors[name])
        known = ", ".join(sorted(self._items)) or "none"
        raise self._error(f"unknown {self._noun} {name!r} (installed: {known})")
