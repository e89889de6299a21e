"""Botnet configurations and their alerts: picked out of replies at ingest, kept per botnet.

A protocol whose bots reveal their configuration (Mozi first) puts it in a reply's
``data["config"]``: ``{"version": int, "digest": hex, "tags": {tag: value}, "signatures":
"valid"|"invalid"|"unchecked", "stop": bool}``. The store keeps every distinct configuration
of a botnet (first and last sighting, how many bots carried it), which bots carried it (a
bounded list), and raises an alert the first time something worth a look appears:

- ``new_config``: a digest never seen for the botnet;
- ``new_version``: a version higher than every version seen before (not for the first
  configuration of a botnet: there is nothing it is newer than);
- ``stop_order``: a configuration that orders the bots to stop (the kill switch);
- ``bad_signature``: a configuration whose signatures do not verify (someone is sending
  forged configurations).

:func:`seen_configs` runs where rows are prepared (possibly an ingest worker process) and
costs one substring search over the batch's data column when no reply carries a
configuration. :func:`apply` runs inside the ingest transaction of the batch, so a stored
batch and its sightings commit together and a duplicate batch is counted once. Its SQL is
shared by both backends (times are epoch microseconds; ``?`` becomes ``%s`` for PostgreSQL).
Hostile or odd ``config`` values (wrong types, huge tags, a digest that is not hex) are
dropped or trimmed here, never an ingest error: the records themselves were already valid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import msgspec

from botmon.ipaddr import int_to_ip
from botmon.validation import ReplyColumns

MAX_CONFIG_BOTS = 10_000
"""Bots listed per configuration; sightings by further bots are counted (``unlisted``)."""
MAX_TAGS = 64
MAX_TAG_NAME = 64
MAX_TAG_VALUE = 512
MAX_VERSION = 2**63 - 1
MAX_ALERTS = 1000
"""Most alerts one read returns (newest first)."""
MAX_BOTS_READ = 1000

AlertKind = Literal["new_config", "new_version", "stop_order", "bad_signature"]
ALERT_KINDS: tuple[AlertKind, ...] = ("new_config", "new_version", "stop_order", "bad_signature")
SEVERITY: dict[str, str] = {
    "stop_order": "critical",
    "bad_signature": "high",
    "new_version": "warning",
    "new_config": "info",
}
SIGNATURES = ("valid", "invalid", "unchecked")
_SIGNATURE_RANK = {"unchecked": 0, "valid": 1, "invalid": 2}
"""A later sighting may tell more about the same bytes (a monitor with the keys): keep the
most telling status; ``invalid`` once reported stays."""
_DIGEST = re.compile(r"[0-9a-f]{16,128}")
_MARK = '"config"'
_PG_LOCK_CLASS = 0x626D6366
"""First half of the advisory lock that serialises configuration updates of one botnet on
PostgreSQL ("bmcf"); the botnet id is the second."""


class _Data(msgspec.Struct):
    """The one key of a reply's ``data`` this module reads; the others are skipped unread."""

    config: Any = None


_one = msgspec.json.Decoder(_Data)
_column = msgspec.json.Decoder(list[_Data])


