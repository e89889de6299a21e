"""``botmon history``: weeks of generated demo history for five botnets, written into a store."""

from __future__ import annotations

import time

import click

from botmon.sim.history import HistoryError, generate
from botmon.store.base import StoreError


@click.command("history")
@click.option("--db", required=True, help="DuckDB file or postgresql:// URL to write into.")
@click.option("--weeks", type=click.FloatRange(0.01, 12), default=4.0, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--scale",
    type=click.FloatRange(0.01, 50),
    default=1.0,
    show_default=True,
    help="Multiply the number of bots (10 gives tens of millions of replies).",
)
def command(db: str, weeks: float, seed: int, scale: float) -> None:
    """Generate weeks of demo history for five botnets into a store."""
    from botmon.store import open_store

    store = open_store(db)
    try:
        store.migrate()
        started = time.monotonic()
        for g in generate(store, time.time(), weeks=weeks, seed=seed, scale=scale):
            click.echo(
                f"{g.botnet}: {g.bots} bots, {g.replies} replies, {g.failed_tries} failed tries, "
                f"{g.edges} edges ({g.duplicate_batches}/{g.batches} batches already stored)"
            )
        click.echo(f"history ready in {time.monotonic() - started:.1f} s")
    except (HistoryError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
