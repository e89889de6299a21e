"""A circuit breaker for a database that can go away: fail fast while it is down.

Without it, every call during a PostgreSQL outage waits for a pool timeout, so requests hang,
the server's threads fill up and a stop waits for all of them. The first call that finds the
database away *trips* the breaker; from then on calls raise
:class:`~botmon.store.base.StoreUnavailable` at once, while one background thread probes the
database every ``probe_interval_s`` and closes the breaker when a connection succeeds, so
ingest resumes by itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from botmon.store.base import StoreUnavailable

log = logging.getLogger("botmon.store")


class Breaker:
    """Open while the database is known to be away; ``probe`` decides when it is back."""

    def __init__(
        self,
        probe: Callable[[], None],
        *,
        name: str = "PostgreSQL",
        probe_interval_s: float = 1.0,
        retry_after_s: int = 5,
    ) -> None:
        self._probe = probe
        self._name = name
        self._interval = probe_interval_s
        self.retry_after_s = retry_after_s
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._reason = ""
        self._stop = threading.Event()
        self._prober: threading.Thread | None = None

    @property
    def is_open(self) -> bool:
        """True while the database is known to be away."""
        return self._down_since is not None

    def unavailable(self) -> StoreUnavailable:
        """The error a call gets while the breaker is open."""
        return StoreUnavailable(
            f"{self._name} is unavailable ({self._reason}); retry later", self.retry_after_s
        )

    def check(self) -> None:
        """Raise :class:`StoreUnavailable` at once while the database is away."""
        if self._down_since is not None:
            raise self.unavailable()

    def trip(self, reason: str) -> StoreUnavailable:
        """Note that the database is away and start probing it; the error to raise."""
        with self._lock:
            if self._down_since is None and not self._stop.is_set():
                self._down_since = time.monotonic()
                self._reason = reason
                log.error(
                    "%s is unavailable (%s): answering 503 until it is back", self._name, reason
                )
                self._prober = threading.Thread(
                    target=self._probe_until_back, name="botmon-store-probe", daemon=True
                )
                self._prober.start()
        return self.unavailable()

    def _probe_until_back(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._probe()
            except Exception:
                continue
            with self._lock:
                since, self._down_since = self._down_since, None
            if since is not None:
                log.warning("%s is back after %.1f s", self._name, time.monotonic() - since)
            return

    def close(self) -> None:
        """Stop probing (the store is closing); calls keep failing fast if it was open."""
        self._stop.set()
        prober = self._prober
        if prober is not None and prober is not threading.current_thread():
            prober.join(timeout=self._interval + 5)
