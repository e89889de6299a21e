"""``botmon simulate NAME``: run an emulated botnet on loopback until stopped.

One sub-command per emulator in the ``botmon.emulators`` registry, built from its settings
class: every setting with an ``option=`` is an option. It prints a few bot addresses to use
as crawl seeds (and writes them to ``--seeds-file``, one ``ip:port`` a line, for scripts),
keeps a small status line up to date, and stops cleanly on Ctrl-C, SIGTERM or after
``--duration`` seconds, writing the final ground truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import msgspec.inspect as mi

from botmon.cli.loading import default_help, load_settings
from botmon.protocols.registry import PluginError, get_plugin
from botmon.settings import Leaf, Settings, leaves
from botmon.sim.registry import EmulatorError, EmulatorSpec, default_registry
from botmon.sim.runtime import Emulator, TruthFileError

TTY_STATUS_S = 1.0
LOG_STATUS_S = 30.0
"""Status every second on a terminal, every 30 s into a log file (the demo's child logs)."""
RUN_OPTIONS = ("duration", "seed_count", "seeds_file")
"""Parameters of the run itself, not settings of the emulator."""


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


def _value_type(t: mi.Type) -> mi.Type:
    """The type a value is given in: metadata and ``| None`` taken off."""
    while True:
        if isinstance(t, mi.Metadata):
            t = t.type
        elif isinstance(t, mi.UnionType):
            t = next(x for x in t.types if not isinstance(x, mi.NoneType))
        else:
            return t


def _click_type(leaf: Leaf) -> dict[str, Any]:
    """How click reads the option of ``leaf``; the loader checks limits and choices."""
    t = _value_type(leaf.type)
    if isinstance(t, mi.BoolType):
        return {"type": bool}
    if isinstance(t, mi.IntType):
        return {"type": int}
    if isinstance(t, mi.FloatType):
        return {"type": float}
    if isinstance(t, mi.LiteralType):
        return {"type": str, "metavar": "|".join(sorted(str(v) for v in t.values))}
    if isinstance(t, mi.CustomType) and issubclass(t.cls, Path):
        return {"type": click.Path(dir_okay=False, path_type=Path)}
    if isinstance(t, mi.StrType):
        return {"type": str}
    raise TypeError(f"{leaf.name}: no command-line type for {t!r}")


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:]


def _param(option: str) -> str:
    return option.lstrip("-").replace("-", "_")


def setting_options(cls: type[Settings]) -> tuple[list[click.Option], dict[str, list[Leaf]]]:
    """Every option the settings of ``cls`` declare, and the settings behind each parameter.

    One option declared by two settings is a range, ``K`` or ``MIN-MAX``, that sets the
    first to MIN and the second to MAX (``--peers-per-bot``). Options have no click default:
    the loader's default and variable are shown in the help.
    """
    by_option: dict[str, list[Leaf]] = {}
    for leaf in leaves(cls):
        if leaf.option is not None:
            by_option.setdefault(leaf.option, []).append(leaf)
    options: list[click.Option] = []
    params: dict[str, list[Leaf]] = {}
    for option, group in by_option.items():
        name = _param(option)
        if name in RUN_OPTIONS or len(group) > 2:
            raise TypeError(f"{cls.section}: option {option} cannot be built")
        params[name] = group
        if len(group) == 2:
            low, high = group
            options.append(
                click.Option(
                    [option, name],
                    default=None,
                    metavar="K|MIN-MAX",
                    help=f"{low.description.rstrip('.')}, {_lower(high.description).rstrip('.')}: "
                    f"K or MIN-MAX (default: {low.show(low.default)}-{high.show(high.default)}"
                    f"; env {low.env} and {high.env}).",
                )
            )
            continue
        (leaf,) = group
        if _click_type(leaf)["type"] is bool:
            # A switch: --x sets true, --no-x false, neither leaves the loader's value.
            options.append(
                click.Option(
                    [f"{option}/--no-{option[2:]}", name],
                    default=None,
                    help=f"{leaf.description.rstrip('.')} ({default_help(cls, leaf.key)}).",
                )
            )
            continue
        options.append(
            click.Option(
                [option, name],
                default=None,
                help=f"{leaf.description.rstrip('.')} ({default_help(cls, leaf.key)}).",
                **_click_type(leaf),
            )
        )
    return options, params


def settings_given(params: dict[str, list[Leaf]], kw: dict[str, Any]) -> dict[str, Any]:
    """The options given on the command line as settings (field path -> value)."""
    given: dict[str, Any] = {}
    for name, group in params.items():
        value = kw.pop(name)
        if len(group) == 2:
            low, high = _peers_range(value)
            given[group[0].key], given[group[1].key] = low, high
        else:
            given[group[0].key] = value
    return given


def _run_params() -> list[click.Parameter]:
    """Options of the run itself (:data:`RUN_OPTIONS`), the same for every emulator."""
    return [
        click.Option(
            ["--duration"],
            type=click.FloatRange(min=0.0, min_open=True),
            default=None,
            help="Stop after this many seconds (default: run until Ctrl-C).",
        ),
        click.Option(
            ["--seeds", "seed_count"],
            type=click.IntRange(1, 1000),
            default=5,
            show_default=True,
            help="How many seed addresses to print.",
        ),
        click.Option(
            ["--seeds-file"],
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Write the seeds here, one ip:port a line.",
        ),
    ]


def _transport(spec: EmulatorSpec) -> str:
    """UDP or TCP, as the protocol plugin the emulator speaks says."""
    try:
        return get_plugin(spec.name).transport.upper()
    except PluginError:
        return "?"


def emulator_command(spec: EmulatorSpec) -> click.Command:
    """``botmon simulate <name>``, its options built from the emulator's settings class."""
    options, params = setting_options(spec.settings)
    transport = _transport(spec)

    def callback(**kw: Any) -> None:
        run = {name: kw.pop(name) for name in RUN_OPTIONS}
        cfg = load_settings(spec.settings, settings_given(params, kw))
        _run(spec.build(cfg), transport, run["duration"], run["seed_count"], run["seeds_file"])

    models = ", ".join(sorted(spec.capabilities)) or "nothing special"
    return click.Command(
        spec.name,
        callback=callback,
        params=[*options, *_run_params()],
        short_help=f"An emulated {spec.description} botnet ({transport}).",
        help=f"An emulated {spec.description} botnet on loopback ({transport}). Models: {models}.",
    )


class EmulatorGroup(click.Group):
    """Sub-commands from the emulator registry, built when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return default_registry().names()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        try:
            spec = default_registry().get(cmd_name)
        except EmulatorError as exc:
            if cmd_name in default_registry().errors():
                raise click.ClickException(str(exc)) from None
            return None
        return emulator_command(spec)


@click.group("simulate", cls=EmulatorGroup)
def command() -> None:
    """Run an emulated botnet on loopback (127.A.B.C) until stopped."""


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
