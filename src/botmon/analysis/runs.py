"""How the command line, the API and the server's schedule run an analysis: one way.

Option defaults come from the ``analysis`` settings section where an option has a setting of
the same name (``bucket_s``, ``gap_s``, ``confidence``), so a deployment sets its session
model once and every caller uses it. Results are cached per request while the stored batches
of the range are unchanged (:mod:`botmon.analysis.cache`): a result is a pure function of
the stored records, and records only ever arrive in batches.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import IO, Any

from botmon.analysis import framework
from botmon.analysis.cache import whole
from botmon.analysis.framework import Analysis, AnalysisRequest, Option, ResultBase
from botmon.analysis.scope import botnet_id
from botmon.settings.analysis import AnalysisSettings
from botmon.store.base import Store
from botmon.store.reads import SourceFilter, SpanKind

log = logging.getLogger("botmon.analysis")

END_STEP_S = 60
"""A request without ``end`` ends at the next full minute rather than at this instant, so
repeated requests within a minute name the same range and reuse one cached result (records
written later in that minute change the batch check and are never missed)."""

CHECKED_KINDS: tuple[SpanKind, ...] = ("replies", "failed_tries", "edges")
"""Every record kind an analysis may read: a batch of any of them invalidates its result."""


def available() -> list[Analysis]:
    """Every analysis whose module is installed, in :data:`framework.ANALYSIS_NAMES` order.

    A module that fails to import is left out with a logged reason, so one broken analysis
    does not take the server's other routes (or the other analyses) down with it."""
    found: list[Analysis] = []
    for name in framework.ANALYSIS_NAMES:
        try:
            found.append(framework.get(name))
        except ModuleNotFoundError as exc:
            if exc.name != f"botmon.analysis.{name}":
                log.warning("analysis %s is unavailable: %s", name, exc)
        except Exception as exc:
            log.warning("analysis %s is unavailable: %s", name, exc)
    return found


def settings_values(analysis: Analysis, settings: AnalysisSettings | None) -> dict[str, Any]:
    """The configured defaults of ``analysis``'s options that have a setting of their name."""
    if settings is None:
        return {}
    return {
        opt.name: getattr(settings, opt.name)
        for opt in analysis.options
        if hasattr(settings, opt.name) and opt.name != "section"
    }


LARGEST_INT = 2**53
"""Integer options beyond this are refused whatever their own bounds: no analysis parameter
needs more, and such values overflow the 64-bit arithmetic of the store and numpy."""


def parse_option(option: Option, text: str) -> Any:
    """``text`` as a value of ``option`` (OptionError naming it when it is not one)."""
    value = option.parse(text)
    if option.kind == "int" and isinstance(value, int) and abs(value) > LARGEST_INT:
        raise framework.OptionError(f"{option.name} is out of range")
    return value


def settings_values_for(option: Option, settings: AnalysisSettings | None) -> Any:
    """The default of ``option`` in effect: its setting's value where it has one."""
    if settings is not None and option.name != "section" and hasattr(settings, option.name):
        return getattr(settings, option.name)
    return option.default


def default_end(now: float) -> float:
    """The end of a request that names none: the next full minute after ``now``."""
    return float(math.ceil(now / END_STEP_S) * END_STEP_S)


def build_request(
    analysis: Analysis,
    botnet: str,
    start: float | None = None,
    end: float | None = None,
    source: SourceFilter = None,
    options: Mapping[str, Any] | None = None,
    settings: AnalysisSettings | None = None,
    now: float | None = None,
) -> AnalysisRequest:
    """A complete request: options given (already parsed values) win over configured
    defaults, which win over the options' own defaults. OptionError when a value is out of
    bounds, an option is unknown or the range is empty."""
    end_ = default_end(time.time() if now is None else now) if end is None else end
    values = settings_values(analysis, settings)
    values.update({k: v for k, v in (options or {}).items() if v is not None})
    unknown = sorted(set(options or {}) - {o.name for o in analysis.options})
    if unknown:
        raise framework.OptionError(f"{analysis.name} has no option {unknown[0]!r}")
    return analysis.request(botnet, start, end_, source, values=values)


def compute(store: Store, analysis: Analysis, request: AnalysisRequest) -> ResultBase:
    """``analysis`` for ``request``, reused while the stored batches in its range are the
    same as when it was computed. UnknownBotnet for a botnet the store does not have."""
    ids = [botnet_id(store, request.botnet)]
    key = ("analysis", analysis.name, request.key())

    def run() -> ResultBase:
        return analysis.compute(store, request)

    result: ResultBase = whole(store, key, CHECKED_KINDS, ids, request.start, request.end, run)
    return result


def export(
    store: Store, analysis: Analysis, request: AnalysisRequest, fmt: str, out: IO[bytes]
) -> None:
    """Write ``analysis`` for ``request`` in its own file format ``fmt`` (KeyError for a
    format it has not); UnknownBotnet before anything is written."""
    writer = analysis.exports[fmt]
    botnet_id(store, request.botnet)
    writer(store, request, out)