@dataclass(slots=True)
class SeenConfig:
    """One configuration as one batch saw it."""

    digest: str
    version: int
    tags: str
    """JSON text of the tag object (trimmed to the caps)."""
    signatures: str
    stop: bool
    first_us: int
    last_us: int
    bots: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Bot (ID, or ip:port) -> first and last sighting in the batch."""
    unlisted: int = 0
    """Sightings by bots beyond :data:`MAX_CONFIG_BOTS` in this batch."""


def _tags(value: Any) -> str:
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for k, v in value.items():
            if len(out) >= MAX_TAGS:
                break
            if isinstance(k, str) and isinstance(v, str | int | float) and not isinstance(v, bool):
                out[k[:MAX_TAG_NAME]] = str(v)[:MAX_TAG_VALUE]
    return json.dumps(out, ensure_ascii=True, sort_keys=True)


def _key(config: Any, memo: dict[tuple[Any, ...], tuple[str, int, str] | None]) -> Any:
    """(digest, version, signatures) of a usable ``config``, else None. The bots of a batch
    mostly carry the same few configurations: ``memo`` keeps each answer."""
    if not isinstance(config, dict):
        return None
    digest, version = config.get("digest"), config.get("version")
    signatures = config.get("signatures")
    raw = (digest, version, type(version), signatures)  # True == 1, yet not a version
    try:
        return memo[raw]
    except KeyError:
        pass
    except TypeError:  # an unhashable value: not a usable configuration
        return None
    key = None
    if isinstance(digest, str) and isinstance(version, int) and not isinstance(version, bool):
        digest = digest.lower()
        if 0 <= version <= MAX_VERSION and _DIGEST.fullmatch(digest) is not None:
            key = (digest, version, signatures if signatures in SIGNATURES else "unchecked")
    memo[raw] = key
    return key


def _bot(replies: ReplyColumns, i: int) -> str:
    bot_id = replies.bot_id[i]
    if bot_id:
        return bot_id
    ip = int_to_ip(replies.ip[i])
    return f"[{ip}]:{replies.port[i]}" if ":" in ip else f"{ip}:{replies.port[i]}"


def _configs(texts: list[str]) -> list[Any]:
    """The ``config`` value of each data text: one decode of the whole column, or (a text
    that does not decode as an object) one by one, the bad ones None."""
    try:
        return [d.config for d in _column.decode("[" + ",".join(texts) + "]")]
    except msgspec.DecodeError:
        pass
    out: list[Any] = []
    for text in texts:
        try:
            out.append(_one.decode(text).config)
        except msgspec.DecodeError:
            out.append(None)
    return out


def seen_configs(replies: ReplyColumns) -> tuple[SeenConfig, ...]:
    """The configurations the replies of one batch carry, merged per digest."""
    data = replies.data
    if _MARK not in "\n".join(filter(None, data)):
        return ()
    rows = [i for i, text in enumerate(data) if text is not None and _MARK in text]
    found: dict[str, SeenConfig] = {}
    memo: dict[tuple[Any, ...], tuple[str, int, str] | None] = {}
    for i, config in zip(rows, _configs([data[i] or "" for i in rows]), strict=True):
        key = _key(config, memo)
        if key is None:
            continue
        digest, version, signatures = key
        ts = replies.ts_us[i]
        seen = found.get(digest)
        if seen is None:  # the bytes named by the digest hold the same tags and stop order
            stop = config.get("stop") is True
            tags = _tags(config.get("tags"))
            seen = found[digest] = SeenConfig(digest, version, tags, signatures, stop, ts, ts)
        if ts < seen.first_us:
            seen.first_us = ts
        elif ts > seen.last_us:
            seen.last_us = ts
        if _SIGNATURE_RANK[signatures] > _SIGNATURE_RANK[seen.signatures]:
            seen.signatures = signatures
        bot = _bot(replies, i)
        span = seen.bots.get(bot)
        if span is not None:
            seen.bots[bot] = (min(span[0], ts), max(span[1], ts))
        elif len(seen.bots) < MAX_CONFIG_BOTS:
            seen.bots[bot] = (ts, ts)
        else:
            seen.unlisted += 1
    return tuple(sorted(found.values(), key=lambda s: (s.first_us, s.digest)))


# -- writing (inside the ingest transaction) ------------------------------------------------
class Executor(Protocol):
    """A DuckDB cursor or a psycopg connection inside the write transaction."""

    def execute(self, query: Any, parameters: Any = ..., /) -> Any: ...


def _sql(backend: str, text: str) -> str:
    return text if backend == "duckdb" else text.replace("?", "%s")


_INCOMING = "SELECT unnest(?::TEXT[]) AS bot, unnest(?::BIGINT[]) AS f, unnest(?::BIGINT[]) AS l"


def apply(ex: Executor, backend: str, botnet_id: int, seen: Sequence[SeenConfig]) -> None:
    """Merge one stored batch's sightings into the configuration tables; raise alerts."""
    if not seen:
        return

    def run(text: str, params: Sequence[Any]) -> Any:
        return ex.execute(_sql(backend, text), list(params))

    if backend == "postgresql":  # DuckDB writes are serialised already
        run("SELECT pg_advisory_xact_lock(?, ?)", [_PG_LOCK_CLASS, botnet_id]).fetchall()
    for c in seen:
        row = run(
            "SELECT id, signatures, bots FROM configs WHERE botnet_id = ? AND digest = ?",
            [botnet_id, c.digest],
        ).fetchall()
        raised: list[AlertKind] = []
        if not row:
            top = run("SELECT max(version) FROM configs WHERE botnet_id = ?", [botnet_id])
            newest = top.fetchall()[0][0]
            values = [botnet_id, c.digest, c.version, c.tags, c.signatures, c.stop]
            config_id = run(
                "INSERT INTO configs (botnet_id, digest, version, tags, signatures, stop,"
                " first_us, last_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [*values, c.first_us, c.last_us],
            ).fetchall()[0][0]
            listed = 0
            raised.append("new_config")
            if newest is not None and c.version > newest:
                raised.append("new_version")
            if c.stop:
                raised.append("stop_order")
            if c.signatures == "invalid":
                raised.append("bad_signature")
        else:
            config_id, signatures, listed = row[0]
            if _SIGNATURE_RANK[c.signatures] > _SIGNATURE_RANK.get(signatures, 0):
                signatures = c.signatures
                if signatures == "invalid":
                    raised.append("bad_signature")
            run(
                "UPDATE configs SET first_us = least(first_us, ?), last_us = greatest(last_us, ?),"
                " signatures = ? WHERE id = ?",
                [c.first_us, c.last_us, signatures, config_id],
            )
        added, unlisted = _merge_bots(run, config_id, c, int(listed), fresh=not row)
        run(
            "UPDATE configs SET bots = bots + ?, unlisted = unlisted + ? WHERE id = ?",
            [added, unlisted, config_id],
        )
        for kind in raised:
            run(
                "INSERT INTO config_alerts (botnet_id, at_us, kind, severity, digest, version)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [botnet_id, c.first_us, kind, SEVERITY[kind], c.digest, c.version],
            )


