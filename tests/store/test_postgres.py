"""PostgreSQL-only behaviour: surviving dropped connections, IPs stored as inet."""

from __future__ import annotations

import psycopg
import pytest

from botmon.store import open_store
from botmon.store.base import StoreDataError
from botmon.wire import Reply
from tests.store.helpers import NOW, make_batch

pytestmark = pytest.mark.postgres


def test_the_store_recovers_when_its_connections_are_killed(pg_database_url: str) -> None:
    store = open_store(pg_database_url)
    try:
        store.migrate()
        store.create_botnet("hns")
        with psycopg.connect(pg_database_url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'botmon' AND pid <> pg_backend_pid()"
                " AND datname = current_database()"
            ).fetchone()
        assert killed is not None and killed[0] >= 1
        assert [b.name for b in store.list_botnets()] == ["hns"]
        result = store.write_batch(make_batch("hns", "b", [Reply(NOW, "127.0.0.1", 1)]), "s")
        assert result.duplicate is False
    finally:
        store.close()


def test_ips_are_inet_with_ipv4_stored_plainly(pg_database_url: str) -> None:
    store = open_store(pg_database_url)
    try:
        store.migrate()
        store.create_botnet("hns")
        replies = [Reply(NOW, "::ffff:1.2.3.4", 1), Reply(NOW, "2001:db8::1", 2)]
        store.write_batch(make_batch("hns", "b", replies), "s")
        rows = store.query("SELECT family(ip), host(ip) FROM replies ORDER BY port")
        assert rows == [(4, "1.2.3.4"), (6, "2001:db8::1")]
        assert store.query("SELECT count(*) FROM replies WHERE ip = %s::inet", ["1.2.3.4"]) == [
            (1,)
        ]
    finally:
        store.close()


def test_a_value_postgresql_refuses_is_a_data_error_not_an_outage(pg_database_url: str) -> None:
    """Defence behind validation: what jsonb refuses is the batch's fault (ingest: 422)."""
    store = open_store(pg_database_url)
    try:
        store.migrate()
        store.create_botnet("hns")
        batch = make_batch("hns", "poison", [Reply(NOW, "127.0.0.1", 1)])
        batch.replies.data[0] = '{"x": 1e999999}'  # what validation would refuse
        with pytest.raises(StoreDataError, match="numeric"):
            store.write_batch(batch, "s")
        assert store.count_records("hns").get("replies", 0) == 0
    finally:
        store.close()
