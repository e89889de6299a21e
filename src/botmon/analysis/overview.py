"""The overview: every botnet's current counts, and the health of every crawler and sensor."""

from __future__ import annotations

from collections import defaultdict

from botmon.analysis.cache import whole
from botmon.analysis.scope import botnet_ids, reaches_newest, seen_bounds
from botmon.analysis.table import Table
from botmon.store.base import Store
from botmon.store.reads import CountedKind
from botmon.wire import HeartbeatStatus, read_status


def overview(store: Store, end: float, window_s: int) -> Table:
    """Every botnet: distinct IPs and IDs in the last ``window_s`` before ``end``, replies and
    failed tries in it, and the all-time first and last reply (from the seen tables)."""
    botnets = store.list_botnets()  # one read: botnets may be added meanwhile
    ids = [b.id for b in botnets]
    start = end - window_s
    store.refresh_summaries()
    recent: dict[int, tuple[int, ...]] = dict.fromkeys(ids, (0, 0))
    if ids and reaches_newest(store, None, end):
        recent.update(store.seen_since(ids, start))
    elif ids:

        def compute() -> dict[int, tuple[int, ...]]:
            return store.range_counts("replies", None, start, end, ("ips", "ids"))

        recent.update(whole(store, ("overview", window_s), ("replies",), None, start, end, compute))
    kinds: tuple[CountedKind, ...] = ("replies", "failed_tries")
    counts = [store.range_counts(kind, ids, start, end, ("rows",)) if ids else {} for kind in kinds]
    seen = seen_bounds(store)
    rows = []
    for b in botnets:
        n_ips, n_ids = recent.get(b.id, (0, 0))
        first, last = seen.get(b.id, (None, None))
        replies, failed = (c.get(b.id, (0,))[0] for c in counts)
        rows.append((b.name, b.description, n_ips, n_ids, replies, failed, first, last))
    columns = ("botnet", "description", "ips", "ids", "replies", "failed_tries")
    return Table((*columns, "first_seen", "last_seen"), rows)


def monitors(store: Store, end: float, window_s: int, now: float | None = None) -> Table:
    """Every crawler's and sensor's health: its last heartbeat (a typed
    :class:`~botmon.wire.HeartbeatStatus`, read leniently so statuses of older monitors still
    show what fits), its latest campaign, and the replies and failed tries the store received
    from it in the last ``window_s`` (measured, not reported, so a crawler that stopped
    sending records shows it even if it still beats).

    A heartbeat's age is counted to ``now`` when the window ends later (the page rounds its
    range's end up by minutes, which must not make a crawler that just beat look late)."""
    age_at = end if now is None else min(end, now)
    beats = {h.source: h for h in store.heartbeats()}
    campaigns = {c.source: c for c in store.latest_campaigns()}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    ids = list(botnet_ids(store).values())
    kinds: tuple[CountedKind, ...] = ("replies", "failed_tries")
    for i, kind in enumerate(kinds):
        if not ids:
            break
        for name, n in store.source_counts(kind, ids, end - window_s, end).items():
            counts[name][i] = n
    rows = []
    for source in sorted(set(beats) | set(counts) | set(campaigns)):
        beat = beats.get(source)
        status = read_status(beat.status) if beat is not None else HeartbeatStatus()
        campaign = campaigns.get(source)
        replies, failed = counts.get(source, [0, 0])
        rows.append(
            (
                source,
                status.kind if beat is not None else None,
                beat.at if beat is not None else None,
                round(age_at - beat.at, 1) if beat is not None else None,
                status.state,
                status.paused_reason,
                status.botnet,
                status.version,
                status.requests_per_s,
                status.requests,
                status.replies,
                status.errors,
                status.in_flight,
                status.discovery_queue,
                status.tracking_queue,
                campaign.id if campaign is not None else None,
                campaign.summary() if campaign is not None else None,
                campaign.started_at if campaign is not None else None,
                campaign.ended_at if campaign is not None else None,
                replies,
                failed,
                round((replies + failed) / window_s, 3),
            )
        )
    return Table(
        (
            "source",
            "kind",
            "last_heartbeat",
            "heartbeat_age_s",
            "state",
            "paused_reason",
            "botnet",
            "version",
            "reported_requests_per_s",
            "reported_requests",
            "reported_replies",
            "reported_errors",
            "in_flight",
            "discovery_queue",
            "tracking_queue",
            "campaign",
            "campaign_settings",
            "campaign_started_at",
            "campaign_ended_at",
            "replies",
            "failed_tries",
            "tries_per_s",
        ),
        rows,
    )
