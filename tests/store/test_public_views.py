"""Which views of which botnet are public, kept by both stores alike."""

from __future__ import annotations

import pytest

from botmon.store.base import Store, StoreError


def test_publish_list_and_unpublish(store: Store) -> None:
    store.create_botnet("alpha")
    store.create_botnet("beta")
    assert store.public_views() == []
    first = store.publish_view("alpha", "geo", "admin-a", 1_700_000_000.25)
    assert (first.botnet, first.view, first.added_by) == ("alpha", "geo", "admin-a")
    assert first.added_at == pytest.approx(1_700_000_000.25)
    store.publish_view("beta", "overview", "admin-a", 1_700_000_001.0)
    store.publish_view("alpha", "ases", "admin-b", 1_700_000_002.0)
    assert [(v.botnet, v.view) for v in store.public_views()] == [
        ("alpha", "ases"),
        ("alpha", "geo"),
        ("beta", "overview"),
    ]
    assert [v.view for v in store.public_views("alpha")] == ["ases", "geo"]
    assert store.public_views("nosuch") == []
    # Publishing again keeps one row, with the new admin and time.
    again = store.publish_view("alpha", "geo", "admin-c", 1_700_000_009.0)
    assert again.added_by == "admin-c" and again.added_at == pytest.approx(1_700_000_009.0)
    assert len(store.public_views("alpha")) == 2
    assert store.unpublish_view("alpha", "geo") is True
    assert store.unpublish_view("alpha", "geo") is False
    assert [(v.botnet, v.view) for v in store.public_views()] == [
        ("alpha", "ases"),
        ("beta", "overview"),
    ]


def test_refuses_unknown_botnets_and_impossible_names(store: Store) -> None:
    store.create_botnet("alpha")
    with pytest.raises(StoreError, match="unknown botnet"):
        store.publish_view("nosuch", "geo", "a", 1.0)
    with pytest.raises(StoreError, match="unknown botnet"):
        store.unpublish_view("nosuch", "geo")
    for bad in ("", "Geo", "geo; DROP TABLE botnets", "x" * 40, "../geo"):
        with pytest.raises(StoreError, match="not a view name"):
            store.publish_view("alpha", bad, "a", 1.0)
    with pytest.raises(StoreError, match="finite"):
        store.publish_view("alpha", "geo", "a", float("nan"))
    assert store.public_views() == []