def _merge_bots(
    run: Any, config_id: int, c: SeenConfig, listed: int, *, fresh: bool
) -> tuple[int, int]:
    """Update the listed bots' sightings and list new bots up to the cap; return (bots
    added, sightings left unlisted)."""
    if not c.bots:
        return 0, c.unlisted
    names = list(c.bots)
    arrays = [names, [c.bots[b][0] for b in names], [c.bots[b][1] for b in names]]
    known = 0
    if not fresh:  # the bots listed before: their sightings widen
        known = len(
            run(
                "UPDATE config_bots SET first_us = least(config_bots.first_us, i.f),"
                f" last_us = greatest(config_bots.last_us, i.l) FROM ({_INCOMING}) AS i"
                " WHERE config_bots.config_id = ? AND config_bots.bot = i.bot"
                " RETURNING config_bots.bot",
                [*arrays, config_id],
            ).fetchall()
        )
    new = len(names) - known
    room = max(0, MAX_CONFIG_BOTS - listed)
    added = min(new, room)
    if added:
        run(
            "INSERT INTO config_bots (config_id, bot, first_us, last_us)"
            f" SELECT ?, i.bot, i.f, i.l FROM ({_INCOMING}) AS i WHERE NOT EXISTS"
            " (SELECT 1 FROM config_bots b WHERE b.config_id = ? AND b.bot = i.bot)"
            " ORDER BY i.f, i.bot LIMIT ?",
            [config_id, *arrays, config_id, added],
        )
    return added, c.unlisted + new - added


# -- reading -------------------------------------------------------------------------------
class Config(msgspec.Struct, frozen=True):
    """One distinct configuration of a botnet. ``bots`` counts the listed bots (at most
    ``MAX_CONFIG_BOTS``); ``unlisted_sightings`` counts sightings by bots beyond that list.
    ``current`` marks the configuration seen last (the one the bots carry now)."""

    digest: str
    version: int
    tags: dict[str, str]
    signatures: str
    stop: bool
    first_seen: float
    last_seen: float
    bots: int
    unlisted_sightings: int
    current: bool


class ConfigBot(msgspec.Struct, frozen=True):
    """A bot (its ID, or ip:port) that carried a configuration, first and last sighting."""

    bot: str
    first_seen: float
    last_seen: float


class ConfigAlert(msgspec.Struct, frozen=True):
    """An alert about a botnet's configuration; ``acked_at`` is None until an admin
    acknowledges it."""

    id: int
    botnet: str
    at: float
    kind: str
    severity: str
    digest: str
    version: int
    acked_at: float | None
    acked_by: str | None


class ConfigStats(msgspec.Struct, frozen=True):
    """What ``/metrics`` shows: alerts per (botnet, kind), botnets with an unacknowledged
    stop order, configurations per botnet."""

    alerts: dict[str, dict[str, int]]
    stop_orders: dict[str, bool]
    configs: dict[str, int]


def _s(us: Any) -> float:
    return int(us) / 1_000_000


def _alert(row: Sequence[Any]) -> ConfigAlert:
    return ConfigAlert(
        id=int(row[0]),
        botnet=str(row[1]),
        at=_s(row[2]),
        kind=str(row[3]),
        severity=str(row[4]),
        digest=str(row[5]),
        version=int(row[6]),
        acked_at=None if row[7] is None else _s(row[7]),
        acked_by=row[8],
    )


_ALERT_COLUMNS = (
    "a.id, b.name, a.at_us, a.kind, a.severity, a.digest, a.version, a.acked_us, a.acked_by"
)


