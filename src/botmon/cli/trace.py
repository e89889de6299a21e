"""``botmon trace``: a generated monitoring trace with known truth, written into a store.

Analyses are checked against traces whose truth is known (sessions, lifetimes, NAT, address
reassignment, throttling, other researchers' monitors); this command makes one for a user
to explore or to check an analysis by hand, and optionally writes its truth next to it.
"""

from __future__ import annotations

import math
import re
import time
from typing import TYPE_CHECKING

import click

from botmon.limits import BOTNET_NAME_PATTERN

if TYPE_CHECKING:
    from botmon.sim.trace import TraceModel, TraceTruth
    from botmon.store.base import Store

HOUR = 3600


def _throttle(text: str) -> tuple[str, int, int] | None:
    """``CC:H1-H2`` (UTC hours, H2 may be 24) or ``none``."""
    if text.lower() == "none":
        return None
    match = re.fullmatch(r"([A-Za-z]{2}):(\d{1,2})-(\d{1,2})", text)
    if not match:
        raise click.BadParameter(
            "expected CC:H1-H2 (for example CN:10-14) or none", param_hint="--throttle"
        )
    h1, h2 = int(match[2]), int(match[3])
    if not (0 <= h1 < 24 and 0 < h2 <= 24 and h1 != h2):
        raise click.BadParameter(
            "hours must be 0-24 and differ (CN:22-2 wraps past midnight)", param_hint="--throttle"
        )
    return match[1].upper(), h1, h2


def _start(text: str | None, days: float, interval: int) -> float:
    if text is None:
        end = math.floor(time.time() / interval) * interval
        return end - days * 86400
    from botmon.web.http import ApiError, parse_time

    try:
        return parse_time("--start", text, 0.0)
    except ApiError as exc:
        raise click.BadParameter(str(exc.detail), param_hint="--start") from None


@click.command("trace")
@click.option("--db", required=True, help="DuckDB file or postgresql:// URL to write into.")
@click.option("--botnet", required=True, help="Name of the botnet to create and fill.")
@click.option(
    "--bots",
    type=click.IntRange(1, 2_000_000),
    default=1000,
    show_default=True,
    help="Infections alive at the start (arrivals keep the population about steady).",
)
@click.option(
    "--days",
    type=click.FloatRange(0.01, 366),
    default=7.0,
    show_default=True,
    help="Length of the trace.",
)
@click.option(
    "--interval",
    type=click.IntRange(1, 86400),
    default=300,
    show_default=True,
    help="Seconds between the modelled crawler's rounds.",
)
@click.option(
    "--loss",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.05,
    show_default=True,
    help="Chance that one try of an online bot gets no answer.",
)
@click.option(
    "--nat",
    type=click.FloatRange(0, 1),
    default=0.3,
    show_default=True,
    help="Share of bots behind NAT (listed by others, heard by the sensor, never answering).",
)
@click.option("--no-ids", is_flag=True, help="Bots carry no bot IDs (like Hide'n'Seek).")
@click.option(
    "--dynamic",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Share of bots on dynamically reassigned addresses.",
)
@click.option(
    "--throttle",
    default="CN:10-14",
    show_default=True,
    help="CC:H1-H2: that country's packets are dropped daily in those UTC hours; or none.",
)
@click.option(
    "--foreign-crawlers",
    type=click.IntRange(0, 100),
    default=3,
    show_default=True,
    help="Other researchers' crawlers contacting botmon's sensor regularly.",
)
@click.option(
    "--foreign-sensors",
    type=click.IntRange(0, 100),
    default=5,
    show_default=True,
    help="Other researchers' sensors: listed by many bots, listing no one.",
)
@click.option("--no-sensor", is_flag=True, help="Model no sensor of botmon's own.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the truth here: JSON lines, one bot (sessions, addresses) or monitor a line.",
)
@click.option(
    "--start",
    help="First instant (epoch seconds or RFC 3339); default: the trace ends now.",
)
def command(
    db: str,
    botnet: str,
    bots: int,
    days: float,
    interval: int,
    loss: float,
    nat: float,
    no_ids: bool,
    dynamic: float,
    throttle: str,
    foreign_crawlers: int,
    foreign_sensors: int,
    no_sensor: bool,
    seed: int,
    truth: str | None,
    start: str | None,
) -> None:
    """Generate a botnet's monitoring trace (crawler and sensor records) with known truth."""
    if not re.match(BOTNET_NAME_PATTERN, botnet):
        raise click.BadParameter(
            "lower-case letters, digits, '.', '_' or '-'", param_hint="--botnet"
        )
    window = _throttle(throttle)
    first = _start(start, days, interval)
    if first + days * 86400 > time.time() + 60:
        raise click.BadParameter("the trace must end by now", param_hint="--start")

    from botmon.enrich import GeoDataError
    from botmon.sim.trace import TraceModel
    from botmon.store import open_store
    from botmon.store.base import StoreError

    model = TraceModel(
        botnet=botnet,
        bots=bots,
        days=days,
        start=first,
        crawl_interval_s=interval,
        loss=loss,
        nat_share=nat,
        with_ids=not no_ids,
        dynamic_share=dynamic,
        throttle=window,
        foreign_crawlers=foreign_crawlers,
        foreign_sensors=foreign_sensors,
        sensor=not no_sensor,
    )
    try:
        model.check()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    store = open_store(db)
    try:
        store.migrate()
        started = time.monotonic()
        made = _generate(store, model, seed)
        took = time.monotonic() - started
        rows = made.replies + made.failed_tries + made.edges + made.sensor_contacts
        click.echo(
            f"{botnet}: {len(made.bots)} bots, {made.replies} replies, {made.failed_tries} "
            f"failed tries, {made.edges} edges, {made.sensor_contacts} sensor contacts "
            f"({made.duplicate_batches}/{made.batches} batches already stored)"
        )
        click.echo(f"trace ready in {took:.1f} s ({rows / max(took, 1e-9):,.0f} records/s)")
        if truth:
            made.write_truth(truth)
            click.echo(f"truth written to {truth}")
    except (StoreError, GeoDataError, ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


def _generate(store: Store, model: TraceModel, seed: int) -> TraceTruth:
    """Run the generator under a rich progress bar (plain output when not on a terminal)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from botmon.sim.trace import generate_trace

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} windows"),
        TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task(f"trace {model.botnet}", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return generate_trace(store, model, seed, progress=advance)
