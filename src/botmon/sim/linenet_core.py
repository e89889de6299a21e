"""What an emulated linenet bot answers: lines in, lines out, no sockets, no clock.

Wire format (botmon's own TCP test-net protocol): the caller sends ``PEERS\\n``; a bot
answers ``BOT <16 hex>``, zero or more ``PEER <ipv4> <port>``, ``END`` (at most 64 lines of
at most 128 bytes, each ending in ``\\n``) and closes. A benign (non-bot) host answers
``HELLO``. Anything but ``PEERS`` gets no answer.
"""

from __future__ import annotations

import random

from botmon.sim.population import Bot

REQUEST_LINE = b"PEERS"
MAX_REQUEST_BYTES = 128
BENIGN_ANSWER = b"HELLO\n"


def is_request(line: bytes) -> bool:
    """True for the one request a bot answers (trailing ``\\r`` tolerated)."""
    return line.rstrip(b"\r\n") == REQUEST_LINE


def bot_answer(bot: Bot, entry_texts: list[str], peers_per_reply: int, rng: random.Random) -> bytes:
    """``BOT``, all peers (or a random ``peers_per_reply`` of them), ``END``.

    Peers are read from ``entry_texts`` (``"ip:port"``), which follows bots that changed
    their address.
    """
    assert bot.bot_id is not None
    index = bot.peer_index
    count = len(index)
    picks = range(count) if count <= peers_per_reply else rng.sample(range(count), peers_per_reply)
    lines = [f"BOT {bot.bot_id}\n".encode()]
    for j in picks:
        ip, _, port = entry_texts[index[j]].rpartition(":")
        lines.append(f"PEER {ip} {port}\n".encode())
    lines.append(b"END\n")
    return b"".join(lines)
