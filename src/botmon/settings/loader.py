"""The one settings loader: typed sections, their limits, ``BOTMON_*`` variables, one error.

A section (``server``, ``crawl``, ``client``, ``sensor``, ``sim.hns``, ...) is a frozen msgspec
struct. Each field carries its reason and its limits in one :func:`setting` annotation, so the
documentation, the checks and ``botmon config show`` all read the same declaration.

:func:`load` builds a section from three layers, strongest first: a command-line option, an
environment variable, the default. A setting is named ``<section>.<field>`` (nested groups add
a dot: ``crawl.queues.discovery_capacity``); its variable is ``BOTMON_`` plus that name in
upper case with dots as underscores (``BOTMON_CRAWL_QUEUES_DISCOVERY_CAPACITY``), unless the
field keeps an older name (``server.db`` reads ``BOTMON_DB``). A bad value, from wherever it
came, is one :class:`SettingsError` line naming the setting, the problem, the value and how
to set it::

    crawl.rounds.interval_s: must be >= 0 (got -1.0 from BOTMON_CRAWL_ROUNDS_INTERVAL_S);
    set with --interval or BOTMON_CRAWL_ROUNDS_INTERVAL_S
"""

from __future__ import annotations

import math
import operator
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Generic, Literal, NamedTuple, Self, TypeVar

import msgspec
import msgspec.inspect as mi

Source = Literal["default", "env", "option"]
"""Where a value in effect came from (``botmon config show`` prints it)."""

S = TypeVar("S", bound="Settings")
T = TypeVar("T")

_BOUNDS: tuple[tuple[str, str, Callable[[Any, Any], bool]], ...] = (
    ("ge", ">=", operator.ge),
    ("gt", ">", operator.gt),
    ("le", "<=", operator.le),
    ("lt", "<", operator.lt),
)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_NONE = frozenset({"", "none", "null"})


class SettingsError(ValueError):
    """A setting botmon cannot run with; the message is the one line the user sees."""


def setting(
    description: str,
    *,
    option: str | None = None,
    env: str | None = None,
    secret: bool = False,
    shown: Callable[[Any], str] | None = None,
    **limits: Any,
) -> msgspec.Meta:
    """A field's reason and limits (msgspec ``ge``/``le``/``min_length``/``pattern``...).

    ``option`` is the command-line option that sets it (named in errors), ``env`` an older
    variable name kept instead of the ``BOTMON_<SECTION>_<NAME>`` scheme, ``secret`` hides
    the value in errors and in ``botmon config show``, ``shown`` prints it partly hidden
    (a database URL without its password).
    """
    extra = {"option": option, "env": env, "secret": secret, "shown": shown}
    return msgspec.Meta(
        description=description, extra={k: v for k, v in extra.items() if v}, **limits
    )


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """A section of settings; subclasses set :attr:`section` and annotate every field."""

    section: ClassVar[str]
    """The section's name: the first part of each setting's name and variable."""

    def problems(self) -> Iterator[tuple[str, str]]:
        """Rules that span fields, as (field path, problem); one field's limits are in Meta."""
        return iter(())

    def validate(self, sources: Mapping[str, Source] | None = None) -> Self:
        """Check every limit and rule; raise :class:`SettingsError` for the first broken one."""
        for leaf in leaves(type(self)):
            value = leaf.get(self)
            problem = _problem(value, leaf.type)
            if problem is not None:
                raise leaf.error(problem, value, sources)
        for path, problem in self.problems():
            leaf = find_leaf(type(self), path)
            raise leaf.error(problem, leaf.get(self), sources)
        return self


