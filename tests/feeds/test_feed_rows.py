"""``Store.feed_rows``: one row per bot and botnet, the scope filtered in the database,
keyset pages, both backends; checked against :func:`tests.feeds.data.expected`."""

from __future__ import annotations

import pytest

from botmon.feeds.model import FeedQuery, FeedRow, FeedScope, confidence_of
from botmon.store.base import Store, StoreError
from tests.feeds.data import DAY, T0, Expected, expected, net, sightings

SINCE, UNTIL = T0, T0 + 3 * DAY


def _all(store: Store, **kw: object) -> list[FeedRow]:
    query = FeedQuery(since=kw.pop("since", SINCE), until=kw.pop("until", UNTIL), **kw)  # type: ignore[arg-type]
    return [row for page in store.feed_rows(query) for row in page]


def _check(rows: list[FeedRow], want: dict[tuple[str, str], Expected]) -> None:
    assert {r.cursor for r in rows} == set(want)
    assert len(rows) == len(want)
    for r in rows:
        e = want[r.cursor]
        assert (r.first_seen, r.last_seen) == (min(e.times), max(e.times))
        assert r.observations == len(e.times)
        assert r.ports == tuple(sorted(e.ports)) and r.bot_ids == tuple(sorted(e.ids))
        assert r.vantage_points == len(e.sources) and r.days == e.days
        assert r.origins == e.origins
        assert r.confidence == confidence_of(r.origins, r.vantage_points, r.days)
        if ":" not in r.ip:
            lab = net(int(r.ip.split(".")[1]))
            assert (r.asn, r.as_name, r.country) == (lab.asn, lab.as_name, lab.country)


def test_every_bot_once_with_what_botmon_saw(feed_store: Store) -> None:
    rows = _all(feed_store)
    _check(rows, expected(sightings(), SINCE, UNTIL))
    botnets = [r.botnet for r in rows]
    assert botnets == sorted(botnets)
    assert {r.confidence for r in rows} >= {"high", "low"}


@pytest.mark.parametrize(
    "scope",
    [
        FeedScope(asns=(net(2).asn,)),
        FeedScope(countries=(net(5).country,)),
        FeedScope(cidrs=("127.9.0.0/16", "127.3.2.0/24")),
        FeedScope(asns=(net(1).asn,), cidrs=("::1/128",), countries=("PL",)),
    ],
    ids=["asn", "country", "cidrs", "mixed"],
)
def test_the_scope_keeps_its_networks_and_nothing_else(feed_store: Store, scope: FeedScope) -> None:
    want = expected(sightings(), SINCE, UNTIL, scope)
    assert want, "the population must have bots in every scope tested"
    _check(_all(feed_store, scope=scope), want)


def test_period_and_botnets_narrow_it(feed_store: Store) -> None:
    since, until = T0 + 7200, T0 + DAY
    want = {k: v for k, v in expected(sightings(), since, until).items() if k[0] == "hns"}
    _check(_all(feed_store, since=since, until=until, botnets=("hns",)), want)


def test_keyset_pages_give_every_row_exactly_once(feed_store: Store) -> None:
    whole = _all(feed_store)
    pages = [p for p in feed_store.feed_rows(FeedQuery(since=SINCE, until=UNTIL, page_size=4))]
    assert all(len(p) == 4 for p in pages[:-1]) and 0 < len(pages[-1]) <= 4
    assert [r for p in pages for r in p] == whole
    seen: list[FeedRow] = []
    after = None
    for _ in range(len(whole) + 1):  # bounded: one request per row at most
        got = _all(feed_store, after=after, limit=5)
        if not got:
            break
        assert len(got) <= 5
        seen.extend(got)
        after = got[-1].cursor
    assert seen == whole


def test_bad_queries_are_refused(feed_store: Store) -> None:
    for query in (
        FeedQuery(since=UNTIL, until=SINCE),
        FeedQuery(since=SINCE, until=UNTIL, page_size=0),
        FeedQuery(since=SINCE, until=UNTIL, after=("mozi", "not-an-ip")),
    ):
        with pytest.raises(StoreError):
            list(feed_store.feed_rows(query))
