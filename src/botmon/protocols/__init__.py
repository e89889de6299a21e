"""Protocol plugins: one module per botnet wire format, pure bytes in and records out.

Writing a plugin for a new botnet::

    # mybotnet.py
    from botmon.protocols.contract import (
        CrawlResult, Peer, ProtocolDefaults, RequestContext, Status, no_reply,
    )
    from botmon.wire import Edge, Reply

    TRANSPORT = "udp"
    DEFAULTS = ProtocolDefaults(port=4444)

    def peer_request(peer: Peer, ctx: RequestContext) -> bytes:
        return b"GETPEERS"

    def read_reply(data: bytes, src: Peer, now: float, ctx: RequestContext) -> CrawlResult:
        if not data.startswith(b"PEERS"):
            return no_reply("bad_magic")
        ...
        return CrawlResult(Status.BOT_REPLY, None, peers, replies, edges)

and register it in the package's ``pyproject.toml``::

    [project.entry-points."botmon.protocols"]
    mybotnet = "mypackage.mybotnet"

``botmon protocols`` then lists it and ``botmon crawl mybotnet ...`` uses it. Every hook is
declared once, with its docstring, in :mod:`botmon.protocols.contract`; the registry
(:mod:`botmon.protocols.registry`) checks a plugin against it when loading.
"""
