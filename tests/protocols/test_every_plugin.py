"""Every installed protocol plugin, fuzzed through every hook it defines.

The plugins come from the ``botmon.protocols`` entry points, so a plugin installed next to
botmon (built-in or third-party) is fuzzed by the same tests without anyone naming it here.
Seed inputs are the plugin's own wire bytes: its requests, and the answers its own sensor side
gives them, then cut and flipped. The sensor hooks on random input are fuzzed, with stricter
checks, in ``test_sensor_fuzz.py``.
"""

from __future__ import annotations

import time
from collections.abc import Hashable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botmon.protocols.contract import (
    MAX_KEY_BYTES,
    CrawlResult,
    Peer,
    Plugin,
    Request,
    RequestContext,
    SensorContext,
    Status,
)
from botmon.protocols.registry import default_registry
from botmon.wire import Edge, FailedTry, Reply

PLUGINS = default_registry().names()
SRC = Peer("127.1.2.3", 6000)
SENSOR_AT = Peer("127.0.0.1", 7000)
NOW = 1_700_000_000.0
FUZZ = settings(max_examples=150, deadline=None)
MAX_DATAGRAM = 65_507
MAX_SENSOR_RECORDS = 64


def _ctx(attempt: int = 0, purpose: str = "crawl") -> RequestContext:
    ctx = RequestContext()
    ctx.attempt = attempt
    ctx.now = NOW
    ctx.round = 1
    ctx.purpose = purpose  # type: ignore[assignment]
    return ctx


def _request_bytes(request: bytes | Request) -> bytes:
    assert isinstance(request, bytes | Request), f"a request must be bytes or Request: {request!r}"
    return request if isinstance(request, bytes) else request.data


def _well_formed(plugin: Plugin, res: CrawlResult) -> None:
    assert isinstance(res, CrawlResult)
    assert isinstance(res.status, Status)
    if res.status is Status.NO_REPLY:
        assert res.reason, "a NO_REPLY names its reason"
        assert res.peers == () and res.replies == () and res.edges == ()
    assert len(res.peers) <= plugin.defaults.peers_per_reply
    for p in (*res.peers, *res.nodes):
        assert isinstance(p, Peer) and 0 < p.port <= 65535
    for r in res.replies:
        assert isinstance(r, Reply)
    for e in res.edges:
        assert isinstance(e, Edge)


def _seeds(plugin: Plugin) -> list[bytes]:
    """Real wire bytes of this plugin: requests, and its sensor's answers to them."""
    out = [_request_bytes(plugin.peer_request(SRC, _ctx(a))) for a in range(3)]
    if plugin.handle_request is not None:
        sensor = SensorContext(SENSOR_AT, "00112233445566ff")
        sensor.now = NOW
        for data in list(out):
            answer, _ = plugin.handle_request(data, SRC, NOW, sensor)
            if answer:
                out.append(answer)
    return out


def _mutations(seed: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
    data = bytearray(seed[: max(0, len(seed) - cut)] if cut >= 0 else seed + b"\x00" * -cut)
    for pos, value in flips:
        if data:
            data[pos % len(data)] = value
    return bytes(data)


@pytest.fixture(params=PLUGINS, scope="module")
def plugin(request: pytest.FixtureRequest) -> Plugin:
    return default_registry().get(request.param)


def test_the_registry_loads_every_installed_plugin() -> None:
    assert PLUGINS, "no protocol plugin is installed"
    assert default_registry().errors() == {}


def test_requests_are_bytes_a_datagram_can_carry(plugin: Plugin) -> None:
    for attempt in range(plugin.defaults.requests_per_round + 1):
        data = _request_bytes(plugin.peer_request(SRC, _ctx(attempt)))
        assert 0 < len(data) <= MAX_DATAGRAM


@FUZZ
@given(data=st.binary(max_size=4096), purpose=st.sampled_from(["crawl", "find"]))
def test_random_bytes_never_raise(plugin: Plugin, data: bytes, purpose: str) -> None:
    _well_formed(plugin, plugin.read_reply(data, SRC, NOW, _ctx(0, purpose)))


@FUZZ
@given(
    which=st.integers(0, 100),
    cut=st.integers(-64, 64),
    flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
)
def test_own_wire_bytes_cut_and_flipped_never_raise(
    plugin: Plugin, which: int, cut: int, flips: list[tuple[int, int]]
) -> None:
    seeds = _seeds(plugin)
    data = _mutations(seeds[which % len(seeds)], cut, flips)
    _well_formed(plugin, plugin.read_reply(data, SRC, NOW, _ctx()))
    if plugin.handle_request is not None:
        _sensor_answer_is_bounded(plugin, data)
    if plugin.reply_key is not None:
        _key_is_small(plugin.reply_key(data))


def _sensor_answer_is_bounded(plugin: Plugin, data: bytes) -> None:
    assert plugin.handle_request is not None
    sensor = SensorContext(SENSOR_AT, "00112233445566ff")
    sensor.now = NOW
    answer, records = plugin.handle_request(data, SRC, NOW, sensor)
    assert answer is None or (isinstance(answer, bytes) and len(answer) <= MAX_DATAGRAM)
    assert len(records) <= MAX_SENSOR_RECORDS
    for r in records:
        assert isinstance(r, Reply | Edge | FailedTry)


def _key_is_small(key: Hashable | None) -> None:
    if key is not None:
        hash(key)
        if isinstance(key, bytes | str):
            assert len(key) <= MAX_KEY_BYTES


@FUZZ
@given(messages=st.lists(st.binary(max_size=2048), max_size=6))
def test_conversations_never_raise(plugin: Plugin, messages: list[bytes]) -> None:
    if plugin.conversation is None:
        return
    conv = plugin.conversation(SRC, _ctx())
    assert isinstance(conv.opening(), bytes)
    for message in messages:
        assert isinstance(conv.frame(message), int)
        step = conv.receive(message, NOW)
        if isinstance(step, CrawlResult):
            _well_formed(plugin, step)
            break
        assert isinstance(step, bytes)
    end = conv.partial("timeout", NOW)
    if end is not None:
        _well_formed(plugin, end)


def test_lookups_stay_within_the_declared_budget(plugin: Plugin) -> None:
    if plugin.find_peers is None:
        return
    lookups = plugin.find_peers(SRC, _ctx(0, "find"))
    assert 0 < len(lookups) <= plugin.defaults.lookups_per_node
    for lookup in lookups:
        assert 0 < len(_request_bytes(lookup)) <= MAX_DATAGRAM


def test_huge_input_is_refused_in_bounded_time(plugin: Plugin) -> None:
    huge = (_seeds(plugin)[0] * 2_000_000)[:10_000_000]
    start = time.perf_counter()
    res = plugin.read_reply(huge, SRC, NOW, _ctx())
    assert res.status is Status.NO_REPLY
    if plugin.handle_request is not None:
        _sensor_answer_is_bounded(plugin, huge)
    assert time.perf_counter() - start < 1.0
