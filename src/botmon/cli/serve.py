"""``botmon serve``: the API server (and the dashboard and read API it carries)."""

from __future__ import annotations

import click

from botmon.cli.admin import DB_OPTION_HELP, CliError, Command
from botmon.settings import (
    DEFAULT_DB,
    DEFAULT_HOST,
    DEFAULT_MAX_BODY_MB,
    DEFAULT_PORT,
    MAX_INGEST_WORKERS,
)


@click.command("serve", cls=Command)
@click.option(
    "--db", default=DEFAULT_DB, envvar="BOTMON_DB", show_envvar=False, help=DB_OPTION_HELP
)
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=DEFAULT_PORT, show_default=True, type=int, help="TCP port (0: any free port)."
)
@click.option("--tls-cert", type=click.Path(dir_okay=False), help="PEM certificate: serve HTTPS.")
@click.option("--tls-key", type=click.Path(dir_okay=False), help="PEM private key of --tls-cert.")
@click.option(
    "--max-body-mb",
    default=DEFAULT_MAX_BODY_MB,
    show_default=True,
    type=float,
    help="Largest ingest request body in MB (bigger ones get 413).",
)
@click.option(
    "--summary-refresh",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds between background refreshes of the dashboard's summary tables "
    "(0: refresh only when a dashboard asks).",
)
@click.option(
    "--ingest-workers",
    type=click.IntRange(0, MAX_INGEST_WORKERS),
    default=None,
    help="Processes that validate, enrich and build rows for ingest batches, so the server "
    "process only writes (0: none, all in the server; default: one per core beyond the "
    "first, at most 4).",
)
def command(
    db: str,
    host: str,
    port: int,
    tls_cert: str | None,
    tls_key: str | None,
    max_body_mb: float,
    summary_refresh: float,
    ingest_workers: int | None,
) -> None:
    """Run the API server and dashboard until Ctrl-C."""
    from botmon.server.run import ServeError, serve
    from botmon.settings import ServerSettings

    settings = ServerSettings(
        db=db,
        host=host,
        port=port,
        tls_cert=tls_cert,
        tls_key=tls_key,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        summary_refresh_s=summary_refresh,
        ingest_workers=ingest_workers,
    )
    try:
        serve(settings, echo=lambda line: click.echo(line, err=False))
    except ServeError as exc:
        raise CliError(str(exc)) from None
