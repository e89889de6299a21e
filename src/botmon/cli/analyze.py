"""``botmon analyze NAME``: run one research analysis and print it as tables, JSON or CSV.

One sub-command per installed analysis, built from the registry
(:mod:`botmon.analysis.framework`): each :class:`~botmon.analysis.framework.Option` becomes
``--name-with-dashes`` (bools ``--foo/--no-foo``, choices a fixed list), and its default comes
from the ``analysis`` settings where a setting of its name exists. The analysis runs on the
store directly, or, while ``botmon serve`` holds the DuckDB file, through that server's
``/api/v1/analyses`` with the same request, so the numbers are the same either way.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any, Protocol

import click
import msgspec

from botmon.analysis import framework, runs
from botmon.analysis.framework import Analysis, AnalysisRequest, Option, OptionError, ResultBase
from botmon.analysis.table import UnknownBotnet
from botmon.cli.admin import (
    DB_OPTION_HELP,
    AdminError,
    ApiAdmin,
    CliError,
    Group,
    StoreAdmin,
    UsageLine,
    open_admin,
)
from botmon.cli.loading import load_settings
from botmon.limits import BOTNET_NAME_PATTERN
from botmon.settings import DEFAULT_DB, AnalysisSettings, one_line
from botmon.store.base import StoreError
from botmon.store.reads import SourceFilter
from botmon.web.http import ApiError, parse_time
from botmon.wire import SOURCE_TYPES

COMMON = ("botnet", "start", "end", "source_type", "fmt", "output", "section", "db")
"""Parameters every analysis command has; an option of the same name would be shadowed."""
TABLE_ROWS = 40
"""Most rows of one section in table output; CSV and JSON always hold every row."""


class Runner(Protocol):
    """Where an analysis runs: the store itself or a server's API."""

    def result(self, analysis: Analysis, request: AnalysisRequest) -> ResultBase: ...
    def export(
        self, analysis: Analysis, request: AnalysisRequest, fmt: str, out: IO[bytes]
    ) -> None: ...


class StoreRunner:
    def __init__(self, admin: StoreAdmin) -> None:
        self.store = admin.store

    def result(self, analysis: Analysis, request: AnalysisRequest) -> ResultBase:
        return runs.compute(self.store, analysis, request)

    def export(
        self, analysis: Analysis, request: AnalysisRequest, fmt: str, out: IO[bytes]
    ) -> None:
        runs.export(self.store, analysis, request, fmt, out)


class ApiRunner:
    """The same request through ``GET /api/v1/analyses/NAME/BOTNET`` of a running server."""

    def __init__(self, admin: ApiAdmin) -> None:
        self.admin = admin

    def _params(self, request: AnalysisRequest, fmt: str) -> dict[str, str]:
        params = {"start": repr(request.start), "end": repr(request.end), "format": fmt}
        if request.source is not None:
            params["source_type"] = request.source
        for name, value in request.options.items():
            if value is not None:
                params[name] = _text(value)
        return params

    def result(self, analysis: Analysis, request: AnalysisRequest) -> ResultBase:
        path = f"/api/v1/analyses/{analysis.name}/{request.botnet}"
        body = self.admin._call("GET", path, params=self._params(request, "json")).json()
        try:
            return msgspec.convert(body, analysis.result_type)
        except msgspec.ValidationError as exc:
            raise AdminError(f"the server's {analysis.name} result does not fit: {exc}") from None

    def export(
        self, analysis: Analysis, request: AnalysisRequest, fmt: str, out: IO[bytes]
    ) -> None:
        path = f"/api/v1/analyses/{analysis.name}/{request.botnet}"
        out.write(self.admin._call("GET", path, params=self._params(request, fmt)).content)


