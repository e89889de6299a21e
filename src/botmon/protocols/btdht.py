"""The BitTorrent DHT itself as the monitored overlay: every node reached is a "bot" (UDP, KRPC).

``botmon crawl btdht --botnet dht --seed HOST:PORT`` sweeps a mainline DHT from bootstrap
nodes and records each node it reaches as a BOT_REPLY (``bot_id`` = node ID in hex, ``data`` per
the DHT conventions: node_id, client, client_version, v, bep42) and each routing-table answer
as edges (answering node -> every node it lists).

How the work is split between the engine's two queues:

- **Crawl queue: one ``find_node`` per node and round** (:func:`dht_sweep.crawl_request`). It
  is what a node's liveness and record hang on: the engine's retries, failed tries and the
  leave rule (a node silent past ``discovery_remove_s`` is forgotten) work as for any bot, and
  the reply is recorded once per node and round. The answer's node ID becomes the peer's state,
  so later rounds ask for the node's own neighbourhood.
- **Find-peers loop: the key-space cover** (:func:`dht_sweep.lookups`): one ``find_node``
  per bucket of the node's routing table (``lookups_per_node``, 16), each answer giving edges
  and new nodes, never a reply record (the crawl request records the node; sixteen records
  per node and round would only repeat it). The finder has its own capacity and share of the
  rate, so dumping tables never starves the liveness checks.

Every node an answer lists goes to both queues (``peers`` to crawl it, ``nodes`` to walk it).

Politeness (PROTOCOLS.md §1.5): libtorrent bans a source sending a node more than 5 packets/s
over 10 s; public crawlers keep to about 2. The per-target rate defaults to 2 per second; the
crawl request and the lookups are paced separately, so a node sees at most 2 lookups a second
plus one crawl request per round. Queries carry ``ro=1`` (BEP 43) so nodes keep botmon out of
their routing tables, and a random node ID each.

Memory: the engine's peer and node tables plus :class:`dht_sweep.NodeIds` (the node ID per
address that the bucket targets need): benchmarks/dht.py measures the whole at well under
1 KiB per known node.
"""

from __future__ import annotations

from botmon.protocols import dht_sweep, krpc
from botmon.protocols.contract import (
    CrawlResult,
    Peer,
    ProtocolDefaults,
    Request,
    RequestContext,
    Status,
    no_reply,
)
from botmon.wire import Reply

DESCRIPTION = "BitTorrent mainline DHT (KRPC, BEP 5): every node reached, its routing table"
TRANSPORT = "udp"
SWEEP = dht_sweep.SweepConfig(read_only=True)
DEFAULTS = ProtocolDefaults(
    port=6881,
    timeouts=(3.0, 6.0, 12.0),
    max_reply_bytes=krpc.MAX_MESSAGE,
    peers_per_reply=dht_sweep.MAX_LISTED,
    lookups_per_node=SWEEP.buckets,
    per_target_rate=2.0,
)

NODE_IDS = dht_sweep.NodeIds()
"""The node IDs this process has heard of, by address (what the bucket targets start from)."""

_BOT = Status.BOT_REPLY

reply_key = dht_sweep.reply_key


def peer_request(peer: Peer, ctx: RequestContext) -> Request:
    """One ``find_node`` per node and round (liveness, the record, its neighbourhood)."""
    return dht_sweep.crawl_request(SWEEP, ctx)


def find_peers(node: Peer, ctx: RequestContext) -> list[Request]:
    """The lookups that dump ``node``'s routing table: one per bucket."""
    return dht_sweep.lookups(SWEEP, node, ctx, NODE_IDS)


def read_reply(data: bytes, src: Peer, now: float, ctx: RequestContext) -> CrawlResult:
    """A KRPC response: the node's record (crawl requests), its edges and the nodes it lists;
    anything else is NO_REPLY with the codec's reason."""
    try:
        answer = dht_sweep.read_answer(data, src, NODE_IDS)
    except krpc.KrpcError as exc:
        return no_reply(exc.reason)
    bot_id = answer.node_id.hex()
    listed = answer.peers()
    edges = answer.edges(src, now)
    if ctx.purpose == "find":
        return CrawlResult(_BOT, peers=listed, edges=edges, bot_id=bot_id, nodes=listed)
    reply = Reply(now, src.ip, src.port, bot_id, answer.data(src.ip))
    return CrawlResult(
        _BOT,
        peers=listed,
        replies=(reply,),
        edges=edges,
        bot_id=bot_id,
        nodes=listed,
        state=dht_sweep.pack_state(answer.node_id),
    )
