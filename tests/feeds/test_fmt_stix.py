"""format=stix: the bundle of the store's feed rows validates with the STIX project's own
validator, parses with the stix2 library, and says per bot what the row says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import stix2
from stix2validator import ValidationOptions, validate_string

from botmon.feeds.fmt_stix import CONFIDENCE, FORMAT
from botmon.feeds.formats import feed_format
from botmon.feeds.model import FeedFormat, FeedRow
from botmon.store.base import Store
from tests.feeds.fmt_data import HOSTILE, context, hostile_ingest, hostile_row, ingest, store_rows

UUIDV4_WARNING = "{103}"
"""The validator's only remark: STIX 2.1 says SDO IDs *should* be random (UUIDv4); botmon's
are UUIDv5 on purpose (a re-fetch names the same objects)."""


@pytest.fixture
def rows(store: Store) -> list[FeedRow]:
    ingest(store)
    got = store_rows(store)
    assert len(got) == 7  # five hns bots, two mozi bots
    return got


def bundle_text(rows: list[FeedRow], **ctx: Any) -> str:
    return b"".join(FORMAT.write(iter(rows), context(**ctx))).decode()


def assert_valid(text: str) -> None:
    result = validate_string(text, ValidationOptions(version="2.1"))
    assert result.is_valid, result.errors
    assert all(UUIDV4_WARNING in w for w in result.warnings), result.warnings


def by_type(bundle: Any, kind: str) -> list[Any]:
    return [o for o in bundle.objects if o.type == kind]


def ts(value: float) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


def test_the_registry_names_this_format() -> None:
    fmt: FeedFormat = feed_format("stix")
    assert fmt is FORMAT and fmt.name == "stix"


def test_bundle_of_store_rows_validates_and_describes_every_bot(rows: list[FeedRow]) -> None:
    text = bundle_text(rows)
    assert_valid(text)
    bundle = stix2.parse(text, allow_custom=False)
    malware = {m.name: m for m in by_type(bundle, "malware")}
    assert set(malware) == {"hns", "mozi"}
    assert all(m.is_family and m.malware_types == ["bot"] for m in malware.values())
    indicators = by_type(bundle, "indicator")
    assert len(indicators) == len(rows)
    relationships = {r.source_ref: r for r in by_type(bundle, "relationship")}
    addresses = {o.id: o.value for o in bundle.objects if o.type in ("ipv4-addr", "ipv6-addr")}
    # The test data has no address in two botnets, so the address names the observation.
    observed = {addresses[o.object_refs[0]]: o for o in by_type(bundle, "observed-data")}
    assert len(observed) == len(rows)
    for row in rows:
        (indicator,) = [i for i in indicators if i.name == f"{row.botnet} bot {row.ip}"]
        kind = "ipv6-addr" if ":" in row.ip else "ipv4-addr"
        assert indicator.pattern == f"[{kind}:value = '{row.ip}']"
        assert indicator.valid_from == ts(row.first_seen)
        assert indicator.confidence == CONFIDENCE[row.confidence]
        assert all(f"port:{p}" in indicator.labels for p in row.ports)
        assert all(o in indicator.labels for o in row.origins)
        for bot_id in row.bot_ids:
            assert bot_id in indicator.description
        rel = relationships[indicator.id]
        assert rel.relationship_type == "indicates"
        assert rel.target_ref == malware[row.botnet].id
        seen = observed[row.ip]
        assert (seen.first_observed, seen.number_observed) == (
            ts(row.first_seen),
            row.observations,
        )
        assert seen.last_observed == ts(row.last_seen)
    # The store's confidence rule reaches the bundle: a bot seen by crawler and sensor is high.
    both = [r for r in rows if len(r.origins) == 2]
    assert both and all(r.confidence == "high" for r in both)


@pytest.mark.parametrize(
    ("tlp", "colour"),
    [
        ("clear", "white"),
        ("green", "green"),
        ("amber", "amber"),
        ("amber+strict", "amber"),
        ("red", "red"),
    ],
)
def test_every_object_carries_the_tlp_marking(tlp: str, colour: str) -> None:
    text = bundle_text([hostile_row()], tlp=tlp)
    bundle = stix2.parse(text, allow_custom=False)
    (marking,) = by_type(bundle, "marking-definition")
    assert marking.definition.tlp == colour
    for obj in bundle.objects:
        if obj.type not in ("marking-definition", "ipv4-addr", "ipv6-addr"):
            assert obj.object_marking_refs == [marking.id]


def test_a_refetch_names_the_same_objects(rows: list[FeedRow]) -> None:
    first = json.loads(bundle_text(rows))
    later = json.loads(bundle_text(rows, generated_at=context().generated_at + 3600))
    assert [o["id"] for o in first["objects"]] == [o["id"] for o in later["objects"]]
    other_period = json.loads(bundle_text(rows, since=context().since - 86_400))
    assert {o["id"] for o in first["objects"] if o["type"] == "indicator"} == {
        o["id"] for o in other_period["objects"] if o["type"] == "indicator"
    }


def test_an_empty_feed_is_a_valid_bundle() -> None:
    text = bundle_text([])
    assert_valid(text)
    bundle = stix2.parse(text, allow_custom=False)
    assert {o.type for o in bundle.objects} == {"marking-definition", "identity"}


def test_hostile_text_cannot_break_the_bundle(store: Store) -> None:
    hostile_ingest(store)
    rows = [*store_rows(store), hostile_row()]
    raw = b"".join(FORMAT.write(iter(rows), context(producer=HOSTILE)))
    assert b"</script>" not in raw and b"<b>" not in raw
    text = raw.decode()
    assert_valid(text)
    bundle = stix2.parse(text, allow_custom=False)
    assert len(by_type(bundle, "indicator")) == 2
    (identity,) = by_type(bundle, "identity")
    assert identity.name == HOSTILE  # JSON keeps every character
    assert {m.name for m in by_type(bundle, "malware")} == {"hns", HOSTILE}


def test_the_bundle_streams_while_rows_are_still_coming() -> None:
    """The first chunk leaves before the last row is read: memory holds a chunk, not the
    answer."""
    pulled = 0

    def lazy_rows() -> Iterator[FeedRow]:
        nonlocal pulled
        for i in range(300):
            pulled += 1
            yield FeedRow(
                botnet="hns",
                ip=f"127.0.{i >> 8}.{i & 255}",
                first_seen=1.75e9,
                last_seen=1.75e9 + 60,
                observations=1,
                ports=(1,),
            )

    chunks = FORMAT.write(lazy_rows(), context())
    next(chunks)
    assert 0 < pulled < 300
    rest = b"".join(chunks)
    assert pulled == 300 and rest.endswith(b"]}")


def test_the_schema_endpoint_lists_every_object_type(rows: list[FeedRow]) -> None:
    kinds = {o["type"] for o in json.loads(bundle_text(rows))["objects"]}
    listed = {k for f in FORMAT.fields for k in f.name.split(" / ")}
    assert kinds == listed


def test_an_address_in_two_botnets_is_two_bots_of_one_address() -> None:
    shared = [
        FeedRow(botnet=b, ip="127.0.5.5", first_seen=1.75e9, last_seen=1.75e9, observations=1,
                ports=(7,))
        for b in ("hns", "mozi")
    ]  # fmt: skip
    text = bundle_text(shared)
    assert_valid(text)
    bundle = stix2.parse(text, allow_custom=False)
    indicators = by_type(bundle, "indicator")
    assert len({i.id for i in indicators}) == 2
    refs = {o.object_refs[0] for o in by_type(bundle, "observed-data")}
    assert len(refs) == 1  # STIX names an address by its value: one identity for both
