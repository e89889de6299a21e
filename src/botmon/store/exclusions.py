"""Monitors of others a user chose to leave out of every count and view, kept per botnet.

Other researchers' crawlers and sensors sit in a botnet's peer lists and talk to botmon's
own monitors like bots do, so they inflate every count and top every "most listed" table.
``botmon analyze detect`` names suspects; a user (``botmon monitors exclude``, the admin
API) turns the ones they accept into rows here, and a read asked to exclude monitors
(:class:`botmon.store.reads.RecordFilter`) leaves their records out. Nothing is deleted:
including a monitor again brings its records back in every view.

The SQL is shared by both backends: times are epoch microseconds, ``?`` becomes ``%s`` for
PostgreSQL, and only the address literal differs (UHUGEINT in DuckDB, inet in PostgreSQL).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Literal

import msgspec

from botmon.ipaddr import int_to_ip, ip_to_int
from botmon.store.base import StoreError

MonitorKind = Literal["crawler", "sensor"]
MONITOR_KINDS: tuple[MonitorKind, ...] = ("crawler", "sensor")
MAX_NOTE = 500
MAX_EVIDENCE = 16_384
"""Bytes of evidence JSON kept per monitor: a detection's reasons, not its input."""
MAX_EXCLUDED = 10_000
"""Monitors one call may exclude (a detection report lists far fewer)."""


class MonitorToExclude(msgspec.Struct, frozen=True, kw_only=True):
    """What a user excludes: an address and port, and what they know of it."""

    ip: str
    port: int
    kind: MonitorKind | None = None
    score: float | None = None
    evidence: Any = None
    note: str = ""


class ExcludedMonitor(msgspec.Struct, frozen=True, kw_only=True):
    """A monitor left out of a botnet's counts and views (``ip`` in canonical text)."""

    botnet: str
    ip: str
    port: int
    kind: MonitorKind | None
    score: float | None
    evidence: Any
    excluded_at: float
    excluded_by: str
    note: str


def checked(monitor: MonitorToExclude) -> tuple[str, int, MonitorToExclude]:
    """(canonical address, port, the monitor) when every field is acceptable; StoreError
    naming the field otherwise (callers check earlier; the store refuses what slipped by)."""
    try:
        ip = int_to_ip(ip_to_int(monitor.ip))
    except ValueError:
        raise StoreError(f"ip: not an IPv4 or IPv6 address: {monitor.ip[:64]!r}") from None
    if isinstance(monitor.port, bool) or not 0 <= int(monitor.port) <= 65535:
        raise StoreError(f"port must be 0..65535, not {monitor.port!r}")
    if monitor.kind is not None and monitor.kind not in MONITOR_KINDS:
        raise StoreError(f"kind must be crawler or sensor, not {str(monitor.kind)[:20]!r}")
    if monitor.score is not None and not math.isfinite(monitor.score):
        raise StoreError("score must be a finite number")
    if len(monitor.note) > MAX_NOTE or "\x00" in monitor.note:
        raise StoreError(f"note must be at most {MAX_NOTE} characters, without NUL")
    return ip, int(monitor.port), monitor


def _evidence_text(evidence: Any) -> str | None:
    if evidence is None:
        return None
    try:
        text = json.dumps(evidence, sort_keys=True, ensure_ascii=True, allow_nan=False)
    except (TypeError, ValueError):
        raise StoreError("evidence must be JSON (objects, lists, text, finite numbers)") from None
    if len(text) > MAX_EVIDENCE:
        raise StoreError(f"evidence is longer than {MAX_EVIDENCE} bytes of JSON")
    return text


