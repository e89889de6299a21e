"""``botmon serve``: the API server (and the dashboard and read API it carries)."""

from __future__ import annotations

import click

from botmon.cli.admin import DB_OPTION_HELP, CliError, Command
from botmon.cli.loading import default_help, load_settings
from botmon.settings import AnalysisSettings, ServerSettings

_MB = 1024 * 1024


@click.command("serve", cls=Command)
@click.option("--db", default=None, help=DB_OPTION_HELP)
@click.option("--host", help=f"Address to listen on ({default_help(ServerSettings, 'host')}).")
@click.option(
    "--port",
    type=int,
    help=f"TCP port, 0: any free port ({default_help(ServerSettings, 'port')}).",
)
@click.option("--tls-cert", type=click.Path(dir_okay=False), help="PEM certificate: serve HTTPS.")
@click.option("--tls-key", type=click.Path(dir_okay=False), help="PEM private key of --tls-cert.")
@click.option(
    "--max-body-mb",
    type=float,
    help="Largest ingest request body in MB, bigger ones get 413 "
    f"({default_help(ServerSettings, 'max_body_bytes')} in bytes).",
)
@click.option(
    "--summary-refresh",
    type=float,
    help="Seconds between background refreshes of the dashboard's summary tables "
    "(0: refresh only when a dashboard asks; "
    f"{default_help(ServerSettings, 'summary_refresh_s')}).",
)
@click.option(
    "--ingest-workers",
    type=int,
    default=None,
    help="Processes that validate, enrich and build rows for ingest batches, so the server "
    "process only writes (0: none, all in the server; default: one per core beyond the "
    "first, at most 4).",
)
@click.option(
    "--analysis-schedule",
    type=float,
    default=None,
    help="Seconds between background recomputations of every analysis of every botnet "
    f"(0: compute only on request; {default_help(AnalysisSettings, 'schedule_s')}).",
)
@click.option(
    "--grpc-port",
    type=int,
    default=None,
    help="Also serve the BMS gRPC storage API on this port, for monitors written for the "
    "original BMS (off by default; TLS with --tls-cert/--tls-key, or --grpc-plaintext).",
)
@click.option(
    "--grpc-plaintext",
    is_flag=True,
    default=None,
    help="Serve the BMS gRPC API without TLS, as BMS clients connect today (trusted "
    "networks only: tokens cross it readable).",
)
def command(
    db: str | None,
    host: str | None,
    port: int | None,
    tls_cert: str | None,
    tls_key: str | None,
    max_body_mb: float | None,
    summary_refresh: float | None,
    ingest_workers: int | None,
    analysis_schedule: float | None,
    grpc_port: int | None,
    grpc_plaintext: bool | None,
) -> None:
    """Run the API server and dashboard until Ctrl-C."""
    from botmon.server.run import ServeError, serve

    settings = load_settings(
        ServerSettings,
        {
            "db": db,
            "host": host,
            "port": port,
            "tls_cert": tls_cert,
            "tls_key": tls_key,
            "max_body_bytes": None if max_body_mb is None else int(max_body_mb * _MB),
            "summary_refresh_s": summary_refresh,
            "ingest_workers": ingest_workers,
            "grpc_port": grpc_port,
            "grpc_plaintext": grpc_plaintext or None,
        },
    )
    analysis = load_settings(AnalysisSettings, {"schedule_s": analysis_schedule})
    try:
        serve(settings, echo=lambda line: click.echo(line, err=False), analysis=analysis)
    except ServeError as exc:
        raise CliError(str(exc)) from None
