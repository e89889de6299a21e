"""Shared helpers for the crawl tests: HNS bytes, in-memory bots and a core factory."""

from __future__ import annotations

import dataclasses
import itertools
import socket
from collections.abc import Callable, Iterator
from typing import Any

from botmon.crawl.core import CrawlCore
from botmon.crawl.memnet import Responder, VirtualNet
from botmon.protocols.contract import Peer, Plugin
from botmon.protocols.registry import Registry
from botmon.settings.crawl import CrawlSettings

T0 = 1_700_000_000.0


def registry() -> Registry:
    """Plugins registered by hand: no entry-point discovery in tests."""
    r = Registry(discover=False)
    r.register("hns", "botmon.protocols.hns")
    r.register("linenet", "botmon.protocols.linenet")
    r.register("toy", "tests.crawl.toyproto")
    return r


def hns_reply(peer: Peer) -> bytes:
    """A ``^`` reply announcing ``peer``."""
    return b"^\x00" + peer.port.to_bytes(2, "big") + socket.inet_aton(peer.ip)


def cycling_bot(peers: list[Peer]) -> Responder:
    """An HNS bot answering each ``~`` with the next peer of its list."""
    it: Iterator[Peer] = itertools.cycle(peers)

    def answer(data: bytes, now: float) -> bytes | None:
        return hns_reply(next(it)) if data == b"~" else None

    return answer


def hns_settings(**rounds: object) -> CrawlSettings:
    s = CrawlSettings.for_protocol(registry().get("hns").defaults)
    if rounds:
        s = s.replace("rounds", **rounds)
    return s


class PluginRaised(BaseException):
    """A plugin raised inside an engine test. A BaseException, so the engine's guard (which
    counts a plugin's ``Exception`` in ``plugin_errors`` and crawls on) lets it through and the
    test fails with the plugin's traceback instead of passing with a count nobody reads."""


def _reraising(hook: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        try:
            return hook(*args)
        except Exception as exc:
            raise PluginRaised(f"{hook.__qualname__} raised {exc!r}") from exc

    return call


def strict(plugin: Plugin) -> Plugin:
    """``plugin`` with every hook the engine calls turned into a test failure when it raises."""
    return dataclasses.replace(
        plugin,
        peer_request=_reraising(plugin.peer_request),
        read_reply=_reraising(plugin.read_reply),
        reply_key=None if plugin.reply_key is None else _reraising(plugin.reply_key),
        find_peers=None if plugin.find_peers is None else _reraising(plugin.find_peers),
    )


def make_net(
    bots: dict[Peer, Responder],
    seeds: list[Peer],
    settings: CrawlSettings | None = None,
    plugin: Plugin | None = None,
    **kw: object,
) -> VirtualNet:
    """A virtual network crawled by the HNS plugin (or ``plugin``); any plugin exception fails
    the test (:class:`PluginRaised`)."""
    used = strict(plugin or registry().get("hns"))
    core = CrawlCore(used, settings or hns_settings(), T0)
    core.add_peers(seeds, T0)
    return VirtualNet(core, bots, start=T0, **kw)  # type: ignore[arg-type]


def ring(n: int, base: str = "127.1.0.", port: int = 6000) -> list[Peer]:
    """``n`` loopback peers 127.1.0.1 ... on one port."""
    return [Peer(f"{base}{i}", port) for i in range(1, n + 1)]
