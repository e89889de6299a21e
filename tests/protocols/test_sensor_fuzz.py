"""Every installed plugin's sensor hooks fuzzed with hypothesis (found through the registry).

Whatever a bot sends, ``handle_request`` returns an answer no larger than a bot accepts
and records that are replies, edges or failed tries; it never raises and never names a peer
other than the sensor in its answer (when it knows no other node). ``request_frame`` stays
within its buffer.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botmon.protocols.contract import Peer, Plugin, RequestContext, SensorContext, Status
from botmon.protocols.registry import Registry
from botmon.wire import Edge, FailedTry, Reply

FUZZ = settings(max_examples=300, deadline=None)
NOW = 1_700_000_000.0
ME = Peer("127.0.0.9", 6000)

SENSING = [p for p in (Registry().get(n) for n in Registry().names()) if p.can_sense]


def _ids(plugins: list[Plugin]) -> list[str]:
    return [p.name for p in plugins]


def test_the_built_in_plugins_can_sense() -> None:
    assert {"hns", "linenet"} <= {p.name for p in SENSING}


def _requests(plugin: Plugin) -> st.SearchStrategy[bytes]:
    """Random bytes, the plugin's own request and announcement, and mutations of them."""
    ctx = SensorContext(ME, "0123456789abcdef")
    own = [plugin.peer_request(ME, RequestContext())]
    if plugin.announce is not None:
        own.append(plugin.announce(ME, ctx) or b"")
    seeds = st.sampled_from([bytes(x) for x in own if isinstance(x, bytes)])
    return st.one_of(
        st.binary(max_size=3000),
        seeds,
        st.builds(lambda s, cut: s[:cut], seeds, st.integers(0, 64)),
        st.builds(lambda s, tail: s + tail, seeds, st.binary(max_size=200)),
    )


@pytest.mark.parametrize("plugin", SENSING, ids=_ids(SENSING))
@FUZZ
@given(data=st.data())
def test_handle_request_never_raises_and_answers_only_with_the_sensor(
    plugin: Plugin, data: st.DataObject
) -> None:
    assert plugin.handle_request is not None
    message = data.draw(_requests(plugin))
    src = Peer(f"127.{data.draw(st.integers(0, 255))}.0.1", data.draw(st.integers(1, 65535)))
    ctx = SensorContext(ME, "0123456789abcdef")
    answer, records = plugin.handle_request(message, src, NOW, ctx)
    assert answer is None or (
        isinstance(answer, bytes) and 0 < len(answer) <= plugin.defaults.max_reply_bytes
    )
    for record in records:
        assert isinstance(record, Reply | Edge | FailedTry)
        if isinstance(record, Reply):
            assert record.ip == src.ip
    if answer is not None:
        # A crawler reading the sensor's answer learns of the sensor and of nobody else. A
        # sensor inside an overlay (find_peers: Mozi in the DHT) answers as a plain node of it.
        read = plugin.read_reply(answer, ME, NOW, RequestContext())
        overlay = plugin.find_peers is not None
        assert read.status is Status.BOT_REPLY or (overlay and read.status is not Status.NO_REPLY)
        assert set(read.peers) <= {ME}


@pytest.mark.parametrize(
    "plugin",
    [p for p in SENSING if p.request_frame],
    ids=_ids([p for p in SENSING if p.request_frame]),
)
@FUZZ
@given(buffer=st.binary(max_size=400))
def test_request_frame_stays_within_the_buffer(plugin: Plugin, buffer: bytes) -> None:
    assert plugin.request_frame is not None
    n = plugin.request_frame(buffer)
    assert n <= len(buffer)
    if n > 0:
        assert plugin.request_frame(buffer[:n]) == n  # a frame is whole on its own
