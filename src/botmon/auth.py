"""API tokens: how they are made and the only form in which botmon keeps them.

A token is 256 random bits (as the original BMS's monitor tokens); the database holds only its
SHA-256, so a leaked database does not leak working tokens. SHA-256 without a salt is enough
here because the input is uniformly random and far too long to guess, unlike a password.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botmon.feeds.model import FeedScope
    from botmon.store.base import Monitor, Store

from botmon.limits import MONITOR_NAME_PATTERN, ROLES, Role

_NAME_RE = re.compile(MONITOR_NAME_PATTERN)
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
TOKEN_PREFIX_LENGTH = 8


def new_token() -> str:
    """A fresh 256-bit token, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest the store keeps and looks tokens up by."""
    return hashlib.sha256(token.encode()).hexdigest()


def token_prefix(token: str) -> str:
    """The first characters of a token, shown in listings to tell tokens apart."""
    return token[:TOKEN_PREFIX_LENGTH]


def looks_like_token(text: str) -> bool:
    """Cheap shape check, so garbage headers never reach the database."""
    return bool(_TOKEN_RE.match(text))


def check_monitor_name(name: str) -> str:
    """Return ``name`` when it is a valid monitor name, else raise ``ValueError``."""
    if not _NAME_RE.match(name):
        raise ValueError(
            f"invalid monitor name {name[:80]!r}: 1-64 of letters, digits and _.@:- "
            "starting with a letter or digit"
        )
    return name


def check_role(role: str) -> str:
    """Return ``role`` when it is one of :data:`ROLES`, else raise ``ValueError``."""
    if role not in ROLES:
        raise ValueError(f"invalid role {role[:40]!r}: one of {', '.join(ROLES)}")
    return role


class TokenRefused(ValueError):
    """A token cannot be issued as asked; ``kind`` and ``field`` say why, for API answers."""

    def __init__(self, message: str, kind: str, field: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        """``unknown_botnet``, ``invalid_request`` or ``conflict`` (name taken)."""
        self.field = field


def issue_token(
    store: Store,
    name: str,
    role: Role,
    botnets: Sequence[str] = (),
    scope: FeedScope | None = None,
) -> tuple[str, Monitor]:
    """Create a monitor holding a fresh token; return the token (shown once) and the monitor.

    Every path that makes a token (the API, the CLI, ``serve``'s own admin token, the demo)
    goes through here, so the rules (known botnets, only crawler and feed tokens limited to
    botnets, only feed tokens limited to networks, only the hash kept) hold everywhere.
    ``scope`` is parsed here again, so a caller may hand in what a person typed."""
    from botmon.feeds.scope import ScopeError, parse_scope
    from botmon.store.base import StoreError

    if scope is not None:
        try:
            scope = parse_scope(scope.asns, scope.cidrs, scope.countries)
        except ScopeError as exc:
            raise TokenRefused(str(exc), "invalid_request", exc.field) from None
    if role == "feed" and (scope is None or scope.is_empty()):
        raise TokenRefused(
            "a feed token needs at least one network: --asn, --cidr or --country",
            "invalid_request",
            "scope",
        )
    if role != "feed" and scope is not None and not scope.is_empty():
        raise TokenRefused("only feed tokens are limited to networks", "invalid_request", "scope")
    for botnet in botnets:
        if store.get_botnet(botnet) is None:
            raise TokenRefused(f"unknown botnet {botnet!r}", "unknown_botnet", "botnets")
    if botnets and role not in ("crawler", "feed"):
        raise TokenRefused("only crawler and feed tokens are limited to botnets", "invalid_request")
    token = new_token()
    try:
        monitor = store.create_monitor(
            name, role, list(botnets), hash_token(token), token_prefix(token), scope
        )
    except StoreError as exc:
        raise TokenRefused(str(exc), "conflict", "name") from None
    return token, monitor
