"""The research analyses' shared frame: options, requests, results, one registry.

``botmon analyze NAME``, ``GET /api/v1/analyses/NAME`` and the server's schedule all run an
analysis the same way: an :class:`AnalysisRequest` (botnet, time range, which monitors'
records, the analysis's own options) goes to the :class:`Analysis`'s ``compute`` with the
store, and a result comes back that is a msgspec struct deriving from :class:`ResultBase`.
So every number states how it was made (``method``, ``params``, the vantage points that
saw the data) and the command line, the API and the dashboard print the same result.

The analyses themselves are the modules named in :data:`ANALYSIS_NAMES`, each defining
``ANALYSIS``; they read the store only through its read port (:mod:`botmon.store.reads`).
"""

from __future__ import annotations

import importlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal

import msgspec

from botmon.store.base import Store
from botmon.store.reads import SourceFilter

ANALYSIS_NAMES = ("churn", "diurnal", "count", "detect", "graph")
"""Every analysis, in the order menus and help list them (module ``botmon.analysis.NAME``)."""

OptionKind = Literal["int", "float", "bool", "choice", "str"]


class OptionError(ValueError):
    """An analysis option's value is not acceptable; the message names the option."""


@dataclass(frozen=True)
class Option:
    """One setting of an analysis, offered as ``--NAME`` on the command line (underscores
    become dashes) and as query parameter ``NAME`` in the API."""

    name: str
    kind: OptionKind
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    def parse(self, text: str | None) -> Any:
        """The value of ``text`` (None or empty: the default); OptionError when it is not
        one this option takes."""
        if text is None or text == "":
            return self.default
        text = text.strip()
        value: Any
        if self.kind == "bool":
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise OptionError(f"{self.name} must be true or false, not {text[:40]!r}")
        if self.kind == "choice":
            if text not in self.choices:
                raise OptionError(
                    f"{self.name} must be one of {', '.join(self.choices)}, not {text[:40]!r}"
                )
            return text
        if self.kind == "str":
            if len(text) > 200:
                raise OptionError(f"{self.name} is longer than 200 characters")
            return text
        try:
            value = int(text) if self.kind == "int" else float(text)
        except ValueError:
            raise OptionError(f"{self.name} must be a number, not {text[:40]!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise OptionError(f"{self.name} must be a finite number")
        return self.check(value)

    def check(self, value: Any) -> Any:
        """``value`` when within the option's bounds; OptionError otherwise."""
        if self.minimum is not None and value < self.minimum:
            raise OptionError(f"{self.name} must be at least {self.minimum:g}")
        if self.maximum is not None and value > self.maximum:
            raise OptionError(f"{self.name} must be at most {self.maximum:g}")
        return value

    def schema(self) -> dict[str, Any]:
        """The option as an OpenAPI/JSON schema."""
        kinds = {"int": "integer", "float": "number", "bool": "boolean"}
        out: dict[str, Any] = {"type": kinds.get(self.kind, "string"), "default": self.default}
        if self.choices:
            out["enum"] = list(self.choices)
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


class AnalysisRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What to analyse: one botnet, [start, end) in UTC epoch seconds, which monitors'
    records (``source``: crawler, sensor or None for both) and the analysis's options
    (every option of the analysis present, defaults filled in)."""

    botnet: str
    start: float
    end: float
    source: SourceFilter = None
    options: dict[str, Any] = msgspec.field(default_factory=dict)

    def key(self) -> tuple[Any, ...]:
        """A hashable identity of the request (for caches and schedules)."""
        return (
            self.botnet,
            self.start,
            self.end,
            self.source,
            tuple(sorted(self.options.items())),
        )


class ResultBase(msgspec.Struct, kw_only=True):
    """What every analysis result carries besides its numbers, so a number can be
    reproduced: which analysis, botnet and range, the method in words, the parameters in
    effect (bucket, session gap, window, ...), the vantage points (monitor names) whose
    records went in, and when it was computed."""

    analysis: str
    botnet: str
    start: float
    end: float
    method: str
    params: dict[str, Any]
    vantage_points: list[str]
    computed_at: float

    def sections(self) -> list[Section]:
        """The result as tables: the first is the main one (``--format csv`` and the API's
        CSV give it unless another is named)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Section:
    """One table of a result: ``name`` (for ``--section``), a title, columns and rows."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]


Exporter = Callable[[Store, AnalysisRequest, IO[bytes]], None]
"""Writes a result in a file format of its own (GraphML, edge lists) to a binary stream."""


@dataclass(frozen=True)
class Analysis:
    """One analysis: its name, what it answers, its options and how to compute it."""

    name: str
    title: str
    summary: str
    options: tuple[Option, ...]
    compute: Callable[[Store, AnalysisRequest], ResultBase]
    result_type: type[ResultBase]
    default_range_s: int = 7 * 86400
    """The range a request without ``start`` covers (ending now or at ``end``)."""
    exports: dict[str, Exporter] = field(default_factory=dict)
    """Extra output formats (name -> writer), such as ``graphml`` for the peer graph."""

    def option(self, name: str) -> Option:
        for opt in self.options:
            if opt.name == name:
                return opt
        raise KeyError(name)

    def request(
        self,
        botnet: str,
        start: float | None = None,
        end: float | None = None,
        source: SourceFilter = None,
        texts: dict[str, str | None] | None = None,
        values: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> AnalysisRequest:
        """A complete request: the range defaulted (the last ``default_range_s`` up to
        ``end`` or now), each option parsed from ``texts`` or taken from ``values`` (checked
        against its bounds) or defaulted. OptionError for a bad value or range."""
        end_ = float(now if now is not None else time.time()) if end is None else float(end)
        start_ = end_ - self.default_range_s if start is None else float(start)
        if not end_ > start_:
            raise OptionError("end must be after start")
        options: dict[str, Any] = {}
        known = {o.name for o in self.options}
        for name in (texts or {}).keys() | (values or {}).keys():
            if name not in known:
                raise OptionError(f"{self.name} has no option {name!r}")
        for opt in self.options:
            if values and name_in(opt.name, values):
                options[opt.name] = opt.check(values[opt.name])
            else:
                options[opt.name] = opt.parse((texts or {}).get(opt.name))
        return AnalysisRequest(
            botnet=botnet, start=start_, end=end_, source=source, options=options
        )


def name_in(name: str, values: dict[str, Any]) -> bool:
    return name in values and values[name] is not None


def get(name: str) -> Analysis:
    """The analysis called ``name``; KeyError for any other name."""
    if name not in ANALYSIS_NAMES:
        raise KeyError(name)
    module = importlib.import_module(f"botmon.analysis.{name}")
    analysis: Analysis = module.ANALYSIS
    return analysis


def all_analyses() -> list[Analysis]:
    """Every analysis, in :data:`ANALYSIS_NAMES` order."""
    return [get(name) for name in ANALYSIS_NAMES]


def run(store: Store, name: str, request: AnalysisRequest) -> ResultBase:
    """Compute analysis ``name`` for ``request``; UnknownBotnet for a botnet not stored."""
    return get(name).compute(store, request)


def to_json(result: ResultBase) -> dict[str, Any]:
    """The result as JSON-ready builtins (the API's body, ``--format json``)."""
    out: dict[str, Any] = msgspec.to_builtins(result)
    return out


def section(result: ResultBase, name: str | None = None) -> Section:
    """The result's main section, or the one called ``name`` (KeyError when none is)."""
    sections = result.sections()
    if name is None:
        return sections[0]
    for s in sections:
        if s.name == name:
            return s
    raise KeyError(name)


def vantage_points(names: Sequence[str]) -> list[str]:
    """Monitor names as results list them: distinct and sorted."""
    return sorted(set(names))
