"""Feed rows for the threat-intel format tests: what the store answers for real records.

:func:`ingest` writes crawler and sensor batches (the real wire types, through the real
validation path, enriched as the server would leave them) for two botnets over two days;
:func:`hostile_ingest` adds a bot whose bot ID and AS name carry quotes, newlines,
``</script>`` and non-ASCII text. The tests read the rows back with the store's own
``feed_rows`` and check each document against them.
"""

from __future__ import annotations

from botmon.feeds.model import FeedContext, FeedQuery, FeedRow
from botmon.ipaddr import is_v4
from botmon.store.base import Store
from botmon.validation import ValidatedBatch
from botmon.wire import Reply
from tests.store.helpers import NOW, make_batch

DAY = 86_400.0
SINCE = NOW - 3600
UNTIL = NOW + 2 * DAY

HOSTILE = "q\"uote's\nnew line\r\n</script><b>&amp; ünïcödé 中文 \\ \x1b[31m"
"""Everything that breaks a careless JSON, YAML, mail or HTML writer at once."""


def ingest(store: Store) -> None:
    """Two botnets: ``hns`` bots seen by a crawler on two days (one also by a sensor) and by
    a second crawler; ``mozi`` bots on IPv4 and IPv6 seen once."""
    for name in ("hns", "mozi"):
        store.create_botnet(name)
    day1 = [Reply(NOW + i, f"127.0.1.{i}", 4000 + i, bot_id=f"hns-{i:04x}") for i in range(1, 6)]
    day2 = [Reply(NOW + DAY + i, f"127.0.1.{i}", 4000 + i) for i in range(1, 3)]
    located(store, make_batch("hns", "hns-d1", day1), "crawler-a")
    located(store, make_batch("hns", "hns-d2", day2), "crawler-a")
    located(
        store,
        make_batch("hns", "hns-sensor", [Reply(NOW + 50, "127.0.1.1", 4999)], source_type="sensor"),
        "sensor-a",
    )
    located(store, make_batch("hns", "hns-b", [Reply(NOW + 60, "127.0.1.3", 4003)]), "crawler-b")
    mozi = [Reply(NOW + 5, "127.0.2.1", 6881), Reply(NOW + 6, "::1", 6882, bot_id="mozi-1")]
    located(store, make_batch("mozi", "mozi-1", mozi), "crawler-a")


def hostile_ingest(store: Store) -> None:
    """A bot whose bot ID and AS name are hostile text (botnet names are validated, so the
    botnet is plain; tests of hostile botnet names build rows themselves)."""
    store.create_botnet("hns")
    batch = make_batch("hns", "hostile", [Reply(NOW, "127.0.9.9", 1234, bot_id=HOSTILE)])
    batch.replies.country = ["DE"]
    batch.replies.asn = [64_666]
    batch.as_names = {64_666: HOSTILE}
    store.write_batch(batch, "crawler-a")


def located(store: Store, batch: ValidatedBatch, source: str) -> None:
    """Store ``batch`` as the server would after enrichment: lab AS 64500 in DE for IPv4,
    AS 64501 in NL for IPv6."""
    v4 = [is_v4(ip) for ip in batch.replies.ip]
    batch.replies.country = ["DE" if four else "NL" for four in v4]
    batch.replies.asn = [64_500 if four else 64_501 for four in v4]
    batch.as_names = {64_500: "Lab AS One", 64_501: "Lab AS Two"}
    store.write_batch(batch, source)


def store_rows(store: Store) -> list[FeedRow]:
    """Every row the store answers for the test period, across its pages."""
    query = FeedQuery(since=SINCE, until=UNTIL, page_size=3)
    return [row for page in store.feed_rows(query) for row in page]


def context(**changes: object) -> FeedContext:
    base: dict[str, object] = {
        "generated_at": UNTIL + 60,
        "since": SINCE,
        "until": UNTIL,
        "producer": "Lab CERT",
        "recipient": "owner-64500",
        "contact": "abuse@cert.example",
    }
    base.update(changes)
    return FeedContext(**base)  # type: ignore[arg-type]


def hostile_row() -> FeedRow:
    """A row no store would give today (the botnet name is validated), as a format must
    still survive it: hostile text in every free-text field."""
    return FeedRow(
        botnet=HOSTILE,
        ip="127.0.8.8",
        first_seen=NOW,
        last_seen=NOW + 10,
        observations=2,
        ports=(1, 65535),
        bot_ids=(HOSTILE, "plain"),
        asn=64_500,
        as_name=HOSTILE,
        country="DE",
        origins=("p2p-crawler", "p2p-sensor"),
        vantage_points=2,
        days=1,
        confidence="high",
    )
