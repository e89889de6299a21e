"""Pause, hold, commands, run state and the loop's wake-up: what every monitor shares.

A server command or a full spool acts on a crawler and a sensor the same way, so both
runners take these from :class:`Controls` and only say what "paused" means for them
(:meth:`Controls._set_paused`) and how they stop, change rate and add seeds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar

from botmon.crawl.counters import Counters
from botmon.protocols.contract import Peer
from botmon.wire import (
    AddSeeds,
    Command,
    CommandError,
    MonitorState,
    SetRate,
    UnknownCommand,
    command_args,
)


class Engine(Protocol):
    """What :class:`Controls` needs of a runner's core."""

    paused: bool

    def set_rate(self, rate: float, now: float) -> None:
        """Change the send rate at ``now``."""


E = TypeVar("E", bound=Engine)


class Controls(Generic[E]):
    """Pause and hold flags, command dispatch and the run state, for a runner to inherit.

    A subclass sets ``core`` (its sans-I/O engine), ``clock``, ``counters``, ``seed_port``,
    ``_stop`` and ``_finished``, and defines :meth:`add_seeds`.
    """

    core: E
    clock: Callable[[], float]
    counters: Counters
    seed_port: int
    _stop: bool
    _finished: bool
    _commanded_pause: bool = False
    _held: str | None = None
    _waiter: asyncio.Future[None] | None = None

    # ----- the loop's wake-up ------------------------------------------------------------

    def wake(self) -> None:
        """Wake the loop early (an answer arrived, a command changed something)."""
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def _sleep(self, delay: float) -> None:
        """Sleep ``delay`` seconds or until :meth:`wake`, whichever comes first."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiter = fut
        handle = loop.call_later(delay, _resolve, fut)
        try:
            await fut
        finally:
            handle.cancel()
            self._waiter = None

    # ----- what every runner does the same way -------------------------------------------

    def stop(self) -> None:
        """Finish and return from ``run`` (records are flushed)."""
        self._stop = True
        self.wake()

    def _apply_pause(self) -> None:
        # A crawler still reads answers in flight while paused; a sensor goes dark.
        self.core.paused = self._commanded_pause or self._held is not None
        self.wake()

    def set_rate(self, rate: float) -> None:
        """Change the send rate (crawler: requests, sensor: announcements; 0 = unlimited)."""
        self.core.set_rate(rate, self.clock())
        self.wake()

    def add_seeds(self, peers: Iterable[Peer]) -> int:
        """Add peers (a crawler crawls them, a sensor announces itself to them)."""
        raise NotImplementedError

    # ----- pause, hold, state, commands -------------------------------------------------

    def pause(self) -> None:
        """Send nothing new until :meth:`resume`."""
        self._commanded_pause = True
        self._apply_pause()

    def resume(self) -> None:
        """Undo :meth:`pause` (a hold by the reporter stays until it is released)."""
        self._commanded_pause = False
        self._apply_pause()

    def hold(self, reason: str | None) -> None:
        """The reporter's back-pressure: pause for ``reason`` (``spool_full``), None resumes.

        Independent of :meth:`pause`: an admin's resume does not override a full spool.
        """
        self._held = reason
        self._apply_pause()

    @property
    def paused(self) -> bool:
        """Whether a command or the reporter holds the monitor back."""
        return self._commanded_pause or self._held is not None

    @property
    def paused_reason(self) -> str | None:
        """``spool_full`` (the reporter's hold), ``command`` (an admin's pause), or None."""
        if self._held is not None:
            return self._held
        return "command" if self._commanded_pause else None

    @property
    def state(self) -> MonitorState:
        """``running``, ``paused``, ``stopping`` (asked to stop) or ``stopped`` (run over)."""
        if self._finished:
            return "stopped"
        if self._stop:
            return "stopping"
        return "paused" if self.paused else "running"

    def handle_command(self, command: Command) -> None:
        """Apply a server command (:data:`botmon.wire.COMMAND_ARGS`).

        Unknown commands and bad arguments are counted, never raised: the server checks
        them when they are queued, but is trusted to authenticate, not to be bug-free.
        """
        name = command.command
        c = self.counters
        try:
            args = command_args(name, command.args)
        except UnknownCommand:
            c[f"commands/unknown/{name[:32]}"] += 1
            return
        except CommandError:
            c["command_errors"] += 1
            return
        if isinstance(args, SetRate):
            self.set_rate(args.rate)
        elif isinstance(args, AddSeeds):
            self.add_seeds(Peer(ip, port) for ip, port in args.addresses(self.seed_port))
        elif name == "pause":
            self.pause()
        elif name == "resume":
            self.resume()
        else:
            self.stop()
        c[f"commands/{name}"] += 1


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
