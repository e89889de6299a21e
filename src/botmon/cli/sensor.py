"""``botmon sensor``: a node bots contact, answering as the protocol expects, reporting them.

Listens on each ``--listen HOST:PORT`` (UDP or TCP, as the plugin says), answers bots with
the plugin's ``handle_request``, announces itself to the peers of ``--announce-peerlist``
every ``--announce-interval`` seconds, and reports every contact through the report client
(batches stamped ``source_type: sensor``, spool, heartbeats ``kind: sensor``, commands).
Runs until Ctrl-C, SIGTERM, a ``stop`` command or ``--duration``; then records are flushed
or spooled and it exits 0. Bad input (unknown protocol, a plugin that cannot sense, a bad
listen address, an unreadable peer list) is one line and exit status 1; a bad setting is one
line naming it, exit status 2.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from botmon.cli.crawl import collect_seeds
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
from botmon.crawl.peerlist import PeerListError, parse_peer
from botmon.crawl.scope import Scope
from botmon.crawl.sink import CountingReporter, Reporter
from botmon.protocols.contract import Peer, Plugin
from botmon.protocols.registry import PluginError, get_plugin
from botmon.sensor.progress import SensorProgress
from botmon.sensor.runner import SensorRunner, address_text, campaign_settings
from botmon.settings import SensorSettings

MAX_LISTEN = 64
"""Most listen addresses of one sensor (what a campaign records)."""


def listen_addresses(
    texts: tuple[str, ...], settings: SensorSettings, plugin: Plugin
) -> list[Peer]:
    """``--listen`` values (a port may be left out: the plugin's), or the settings' address."""
    if not texts:
        port = settings.listen_port or plugin.defaults.port
        texts = (address_text(Peer(settings.listen_host, port)),)
    out: list[Peer] = []
    for text in texts:
        try:
            peer = parse_peer(text, plugin.defaults.port)
        except PeerListError as exc:
            raise click.ClickException(f"--listen {text}: {exc}") from None
        if peer in out:
            raise click.ClickException(f"--listen {text}: given twice")
        out.append(peer)
    if len(out) > MAX_LISTEN:
        raise click.ClickException(f"at most {MAX_LISTEN} --listen addresses")
    return out


async def _sense(
    plugin: Plugin,
    settings: SensorSettings,
    listens: list[Peer],
    botnet: str,
    targets: list[Peer],
    reporter: Reporter,
    progress_mode: str,
    start: Callable[[Runner], Awaitable[None]] | None,
    close: Callable[[], Awaitable[None]] | None,
    stored: Callable[[], int | None],
) -> dict[str, Any]:
    runner = SensorRunner(plugin, settings, listens, botnet, reporter)
    runner.add_seeds(targets)
    progress = SensorProgress(
        runner.status,
        stored,
        mode=progress_mode,
        plain_interval_s=settings.progress_interval_s,
        title=f"botmon sensor {plugin.name} ({', '.join(map(address_text, listens))})",
    )
    return await run_monitor(runner, reporter, progress, start, close)


@click.command(name="sensor")
@click.argument("protocol")
@click.option("--botnet", required=True, help="Botnet name the records are stored under.")
@click.option(
    "--listen",
    "listen",
    multiple=True,
    metavar="HOST:PORT",
    help="Address to listen on (repeatable; default 127.0.0.1 and the plugin's port).",
)
@click.option(
    "--server",
    default=None,
    help="botmon server URL, e.g. http://127.0.0.1:8470, or a BMS server grpc://HOST:PORT.",
)
@click.option("--token", default=None, envvar="BOTMON_TOKEN", help="Crawler-role API token.")
@click.option(
    "--announce-peerlist",
    type=click.Path(path_type=Path),
    default=None,
    help="Peers to announce the sensor to, one HOST:PORT a line ('#' comments).",
)
@click.option("--announce-interval", type=float, default=None, help="Seconds between passes.")
@click.option("--announce-rate", type=float, default=None, help="Announcements/s (0 = no cap).")
@click.option("--answer-rate", type=float, default=None, help="Answers/s in all (0 = no cap).")
@click.option("--per-source-rate", type=float, default=None, help="Messages/s from one source.")
@click.option("--scope", multiple=True, metavar="CIDR", help="Widen the scope (default loopback).")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds.")
@reporting_options("Sense")
@protocol_options
def command(
    protocol: str,
    botnet: str,
    listen: tuple[str, ...],
    server: str | None,
    token: str | None,
    announce_peerlist: Path | None,
    spool: Path | None,
    ca_file: Path | None,
    dry_run: bool,
    progress_mode: str,
    **opts: Any,
) -> None:
    """Run a sensor for a botnet with protocol plugin PROTOCOL and report to a server."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        plugin = get_plugin(protocol)
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None
    configure_plugin(plugin, opts.pop("protocol_options", ()))
    if not plugin.can_sense:
        raise click.ClickException(
            f"protocol {plugin.name!r} cannot run as a sensor: it has no handle_request hook"
        )
    settings = load_settings(
        SensorSettings,
        {
            "protocol": plugin.name,
            "botnet": botnet,
            "server": server,
            "token": token,
            "scope": tuple(opts["scope"]) if opts.get("scope") else None,
            "announce_interval_s": opts.get("announce_interval"),
            "announce_rate": opts.get("announce_rate"),
            "answer_rate": opts.get("answer_rate"),
            "per_source_rate": opts.get("per_source_rate"),
            "duration_s": opts.get("duration"),
            "progress_interval_s": opts.get("plain_interval"),
        },
    )
    listens = listen_addresses(listen, settings, plugin)
    targets = collect_seeds((), announce_peerlist, plugin.defaults.port)
    scope = Scope(settings.scope)
    outside = sum(1 for p in targets if not scope.allows(p.ip))
    if outside:
        click.echo(
            f"{outside} peer(s) outside the scope {', '.join(settings.scope)} "
            "are never announced to",
            err=True,
        )
    if dry_run:
        counting = CountingReporter()
        try:
            status = run_async(
                lambda: _sense(
                    plugin,
                    settings,
                    listens,
                    botnet,
                    targets,
                    counting,
                    progress_mode,
                    None,
                    None,
                    lambda: counting.stats["records_stored"],
                )
            )
        except OSError as exc:
            raise click.ClickException(f"cannot run the sensor: {exc}") from None
        exit_on_scope_breach(status)
        return
    client = open_client(
        server,
        token,
        botnet,
        spool,
        ca_file,
        campaign_settings(plugin, settings, listens, len(targets) - outside),
        "sensor",
        opts.get("monitor_id"),
    )
    start, close = client_hooks(client)
    status = run_reporting(
        client,
        "sensor",
        lambda: _sense(
            plugin,
            settings,
            listens,
            botnet,
            targets,
            client,
            progress_mode,
            start,
            close,
            lambda: client.stats.get("records_stored", 0),
        ),
    )
    exit_on_scope_breach(status)
