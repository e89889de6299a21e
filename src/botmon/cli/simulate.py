"""``botmon simulate hns|linenet``: run an emulated botnet on loopback until stopped.

It prints a few bot addresses to use as crawl seeds (and writes them to ``--seeds-file``,
one ``ip:port`` a line, for scripts), keeps a small status line up to date, and stops
cleanly on Ctrl-C, SIGTERM or after ``--duration`` seconds, writing the final ground truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from botmon.cli.loading import default_help, load_settings
from botmon.settings import HnsConfig, LinenetConfig, Settings
from botmon.settings.loader import find_leaf
from botmon.settings.sim import CommonConfig
from botmon.sim.runtime import Emulator, TruthFileError

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=CommonConfig)
TTY_STATUS_S = 1.0
LOG_STATUS_S = 30.0
"""Status every second on a terminal, every 30 s into a log file (the demo's child logs)."""


def _peers_range(text: str | None) -> tuple[int | None, int | None]:
    """``K`` or ``MIN-MAX`` as (min, max); the loader checks the numbers."""
    if text is None:
        return None, None
    try:
        if "-" in text:
            low, high = (int(part) for part in text.split("-", 1))
        else:
            low = high = int(text)
    except ValueError:
        raise click.BadParameter(f"expected K or MIN-MAX, got {text!r}") from None
    return low, high


def _setting(cls: type[Settings], key: str, *decls: str, text: str, **kw: Any) -> Callable[[F], F]:
    """An option that sets ``key`` of ``cls``: no click default, the loader's in the help."""
    return click.option(*decls, default=None, help=f"{text} ({default_help(cls, key)}).", **kw)


def _common_options(cls: type[CommonConfig]) -> Callable[[F], F]:
    options = [
        _setting(cls, "bots", "--bots", type=int, text="Number of bots"),
        _setting(
            cls,
            "nat",
            "--nat",
            type=float,
            text="Fraction of bots behind NAT: listed by others, never answering",
        ),
        _setting(
            cls,
            "churn",
            "--churn",
            metavar="none|light|heavy",
            text="light: online ~1 h (Weibull k=0.8), offline ~15 min; heavy: ~10 min each",
        ),
        _setting(
            cls,
            "churn_scale",
            "--churn-scale",
            type=float,
            text="Multiply every session length (0.01: fast churn)",
        ),
        _setting(
            cls,
            "truth",
            "--truth",
            type=click.Path(dir_okay=False, path_type=Path),
            text="Ground-truth JSON-lines file, rewritten while sessions change",
        ),
        _setting(
            cls,
            "truth_interval_s",
            "--truth-interval",
            type=float,
            text="Least seconds between two truth rewrites",
        ),
        _setting(
            cls,
            "seed_rng",
            "--seed-rng",
            type=int,
            text="Seed: the same seed gives the same botnet",
        ),
        _setting(cls, "port", "--port", type=int, text="First port bots listen on"),
        _setting(
            cls,
            "ports",
            "--ports",
            type=int,
            text="Spread bots over this many ports (one socket each)",
        ),
        click.option(
            "--peers-per-bot",
            "peers",
            default=None,
            help="Peer-list size: K or MIN-MAX (default: 8-32; env "
            f"{find_leaf(cls, 'peers_min').env} and {find_leaf(cls, 'peers_max').env}).",
        ),
        _setting(
            cls,
            "rate_limit",
            "--rate-limit",
            type=float,
            text="Requests per second each bot answers per source IP",
        ),
        _setting(
            cls,
            "rate_burst",
            "--rate-burst",
            type=float,
            text="Token-bucket depth of the rate limit",
        ),
        _setting(
            cls,
            "blacklist_after",
            "--blacklist-after",
            type=int,
            text="A bot ignores a source IP after this many requests from it",
        ),
        click.option(
            "--duration",
            type=click.FloatRange(min=0.0, min_open=True),
            default=None,
            help="Stop after this many seconds (default: run until Ctrl-C).",
        ),
        click.option(
            "--seeds",
            "seed_count",
            type=click.IntRange(1, 1000),
            default=5,
            show_default=True,
            help="How many seed addresses to print.",
        ),
        click.option(
            "--seeds-file",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Write the seeds here, one ip:port a line.",
        ),
    ]

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def _common_settings(kw: dict[str, Any]) -> dict[str, Any]:
    peers_min, peers_max = _peers_range(kw.pop("peers"))
    return {
        "bots": kw.pop("bots"),
        "nat": kw.pop("nat"),
        "churn": kw.pop("churn"),
        "churn_scale": kw.pop("churn_scale"),
        "truth": kw.pop("truth"),
        "truth_interval_s": kw.pop("truth_interval"),
        "seed_rng": kw.pop("seed_rng"),
        "port": kw.pop("port"),
        "ports": kw.pop("ports"),
        "peers_min": peers_min,
        "peers_max": peers_max,
        "rate_limit": kw.pop("rate_limit"),
        "rate_burst": kw.pop("rate_burst"),
        "blacklist_after": kw.pop("blacklist_after"),
    }


@click.group("simulate")
def command() -> None:
    """Run an emulated botnet on loopback (127.A.B.C) until stopped."""


@command.command("hns", short_help="An emulated Hide'n'Seek botnet (UDP).")
@_common_options(HnsConfig)
@_setting(HnsConfig, "garbage", "--garbage", type=float, text="Fraction of bots answering garbage")
@_setting(
    HnsConfig,
    "oversized",
    "--oversized",
    type=float,
    text="Fraction of bots answering oversized datagrams",
)
@_setting(
    HnsConfig, "oversized_bytes", "--oversized-bytes", type=int, text="Size of an oversized answer"
)
@_setting(
    HnsConfig,
    "flood",
    "--flood",
    type=float,
    text="Fraction of bots flooding the sender with unsolicited replies",
)
@_setting(
    HnsConfig,
    "flood_count",
    "--flood-count",
    type=int,
    text="Datagrams a flooding bot sends per request",
)
@_setting(
    HnsConfig,
    "out_of_scope",
    "--out-of-scope",
    type=float,
    text="Fraction of bots announcing TEST-NET peers (data only, never contacted)",
)
def hns(**kw: Any) -> None:
    """An emulated Hide'n'Seek botnet (UDP: `~` -> one `^` peer per reply)."""
    from botmon.sim.hns import HnsBotnet

    _launch(kw, HnsConfig, lambda cfg: HnsBotnet(cfg), "UDP")


@command.command("linenet", short_help="An emulated linenet botnet (TCP).")
@_common_options(LinenetConfig)
@_setting(
    LinenetConfig,
    "peers_per_reply",
    "--peers-per-reply",
    type=int,
    text="Answer all peers up to this many, else a random subset of this size",
)
@_setting(
    LinenetConfig,
    "benign",
    "--benign",
    type=int,
    text="Extra non-bot hosts answering HELLO (a few bots list them)",
)
@_setting(
    LinenetConfig,
    "ip_change",
    "--ip-change",
    type=float,
    text="Fraction of bots taking a new IP with each new session (one ID, several IPs)",
)
def linenet(**kw: Any) -> None:
    """An emulated linenet botnet (TCP: `PEERS` -> `BOT`, `PEER`..., `END`)."""
    from botmon.sim.linenet import LinenetBotnet

    _launch(kw, LinenetConfig, lambda cfg: LinenetBotnet(cfg), "TCP")


def _launch(
    kw: dict[str, Any],
    cls: type[C],
    build: Callable[[C], Emulator],
    transport: str,
) -> None:
    """Split the run options from the emulator's settings, load them, run it until stopped."""
    duration, seed_count, seeds_file = (
        kw.pop("duration"),
        kw.pop("seed_count"),
        kw.pop("seeds_file"),
    )
    cfg = load_settings(cls, {**_common_settings(kw), **kw})
    _run(build(cfg), transport, duration, seed_count, seeds_file)


def _write_seeds(path: Path, seeds: list[tuple[str, int]]) -> None:
    """Replace ``path`` atomically so a script polling it never reads half a list."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text("".join(f"{ip}:{port}\n" for ip, port in seeds))
    os.replace(tmp, path)


def _run(
    emulator: Emulator,
    transport: str,
    duration: float | None,
    seed_count: int,
    seeds_file: Path | None,
) -> None:
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(_serve(emulator, transport, duration, seed_count, seeds_file))


async def _serve(
    emulator: Emulator,
    transport: str,
    duration: float | None,
    seed_count: int,
    seeds_file: Path | None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    cfg = emulator.cfg
    name = emulator.protocol
    try:
        try:
            await emulator.start()
        except TruthFileError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.ClickException(
                f"cannot open {transport} port {cfg.port}"
                f"{'' if cfg.ports == 1 else f'..{cfg.port + cfg.ports - 1}'}: "
                f"{exc.strerror or exc}"
            ) from None
        seeds = emulator.seeds(seed_count)
        click.echo(
            f"botmon simulate {name}: {cfg.bots} bots on 127.A.B.C {transport} port "
            f"{cfg.port}{'' if cfg.ports == 1 else f'..{cfg.port + cfg.ports - 1}'} "
            f"(seed-rng {emulator.seed}, churn {cfg.churn}, nat {cfg.nat})"
        )
        if cfg.truth is not None:
            click.echo(f"truth: {cfg.truth}")
        click.echo("seeds:")
        for ip, port in seeds:
            click.echo(f"  {ip}:{port}")
        if seeds_file is not None:
            _write_seeds(seeds_file, seeds)
            click.echo(f"seeds written to {seeds_file}")
        sys.stdout.flush()
        await _watch(emulator, stop, duration)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        try:
            await emulator.stop()
        except TruthFileError as exc:
            raise click.ClickException(str(exc)) from None
    if emulator.started_at is not None:
        click.echo(f"stopped: {emulator.status_line()}")


async def _watch(emulator: Emulator, stop: asyncio.Event, duration: float | None) -> None:
    """Keep the status line fresh until a signal or the end of ``--duration``."""
    tty = sys.stdout.isatty()
    every = TTY_STATUS_S if tty else LOG_STATUS_S
    loop = asyncio.get_running_loop()
    end = None if duration is None else loop.time() + duration
    while not stop.is_set():
        wait = every if end is None else min(every, end - loop.time())
        if wait <= 0:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
        if stop.is_set() or (end is not None and loop.time() >= end):
            break
        line = emulator.status_line()
        if tty:
            sys.stdout.write(f"\r{line}\x1b[K")
        else:
            sys.stdout.write(f"{line}\n")
        sys.stdout.flush()
    if tty:
        sys.stdout.write("\n")
