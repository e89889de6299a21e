"""Seeds: ``HOST:PORT`` arguments and bootstrap files with one ``ip:port`` per line.

Hosts must be IP addresses (no name lookups: a crawler resolves nothing it did not choose).
A bootstrap file's bad lines are reported with their line numbers and skipped, like the
original's peer list; ``#`` starts a comment.
"""

from __future__ import annotations

from pathlib import Path

from botmon.protocols.contract import Peer
from botmon.wire import parse_address

MAX_PEERLIST_LINES = 10_000_000
MAX_LINE = 512


class PeerListError(ValueError):
    """A peer that cannot be read, with a one-line reason."""


def parse_peer(text: str, default_port: int | None = None) -> Peer:
    """``1.2.3.4:6000``, ``[::1]:6000`` or (with a default port) ``1.2.3.4``."""
    try:
        ip, port = parse_address(text)
    except ValueError as exc:
        raise PeerListError(str(exc)) from None
    if port is None:
        if default_port is None:
            raise PeerListError(f"no port in {text.strip()[:64]!r}")
        port = default_port
    return Peer(ip, port)


def read_peerlist(
    path: Path, default_port: int | None = None
) -> tuple[list[Peer], list[tuple[int, str]]]:
    """Peers from a file, and ``(line number, problem)`` for each line that was skipped."""
    peers: list[Peer] = []
    bad: list[tuple[int, str]] = []
    try:
        handle = path.open("r", encoding="utf-8", errors="replace")
    except OSError as exc:
        raise PeerListError(f"cannot read peer list {path}: {exc.strerror or exc}") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if number > MAX_PEERLIST_LINES:
                bad.append((number, f"more than {MAX_PEERLIST_LINES} lines; rest ignored"))
                break
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            if len(text) > MAX_LINE:
                bad.append((number, "line too long"))
                continue
            try:
                peers.append(parse_peer(text, default_port))
            except PeerListError as exc:
                bad.append((number, str(exc)))
    return peers, bad
