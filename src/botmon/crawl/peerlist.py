"""Seeds: ``HOST:PORT`` arguments and bootstrap files with one ``ip:port`` per line.

Hosts must be IP addresses (no name lookups: a crawler resolves nothing it did not choose).
A bootstrap file's bad lines are reported with their line numbers and skipped, like the
original's peer list; ``#`` starts a comment.
"""

from __future__ import annotations

from pathlib import Path

from botmon.ipaddr import normalise_ip
from botmon.protocols.contract import Peer

MAX_PEERLIST_LINES = 10_000_000
MAX_LINE = 512


class PeerListError(ValueError):
    """A peer that cannot be read, with a one-line reason."""


def parse_peer(text: str, default_port: int | None = None) -> Peer:
    """``1.2.3.4:6000``, ``[::1]:6000`` or (with a default port) ``1.2.3.4``."""
    text = text.strip()
    if not text or len(text) > 100:
        raise PeerListError(f"not HOST:PORT: {text[:64]!r}")
    host, port_text = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise PeerListError(f"not [IPv6]:PORT: {text[:64]!r}")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    if not port_text:
        if default_port is None:
            raise PeerListError(f"no port in {text[:64]!r}")
        port = default_port
    else:
        if not port_text.isdigit() or len(port_text) > 5:
            raise PeerListError(f"bad port in {text[:64]!r}")
        port = int(port_text)
    if not 0 < port <= 65535:
        raise PeerListError(f"port out of range in {text[:64]!r}")
    try:
        ip = normalise_ip(host)
    except ValueError:
        raise PeerListError(f"not an IP address: {host[:64]!r}") from None
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
