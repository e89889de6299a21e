"""``botmon protocols``: list installed protocol plugins with their transport and defaults."""

from __future__ import annotations

import click

from botmon.protocols.registry import default_registry


def _timeouts(values: tuple[float, ...]) -> str:
    return ",".join(f"{t:g}" for t in values)


@click.command(name="protocols")
@click.option("--verbose", "-v", is_flag=True, help="Also show size caps and TCP timeouts.")
def command(verbose: bool) -> None:
    """List installed protocol plugins (entry-point group botmon.protocols)."""
    registry = default_registry()
    plugins = list(registry.plugins())
    if not plugins:
        click.echo("no protocol plugins installed")
    header = f"{'name':<12} {'transport':<9} {'port':>5}  {'tries':>5}  {'timeouts (s)':<14} "
    header += f"{'peers/reply':>11}  {'requests/round':>14}  description"
    click.echo(header)
    for p in plugins:
        d = p.defaults
        click.echo(
            f"{p.name:<12} {p.transport:<9} {d.port:>5}  {len(d.timeouts):>5}  "
            f"{_timeouts(d.timeouts):<14} {d.peers_per_reply:>11}  {d.requests_per_round:>14}  "
            f"{p.description}"
        )
        if verbose:
            click.echo(
                f"{'':<12} max_reply_bytes={d.max_reply_bytes} stale_replies={d.stale_replies} "
                f"connect_timeout={d.connect_timeout:g}s read_timeout={d.read_timeout:g}s "
                f"sensor={'yes' if p.handle_request else 'no'} module={p.module}"
            )
    for name, error in sorted(registry.errors().items()):
        click.echo(f"{name:<12} BROKEN    {error}", err=True)
