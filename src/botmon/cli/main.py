"""The ``botmon`` command: one group whose sub-commands live in their own modules.

Sub-commands are imported only when used, so ``botmon version`` does not pay for the server,
the crawler or the database drivers, and each subsystem owns its command module.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from botmon import __version__

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("botmon.cli.serve", "Run the API server and dashboard."),
    "token": ("botmon.cli.tokens", "Create, list and revoke API tokens."),
    "botnet": ("botmon.cli.botnets", "Create and list botnets."),
    "import": ("botmon.cli.transfer_import", "Import replies, failed tries or edges from a file."),
    "export": ("botmon.cli.transfer_export", "Export stored records to a file."),
    "protocols": ("botmon.cli.protocols", "List installed protocol plugins."),
    "crawl": ("botmon.cli.crawl", "Crawl a botnet and report to a server."),
    "sensor": ("botmon.cli.sensor", "Run a sensor that bots contact; report to a server."),
    "simulate": ("botmon.cli.simulate", "Run an emulated botnet on loopback."),
    "demo": ("botmon.cli.demo", "Run server, emulated botnets and crawlers together."),
    "history": ("botmon.cli.history", "Generate weeks of demo history for five botnets."),
    "trace": ("botmon.cli.trace", "Generate a monitoring trace with known truth into a store."),
    "config": ("botmon.cli.config", "Show the settings in effect and where they come from."),
    "doctor": ("botmon.cli.doctor", "Check geo data, dashboard assets and the database."),
    "monitors": (
        "botmon.cli.monitors",
        "Exclude monitors of others from every count and view, include them, list them.",
    ),
    "feeds": ("botmon.cli.feeds", "Show the log of feeds delivered to network owners."),
    "analyze": ("botmon.cli.analyze", "Run an analysis: churn, diurnal, count, detect, graph."),
    "public": (
        "botmon.cli.public",
        "Serve dashboard views of a botnet publicly, or stop; list them.",
    ),
    "report": ("botmon.cli.report", "Write or verify a botnet's daily or weekly report."),
}
"""Sub-command name -> (module defining ``command``, one-line help)."""


class LazyGroup(click.Group):
    """A group that imports a sub-command's module the first time it is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *SUBCOMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in SUBCOMMANDS:
            module = importlib.import_module(SUBCOMMANDS[cmd_name][0])
            command: click.Command = module.command
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][1]) for name in sorted(SUBCOMMANDS)]
        rows.append(("version", "Print botmon's version."))
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


@click.group(cls=LazyGroup)
def cli() -> None:
    """botmon: monitor peer-to-peer botnets with crawlers, sensors and live dashboards."""


@cli.command()
def version() -> None:
    """Print botmon's version."""
    click.echo(f"botmon {__version__}")


PRIVATE_UMASK = 0o077
"""Files 0600, folders 0700: what botmon writes holds tokens or records (the DuckDB file and
its WAL, server files, exports, spooled batches), and files a library creates for us (DuckDB,
pyarrow) can only be made private from the start through the umask, not after the fact."""


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the ``botmon`` script; errors become one line and a non-zero exit."""
    os.umask(PRIVATE_UMASK)
    try:
        result = cli.main(
            args=argv if argv is not None else sys.argv[1:],
            prog_name="botmon",
            standalone_mode=False,
        )
    except click.UsageError as exc:
        where = f"{exc.ctx.command_path}: " if exc.ctx is not None else ""
        click.echo(f"botmon: error: {where}{exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"botmon: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("botmon: aborted", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    if isinstance(result, int):
        sys.exit(result)
    return result
