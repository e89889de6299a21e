"""Dashboard sessions on a virtual clock: they expire, end at sign-out and stay bounded."""

from __future__ import annotations

from botmon.web.sessions import Sessions


def test_a_session_resolves_to_its_token_until_it_expires_or_closes() -> None:
    sessions = Sessions(lifetime_s=60)
    first = sessions.open("hash-a", now=0)
    second = sessions.open("hash-a", now=0)
    assert first != second and "hash-a" not in first
    assert sessions.token_hash(first, now=59) == "hash-a"
    assert sessions.token_hash(first, now=60) is None  # expired, and forgotten
    assert len(sessions) == 1
    sessions.close(second)
    assert sessions.token_hash(second, now=1) is None
    assert sessions.token_hash("made-up", now=1) is None


def test_sign_ins_cannot_grow_the_table_past_its_limit() -> None:
    sessions = Sessions(lifetime_s=60, limit=3)
    ids = [sessions.open(f"hash-{i}", now=i) for i in range(5)]
    assert len(sessions) == 3
    assert sessions.token_hash(ids[0], now=5) is None  # the oldest went first
    assert sessions.token_hash(ids[4], now=5) == "hash-4"
