"""Property tests of :func:`botmon.validation.validate_batch`, the single validation path.

Valid batches always pass and their columns give back the records; any single corruption
of one field of one record is reported at exactly that kind, index and field.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botmon.ipaddr import int_to_ip, ip_to_int
from botmon.limits import MIN_TIMESTAMP
from botmon.validation import (
    MAX_RECORDS_PER_KIND,
    BatchRejected,
    validate_batch,
)

NOW = 1_750_000_000.0
SKEW = 300.0

timestamps = st.floats(min_value=MIN_TIMESTAMP, max_value=NOW + SKEW, allow_nan=False)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(lambda a: a.compressed)
ips = st.one_of(ipv4, ipv6)
ports = st.integers(0, 65535)
texts = st.text(
    alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
    max_size=40,
)
bot_ids = st.none() | texts
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
data_objects = st.none() | st.dictionaries(texts, json_values, max_size=4)

replies = st.fixed_dictionaries(
    {"timestamp": timestamps, "ip": ips, "port": ports},
    optional={"bot_id": bot_ids, "data": data_objects},
)
failed_tries = st.fixed_dictionaries(
    {"timestamp": timestamps, "ip": ips, "port": ports},
    optional={"bot_id": bot_ids, "reason": st.none() | texts, "data": data_objects},
)
edges = st.fixed_dictionaries(
    {"timestamp": timestamps, "src_ip": ips, "src_port": ports, "dst_ip": ips, "dst_port": ports},
    optional={"src_id": bot_ids, "dst_id": bot_ids},
)
batches = st.fixed_dictionaries(
    {
        "botnet": st.from_regex(r"\A[a-z0-9][a-z0-9_.-]{0,20}\Z"),
        "batch_id": st.text(
            st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
        ),
        "replies": st.lists(replies, max_size=12),
        "failed_tries": st.lists(failed_tries, max_size=12),
        "edges": st.lists(edges, max_size=12),
    }
)
KINDS = ("replies", "failed_tries", "edges")
IP_FIELDS = {"replies": ["ip"], "failed_tries": ["ip"], "edges": ["src_ip", "dst_ip"]}
PORT_FIELDS = {"replies": ["port"], "failed_tries": ["port"], "edges": ["src_port", "dst_port"]}
ID_FIELDS = {
    "replies": ["bot_id"],
    "failed_tries": ["bot_id", "reason"],
    "edges": ["src_id", "dst_id"],
}


def _canonical(text: str) -> str:
    """IPv4-mapped IPv6 addresses are the IPv4 address (one bot, one address)."""
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _validate(batch: dict[str, Any]) -> Any:
    return validate_batch(msgspec.json.encode(batch), now=NOW, future_skew_s=SKEW)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches)
def test_valid_batches_pass_and_round_trip(batch: dict[str, Any]) -> None:
    out = _validate(batch)
    assert out.botnet == batch["botnet"] and out.batch_id == batch["batch_id"]
    assert out.counts() == {k: len(batch[k]) for k in KINDS}
    for i, r in enumerate(batch["replies"]):
        assert out.replies.ts_us[i] == round(r["timestamp"] * 1_000_000)
        assert int_to_ip(out.replies.ip[i]) == _canonical(r["ip"])
        assert out.replies.ip[i] == ip_to_int(r["ip"])
        assert out.replies.port[i] == r["port"]
        assert out.replies.bot_id[i] == r.get("bot_id")
        stored = out.replies.data[i]
        assert (json.loads(stored) if stored is not None else None) == r.get("data")
    for i, f in enumerate(batch["failed_tries"]):
        assert out.failed_tries.reason[i] == f.get("reason")
        assert out.failed_tries.port[i] == f["port"]
    for i, e in enumerate(batch["edges"]):
        assert out.edges.src_ip[i] == ip_to_int(e["src_ip"])
        assert out.edges.dst_ip[i] == ip_to_int(e["dst_ip"])
        assert (out.edges.src_port[i], out.edges.dst_port[i]) == (e["src_port"], e["dst_port"])
        assert (out.edges.src_id[i], out.edges.dst_id[i]) == (e.get("src_id"), e.get("dst_id"))


def _corruptions(kind: str) -> st.SearchStrategy[tuple[str, Any]]:
    bad_ips = st.sampled_from(
        [
            "",
            "1.2.3",
            "256.1.1.1",
            "1.2.3.4.5",
            "01.2.3.4",
            "::g",
            "localhost",
            "1.2.3.4/24",
            "fe80::1%eth0",
            " 1.2.3.4",
        ]
    )
    bad_ports = st.one_of(
        st.integers(65536, 10**9), st.integers(-(10**9), -1), st.just("80"), st.just(8.5)
    )
    options = [
        st.tuples(st.sampled_from(IP_FIELDS[kind]), bad_ips),
        st.tuples(st.sampled_from(PORT_FIELDS[kind]), bad_ports),
        st.tuples(
            st.just("timestamp"),
            st.floats(min_value=NOW + SKEW + 1, max_value=4e9)
            | st.floats(min_value=0, max_value=MIN_TIMESTAMP - 1)
            | st.sampled_from(["yesterday", "2024-01-01T00:00:00", None, True]),
        ),
        st.tuples(
            st.sampled_from(ID_FIELDS[kind]),
            st.sampled_from(["a\x00b", "\x00", 17, ["x"], "x" * 300]),
        ),
    ]
    if kind != "edges":
        options.append(
            st.tuples(st.just("data"), st.sampled_from([[1, 2], "text", 3, True, {"k": "nul\x00"}]))
        )
    return st.one_of(*options)


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[dict[str, Any], str, int, str]:
    batch = draw(batches)
    kind = draw(st.sampled_from(KINDS))
    if not batch[kind]:
        batch[kind] = [
            draw({"replies": replies, "failed_tries": failed_tries, "edges": edges}[kind])
        ]
    index = draw(st.integers(0, len(batch[kind]) - 1))
    field, value = draw(_corruptions(kind))
    batch[kind][index] = {**batch[kind][index], field: value}
    return batch, kind, index, field


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted())
def test_a_single_corruption_is_reported_exactly_where_it_is(
    case: tuple[dict[str, Any], str, int, str],
) -> None:
    batch, kind, index, field = case
    try:
        _validate(batch)
    except BatchRejected as exc:
        assert exc.reason == "invalid_record", exc.to_dict()
        assert (exc.kind, exc.index, exc.field) == (kind, index, field), exc.to_dict()
        assert exc.to_dict()["error"]
    else:
        raise AssertionError(f"corrupted {kind}[{index}].{field} was accepted")


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(KINDS), st.integers(1, 3))
def test_more_than_the_maximum_records_is_refused(kind: str, extra: int) -> None:
    one = {
        "replies": {"timestamp": NOW, "ip": "127.0.0.1", "port": 1},
        "failed_tries": {"timestamp": NOW, "ip": "127.0.0.1", "port": 1},
        "edges": {
            "timestamp": NOW,
            "src_ip": "127.0.0.1",
            "src_port": 1,
            "dst_ip": "::1",
            "dst_port": 2,
        },
    }[kind]
    batch = {"botnet": "b", "batch_id": "x", kind: [one] * (MAX_RECORDS_PER_KIND + extra)}
    try:
        _validate(batch)
    except BatchRejected as exc:
        assert (exc.reason, exc.kind) == ("too_many_records", kind)
    else:
        raise AssertionError("an oversized batch was accepted")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash(body: bytes) -> None:
    try:
        validate_batch(body, now=NOW)
    except BatchRejected as exc:
        assert exc.reason in {
            "malformed_json",
            "invalid_batch",
            "invalid_record",
            "too_many_records",
        }
