"""Peers' sessions from bucketed sightings, in whole-array steps (no Python loop per row).

BMS's churn model: a peer is *present* in a bucket when it replied in it; a *session* is a
run of present buckets, closed once ``gap_s`` seconds pass without a presence. A peer is
either a bot ID or an ip:port pair, so the two identities can be compared (a divergence
means NAT or address changes).

The store hands one row per (bucket, ip, port, bot ID); for ten million replies that is up
to ten million rows, so everything up to one row per peer is numpy and Arrow compute: peer
keys are text joined in Arrow, encoded against one sorted vocabulary (so peer numbers,
and every tie-break after them, do not depend on the order the store returned rows in),
(peer, bucket) pairs are made unique with one sort and sessions fall out of one
``diff`` over the sorted pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from botmon.buckets import BUCKET_ORIGIN

PeerIdentity = Literal["id", "ip_port"]

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


def peer_keys(table: pa.Table, by: PeerIdentity) -> pa.Array:
    """One text key per row naming its peer (null where a row has none: a reply without
    a bot ID when ``by`` is ``id``)."""
    if by == "id":
        return table.column("bot_id").combine_chunks()
    port = pc.cast(table.column("port").combine_chunks(), pa.string())
    joined: pa.Array = pc.binary_join_element_wise(table.column("ip").combine_chunks(), port, ":")
    return joined


def vocabulary(*keys: pa.Array) -> pa.Array:
    """The distinct non-null keys of every array, sorted (peer number = position here)."""
    parts = [k.drop_null() for k in keys if len(k)]
    if not parts:
        return pa.array([], pa.string())
    distinct = pc.unique(pa.chunked_array(parts, type=pa.string()).combine_chunks())
    ordered: pa.Array = pc.take(distinct, pc.sort_indices(distinct))
    return ordered


def encode(keys: pa.Array, vocab: pa.Array) -> I64:
    """Each key's peer number, -1 for a null key."""
    found = pc.index_in(keys, value_set=vocab)
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


@dataclass(frozen=True)
class Sessions:
    """Every session of every peer, sorted by peer then start (one array entry per
    session); times are epoch seconds of bucket boundaries."""

    peer: I64
    first_bucket: I64
    last_bucket: I64
    start_s: npt.NDArray[np.float64]
    """Start of the session's first present bucket."""
    end_s: npt.NDArray[np.float64]
    """End of the session's last present bucket."""
    buckets: I64
    """Present buckets in the session."""

    def __len__(self) -> int:
        return len(self.peer)

    @property
    def length_s(self) -> npt.NDArray[np.float64]:
        """Last present bucket's end minus first present bucket's start."""
        return self.end_s - self.start_s


def build_sessions(peer: I64, bucket: I64, bucket_s: int, gap_s: int) -> Sessions:
    """Sessions of the present (peer, bucket) rows ``peer``/``bucket`` (any order, repeats
    allowed; rows with peer -1 left out). Two present buckets belong to one session when
    the silence between them (the empty buckets in between) is shorter than ``gap_s``."""
    keep = peer >= 0
    peer, bucket = peer[keep], bucket[keep]
    if not len(peer):
        empty = np.zeros(0, dtype=np.int64)
        none = np.zeros(0, dtype=np.float64)
        return Sessions(empty, empty, empty, none, none, empty)
    low = int(bucket.min())
    span = int(bucket.max()) - low + 1
    # Sort and drop repeats rather than np.unique: numpy 2's hashing unique took 55 s
    # for ten million int64 keys here, a sort 1 s.
    pairs = np.sort(peer * span + (bucket - low))
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]
    p = pairs // span
    b = pairs % span + low
    new = np.ones(len(pairs), dtype=np.bool_)
    silence = (b[1:] - b[:-1] - 1) * bucket_s
    new[1:] = (p[1:] != p[:-1]) | (silence >= gap_s)
    starts = np.flatnonzero(new)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:] - 1
    ends[-1] = len(pairs) - 1
    first, last = b[starts], b[ends]
    return Sessions(
        peer=p[starts],
        first_bucket=first,
        last_bucket=last,
        start_s=(first * bucket_s + BUCKET_ORIGIN).astype(np.float64),
        end_s=((last + 1) * bucket_s + BUCKET_ORIGIN).astype(np.float64),
        buckets=(ends - starts + 1).astype(np.int64),
    )


@dataclass(frozen=True)
class PeerSpans:
    """Per peer (index = peer number): sessions, first presence and last presence; peers
    without a session have ``sessions`` 0 and NaN times."""

    sessions: I64
    first_s: npt.NDArray[np.float64]
    last_s: npt.NDArray[np.float64]
    first_session: I64
    """Index of the peer's first session in :class:`Sessions` (-1: none)."""


def peer_spans(sessions: Sessions, peers: int) -> PeerSpans:
    """Fold sessions (sorted by peer) into one row per peer."""
    count = np.bincount(sessions.peer, minlength=peers).astype(np.int64)
    first_session = np.full(peers, -1, dtype=np.int64)
    first_s = np.full(peers, np.nan)
    last_s = np.full(peers, np.nan)
    if len(sessions):
        firsts = np.flatnonzero(np.r_[True, sessions.peer[1:] != sessions.peer[:-1]])
        lasts = np.r_[firsts[1:] - 1, len(sessions) - 1]
        owners = sessions.peer[firsts]
        first_session[owners] = firsts
        first_s[owners] = sessions.start_s[firsts]
        last_s[owners] = sessions.end_s[lasts]
    return PeerSpans(count, first_s, last_s, first_session)