def _text(value: Any) -> str:
    """An option value as the API's query text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


@contextmanager
def runner(db: str) -> Iterator[Runner]:
    with open_admin(db) as admin:
        if isinstance(admin, StoreAdmin):
            yield StoreRunner(admin)
        elif isinstance(admin, ApiAdmin):
            yield ApiRunner(admin)
        else:  # pragma: no cover - open_admin gives one of the two
            raise CliError(f"cannot run analyses through {admin.via}")


# -- output ---------------------------------------------------------------------------------


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.0f}"
    if isinstance(value, (list, tuple, dict)):
        text = msgspec.json.encode(value).decode()
        return text if len(text) <= 60 else text[:57] + "..."
    return str(value)


def print_tables(result: ResultBase, section: str | None, out: IO[str]) -> None:
    """The method/params header, then each section (or only ``section``) as a rich table."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=out, width=None if out.isatty() else 120, highlight=False)
    params = ", ".join(f"{k}={_cell(v)}" for k, v in sorted(result.params.items()))
    console.print(
        f"[bold]{escape(result.analysis)}[/bold] of botnet [bold]{escape(result.botnet)}[/bold]"
    )
    for label, text in (
        ("range", f"{_when(result.start)} .. {_when(result.end)}"),
        ("method", result.method),
        ("params", params or "-"),
        ("vantage", ", ".join(result.vantage_points) or "-"),
        ("computed", _when(result.computed_at)),
    ):
        console.print(f"{label:<9} {text}", markup=False)
    shown = [framework.section(result, section)] if section else result.sections()
    for part in shown:
        table = Table(title=escape(f"{part.title} [{part.name}]"), title_justify="left")
        for column in part.columns:
            table.add_column(escape(column), overflow="fold")
        for row in part.rows[:TABLE_ROWS]:
            table.add_row(*(escape(_cell(v)) for v in row))
        console.print()
        console.print(table)
        if len(part.rows) > TABLE_ROWS:
            console.print(
                f"... {len(part.rows) - TABLE_ROWS} more rows "
                f"(all: --format csv --section {part.name})",
                markup=False,
            )


def render(result: ResultBase, fmt: str, section: str | None) -> str:
    """The result as text in ``fmt`` (table, json or csv)."""
    if fmt == "json":
        return msgspec.json.format(msgspec.json.encode(framework.to_json(result))).decode() + "\n"
    if fmt == "csv":
        from botmon.server.analyses_api import section_csv

        return section_csv(result, section)[1]
    out = io.StringIO()
    print_tables(result, section, out)
    return out.getvalue()


@contextmanager
def _target(output: str | None, binary: bool) -> Iterator[IO[Any]]:
    """Standard output, or ``output`` written whole or not at all (a partial file is
    removed when the analysis fails)."""
    if output in (None, "-"):
        stream: IO[Any] = sys.stdout.buffer if binary else sys.stdout
        yield stream
        stream.flush()
        return
    assert output is not None
    tmp = f"{output}.partial"
    try:
        handle = open(tmp, "wb" if binary else "w", encoding=None if binary else "utf-8")  # noqa: SIM115
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror}") from None
    try:
        with handle:
            yield handle
        os.replace(tmp, output)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# -- commands -------------------------------------------------------------------------------


def _flag(opt: Option) -> str:
    return "--" + opt.name.replace("_", "-")


def _click_option(opt: Option, settings: AnalysisSettings) -> click.Option:
    default = runs.settings_values_for(opt, settings)
    shown = f" (default: {_cell(default)})"
    if opt.kind == "bool":
        negative = "--no-" + opt.name.replace("_", "-")
        return click.Option(
            [f"{_flag(opt)}/{negative}", opt.name], default=None, help=opt.help + shown
        )
    kind: Any = click.STRING
    if opt.kind == "choice":
        kind = click.Choice(list(opt.choices))
    bounds = ""
    if opt.minimum is not None or opt.maximum is not None:
        low = "" if opt.minimum is None else f"{opt.minimum:g}"
        high = "" if opt.maximum is None else f"{opt.maximum:g}"
        bounds = f" [{low}..{high}]"
    return click.Option(
        [_flag(opt), opt.name], type=kind, default=None, help=opt.help + bounds + shown
    )


