"""Churn: when each emulated bot is online, as a pure function of seed, bot and time.

Sans-I/O: :class:`ChurnModel` never reads a clock; the emulator calls :meth:`advance` with
``now`` on each tick and gets the bots whose state flipped. Every duration is drawn from a
counter-based generator (a hash of seed, bot and period number), so the schedule is the same
for the same seed however the ticks fall and whatever else consumed random numbers.

Model (see :data:`CHURN_PROFILES`): a bot alternates online sessions
(Weibull, shape < 1) and offline gaps (exponential), each at least ``min_period_s``; every
length is multiplied by ``scale``. At ``start`` a bot is online with the stationary
probability of that alternation. Sessions are recorded at their scheduled times; the
emulator applies a flip at most one tick (``TICK_S``) late.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import struct
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ChurnProfile:
    """Session model of one churn level (seconds before scaling).

    Online sessions are Weibull-distributed (shape ``online_shape`` below 1: many short
    sessions and a long tail, as measured for P2P networks); offline gaps are exponential.
    Every drawn duration is at least ``min_period_s``. A bot starts online with the
    stationary probability ``online_mean / (online_mean + offline_mean)``.
    """

    online_mean_s: float
    online_shape: float
    offline_mean_s: float
    min_period_s: float = 5.0


CHURN_PROFILES: dict[str, ChurnProfile | None] = {
    "none": None,
    "light": ChurnProfile(online_mean_s=3600.0, online_shape=0.8, offline_mean_s=900.0),
    "heavy": ChurnProfile(online_mean_s=600.0, online_shape=0.6, offline_mean_s=600.0),
}
"""The levels of ``--churn``; ``none``: every bot online for the whole run (one session)."""

Session = list[float | None]
"""``[start, end]`` in epoch seconds; ``end`` is None while the session is open."""

_PACK = struct.Struct("<QQQ")
_U64 = float(1 << 64)


def uniform(seed: int, bot: int, draw: int) -> float:
    """A deterministic number in (0, 1) for (seed, bot, draw number)."""
    digest = hashlib.blake2b(
        _PACK.pack(seed & 0xFFFF_FFFF_FFFF_FFFF, bot, draw), digest_size=8
    ).digest()
    return (int.from_bytes(digest, "little") + 0.5) / _U64


def online_length(profile: ChurnProfile, u: float) -> float:
    """Inverse CDF of the Weibull online-session length with the profile's mean."""
    k = profile.online_shape
    scale = profile.online_mean_s / math.gamma(1.0 + 1.0 / k)
    length: float = scale * math.pow(-math.log(u), 1.0 / k)
    return max(profile.min_period_s, length)


def offline_length(profile: ChurnProfile, u: float) -> float:
    """Inverse CDF of the exponential offline-gap length."""
    return max(profile.min_period_s, -profile.offline_mean_s * math.log(u))


class ChurnModel:
    """Online state and session history of ``n`` bots from ``start`` on."""

    def __init__(
        self, n: int, profile: ChurnProfile | None, scale: float, seed: int, start: float
    ) -> None:
        self.profile = profile
        self.scale = scale
        self.seed = seed
        self.start = start
        self.online = bytearray(n)
        self.sessions: list[list[Session]] = [[] for _ in range(n)]
        self._draws = [0] * n
        self._events: list[tuple[float, int]] = []
        if profile is None:
            for i in range(n):
                self.online[i] = 1
                self.sessions[i].append([start, None])
            return
        p_online = profile.online_mean_s / (profile.online_mean_s + profile.offline_mean_s)
        for i in range(n):
            is_online = uniform(seed, i, 0) < p_online
            self._draws[i] = 1
            if is_online:
                self.online[i] = 1
                self.sessions[i].append([start, None])
            self._events.append((start + self._next_length(i, is_online), i))
        heapq.heapify(self._events)

    def _next_length(self, i: int, online: bool) -> float:
        assert self.profile is not None
        u = uniform(self.seed, i, self._draws[i])
        self._draws[i] += 1
        length = online_length(self.profile, u) if online else offline_length(self.profile, u)
        return length * self.scale

    def next_event(self) -> float | None:
        """When the next bot flips (epoch seconds), or None without churn."""
        return self._events[0][0] if self._events else None

    def advance(self, now: float) -> list[int]:
        """Apply every flip scheduled up to ``now``; return the bots that flipped."""
        changed: list[int] = []
        events = self._events
        while events and events[0][0] <= now:
            at, i = heapq.heappop(events)
            if self.online[i]:
                self.online[i] = 0
                self.sessions[i][-1][1] = at
            else:
                self.online[i] = 1
                self.sessions[i].append([at, None])
            changed.append(i)
            heapq.heappush(events, (at + self._next_length(i, bool(self.online[i])), i))
        return changed

    def close_all(self, now: float) -> None:
        """End every open session at ``now`` (the emulator stops; nobody answers any more)."""
        self._events.clear()
        for i, sessions in enumerate(self.sessions):
            if sessions and sessions[-1][1] is None:
                sessions[-1][1] = max(now, sessions[-1][0] or now)
            self.online[i] = 0