@dataclass(frozen=True, slots=True)
class Leaf:
    """One setting: where it sits in its section and what its annotation says."""

    section: str
    path: tuple[str, ...]
    type: mi.Type
    default: Any
    description: str
    extra: Mapping[str, Any]

    @property
    def key(self) -> str:
        """The field path inside the section (``queues.discovery_capacity``)."""
        return ".".join(self.path)

    @property
    def name(self) -> str:
        """The setting's full name (``crawl.queues.discovery_capacity``)."""
        return f"{self.section}.{self.key}"

    @property
    def env(self) -> str:
        """The environment variable that sets it."""
        kept: str | None = self.extra.get("env")
        return kept or "BOTMON_" + re.sub(r"[^A-Za-z0-9]+", "_", self.name).upper()

    @property
    def option(self) -> str | None:
        """The command-line option that sets it, if any."""
        return self.extra.get("option")

    @property
    def secret(self) -> bool:
        """True for tokens and passwords: never printed."""
        return bool(self.extra.get("secret"))

    @property
    def limits(self) -> str:
        """The limits of its annotation in words (``>= 1, <= 65535``), for the settings table."""
        return _limits(self.type)

    def get(self, obj: object) -> Any:
        for part in self.path:
            obj = getattr(obj, part)
        return obj

    def show(self, value: Any) -> str:
        """The value as printed in errors and ``config show`` (secrets hidden)."""
        if self.secret and value:
            return "***"
        if value is None:
            return "none"
        if isinstance(value, bool):
            return "true" if value else "false"
        shown: Callable[[Any], str] | None = self.extra.get("shown")
        if shown is not None:
            return shown(value)
        if isinstance(value, tuple):
            return ",".join(str(v) for v in value)
        return str(value)

    def error(
        self, problem: str, value: Any, sources: Mapping[str, Source] | None = None
    ) -> SettingsError:
        where = f" from {self.env}" if sources and sources.get(self.key) == "env" else ""
        how = f"{self.option} or {self.env}" if self.option else self.env
        got = self.show(value)
        got = repr(got) if isinstance(value, str) and not self.secret else got
        return SettingsError(f"{self.name}: {problem} (got {got}{where}); set with {how}")

    def parse(self, text: str) -> Any:
        """An environment variable's text as this setting's type (SettingsError if it is not)."""
        try:
            return _parse(text.strip(), self.type)
        except ValueError as exc:
            shown = "***" if self.secret else repr(text)
            raise SettingsError(
                f"{self.name}: {exc} (got {shown} from {self.env}); set with "
                f"{self.option + ' or ' if self.option else ''}{self.env}"
            ) from None


class Loaded(NamedTuple, Generic[T]):
    """A loaded section and where each of its values came from (keyed by field path)."""

    settings: T
    sources: dict[str, Source]


@cache
def leaves(cls: type[msgspec.Struct]) -> tuple[Leaf, ...]:
    """Every setting of a section, nested groups flattened, in declaration order."""
    section = getattr(cls, "section", "")
    return tuple(_leaves(section, (), mi.type_info(cls), cls()))


def _leaves(section: str, prefix: tuple[str, ...], info: Any, default: Any) -> Iterator[Leaf]:
    for f in info.fields:
        value = getattr(default, f.name)
        if isinstance(f.type, mi.StructType):
            yield from _leaves(section, (*prefix, f.name), f.type, value)
            continue
        meta = _metadata(f.type)
        yield Leaf(
            section=section,
            path=(*prefix, f.name),
            type=f.type,
            default=value,
            description=(meta.extra_json_schema or {}).get("description", "") if meta else "",
            extra=(meta.extra or {}) if meta else {},
        )


def find_leaf(cls: type[msgspec.Struct], key: str) -> Leaf:
    """The setting at field path ``key`` of section ``cls``."""
    for leaf in leaves(cls):
        if leaf.key == key:
            return leaf
    raise KeyError(key)


def load(
    cls: type[S],
    *,
    options: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    base: S | None = None,
) -> Loaded[S]:
    """Build and validate section ``cls``: option > environment > ``base`` (or the defaults).

    ``options`` maps field paths to what the command line gave; None means "not given".
    """
    environ = os.environ if env is None else env
    start = cls() if base is None else base
    values: dict[tuple[str, ...], Any] = {}
    sources: dict[str, Source] = {}
    for leaf in leaves(cls):
        value: Any = leaf.get(start)
        source: Source = "default"
        text = environ.get(leaf.env)
        if text is not None:
            value, source = leaf.parse(text), "env"
        given = (options or {}).get(leaf.key)
        if given is not None:
            value, source = given, "option"
        values[leaf.path] = value
        sources[leaf.key] = source
    unknown = set(options or {}) - set(sources)
    if unknown:
        raise KeyError(f"{cls.section} has no setting {sorted(unknown)[0]!r}")
    built = _build(cls, values, ())
    return Loaded(built.validate(sources), sources)


def _build(cls: type[Any], values: Mapping[tuple[str, ...], Any], prefix: tuple[str, ...]) -> Any:
    kwargs: dict[str, Any] = {}
    for f in mi.type_info(cls).fields:  # type: ignore[attr-defined]
        path = (*prefix, f.name)
        if isinstance(f.type, mi.StructType):
            kwargs[f.name] = _build(f.type.cls, values, path)
        else:
            kwargs[f.name] = values[path]
    return cls(**kwargs)


def _metadata(t: mi.Type) -> mi.Metadata | None:
    if isinstance(t, mi.Metadata):
        return t
    if isinstance(t, mi.UnionType):
        return next((m for m in t.types if isinstance(m, mi.Metadata)), None)
    return None


