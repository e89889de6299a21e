"""Botnets and monitors: unique names, revocation, token lookup for active monitors only."""

from __future__ import annotations

import time

import pytest

from botmon.store.base import Store, StoreError


def test_botnets_are_created_listed_by_name_and_found(store: Store) -> None:
    before = time.time()
    mozi = store.create_botnet("mozi", "Mozi in the BitTorrent DHT")
    store.create_botnet("hns")
    assert mozi.name == "mozi" and mozi.description == "Mozi in the BitTorrent DHT"
    assert before - 1 <= mozi.created_at <= time.time() + 1
    assert [b.name for b in store.list_botnets()] == ["hns", "mozi"]
    assert store.get_botnet("mozi") == mozi
    assert store.get_botnet("sality") is None


def test_a_botnet_name_is_unique(store: Store) -> None:
    store.create_botnet("hns")
    with pytest.raises(StoreError, match="exists"):
        store.create_botnet("hns", "again")
    assert len(store.list_botnets()) == 1


def test_an_invalid_botnet_name_is_refused(store: Store) -> None:
    for name in ["", "HNS", "has space", "-lead", "x" * 65, "a/b", "é", "a\x00"]:
        with pytest.raises(StoreError, match="invalid botnet name"):
            store.create_botnet(name)
    assert store.list_botnets() == []


def test_text_with_nul_is_refused_before_it_reaches_the_database(store: Store) -> None:
    with pytest.raises(StoreError, match="NUL"):
        store.create_botnet("hns", "bad\x00description")
    store.create_botnet("hns")
    with pytest.raises(StoreError, match="NUL"):
        store.create_monitor("a\x00b", "crawler", [], "hash1", "pfx")
    assert store.get_botnet("hns\x00") is None
    assert store.monitor_by_token_hash("h\x00") is None
    assert store.revoke_monitor("x\x00") is False


def test_a_monitor_keeps_role_botnets_and_prefix_but_not_the_token(store: Store) -> None:
    store.create_botnet("hns")
    store.create_botnet("mozi")
    m = store.create_monitor("crawler-1", "crawler", ["mozi", "hns", "hns"], "h" * 64, "bm_abc")
    assert (m.name, m.role, m.botnets, m.revoked, m.token_prefix) == (
        "crawler-1",
        "crawler",
        ["hns", "mozi"],
        False,
        "bm_abc",
    )
    assert store.monitor_by_token_hash("h" * 64) == m
    assert store.list_monitors() == [m]


def test_monitor_name_and_token_hash_are_unique(store: Store) -> None:
    store.create_monitor("admin", "admin", [], "hash-a", "a")
    with pytest.raises(StoreError, match="named 'admin' exists"):
        store.create_monitor("admin", "viewer", [], "hash-b", "b")
    with pytest.raises(StoreError, match="token exists"):
        store.create_monitor("other", "viewer", [], "hash-a", "a")
    assert [m.name for m in store.list_monitors()] == ["admin"]


def test_a_monitor_for_an_unknown_botnet_or_role_is_refused(store: Store) -> None:
    store.create_botnet("hns")
    with pytest.raises(StoreError, match="unknown botnet"):
        store.create_monitor("c", "crawler", ["hns", "nope"], "hash", "p")
    with pytest.raises(StoreError, match="invalid role"):
        store.create_monitor("c", "root", [], "hash", "p")  # type: ignore[arg-type]
    assert store.list_monitors() == []


def test_a_revoked_monitor_is_listed_but_never_found_by_token(store: Store) -> None:
    store.create_monitor("viewer-1", "viewer", [], "hash-v", "v")
    store.create_monitor("viewer-2", "viewer", [], "hash-w", "w")
    assert store.revoke_monitor("viewer-1") is True
    assert store.revoke_monitor("viewer-1") is False  # already revoked
    assert store.revoke_monitor("nobody") is False
    assert store.monitor_by_token_hash("hash-v") is None
    assert store.monitor_by_token_hash("hash-w") is not None
    listed = {m.name: m.revoked for m in store.list_monitors()}
    assert listed == {"viewer-1": True, "viewer-2": False}
