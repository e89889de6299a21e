"""The sensor's sans-I/O core on a virtual clock: gates, caps, bounded tables, schedule."""

from __future__ import annotations

import pytest

from botmon.protocols.contract import Peer
from botmon.sensor.core import SensorCore, sensor_id
from botmon.sensor.limits import SourceLimiter
from tests.sensor.helpers import T0, hns_reply, plugin, settings

ME = Peer("127.0.0.1", 6000)


def core(**changes: object) -> SensorCore:
    return SensorCore(plugin("hns"), settings(**changes), [ME], "hns", T0)


def test_a_request_is_answered_recorded_and_counted() -> None:
    c = core()
    answer = c.on_message(b"~", Peer("127.1.0.1", 5000), 0, T0)
    assert answer is not None and answer.startswith(b"^")
    replies, failed, edges = c.drain_records()
    assert [(r.ip, r.data) for r in replies] == [("127.1.0.1", {"message": "request"})]
    assert [(e.src_ip, e.dst_ip, e.dst_port) for e in edges] == [("127.1.0.1", *ME)]
    assert failed == [] and c.drain_records() == ([], [], [])
    s = c.status()
    assert (s["contacts"], s["handled"], s["answered"], s["peers_known"]) == (1, 1, 1, 1)


def test_a_source_over_its_rate_is_dropped_until_its_bucket_refills() -> None:
    c = core(per_source_rate=2.0, per_source_burst=5.0)
    src = Peer("127.1.0.1", 5000)
    answers = [c.on_message(b"~", src, 0, T0) for _ in range(50)]
    assert sum(a is not None for a in answers) == 5
    assert c.counters["rate_limited"] == 45
    assert len(c.drain_records()[0]) == 5  # a flood does not become records either
    assert c.on_message(b"~", src, 0, T0 + 0.5) is not None  # one token back after 0.5 s
    assert c.on_message(b"~", Peer("127.1.0.2", 5000), 0, T0) is not None  # others unaffected


def test_the_global_answer_rate_holds_against_many_sources() -> None:
    c = core(answer_rate=100.0, per_source_rate=0.0)
    answered = sum(
        c.on_message(b"~", Peer(f"127.2.{i // 250}.{i % 250 + 1}", 5000), 0, T0) is not None
        for i in range(5000)
    )
    assert answered == 100  # one second's worth at once, then nothing until it refills
    assert c.counters["answers_capped"] == 4900
    assert c.counters["handled"] == 5000  # every contact is still recorded


def test_a_source_outside_the_scope_is_recorded_but_never_answered() -> None:
    c = core(scope=("127.0.0.1/32",))
    assert c.on_message(b"~", Peer("127.9.9.9", 5000), 0, T0) is None
    assert c.on_message(b"~", Peer("8.8.8.8", 5000), 0, T0) is None
    assert c.counters["out_of_scope"] == 2
    assert len(c.drain_records()[0]) == 2
    assert c.on_message(b"~", Peer("127.0.0.1", 5000), 0, T0) is not None


@pytest.mark.parametrize("data", [b"", b"x", b"~~", b"\xff" * 100])
def test_garbage_is_counted_as_malformed(data: bytes) -> None:
    c = core()
    assert c.on_message(data, Peer("127.1.0.1", 5000), 0, T0) is None
    assert (c.counters["malformed"], c.counters["handled"]) == (1, 0)
    assert c.drain_records() == ([], [], [])


def test_an_oversized_message_never_reaches_the_plugin() -> None:
    c = core(max_request_bytes=100)
    assert c.on_message(b"~" + b"\x00" * 100, Peer("127.1.0.1", 5000), 0, T0) is None
    assert c.counters["oversized"] == 1 and c.counters["malformed"] == 0


def test_a_plugin_that_raises_is_counted_and_the_sensor_goes_on() -> None:
    def broken(*_: object) -> tuple[bytes | None, list[object]]:
        raise RuntimeError("plugin bug")

    c = core()
    c.handle = broken  # type: ignore[assignment]
    assert c.on_message(b"~", Peer("127.1.0.1", 5000), 0, T0) is None
    assert c.counters["plugin_errors"] == 1


def test_tables_stay_bounded_under_a_flood_of_new_sources() -> None:
    c = core(max_sources=100, max_known_peers=300, contacts_sample=8, answer_rate=0.0)
    for i in range(2000):
        c.on_message(b"~", Peer(f"127.3.{i // 200}.{i % 200 + 1}", 5000 + i), 0, T0)
    assert len(c.limiter) == 100 and c.limiter.evicted == 1900
    assert len(c.known) == 300 and c.counters["known_dropped"] == 1700
    assert len(c.contexts[0].contacts) == 8
    assert list(c.contexts[0].contacts)[-1] == Peer("127.3.9.200", 6999)  # newest last


def test_a_bots_answer_to_an_announcement_names_a_peer() -> None:
    c = core()
    named = Peer("127.5.0.1", 6000)
    assert c.on_message(hns_reply(named), Peer("127.1.0.1", 6000), 0, T0) is None
    replies, _, edges = c.drain_records()
    assert replies[0].data == {"message": "reply"}
    assert (edges[0].dst_ip, edges[0].dst_port) == named
    assert named in c.known


def test_paused_the_sensor_goes_dark() -> None:
    c = core()
    c.add_targets([Peer("127.1.0.1", 6000)])
    c.paused = True
    assert c.on_message(b"~", Peer("127.1.0.1", 5000), 0, T0) is None
    assert c.announcements(T0, 100) == []
    assert c.counters["dropped_paused"] == 1 and c.drain_records() == ([], [], [])


def test_announcements_go_out_on_schedule_under_the_rate_and_only_in_scope() -> None:
    c = core(announce_interval_s=60.0, announce_rate=10.0)
    targets = [Peer(f"127.1.0.{i}", 6000) for i in range(1, 31)]
    added = c.add_targets([*targets, Peer("10.0.0.1", 6000), Peer("8.8.8.8", 6000)])
    assert added == 30 and c.counters["announce_out_of_scope"] == 2
    sent: list[tuple[float, Peer]] = []
    t = T0
    while t < T0 + 130:
        sent += [(t, peer) for _, peer, data in c.announcements(t, 1000) if data == b"~"]
        t += 0.1
    first = [p for at, p in sent if at < T0 + 60]
    assert first == targets  # the first pass, in order, each once
    assert len([1 for at, _ in sent if at < T0 + 1.0]) <= 10 + 1  # the rate holds
    again = [p for at, p in sent if T0 + 60 <= at < T0 + 120]
    assert sorted(again) == sorted(targets)  # re-announced one interval later
    assert all(p.ip.startswith("127.") for _, p in sent)


def test_the_sensor_id_is_stable_and_per_listen_address() -> None:
    a = sensor_id("hns", "hns", ME)
    assert a == sensor_id("hns", "hns", ME) and len(a) == 16
    assert a != sensor_id("hns", "hns", Peer("127.0.0.1", 6001))
    assert core().contexts[0].sensor_id == a


def test_the_limiter_forgets_the_least_recently_seen_source() -> None:
    lim = SourceLimiter(1.0, 1.0, 2)
    assert lim.allow("a", T0) and lim.allow("b", T0)
    assert not lim.allow("a", T0)  # a is now the most recent
    assert lim.allow("c", T0)  # evicts b
    assert lim.allow("b", T0) and not lim.allow("c", T0)
