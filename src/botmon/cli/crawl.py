"""``botmon crawl``: crawl one botnet with a protocol plugin and report to a botmon server.

Runs forever by default; ``--rounds N`` exits 0 after N rounds and a final flush (what
scripts and end-to-end tests use). Ctrl-C or SIGTERM stops cleanly: records gathered so far
are flushed to the server or spooled. Bad input (an unknown protocol, no usable seed, a
refused token) is one line on stderr and exit status 1; a bad setting (an option or a
``BOTMON_CRAWL_*``/``BOTMON_CLIENT_*`` variable) is one line naming it, exit status 2. Each
run registers a campaign with its parameters on the server, reports the engine's state in its
heartbeats and ends the campaign when it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from botmon.cli.loading import load_settings
from botmon.cli.monitor import (
    Runner,
    client_hooks,
    exit_on_scope_breach,
    open_client,
    reporting_options,
    run_async,
    run_monitor,
    run_reporting,
)
from botmon.cli.plugin_options import configure_plugin, protocol_options
from botmon.crawl.peerlist import PeerListError, parse_peer, read_peerlist
from botmon.crawl.progress import Progress
from botmon.crawl.runner import CrawlRunner, campaign_settings, seed_port, settings_for_plugin
from botmon.crawl.scope import Scope
from botmon.crawl.sink import CountingReporter, Reporter
from botmon.protocols.contract import Peer, Plugin
from botmon.protocols.registry import PluginError, get_plugin
from botmon.settings import CrawlSettings, SettingsError


def _timeouts(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise click.BadParameter(f"not a comma-separated list of seconds: {text!r}") from None
    return values


def build_settings(plugin: Plugin, **opts: Any) -> CrawlSettings:
    """Plugin defaults, then ``BOTMON_CRAWL_*`` variables, then options; validated.

    A bad value, from either, raises :class:`click.UsageError` naming the setting.
    """
    n = opts.get("concurrency")
    options = {
        "port": opts.get("port"),
        "rounds.rounds": opts.get("rounds"),
        "rounds.interval_s": opts.get("interval"),
        "rounds.requests_per_round": opts.get("requests_per_round"),
        "queues.discovery_capacity": n,
        "queues.tracking_capacity": n,
        # every request in flight may be a connection; the TCP cap follows, within its limit
        "transport.tcp_max_connections": None if n is None else min(n, 15_000),
        "rate.global_rate": opts.get("rate"),
        "rate.per_target_rate": opts.get("per_target_rate"),
        "retry.timeouts": opts.get("timeouts") or None,
        "scope": tuple(opts["scope"]) if opts.get("scope") else None,
        "progress.plain_interval_s": opts.get("plain_interval"),
    }
    return load_settings(CrawlSettings, options, base=CrawlSettings.for_protocol(plugin.defaults))


def collect_seeds(seeds: tuple[str, ...], peerlist: Path | None, port: int) -> list[Peer]:
    """Seeds from ``--seed`` and ``--peerlist``; bad file lines are reported and skipped."""
    out: list[Peer] = []
    for text in seeds:
        try:
            out.append(parse_peer(text, port))
        except PeerListError as exc:
            raise click.ClickException(f"--seed {text}: {exc}") from None
    if peerlist is not None:
        try:
            peers, bad = read_peerlist(peerlist, port)
        except PeerListError as exc:
            raise click.ClickException(str(exc)) from None
        for number, problem in bad[:100]:
            click.echo(f"{peerlist}:{number}: {problem} (skipped)", err=True)
        if len(bad) > 100:
            click.echo(f"{peerlist}: {len(bad) - 100} more bad lines skipped", err=True)
        out.extend(peers)
    return list(dict.fromkeys(out))


async def _crawl(
    plugin: Plugin,
    settings: CrawlSettings,
    seeds: list[Peer],
    reporter: Reporter,
    progress_mode: str,
    start: Callable[[Runner], Awaitable[None]] | None,
    close: Callable[[], Awaitable[None]] | None,
    stored: Callable[[], int | None],
) -> dict[str, Any]:
    runner = CrawlRunner(plugin, settings, reporter)
    runner.add_seeds(seeds)
    progress = Progress(
        runner.status,
        stored,
        mode=progress_mode,
        plain_interval_s=settings.progress.plain_interval_s,
        title=f"botmon crawl {plugin.name}",
    )
    return await run_monitor(runner, reporter, progress, start, close)


@click.command(name="crawl")
@click.argument("protocol")
@click.option("--botnet", required=True, help="Botnet name the records are stored under.")
@click.option(
    "--seed",
    "seeds",
    multiple=True,
    metavar="HOST:PORT",
    help="A peer to start from (with a find-peers plugin also an overlay node to walk).",
)
@click.option(
    "--peerlist",
    type=click.Path(path_type=Path),
    default=None,
    help="Bootstrap file, one ip:port per line (bad lines reported and skipped).",
)
@click.option(
    "--server",
    default=None,
    help="botmon server URL, e.g. http://127.0.0.1:8470, or a BMS server grpc://HOST:PORT.",
)
@click.option("--token", default=None, envvar="BOTMON_TOKEN", help="Crawler API token.")
@click.option("--rounds", type=int, default=None, help="Stop after N rounds.")
@click.option("--interval", type=float, default=None, help="Seconds between round starts.")
@click.option("--concurrency", type=int, default=None, help="Requests in flight per queue.")
@click.option("--scope", multiple=True, metavar="CIDR", help="Widen the scope (default loopback).")
@click.option("--rate", type=float, default=None, help="Global requests per second (0 = no cap).")
@click.option("--per-target-rate", type=float, default=None, help="Requests/s to one peer.")
@click.option("--requests-per-round", type=int, default=None, help="Most requests per bot/round.")
@click.option("--timeouts", type=str, default=None, help="Try deadlines, e.g. 4,8,16,32.")
@click.option(
    "--port",
    type=int,
    default=None,
    help="Port for seeds given without one (default: the plugin's).",
)
@reporting_options("Crawl")
@protocol_options
def command(
    protocol: str,
    botnet: str,
    seeds: tuple[str, ...],
    peerlist: Path | None,
    server: str | None,
    token: str | None,
    spool: Path | None,
    ca_file: Path | None,
    dry_run: bool,
    progress_mode: str,
    **opts: Any,
) -> None:
    """Crawl a botnet with protocol plugin PROTOCOL and report to a server."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        plugin = get_plugin(protocol)
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None
    configure_plugin(plugin, opts.pop("protocol_options", ()))
    if opts.get("timeouts") is not None:
        opts["timeouts"] = _timeouts(opts["timeouts"])
    try:
        settings = settings_for_plugin(plugin, build_settings(plugin, **opts))
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from None
    peers = collect_seeds(seeds, peerlist, seed_port(plugin, settings))
    if not peers:
        raise click.ClickException("no seeds: give --seed HOST:PORT or --peerlist FILE")
    scope = Scope(settings.scope)
    outside = [p for p in peers if not scope.allows(p.ip)]
    if outside:
        click.echo(
            f"{len(outside)} seed(s) outside the scope {', '.join(settings.scope)} "
            "are recorded as seen and never contacted",
            err=True,
        )
    if len(outside) == len(peers):
        raise click.ClickException("every seed is outside the scope; widen it with --scope")
    if dry_run:
        counting = CountingReporter()
        status = run_async(
            lambda: _crawl(
                plugin,
                settings,
                peers,
                counting,
                progress_mode,
                None,
                None,
                lambda: counting.stats["records_stored"],
            )
        )
        exit_on_scope_breach(status)
        return
    client = open_client(
        server,
        token,
        botnet,
        spool,
        ca_file,
        campaign_settings(plugin, settings, len(peers)),
        "crawler",
        opts.get("monitor_id"),
    )
    start, close = client_hooks(client)
    status = run_reporting(
        client,
        "crawler",
        lambda: _crawl(
            plugin,
            settings,
            peers,
            client,
            progress_mode,
            start,
            close,
            lambda: client.stats.get("records_stored", 0),
        ),
    )
    exit_on_scope_breach(status)