def _problem(value: Any, t: mi.Type) -> str | None:
    """What is wrong with ``value`` for annotation ``t`` (None when it fits)."""
    if isinstance(t, mi.Metadata):
        return _problem(value, t.type)
    if isinstance(t, mi.UnionType):
        if value is None:
            return None if any(isinstance(x, mi.NoneType) for x in t.types) else "must be set"
        return _problem(value, next(x for x in t.types if not isinstance(x, mi.NoneType)))
    if isinstance(t, mi.IntType | mi.FloatType):
        wanted = int if isinstance(t, mi.IntType) else (int, float)
        if isinstance(value, bool) or not isinstance(value, wanted):
            return "must be an integer" if isinstance(t, mi.IntType) else "must be a number"
        if isinstance(value, float) and not math.isfinite(value):
            return "must be a finite number"
        for attr, word, holds in _BOUNDS:
            bound = getattr(t, attr)
            if bound is not None and not holds(value, bound):
                return f"must be {word} {bound}"
        return None
    if isinstance(t, mi.BoolType):
        return None if isinstance(value, bool) else "must be true or false"
    if isinstance(t, mi.StrType):
        if not isinstance(value, str):
            return "must be text"
        if t.min_length is not None and len(value) < t.min_length:
            return "must not be empty" if t.min_length == 1 else f"needs {t.min_length}+ chars"
        if t.max_length is not None and len(value) > t.max_length:
            return f"must be at most {t.max_length} characters"
        if t.pattern is not None and re.search(t.pattern, value) is None:
            return f"must match {t.pattern}"
        return None
    if isinstance(t, mi.LiteralType):
        return None if value in t.values else f"must be one of {', '.join(map(str, t.values))}"
    if isinstance(t, mi.VarTupleType | mi.TupleType):
        return _tuple_problem(value, t)
    return None


def _limits(t: mi.Type) -> str:
    if isinstance(t, mi.Metadata):
        return _limits(t.type)
    if isinstance(t, mi.UnionType):
        inner = [_limits(x) for x in t.types if not isinstance(x, mi.NoneType)]
        return ", ".join(filter(None, [*inner, "or none"]))
    parts: list[str] = []
    if isinstance(t, mi.IntType | mi.FloatType):
        parts = [f"{word} {getattr(t, a)}" for a, word, _ in _BOUNDS if getattr(t, a) is not None]
    elif isinstance(t, mi.StrType):
        if t.min_length:
            parts.append("not empty" if t.min_length == 1 else f"{t.min_length}+ characters")
        if t.pattern:
            parts.append(f"matches `{t.pattern}`")
    elif isinstance(t, mi.LiteralType):
        parts.append("one of " + ", ".join(map(str, t.values)))
    elif isinstance(t, mi.VarTupleType):
        low, high = t.min_length or 0, t.max_length
        parts.append(f"{low}..{high} values" if high else f"at least {low} value(s)")
        item = _limits(t.item_type)
        if item:
            parts.append(f"each {item}")
    elif isinstance(t, mi.TupleType):
        parts.append(f"{len(t.item_types)} values")
    return ", ".join(parts)


def _tuple_problem(value: Any, t: mi.VarTupleType | mi.TupleType) -> str | None:
    if not isinstance(value, tuple):
        return "must be a list"
    if isinstance(t, mi.TupleType):
        if len(value) != len(t.item_types):
            return f"needs exactly {len(t.item_types)} values"
        items = t.item_types
    else:
        if t.min_length is not None and len(value) < t.min_length:
            return f"needs at least {t.min_length} value{'s' if t.min_length > 1 else ''}"
        if t.max_length is not None and len(value) > t.max_length:
            return f"takes at most {t.max_length} values"
        items = (t.item_type,) * len(value)
    for i, (item, item_type) in enumerate(zip(value, items, strict=True)):
        problem = _problem(item, item_type)
        if problem is not None:
            return f"value {i + 1} {problem}"
    return None


def _parse(text: str, t: mi.Type) -> Any:
    """Text (an environment variable) as type ``t``; ValueError says what was expected."""
    if isinstance(t, mi.Metadata):
        return _parse(text, t.type)
    if isinstance(t, mi.UnionType):
        if text.lower() in _NONE and any(isinstance(x, mi.NoneType) for x in t.types):
            return None
        return _parse(text, next(x for x in t.types if not isinstance(x, mi.NoneType)))
    if isinstance(t, mi.IntType):
        try:
            return int(text.replace("_", ""))
        except ValueError:
            raise ValueError("not an integer") from None
    if isinstance(t, mi.FloatType):
        try:
            return float(text)
        except ValueError:
            raise ValueError("not a number") from None
    if isinstance(t, mi.BoolType):
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ValueError("not true or false")
    if isinstance(t, mi.LiteralType):
        return next((v for v in t.values if str(v) == text), text)
    if isinstance(t, mi.VarTupleType):
        return tuple(_parse(part.strip(), t.item_type) for part in text.split(",") if part.strip())
    if isinstance(t, mi.TupleType):
        parts = [part.strip() for part in text.split(",")]
        if len(parts) != len(t.item_types):
            raise ValueError(f"needs {len(t.item_types)} comma-separated values")
        return tuple(_parse(p, x) for p, x in zip(parts, t.item_types, strict=True))
    if isinstance(t, mi.CustomType):
        return t.cls(text)
    return text