class ConfigPort:
    """The configuration reads and the acknowledgement, mixed into both stores."""

    backend: str

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _config_write(self) -> AbstractContextManager[Executor]:
        """The backend's write transaction (an executor committed on success)."""
        raise NotImplementedError

    def _q(self, text: str) -> str:
        return _sql(self.backend, text)

    def _botnet_row(self, botnet: str) -> int | None:
        rows = self._select(self._q("SELECT id FROM botnets WHERE name = ?"), [botnet])
        return int(rows[0][0]) if rows else None

    def configs(self, botnet: str) -> list[Config] | None:
        """Every configuration of ``botnet``, newest first sighting first; None when the
        botnet does not exist."""
        botnet_id = self._botnet_row(botnet)
        if botnet_id is None:
            return None
        rows = self._select(
            self._q(
                "SELECT digest, version, tags, signatures, stop, first_us, last_us, bots,"
                " unlisted FROM configs WHERE botnet_id = ? ORDER BY first_us DESC, digest"
            ),
            [botnet_id],
        )
        current = max(rows, key=lambda r: (r[6], r[1]), default=None)
        return [
            Config(
                digest=str(r[0]),
                version=int(r[1]),
                tags=json.loads(r[2]),
                signatures=str(r[3]),
                stop=bool(r[4]),
                first_seen=_s(r[5]),
                last_seen=_s(r[6]),
                bots=int(r[7]),
                unlisted_sightings=int(r[8]),
                current=r is current,
            )
            for r in rows
        ]

    def config_bots(self, botnet: str, digest: str, limit: int = MAX_BOTS_READ) -> list[ConfigBot]:
        """Bots that carried one configuration, most recently seen first."""
        rows = self._select(
            self._q(
                "SELECT cb.bot, cb.first_us, cb.last_us FROM config_bots cb"
                " JOIN configs c ON c.id = cb.config_id JOIN botnets b ON b.id = c.botnet_id"
                " WHERE b.name = ? AND c.digest = ? ORDER BY cb.last_us DESC, cb.bot LIMIT ?"
            ),
            [botnet, digest.lower(), max(1, min(int(limit), MAX_BOTS_READ))],
        )
        return [ConfigBot(str(r[0]), _s(r[1]), _s(r[2])) for r in rows]

    def config_alerts(
        self,
        botnet: str | None = None,
        since: float | None = None,
        kind: str | None = None,
        *,
        unacked: bool = False,
        limit: int = MAX_ALERTS,
    ) -> list[ConfigAlert]:
        """Alerts, newest first, filtered by botnet, time (at or after ``since``), kind and
        (``unacked``) acknowledgement."""
        where: list[str] = []
        params: list[Any] = []
        if botnet is not None:
            where.append("b.name = ?")
            params.append(botnet)
        if since is not None:
            where.append("a.at_us >= ?")
            params.append(round(since * 1_000_000))
        if kind is not None:
            where.append("a.kind = ?")
            params.append(kind)
        if unacked:
            where.append("a.acked_us IS NULL")
        clause = " WHERE " + " AND ".join(where) if where else ""
        rows = self._select(
            self._q(
                f"SELECT {_ALERT_COLUMNS} FROM config_alerts a JOIN botnets b"
                f" ON b.id = a.botnet_id{clause} ORDER BY a.at_us DESC, a.id DESC LIMIT ?"
            ),
            [*params, max(1, min(int(limit), MAX_ALERTS))],
        )
        return [_alert(r) for r in rows]

    def ack_config_alert(self, alert_id: int, by: str, at: float) -> ConfigAlert | None:
        """Acknowledge an alert (the first acknowledgement stays); None when there is no
        alert with that id."""
        with self._config_write() as ex:
            ex.execute(
                self._q(
                    "UPDATE config_alerts SET acked_us = ?, acked_by = ?"
                    " WHERE id = ? AND acked_us IS NULL"
                ),
                [round(at * 1_000_000), by, alert_id],
            )
        rows = self._select(
            self._q(
                f"SELECT {_ALERT_COLUMNS} FROM config_alerts a JOIN botnets b"
                " ON b.id = a.botnet_id WHERE a.id = ?"
            ),
            [alert_id],
        )
        return _alert(rows[0]) if rows else None

    def config_stats(self) -> ConfigStats:
        """Counts for ``/metrics``, every botnet with a configuration or an alert."""
        alerts: dict[str, dict[str, int]] = {}
        stops: dict[str, bool] = {}
        for name, kind, n, open_stops in self._select(
            "SELECT b.name, a.kind, count(*),"
            " sum(CASE WHEN a.kind = 'stop_order' AND a.acked_us IS NULL THEN 1 ELSE 0 END)"
            " FROM config_alerts a JOIN botnets b ON b.id = a.botnet_id GROUP BY b.name, a.kind"
        ):
            alerts.setdefault(str(name), {})[str(kind)] = int(n)
            stops[str(name)] = stops.get(str(name), False) or bool(open_stops)
        configs = {
            str(name): int(n)
            for name, n in self._select(
                "SELECT b.name, count(*) FROM configs c JOIN botnets b ON b.id = c.botnet_id"
                " GROUP BY b.name"
            )
        }
        for name in configs:
            stops.setdefault(name, False)
        return ConfigStats(alerts=alerts, stop_orders=stops, configs=configs)
