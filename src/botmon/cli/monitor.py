"""What ``botmon crawl`` and ``botmon sensor`` share: the event loop, Ctrl-C, the report
client and its hooks, the progress display and the end-of-run messages.

A monitor runs until its runner returns: Ctrl-C or SIGTERM asks the runner to stop, the
records gathered so far are flushed to the server or spooled, and the final status line is
printed. A token the server stops accepting (revoked) stops the runner too, with one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import click

from botmon.cli.loading import load_settings
from botmon.crawl.progress import Progress
from botmon.crawl.sink import Reporter
from botmon.settings import ClientSettings
from botmon.settings.client import default_spool_dir
from botmon.wire import CampaignSettings, Command, HeartbeatStatus, SourceType

if TYPE_CHECKING:
    from botmon.client import ReportClient

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
Hook = Callable[[], Awaitable[None]]


class Runner(Protocol):
    """A crawl or sensor runner as the command line drives it."""

    def stop(self) -> None:
        """Finish and return from :meth:`run`."""

    async def run(self) -> dict[str, Any]:
        """Run until done or stopped; the final status."""
        ...

    def heartbeat(self) -> HeartbeatStatus:
        """The status a heartbeat reports."""
        ...

    def handle_command(self, command: Command) -> None:
        """Apply a server command."""

    def hold(self, reason: str | None) -> None:
        """The reporter's back-pressure."""


def reporting_options(verb: str) -> Callable[[F], F]:
    """The options every monitor command has: ``--spool``, ``--ca-file``, ``--monitor-id``,
    ``--dry-run``,
    ``--progress`` and ``--progress-interval`` (``verb``: "Crawl", "Sense")."""
    options = [
        click.option(
            "--spool",
            type=click.Path(path_type=Path),
            default=None,
            help="Spool directory (default: $XDG_STATE_HOME/botmon/spool-BOTNET).",
        ),
        click.option(
            "--ca-file",
            type=click.Path(path_type=Path),
            default=None,
            help="CA for https:// and grpcs://.",
        ),
        click.option(
            "--monitor-id",
            default=None,
            help="Monitor name for a grpc:// or grpcs:// server: the token's name.",
        ),
        click.option(
            "--dry-run", is_flag=True, help=f"{verb} without a server; records are counted."
        ),
        click.option(
            "--progress",
            "progress_mode",
            type=click.Choice(["auto", "rich", "plain", "none"]),
            default="auto",
            show_default=True,
        ),
        click.option("--progress-interval", "plain_interval", type=float, default=None),
    ]

    def decorate(fn: F) -> F:
        for option in reversed(options):  # click lists options in decorator order
            fn = option(fn)
        return fn

    return decorate


def exit_on_scope_breach(status: dict[str, Any]) -> None:
    """Exit 2 when the scope guard refused a send: it must never happen, so say it loudly."""
    if status.get("scope_blocked", 0):
        click.echo(f"scope guard refused {status['scope_blocked']} sends", err=True)
        sys.exit(2)


def run_async(main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main`` on uvloop when it is installed, else on asyncio's default loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but stay usable without
        return asyncio.run(main())  # type: ignore[arg-type]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())  # type: ignore[arg-type]


async def run_monitor(
    runner: Runner,
    reporter: Reporter,
    progress: Progress,
    start: Callable[[Runner], Awaitable[None]] | None,
    close: Hook | None,
) -> dict[str, Any]:
    """Run ``runner`` with Ctrl-C handling, progress and the reporter; the final status."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, runner.stop)
    if start is not None:
        await start(runner)
    shown = asyncio.create_task(progress.run())
    watch = asyncio.create_task(_watch_reporter(reporter, runner))
    try:
        status = await runner.run()
    except Exception:
        crashed = getattr(reporter, "report_crash", None)
        if crashed is not None:
            crashed()  # a BMS server hears CLIENT_ERROR, not FINISHED
        raise
    finally:
        for task in (shown, watch):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if close is not None:
            await close()
    if progress.mode != "none":
        print(progress.line(status), flush=True)
    error = getattr(reporter, "error", None)
    if error:
        raise click.ClickException(f"the server stopped accepting records: {error}")
    return status


async def _watch_reporter(reporter: Reporter, runner: Runner) -> None:
    """Stop the runner when the client gave up for good (a revoked token): nothing is stored."""
    while True:
        await asyncio.sleep(1.0)
        if getattr(reporter, "error", None):
            runner.stop()
            return


def open_client(
    server: str | None,
    token: str | None,
    botnet: str,
    spool: Path | None,
    ca_file: Path | None,
    campaign: CampaignSettings,
    source_type: SourceType,
    monitor_id: str | None = None,
) -> ReportClient:
    """The report client for a monitor run; bad arguments are one-line errors."""
    if not server or not token:
        raise click.ClickException("--server and --token are required (or use --dry-run)")
    from botmon.client import ReportClient, ReportClientError

    client_settings = load_settings(ClientSettings, {"monitor_id": monitor_id})
    try:
        return ReportClient(
            server,
            token,
            botnet,
            spool_dir=spool or default_spool_dir(botnet),
            ca_file=ca_file,
            settings=client_settings,
            campaign=campaign,
            source_type=source_type,
        )
    except (ReportClientError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def client_hooks(client: ReportClient) -> tuple[Callable[[Runner], Awaitable[None]], Hook]:
    """Start (heartbeats, commands, back-pressure wired to the runner) and close the client."""

    async def start(runner: Runner) -> None:
        client.set_status_provider(runner.heartbeat)
        client.on_command(runner.handle_command)
        client.on_backpressure(runner.hold)  # a full spool pauses the monitor
        await client.start()

    async def close() -> None:
        await client.close(timeout=10.0)

    return start, close


def run_reporting(client: ReportClient, what: str, main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main`` with ``client``; a refused token or a socket error is one line."""
    from botmon.client import ReportClientError

    try:
        result = run_async(main)
    except ReportClientError as exc:
        raise click.ClickException(f"server refused the {what}: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot run the {what}: {exc}") from None
    stats = client.stats
    if stats.get("spool_batches", 0):
        click.echo(
            f"{stats['spool_batches']} batch(es) left in the spool {client.spool_dir}; "
            "they are sent on the next run",
            err=True,
        )
    return result
