"""The ground-truth file (DESIGN §8): what was really there, for tests to compare against.

JSON lines, one bot a line: ``ip``, ``port``, ``bot_id`` (null for HNS), ``nat``,
``sessions`` (``[[start, end|null], ...]`` epoch seconds), ``peers`` (every peer it listed as
``"ip:port"``: its first list, then the peers it learned by exchange, in order; may include
non-bot entries such as TEST-NET, benign or sensor addresses), ``mode`` (``normal`` or the
hostile role) and ``contacted`` (``{"ip:port": first_ts}``: the peers outside the botnet —
sensors, crawlers — it contacted, and when first; bounded). A linenet bot that changes its
address with each session also has ``ip_change: true`` and ``addresses``
(``[[since, "ip:port"], ...]``, since = the session start; ``ip``/``port`` are then its
latest address). The file is always replaced whole (write a temporary file beside it, then
rename), so a reader never sees half of it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from botmon.sim.churn import Session
from botmon.sim.population import Bot, Population

_encoder = msgspec.json.Encoder()


Extras = Callable[[Bot], dict[str, Any]]
"""Emulator-specific fields of one bot's line (for example its address history)."""


def _no_extras(bot: Bot) -> dict[str, Any]:
    return {}


def _record(bot: Bot, entry_texts: list[str], extras: Extras) -> dict[str, Any]:
    return {
        "ip": bot.ip,
        "port": bot.port,
        "bot_id": bot.bot_id,
        "nat": bot.nat,
        "mode": bot.mode,
        "peers": [entry_texts[j] for j in bot.peer_index],
        **extras(bot),
    }


def _static_part(bot: Bot, entry_texts: list[str], extras: Extras) -> bytes:
    """Everything of a bot's line but its sessions, which change; ends where they go."""
    return _encoder.encode(_record(bot, entry_texts, extras))[:-1] + b',"sessions":'


class TruthWriter:
    """Renders and atomically rewrites the truth file; static parts are encoded once."""

    def __init__(self, path: Path, population: Population, extras: Extras = _no_extras) -> None:
        self.path = path
        self.population = population
        self.extras = extras
        self._static: list[bytes] = []
        self.stale = True
        self.writes = 0

    def _refresh(self) -> None:
        texts, extras = self.population.entry_texts, self.extras
        self._static = [_static_part(bot, texts, extras) for bot in self.population.bots]
        self.stale = False

    def touch(self, indexes: set[int]) -> None:
        """Re-render the lines of these bots (their peers or contacts changed)."""
        if self.stale:
            return
        texts, extras, bots = self.population.entry_texts, self.extras, self.population.bots
        for i in indexes:
            self._static[i] = _static_part(bots[i], texts, extras)

    def render(self, sessions: list[list[Session]]) -> bytes:
        """The whole file's bytes for the given per-bot sessions."""
        if self.stale:
            self._refresh()
        encode = _encoder.encode
        return b"".join(
            [static + encode(s) + b"}\n" for static, s in zip(self._static, sessions, strict=True)]
        )

    def write(self, sessions: list[list[Session]]) -> None:
        """Replace the file atomically."""
        data = self.render(sessions)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.path)
        self.writes += 1


def truth_records(
    population: Population, sessions: list[list[Session]], extras: Extras = _no_extras
) -> list[dict[str, Any]]:
    """The truth as dictionaries (what the file holds), for in-process callers."""
    texts = population.entry_texts
    return [
        {**_record(bot, texts, extras), "sessions": [list(s) for s in sess]}
        for bot, sess in zip(population.bots, sessions, strict=True)
    ]


def read_truth(path: Path) -> list[dict[str, Any]]:
    """Read a truth file back (for tests, benchmarks and analyses)."""
    out: list[dict[str, Any]] = []
    with path.open("rb") as fh:
        for line in fh:
            if line.strip():
                out.append(msgspec.json.decode(line))
    return out
