"""Every record is stored with what saw it (crawler or sensor), on both backends, through
every write path, and exports carry it; rows stored before schema version 4 are a crawler's."""

from __future__ import annotations

from pathlib import Path

import duckdb
import psycopg
import pyarrow as pa

from botmon.store import common, open_store
from botmon.store.base import Store
from botmon.store.duckdb_store import DuckDBStore
from botmon.wire import Edge, FailedTry, Reply, SourceType
from tests.store.helpers import NOW, make_batch
from tests.store.test_group_commit import write_as_one_group


def _records(tag: int) -> tuple[list[Reply], list[FailedTry], list[Edge]]:
    ip = f"127.0.{tag}.1"
    replies = [Reply(NOW + tag, ip, 1000 + tag, f"id{tag}")]
    failed = [FailedTry(NOW + tag, f"127.0.{tag}.2", 2000 + tag, None, "timeout")]
    edges = [Edge(NOW + tag, ip, 1000 + tag, f"127.0.{tag}.3", 3000 + tag)]
    return replies, failed, edges


def _batch(botnet: str, batch_id: str, tag: int, source_type: SourceType):  # type: ignore[no-untyped-def]
    replies, failed, edges = _records(tag)
    return make_batch(botnet, batch_id, replies, failed, edges, source_type=source_type)


def _stored_types(store: Store) -> dict[str, list[tuple[int, str]]]:
    """Per record kind: (port, source_type) of every stored row."""
    port = {"replies": "port", "failed_tries": "port", "edges": "src_port"}
    return {
        kind: sorted(
            (int(p), str(t))
            for p, t in store.query(f"SELECT {column}, source_type FROM {kind}")  # type: ignore[attr-defined]
        )
        for kind, column in port.items()
    }


def test_each_record_keeps_its_batch_source_type_and_old_clients_are_crawlers(
    store: Store,
) -> None:
    store.create_botnet("hns")
    store.write_batch(_batch("hns", "c", 1, "crawler"), "crawler-1")
    store.write_batch(_batch("hns", "s", 2, "sensor"), "sensor-1")
    # An old client's batch has no source_type field at all.
    replies, failed, edges = _records(3)
    old = make_batch("hns", "old", replies, failed, edges)
    assert old.source_type == "crawler"
    store.write_batch(old, "crawler-1")
    got = _stored_types(store)
    assert got["replies"] == [(1001, "crawler"), (1002, "sensor"), (1003, "crawler")]
    assert got["failed_tries"] == [(2001, "crawler"), (2002, "sensor"), (2003, "crawler")]
    assert got["edges"] == [(1001, "crawler"), (1002, "sensor"), (1003, "crawler")]


def test_a_group_of_batches_keeps_each_batch_source_type(tmp_path: Path) -> None:
    """DuckDB's group commit writes several batches in one insert per kind."""
    duck = DuckDBStore(str(tmp_path / "g.duckdb"))
    try:
        duck.migrate()
        duck.create_botnet("hns")
        types: list[SourceType] = ["sensor", "crawler", "sensor", "crawler"]
        writes = [
            (common.prepare("duckdb", _batch("hns", f"b{i}", i + 1, t)), f"m{i}")
            for i, t in enumerate(types)
        ]
        groups = duck.group_commit.groups
        out = write_as_one_group(duck, writes)
        assert [r.duplicate for r in out] == [False] * 4
        assert duck.group_commit.groups == groups + 1
        got = _stored_types(duck)
        for kind, ports in (("replies", 1000), ("failed_tries", 2000), ("edges", 1000)):
            assert got[kind] == [(ports + i + 1, t) for i, t in enumerate(types)]
    finally:
        duck.close()


def test_exports_carry_the_source_type_column(store: Store) -> None:
    store.create_botnet("hns")
    store.write_batch(_batch("hns", "c", 1, "crawler"), "crawler-1")
    store.write_batch(_batch("hns", "s", 2, "sensor"), "sensor-1")
    for kind in ("replies", "failed_tries", "edges"):
        table = pa.Table.from_batches(list(store.export(kind, "hns")))  # type: ignore[arg-type]
        assert table.schema.field("source_type").type == pa.string()
        sources, types = table["source"].to_pylist(), table["source_type"].to_pylist()
        rows = sorted(zip(sources, types, strict=True))
        assert rows == [("crawler-1", "crawler"), ("sensor-1", "sensor")]


def _version_3(store_url: str) -> None:
    """A database at schema version 3 holding one reply, failed try and edge."""
    steps = [sql for v, sql in common.migrations("postgresql" if "://" in store_url else "duckdb")]
    rows = [
        "INSERT INTO botnets (name, created_at) VALUES ('hns', now())",
        "INSERT INTO sources (name) VALUES ('old')",
        "INSERT INTO replies (botnet_id, source_id, ts, ip, port) SELECT {ids}, now(), {ip}, 7",
        "INSERT INTO failed_tries (botnet_id, source_id, ts, ip, port)"
        " SELECT {ids}, now(), {ip}, 7",
        "INSERT INTO edges (botnet_id, source_id, ts, src_ip, src_port, dst_ip, dst_port)"
        " SELECT {ids}, now(), {ip}, 7, {ip}, 7",
    ]
    ids = "(SELECT id FROM botnets), (SELECT id FROM sources)"
    if "://" in store_url:
        with psycopg.connect(store_url, autocommit=True) as con:
            for v, sql in enumerate(steps[:3], start=1):
                con.execute(sql)  # type: ignore[call-overload]
                con.execute("INSERT INTO schema_version (version) VALUES (%s)", [v])
            for sql in rows:
                con.execute(sql.format(ids=ids, ip="'127.0.0.1'::inet"))  # type: ignore[call-overload]
        return
    con = duckdb.connect(store_url)
    try:
        for v, sql in enumerate(steps[:3], start=1):
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, now())", [v])
        for sql in rows:
            con.execute(sql.format(ids=ids, ip="(281470681743360 + 2130706433)::UHUGEINT"))
    finally:
        con.close()


def test_rows_stored_before_version_4_are_a_crawlers(store_url: str) -> None:
    _version_3(store_url)
    store = open_store(store_url)
    try:
        assert store.schema_version() == 3
        assert store.migrate() == common.migrations(store.backend)[-1][0]
        got = _stored_types(store)
        assert got == {k: [(7, "crawler")] for k in ("replies", "failed_tries", "edges")}
        store.write_batch(_batch("hns", "s", 2, "sensor"), "sensor-1")
        assert _stored_types(store)["replies"] == [(7, "crawler"), (1002, "sensor")]
    finally:
        store.close()