def _time(name: str, text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        return parse_time(name, text, 0.0)
    except ApiError as exc:
        raise UsageLine(f"--{exc.detail}") from None


def _source(text: str) -> SourceFilter:
    for kind in SOURCE_TYPES:
        if text == kind:
            return kind
    return None


def _options(analysis: Analysis, given: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for opt in analysis.options:
        value = given.get(opt.name)
        if value is None:
            continue
        try:
            out[opt.name] = value if isinstance(value, bool) else runs.parse_option(opt, str(value))
        except OptionError as exc:
            raise UsageLine(f"{_flag(opt)}: {exc}") from None
    return out


def build_command(analysis: Analysis) -> click.Command:
    """The ``botmon analyze NAME`` command of ``analysis``."""
    settings = load_settings(AnalysisSettings)
    formats = ["table", "json", "csv", *analysis.exports]
    for opt in analysis.options:
        if opt.name in COMMON:
            raise RuntimeError(f"analysis {analysis.name}: option {opt.name!r} is reserved")

    def callback(**kw: Any) -> None:
        botnet: str = kw.pop("botnet")
        fmt: str = kw.pop("fmt")
        output: str | None = kw.pop("output")
        section: str | None = kw.pop("section")
        db: str = kw.pop("db")
        if not re.fullmatch(BOTNET_NAME_PATTERN, botnet):
            raise UsageLine(f"--botnet: invalid botnet name {botnet[:80]!r}")
        start, end = _time("start", kw.pop("start")), _time("end", kw.pop("end"))
        if start is not None and end is not None and start >= end:
            raise UsageLine("--start must be before --end")
        source = _source(kw.pop("source_type"))
        exporting = fmt in analysis.exports
        if exporting and output in (None, "-"):
            raise UsageLine(f"--format {fmt} writes a file: name it with -o FILE")
        if section is not None and fmt not in ("table", "csv"):
            raise UsageLine("--section applies to --format table and csv")
        try:
            request = runs.build_request(
                analysis, botnet, start, end, source, _options(analysis, kw), settings
            )
        except OptionError as exc:
            raise UsageLine(str(exc)) from None
        try:
            with runner(db) as run:
                if exporting:
                    with _target(output, binary=True) as out:
                        run.export(analysis, request, fmt, out)
                    click.echo(
                        f"wrote {analysis.name} of {botnet!r} as {fmt} to {output}", err=True
                    )
                    return
                result = run.result(analysis, request)
            if section is not None and section not in [s.name for s in result.sections()]:
                names = ", ".join(s.name for s in result.sections())
                raise UsageLine(f"--section: {analysis.name} has no section {section!r} ({names})")
            text = render(result, fmt, section)
            with _target(output, binary=False) as out:
                out.write(text)
        except UnknownBotnet as exc:
            raise CliError(
                f"unknown botnet {str(exc.args[0])!r} (botmon botnet list shows the botnets)"
            ) from None
        except OptionError as exc:  # a value only the computation can check (an address)
            raise UsageLine(str(exc)) from None
        except (AdminError, StoreError) as exc:
            raise CliError(one_line(exc)) from None

    params: list[click.Parameter] = [
        click.Option(["--botnet"], required=True, help="The botnet to analyse."),
        click.Option(
            ["--start"],
            help="Range start: epoch seconds or RFC 3339 "
            f"(default: end - {analysis.default_range_s // 86400} days).",
        ),
        click.Option(["--end"], help="Range end, exclusive (default: now, to the next minute)."),
        click.Option(
            ["--source-type", "source_type"],
            type=click.Choice([*SOURCE_TYPES, "all"]),
            default="all",
            show_default=True,
            help="Only records of crawlers or of sensors.",
        ),
        click.Option(
            ["--format", "fmt"],
            type=click.Choice(formats),
            default="table",
            show_default=True,
            help="Output format" + (" (exports need -o FILE)." if analysis.exports else "."),
        ),
        click.Option(["-o", "--output"], help="Write to this file (default: standard output)."),
        click.Option(["--section"], help="Only this section (table and csv; default csv: main)."),
        click.Option(["--db"], default=DEFAULT_DB, envvar="BOTMON_DB", help=DB_OPTION_HELP),
        *(_click_option(opt, settings) for opt in analysis.options),
    ]
    return _Command(
        analysis.name,
        callback=callback,
        params=params,
        help=f"{analysis.title}. {analysis.summary}",
        short_help=analysis.title,
    )


class _Command(click.Command):
    """An analysis command whose argument errors are one line (like every botmon command)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise UsageLine(f"{ctx.command_path}: {exc.format_message()}") from None


class AnalysisGroup(Group):
    """``botmon analyze``: its sub-commands are the installed analyses."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [a.name for a in runs.available()]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in framework.ANALYSIS_NAMES:
            return None
        try:
            return build_command(framework.get(cmd_name))
        except ImportError as exc:
            raise CliError(f"analysis {cmd_name} is not installed: {one_line(exc)}") from None


@click.group("analyze", cls=AnalysisGroup)
def command() -> None:
    """Run a research analysis of one botnet: churn, diurnal, count, detect or graph."""
