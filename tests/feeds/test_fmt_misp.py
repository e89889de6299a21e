"""format=misp: the event of the store's feed rows loads with pymisp and has one ip-src
attribute per bot carrying what the row says."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pymisp import MISPEvent

from botmon.feeds import fmt_misp
from botmon.feeds.fmt_misp import DISTRIBUTION, FORMAT
from botmon.feeds.formats import feed_format
from botmon.feeds.model import FeedFormat, FeedRow
from botmon.store.base import Store
from tests.feeds.fmt_data import HOSTILE, context, hostile_ingest, hostile_row, ingest, store_rows


@pytest.fixture
def rows(store: Store) -> list[FeedRow]:
    ingest(store)
    got = store_rows(store)
    assert len(got) == 7
    return got


def event_text(rows: list[FeedRow], **ctx: Any) -> str:
    return b"".join(FORMAT.write(iter(rows), context(**ctx))).decode()


def load(text: str) -> MISPEvent:
    event = MISPEvent()
    event.load(text)
    return event


def tags(obj: Any) -> set[str]:
    return {t.name for t in obj.tags}


def test_the_registry_names_this_format() -> None:
    fmt: FeedFormat = feed_format("misp")
    assert fmt is FORMAT and fmt.media_type == "application/json"


def test_one_ip_src_attribute_per_bot(rows: list[FeedRow]) -> None:
    event = load(event_text(rows))
    assert len(event.attributes) == len(rows)
    by_key = {(next(iter(tags(a))), a.value): a for a in event.attributes}
    for row in rows:
        attribute = by_key[(f'botmon:botnet="{row.botnet}"', row.ip)]
        assert attribute.type == "ip-src" and attribute.category == "Network activity"
        assert attribute.first_seen == datetime.fromtimestamp(int(row.first_seen), tz=UTC)
        assert attribute.last_seen == datetime.fromtimestamp(int(row.last_seen), tz=UTC)
        assert attribute.to_ids == (row.confidence != "low")
        assert f"confidence {row.confidence}" in attribute.comment
        assert all(str(p) in attribute.comment for p in row.ports)
        assert all(o in attribute.comment for o in row.origins)
        assert all(b in attribute.comment for b in row.bot_ids)
    assert "hns" in event.info and "mozi" in event.info
    assert {"tlp:amber", 'botmon:botnet="hns"', 'botmon:botnet="mozi"'} <= tags(event)
    assert int(event.distribution) == DISTRIBUTION["amber"]
    assert str(event.date) == "2025-06-15"


@pytest.mark.parametrize("tlp", ["clear", "green", "amber", "amber+strict", "red"])
def test_tlp_tag_and_distribution(tlp: str) -> None:
    event = load(event_text([hostile_row()], tlp=tlp))
    assert f"tlp:{tlp}" in tags(event)
    assert int(event.distribution) == DISTRIBUTION[tlp]  # type: ignore[index]


def test_an_import_of_the_same_feed_updates_one_event(rows: list[FeedRow]) -> None:
    first = load(event_text(rows))
    again = load(event_text(rows, generated_at=context().generated_at + 600))
    assert first.uuid == again.uuid
    assert [a.uuid for a in first.attributes] == [a.uuid for a in again.attributes]
    next_day = load(event_text(rows, since=context().until, until=context().until + 86_400))
    assert next_day.uuid != first.uuid
    assert not {a.uuid for a in first.attributes} & {a.uuid for a in next_day.attributes}


def test_an_empty_feed_is_an_event_without_attributes() -> None:
    event = load(event_text([]))
    assert event.attributes == [] and "tlp:amber" in tags(event)


def test_more_bots_than_the_cap_end_the_event_with_a_cursor(
    rows: list[FeedRow], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fmt_misp, "MAX_ATTRIBUTES", 4)
    event = load(event_text(rows))
    bots = [a for a in event.attributes if a.type == "ip-src"]
    (note,) = [a for a in event.attributes if a.type == "text"]
    assert [a.value for a in bots] == [r.ip for r in rows[:4]]
    assert note.value.endswith(f"{rows[3].botnet},{rows[3].ip}")
    assert "first 4 bots only" in event.info


def test_hostile_text_cannot_break_the_event(store: Store) -> None:
    hostile_ingest(store)
    rows = [*store_rows(store), hostile_row()]
    raw = b"".join(FORMAT.write(iter(rows), context(producer=HOSTILE)))
    assert b"</script>" not in raw and b"<b>" not in raw
    json.loads(raw)  # still one JSON document
    event = load(raw.decode())
    assert len(event.attributes) == 2
    # Free text keeps every printable character; control characters became spaces.
    assert "q\"uote's new line  </script><b>&amp; ünïcödé 中文" in event.attributes[0].comment
    botnet_tags = [t for t in tags(event) if t.startswith("botmon:botnet=")]
    assert len(botnet_tags) == 2  # a quote in a name cannot end the tag's value early
    assert all(t.count('"') == 2 and t.endswith('"') for t in botnet_tags)
