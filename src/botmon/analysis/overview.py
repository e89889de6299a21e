"""The overview: every botnet's current counts, and the health of every crawler and sensor."""

from __future__ import annotations

from collections import defaultdict

from botmon.analysis.cache import whole
from botmon.analysis.scope import botnet_ids, reaches_newest, seen_bounds
from botmon.analysis.table import Table
from botmon.store.base import Store
from botmon.store.reads import CountedKind, SourceFilter
from botmon.wire import HeartbeatStatus, read_status


def overview(store: Store, end: float, window_s: int, source: SourceFilter = None) -> Table:
    """Every botnet: distinct IPs and IDs in the last ``window_s`` before ``end``, replies and
    failed tries in it, and the all-time first and last reply (from the seen tables; of one
    kind of monitor with ``source``: from its replies)."""
    botnets = store.list_botnets()  # one read: botnets may be added meanwhile
    ids = [b.id for b in botnets]
    start = end - window_s
    store.refresh_summaries()
    recent: dict[int, tuple[int, ...]] = dict.fromkeys(ids, (0, 0))
    if ids and reaches_newest(store, None, end):
        recent.update(store.seen_since(ids, start, source))
    elif ids:

        def compute() -> dict[int, tuple[int, ...]]:
            return store.range_counts("replies", None, start, end, ("ips", "ids"), source=source)

        key = ("overview", window_s, source)
        recent.update(whole(store, key, ("replies",), None, start, end, compute))
    kinds: tuple[CountedKind, ...] = ("replies", "failed_tries")
    counts = [
        store.range_counts(kind, ids, start, end, ("rows",), source=source) if ids else {}
        for kind in kinds
    ]
    seen = seen_bounds(store, source)
    rows = []
    for b in botnets:
        n_ips, n_ids = recent.get(b.id, (0, 0))
        first, last = seen.get(b.id, (None, None))
        replies, failed = (c.get(b.id, (0,))[0] for c in counts)
        rows.append((b.name, b.description, n_ips, n_ids, replies, failed, first, last))
    columns = ("botnet", "description", "ips", "ids", "replies", "failed_tries")
    return Table((*columns, "first_seen", "last_seen"), rows)


def monitors(
    store: Store,
    end: float,
    window_s: int,
    now: float | None = None,
    source: SourceFilter = None,
) -> Table:
    """Every crawler's and sensor's health: its last heartbeat (a typed
    :class:`~botmon.wire.HeartbeatStatus`, read leniently so statuses of older monitors still
    show what fits), its latest campaign, and the replies and failed tries the store received
    from it in the last ``window_s`` (measured, not reported, so a crawler that stopped
    sending records shows it even if it still beats).

    A heartbeat's age is counted to ``now`` when the window ends later (the page rounds its
    range's end up by minutes, which must not make a crawler that just beat look late).

    With ``source``, only monitors of that kind (by their heartbeat, or by the records they
    sent in the window) and their records of that kind."""
    age_at = end if now is None else min(end, now)
    beats = {h.source: h for h in store.heartbeats()}
    campaigns = {c.source: c for c in store.latest_campaigns()}
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    ids = list(botnet_ids(store).values())
    kinds: tuple[CountedKind, ...] = ("replies", "failed_tries")
    for i, kind in enumerate(kinds):
        if not ids:
            break
        for name, n in store.source_counts(kind, ids, end - window_s, end, source).items():
            counts[name][i] = n
    rows = []
    for name in sorted(set(beats) | set(counts) | set(campaigns)):
        beat = beats.get(name)
        status = read_status(beat.status) if beat is not None else HeartbeatStatus()
        if source is not None and not (
            status.kind == source if beat is not None else name in counts
        ):
            continue
        campaign = campaigns.get(name)
        replies, failed = counts.get(name, [0, 0])
        sensor = status.sensor
        rows.append(
            (
                name,
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
                sensor.contacts_per_s if sensor is not None else None,
                sensor.contacts if sensor is not None else None,
                sensor.answered if sensor is not None else None,
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
            "contacts_per_s",
            "contacts",
            "answered",
        ),
        rows,
    )
