"""Both parsers fuzzed with hypothesis: random, truncated and oversized input never raises."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from botmon.protocols import hns, linenet
from botmon.protocols.contract import CrawlResult, Peer, RequestContext, Status

SRC = Peer("127.1.2.3", 6000)
NOW = 1_700_000_000.0
CTX = RequestContext()
FUZZ = settings(max_examples=300, deadline=None)


def _well_formed(res: CrawlResult, plugin_max_peers: int) -> None:
    assert isinstance(res, CrawlResult)
    if res.status is Status.NO_REPLY:
        assert res.reason
        assert res.peers == () and res.replies == () and res.edges == ()
    assert len(res.peers) <= plugin_max_peers
    for p in res.peers:
        assert 0 < p.port <= 65535


@FUZZ
@given(st.binary(max_size=3000))
def test_hns_random_bytes(data: bytes) -> None:
    _well_formed(hns.read_reply(data, SRC, NOW, CTX), 1)


@FUZZ
@given(st.binary(min_size=6, max_size=6), st.integers(0, 2000))
def test_hns_valid_prefix_truncated_or_padded(body: bytes, extra: int) -> None:
    data = b"^\x00" + body + b"\x00" * extra
    res = hns.read_reply(data, SRC, NOW, CTX)
    _well_formed(res, 1)
    if len(data) > hns.DEFAULTS.max_reply_bytes:
        assert res.reason == "oversized"
    for cut in range(len(data[:8])):
        _well_formed(hns.read_reply(data[:cut], SRC, NOW, CTX), 1)


_line = st.one_of(
    st.just("END"),
    st.from_regex(r"BOT [0-9a-f]{16}", fullmatch=True),
    st.builds(
        lambda a, b, port: f"PEER 127.{a}.{b}.1 {port}",
        st.integers(0, 300),
        st.integers(0, 300),
        st.integers(-1, 70000),
    ),
    st.text(max_size=140),
)


@FUZZ
@given(st.lists(_line, max_size=80), st.booleans())
def test_linenet_structured_lines(lines: list[str], newline_at_end: bool) -> None:
    data = "\n".join(lines).encode("utf-8", "replace") + (b"\n" if newline_at_end else b"")
    res = linenet.read_reply(data, SRC, NOW, CTX)
    _well_formed(res, linenet.DEFAULTS.peers_per_reply)


@FUZZ
@given(st.binary(max_size=10_000))
def test_linenet_random_bytes(data: bytes) -> None:
    _well_formed(linenet.read_reply(data, SRC, NOW, CTX), linenet.DEFAULTS.peers_per_reply)


def test_parsers_do_bounded_work_on_huge_input() -> None:
    huge = b"^" + b"\x00" * 10_000_000
    start = time.perf_counter()
    assert hns.read_reply(huge, SRC, NOW, CTX).reason == "oversized"
    assert linenet.read_reply(b"PEER 1.2.3.4 1\n" * 1_000_000, SRC, NOW, CTX).reason == "oversized"
    assert time.perf_counter() - start < 0.5
