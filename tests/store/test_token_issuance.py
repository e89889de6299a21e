"""Token issuance: one function for the API, the CLI, ``serve``'s admin token and the demo."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from botmon import auth
from botmon.store.base import Store

SRC = Path(__file__).resolve().parents[2] / "src" / "botmon"


def test_an_issued_token_finds_its_monitor_and_only_its_hash_is_kept(store: Store) -> None:
    store.create_botnet("hns")
    token, monitor = auth.issue_token(store, "vantage-1", "crawler", ["hns"])
    assert monitor.botnets == ["hns"] and monitor.role == "crawler"
    assert monitor.token_prefix == token[: auth.TOKEN_PREFIX_LENGTH]
    assert store.monitor_by_token_hash(auth.hash_token(token)) == monitor
    assert store.monitor_by_token_hash(token) is None


def test_issuing_refuses_unknown_botnets_limited_non_crawlers_and_taken_names(
    store: Store,
) -> None:
    store.create_botnet("hns")
    with pytest.raises(auth.TokenRefused, match="unknown botnet 'mozi'") as unknown:
        auth.issue_token(store, "a", "crawler", ["mozi"])
    assert (unknown.value.kind, unknown.value.field) == ("unknown_botnet", "botnets")
    with pytest.raises(auth.TokenRefused, match="only crawler and feed tokens") as limited:
        auth.issue_token(store, "b", "viewer", ["hns"])
    assert limited.value.kind == "invalid_request"
    auth.issue_token(store, "c", "viewer")
    with pytest.raises(auth.TokenRefused) as taken:
        auth.issue_token(store, "c", "admin")
    assert (taken.value.kind, taken.value.field) == ("conflict", "name")
    assert [m.name for m in store.list_monitors()] == ["c"]


def test_nothing_but_issue_token_makes_tokens() -> None:
    """A second place that calls ``new_token`` or ``create_monitor`` would be a second set of
    rules; the store's own method and ``auth`` itself are the only ones allowed."""
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.parent.name == "store" or path.name == "auth.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", getattr(node.func, "id", ""))
                if name in ("new_token", "create_monitor"):
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno} {name}")
    assert offenders == []
