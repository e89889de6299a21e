"""What an emulated linenet bot answers: lines in, lines out, no sockets, no clock.

Wire format (botmon's own TCP test-net protocol): the caller sends ``PEERS\\n``; a bot
answers ``BOT <16 hex>``, zero or more ``PEER <ipv4> <port>``, ``END`` (at most 64 lines of
at most 128 bytes, each ending in ``\\n``) and closes. A benign (non-bot) host answers
``HELLO``. A peer that sends ``HELLO <port>`` announces that it listens on ``<port>`` at the
connection's source address (a sensor does): a bot adds it and answers ``BOT <id>``,
``END``. A caller may give its own ID, ``PEERS <16 hex>``: a bot whose botnet restricts its
neighbours (``--neighbour-restriction closest``) then names the peers whose IDs are nearest
to it (XOR distance, as P2P Zeus); without an ID the restriction is random. Anything else
gets no answer.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Sequence

from botmon.sim.population import Bot

REQUEST_LINE = b"PEERS"
MAX_REQUEST_BYTES = 128
BENIGN_ANSWER = b"HELLO\n"
HELLO = b"HELLO "
MAX_ANSWER_LINES = 64


ID_HEX = 16
"""Hex digits of a linenet bot ID (64 bits)."""
_HEX = frozenset(b"0123456789abcdefABCDEF")


def is_request(line: bytes) -> bool:
    """True for the one request a bot answers, with or without the caller's ID (trailing
    ``\\r`` tolerated)."""
    text = line.rstrip(b"\r\n")
    return text == REQUEST_LINE or request_id(line) is not None


def request_id(line: bytes) -> int | None:
    """The caller's ID of a ``PEERS <16 hex>`` request, or None (no ID, or another line)."""
    text = line.rstrip(b"\r\n")
    head, _, digits = text.partition(b" ")
    if head != REQUEST_LINE or len(digits) != ID_HEX or not _HEX.issuperset(digits):
        return None
    return int(digits, 16)


def id_distance(entry_ids: Sequence[str | None], requester: int) -> Callable[[int], int]:
    """``entry -> XOR distance`` of that entry's bot ID to ``requester``; entries without an
    ID (benign hosts, outside peers) are farther than any bot."""
    far = 1 << (4 * ID_HEX)

    def distance(entry: int) -> int:
        bot_id = entry_ids[entry] if entry < len(entry_ids) else None
        return far if bot_id is None else int(bot_id, 16) ^ requester

    return distance


def hello_port(line: bytes) -> int | None:
    """The port of a ``HELLO <port>`` announcement, or None for any other line."""
    text = line.rstrip(b"\r\n")
    if not text.startswith(HELLO):
        return None
    digits = text[len(HELLO) :]
    if not digits.isdigit() or len(digits) > 5:
        return None
    port = int(digits)
    return port if 0 < port <= 65535 else None


def hello_answer(bot: Bot) -> bytes:
    """What a bot answers an announcement: its ID and no peers."""
    return f"BOT {bot.bot_id}\nEND\n".encode()


def named_peers(answer: bytes) -> list[tuple[str, int]]:
    """The ``PEER`` lines of a bot's answer (at most 64 lines read); [] for anything else."""
    lines = answer.split(b"\n", MAX_ANSWER_LINES)[:MAX_ANSWER_LINES]
    if not lines or not lines[0].startswith(b"BOT "):
        return []
    out = []
    for line in lines[1:]:
        parts = line.split(b" ")
        if len(parts) != 3 or parts[0] != b"PEER" or not parts[2].isdigit():
            continue
        try:
            ip = socket.inet_ntoa(socket.inet_aton(parts[1].decode("ascii")))
        except (OSError, UnicodeDecodeError):
            continue
        port = int(parts[2][:6])
        if ip == parts[1].decode("ascii") and 0 < port <= 65535:
            out.append((ip, port))
    return out


def bot_answer(
    bot: Bot,
    peers: Sequence[int],
    entry_texts: list[str],
    peers_per_reply: int,
    rng: random.Random,
) -> bytes:
    """``BOT``, all of ``peers`` (or a random ``peers_per_reply`` of them), ``END``.

    ``peers`` are indexes into ``entry_texts`` (``"ip:port"``), which follows bots that
    changed their address.
    """
    assert bot.bot_id is not None
    index = peers
    count = len(index)
    picks = range(count) if count <= peers_per_reply else rng.sample(range(count), peers_per_reply)
    lines = [f"BOT {bot.bot_id}\n".encode()]
    for j in picks:
        ip, _, port = entry_texts[index[j]].rpartition(":")
        lines.append(f"PEER {ip} {port}\n".encode())
    lines.append(b"END\n")
    return b"".join(lines)
