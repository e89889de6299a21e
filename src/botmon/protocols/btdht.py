"""The BitTorrent DHT itself as the monitored overlay: every node reached is a "bot" (UDP, KRPC).

``botmon crawl btdht --botnet dht --seed HOST:PORT`` sweeps a mainline DHT from bootstrap
nodes and records each node it reaches as a BOT_REPLY (``bot_id`` = node ID in hex, ``data`` per
the DHT conventions: node_id, client, client_version, v, bep42) and each routing-table answer
as edges (answering node -> every node it lists).

Which queue does the work: the **crawl queue alone**; the plugin has no ``find_peers``. Every
node an answer lists is a peer to crawl, and a node is asked one ``find_node`` after another
(``requests_per_round``, one in flight, paced by the per-target rate) along
:func:`dht_sweep.cover_plan`: a probe for its ID and client, then one lookup per bucket of
its routing table, then, for libtorrent nodes only, the other slices of their wide top
buckets. The walk adapts to the answers (:func:`dht_sweep.next_step`): it ends at the first
bucket whose answer shows the deeper ones were all listed, skips the slices of a bucket
already dumped and of nodes that keep K per bucket. That is why it is not the find-peers
loop: the finder's lookups are fixed per node and round and carry no per-node state, so
they could neither stop early nor know a node's client, and would send every node the full
42 lookups (benchmarks/dht.py: the walk averages under 5 requests per node, probe included,
on a DHT of 5,000 emulated and 30 libtorrent nodes). The crawl queue also gives
each node its liveness for free: the probe is its record (one reply per node and round),
retries, failed tries and the leave rule work as for any bot. The per-peer state is the
walk itself (node ID, flags, step: 22 bytes).

Politeness (PROTOCOLS.md §1.5): libtorrent bans a source sending a node more than 5 packets
a second over 10 s; public crawlers keep to about 2, the default per-target rate here. One
request to a node at a time (a walk step depends on the previous answer). Queries carry
``ro=1`` (BEP 43) so nodes keep botmon out of their routing tables, and a random node ID each.
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
    requests_per_round=1 + SWEEP.lookups,
    stale_replies=1 + SWEEP.lookups,  # the walk ends itself (CrawlResult.more)
    per_target_rate=2.0,
)

_BOT = Status.BOT_REPLY

reply_key = dht_sweep.reply_key


def peer_request(peer: Peer, ctx: RequestContext) -> Request:
    """The next ``find_node`` of the node's walk (a probe first)."""
    return dht_sweep.crawl_request(SWEEP, ctx)


def read_reply(data: bytes, src: Peer, now: float, ctx: RequestContext) -> CrawlResult:
    """A KRPC response: the node's record (first answer of the round), its edges, the nodes
    it lists and the walk's next step; anything else is NO_REPLY with the codec's reason."""
    try:
        answer = dht_sweep.read_answer(data, src)
    except krpc.KrpcError as exc:
        return no_reply(exc.reason)
    bot_id = answer.node_id.hex()
    state, more = dht_sweep.walk_on(SWEEP, ctx, answer)
    replies = (
        (Reply(now, src.ip, src.port, bot_id, answer.data(src.ip)),) if ctx.attempt == 0 else ()
    )
    return CrawlResult(
        _BOT,
        peers=answer.peers(),
        replies=replies,
        edges=answer.edges(src, now),
        bot_id=bot_id,
        state=state,
        more=more,
    )
