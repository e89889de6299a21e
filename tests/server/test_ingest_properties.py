"""Property: random near-valid batches against a real server (each backend). A 200 stores
exactly the batch (nothing when it says the batch is a duplicate); any other answer stores
nothing at all.

Batches are valid records with, now and then, one field broken the way a buggy or hostile
sender breaks it, and sometimes the whole batch re-sent; the stored counts are read back
through the admin API after every request.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.server import LiveServer
from tests.server.helpers import T0, client

KINDS = ("replies", "failed_tries", "edges")
BROKEN: dict[str, list[Any]] = {
    "timestamp": [None, "soon", -1.0, time.time() + 10 * 86400, float("1e300"), True],
    "ip": ["", "300.1.1.1", "127.0.0.1\n", "::g", 7, "127.0.0.1/8"],
    "port": [-1, 65536, 1.5, "80", None],
    "bot_id": [7, ["a"], "x" * 100_000],
    "data": [[1], "text", 3, {"a": "\u0000"}],
    "reason": [5, "r" * 100_000],
}


def _ip(i: int) -> str:
    return f"127.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"


@st.composite
def records(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    i = draw(st.integers(1, 2**24 - 1))
    ts = T0 + draw(st.floats(0, 86_400 * 30, allow_nan=False))
    port = draw(st.integers(0, 65535))
    if kind == "edges":
        rec: dict[str, Any] = {
            "timestamp": ts,
            "src_ip": _ip(i),
            "src_port": port,
            "dst_ip": draw(st.sampled_from([_ip(i + 1), "::1", "2001:db8::5"])),
            "dst_port": draw(st.integers(0, 65535)),
        }
    else:
        rec = {"timestamp": ts, "ip": _ip(i), "port": port}
        if draw(st.booleans()):
            rec["bot_id"] = draw(st.text(max_size=20).filter(lambda t: "\x00" not in t))
        if draw(st.booleans()):
            rec["data"] = {"n": draw(st.integers(-(2**53), 2**53)), "s": draw(st.text(max_size=8))}
        if kind == "failed_tries":
            rec["reason"] = draw(st.sampled_from(["timeout", "refused", "malformed"]))
    return rec


@st.composite
def near_valid_batches(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {"botnet": "hns", "batch_id": uuid.uuid4().hex}
    for kind in KINDS:
        body[kind] = draw(st.lists(records(kind), max_size=20))
    if draw(st.integers(0, 3)) == 0:  # one field of one record broken
        kind = draw(st.sampled_from([k for k in KINDS if body[k]] or ["replies"]))
        if not body[kind]:
            body[kind].append(draw(records(kind)))
        rec = draw(st.sampled_from(body[kind]))
        field = draw(st.sampled_from(sorted(set(BROKEN) & {*rec, "bot_id", "data"})))
        if kind == "edges" and field in ("bot_id", "data"):
            field = "src_ip" if field == "bot_id" else "dst_port"
        pool = BROKEN.get(field, BROKEN["ip" if field.endswith("ip") else "port"])
        rec[field] = draw(st.sampled_from(pool))
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.sampled_from(["botnet", "batch_id"]))] = draw(
            st.sampled_from(["", "Unknown Botnet", 5, None, "x" * 200])
        )
    return body


def _stored(server: LiveServer) -> dict[str, int]:
    counts = server.counts()
    return {k: counts.get(k, 0) for k in (*KINDS, "batches")}


def test_a_200_stores_exactly_the_batch_and_anything_else_stores_nothing(
    live_server: LiveServer,
) -> None:
    live_server.create_botnet("hns")
    token = live_server.token("crawler")
    sent: list[bytes] = []
    refused: list[int] = []

    @settings(
        max_examples=120,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(near_valid_batches(), st.integers(0, 9))
    def check(body: dict[str, Any], resend: int) -> None:
        content = sent[-1] if resend == 0 and sent else msgspec.json.encode(body)
        before = _stored(live_server)
        with client(live_server, token) as c:
            answer = c.post(
                "/api/v1/ingest", content=content, headers={"Content-Type": "application/json"}
            )
        after = _stored(live_server)
        delta = {k: after[k] - before[k] for k in after}
        assert answer.status_code < 500, answer.text
        if answer.status_code == 200 and not answer.json().get("duplicate"):
            sent_body = msgspec.json.decode(content)
            expected = {k: len(sent_body.get(k) or []) for k in KINDS}
            assert delta == {**expected, "batches": 1}, (answer.text, delta)
            assert answer.json()["stored"] == expected
            sent.append(content)
        else:
            assert delta == dict.fromkeys(delta, 0), (answer.status_code, answer.text, delta)
            refused.append(answer.status_code)

    check()
    assert len(sent) >= 10, "too few batches were valid to test the 200 side"
    assert len([s for s in refused if s != 200]) >= 5, f"too few refusals: {refused}"