class ExclusionPort:
    """Adding, removing and listing excluded monitors; mixed into both stores."""

    backend: str

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _config_write(self) -> AbstractContextManager[Any]:
        """The backend's write transaction (an executor committed on success)."""
        raise NotImplementedError

    def _x(self, text: str) -> str:
        """``text`` in the backend's dialect: ``{ip}`` is the address literal."""
        ip = "CAST(? AS UHUGEINT)" if self.backend == "duckdb" else "CAST(? AS inet)"
        text = text.replace("{ip}", ip)
        return text if self.backend == "duckdb" else text.replace("?", "%s")

    def _ip_param(self, ip: str) -> str:
        return str(ip_to_int(ip)) if self.backend == "duckdb" else ip

    def _excluding_botnet(self, botnet: str) -> int:
        rows = self._select(self._x("SELECT id FROM botnets WHERE name = ?"), [botnet])
        if not rows:
            raise StoreError(f"unknown botnet {botnet[:80]!r}: create it first")
        return int(rows[0][0])

    def exclude_monitors(
        self, botnet: str, monitors: Sequence[MonitorToExclude], by: str, at: float
    ) -> list[ExcludedMonitor]:
        """Exclude ``monitors`` from ``botnet``'s counts and views (a monitor excluded
        before gets the new kind, score, evidence, note and time); the stored rows back,
        in the order given. StoreError for an unknown botnet or a bad value (nothing is
        stored then)."""
        if len(monitors) > MAX_EXCLUDED:
            raise StoreError(f"at most {MAX_EXCLUDED} monitors per call")
        if not math.isfinite(at):
            raise StoreError("at must be a finite time")
        rows = [checked(m) for m in monitors]
        texts = [_evidence_text(m.evidence) for _, _, m in rows]
        botnet_id = self._excluding_botnet(botnet)
        with self._config_write() as ex:
            for (ip, port, m), evidence in zip(rows, texts, strict=True):
                ex.execute(
                    self._x(
                        "INSERT INTO excluded_monitors (botnet_id, ip, port, kind, score,"
                        " evidence, excluded_us, excluded_by, note) VALUES (?, {ip}, ?, ?, ?,"
                        " ?, ?, ?, ?) ON CONFLICT (botnet_id, ip, port) DO UPDATE SET"
                        " kind = excluded.kind, score = excluded.score,"
                        " evidence = excluded.evidence, excluded_us = excluded.excluded_us,"
                        " excluded_by = excluded.excluded_by, note = excluded.note"
                    ),
                    [
                        botnet_id,
                        self._ip_param(ip),
                        port,
                        m.kind,
                        None if m.score is None else float(m.score),
                        evidence,
                        round(at * 1_000_000),
                        by[:200],
                        m.note,
                    ],
                )
        found = {(x.ip, x.port): x for x in self.excluded_monitors(botnet)}
        return [found[(ip, port)] for ip, port, _ in rows if (ip, port) in found]

    def include_monitor(self, botnet: str, ip: str, port: int) -> bool:
        """Count ``ip:port`` in ``botnet``'s views again; False when it was not excluded."""
        address, port, _ = checked(MonitorToExclude(ip=ip, port=port))
        botnet_id = self._excluding_botnet(botnet)
        where = "botnet_id = ? AND ip = {ip} AND port = ?"
        params = [botnet_id, self._ip_param(address), port]
        if not self._select(self._x(f"SELECT 1 FROM excluded_monitors WHERE {where}"), params):
            return False
        with self._config_write() as ex:
            ex.execute(self._x(f"DELETE FROM excluded_monitors WHERE {where}"), params)
        return True

    def excluded_monitors(self, botnet: str | None = None) -> list[ExcludedMonitor]:
        """The excluded monitors of ``botnet`` (None: of every botnet), by botnet, address
        and port."""
        where, params = "", []
        if botnet is not None:
            where, params = " WHERE b.name = ?", [botnet]
        rows = self._select(
            self._x(
                "SELECT b.name, x.ip, x.port, x.kind, x.score, x.evidence, x.excluded_us,"
                " x.excluded_by, x.note FROM excluded_monitors x JOIN botnets b"
                f" ON b.id = x.botnet_id{where}"
            ),
            params,
        )
        out = [
            ExcludedMonitor(
                botnet=str(r[0]),
                ip=str(r[1]),
                port=int(r[2]),
                kind=r[3],
                score=None if r[4] is None else float(r[4]),
                evidence=None if r[5] is None else json.loads(r[5]),
                excluded_at=int(r[6]) / 1_000_000,
                excluded_by=str(r[7]),
                note=str(r[8]),
            )
            for r in rows
        ]
        out.sort(key=lambda x: (x.botnet, ip_to_int(x.ip), x.port))
        return out

    def exclusion_revision(self) -> str:
        """A fingerprint of every exclusion (which addresses, since when): it changes with
        every change of the list, so answers cached under a filter carrying it are never
        reused across one."""
        rows = self._select("SELECT botnet_id, ip, port, excluded_us FROM excluded_monitors")
        text = "\n".join(sorted(f"{b} {ip} {p} {t}" for b, ip, p, t in rows))
        return hashlib.sha256(text.encode()).hexdigest()[:16]
