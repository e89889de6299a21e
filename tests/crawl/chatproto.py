"""A toy TCP botnet protocol with a multi-step conversation (Sality/uTP-like), for engine tests.

Frames are a 2-byte big-endian length and a text body. The crawler says ``HELLO``, the bot
answers ``CHAL <nonce>``, the crawler proves it speaks the protocol with ``RESP <nonce
reversed>``, then the bot sends one ``PEER <ip> <port>`` message per peer and ``END <bot id>``.
Only the pieces a conversation plugin needs; it is registered by hand in the tests.
"""

from __future__ import annotations

from botmon.protocols.contract import (
    CrawlResult,
    Peer,
    Plugin,
    ProtocolDefaults,
    RequestContext,
    Status,
    no_reply,
)
from botmon.protocols.registry import Registry
from botmon.wire import Edge, Reply

TRANSPORT = "tcp"
DEFAULTS = ProtocolDefaults(
    port=17171,
    timeouts=(6.0,),
    connect_timeout=0.5,
    read_timeout=0.5,
    max_reply_bytes=512,
    peers_per_reply=16,
    step_timeout=1.5,
    max_messages=8,
)
MAX_FRAME = 8192
"""Longer length fields are malformed (not merely over the crawler's size cap)."""


def frame(body: bytes) -> bytes:
    """One message on the wire."""
    return len(body).to_bytes(2, "big") + body


def peer_request(peer: Peer, ctx: RequestContext) -> bytes:
    """Not used by the engine (it runs :func:`conversation`); the first message, for reference."""
    return frame(b"HELLO")


def read_reply(data: bytes, src: Peer, now: float, ctx: RequestContext) -> CrawlResult:
    """Answers come through the conversation; a stray one is nothing usable."""
    return no_reply("unexpected")


class Chat:
    """One crawler side of the exchange."""

    def __init__(self, peer: Peer) -> None:
        self.peer = peer
        self.peers: list[Peer] = []
        self.challenged = False

    def opening(self) -> bytes:
        return frame(b"HELLO")

    def frame(self, buffer: bytes) -> int:
        if len(buffer) < 2:
            return 0
        n = int.from_bytes(buffer[:2], "big")
        if n == 0 or n > MAX_FRAME:
            return -1
        return 2 + n if len(buffer) >= 2 + n else 0

    def receive(self, message: bytes, now: float) -> bytes | CrawlResult:
        word, _, rest = message[2:].decode("latin-1").partition(" ")
        if word == "CHAL" and not self.challenged:
            self.challenged = True
            return frame(b"RESP " + rest[::-1].encode("latin-1"))
        if word == "PEER" and self.challenged:
            ip, _, port = rest.partition(" ")
            self.peers.append(Peer(ip, int(port)))
            return b""  # nothing to say; read the next message
        if word == "END" and self.challenged:
            return self._result(now, rest, None)
        if word == "HELLO" and not self.challenged:
            return CrawlResult(Status.BENIGN_REPLY, "echo")
        return no_reply("unexpected_message")

    def partial(self, reason: str, now: float) -> CrawlResult | None:
        return self._result(now, None, reason) if self.peers else None

    def _result(self, now: float, bot_id: str | None, partial: str | None) -> CrawlResult:
        p = self.peer
        data = {"partial": partial} if partial else None
        return CrawlResult(
            Status.BOT_REPLY,
            peers=tuple(self.peers),
            replies=(Reply(now, p.ip, p.port, bot_id=bot_id, data=data),),
            edges=tuple(Edge(now, p.ip, p.port, q.ip, q.port, src_id=bot_id) for q in self.peers),
            bot_id=bot_id,
        )


def conversation(peer: Peer, ctx: RequestContext) -> Chat:
    """A fresh exchange with ``peer``."""
    return Chat(peer)


def chat_plugin() -> Plugin:
    """This module as a checked plugin named ``chat`` (registered by hand, no entry point)."""
    return Registry(discover=False).register("chat", __name__)
