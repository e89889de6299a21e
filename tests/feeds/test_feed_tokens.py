"""Network-owner (feed) tokens: a scope of ASNs, CIDRs and countries, kept with the token."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from botmon.auth import TokenRefused, hash_token, issue_token
from botmon.cli.main import cli
from botmon.feeds.model import FeedScope
from botmon.feeds.scope import ScopeError, parse_scope
from botmon.store import open_store
from botmon.store.base import Store, StoreError
from botmon.store.common import migrations


def test_a_feed_token_keeps_its_normalised_networks(store: Store) -> None:
    scope = FeedScope(asns=(64500, 64500, 1), cidrs=("198.51.100.0/24",), countries=("de",))
    token, monitor = issue_token(store, "cert-de", "feed", scope=scope)
    wanted = FeedScope(asns=(1, 64500), cidrs=("198.51.100.0/24",), countries=("DE",))
    assert monitor.role == "feed" and monitor.scope == wanted
    assert store.monitor_by_token_hash(hash_token(token)) == monitor
    assert [m.scope for m in store.list_monitors()] == [wanted]


def test_scopes_belong_to_feed_tokens_only(store: Store) -> None:
    with pytest.raises(TokenRefused, match="at least one network"):
        issue_token(store, "empty", "feed")
    with pytest.raises(TokenRefused, match="only feed tokens"):
        issue_token(store, "viewer", "viewer", scope=FeedScope(asns=(64500,)))
    with pytest.raises(TokenRefused) as refused:
        issue_token(store, "bad", "feed", scope=FeedScope(asns=(0,)))
    assert refused.value.field == "asn"
    # The store refuses on its own what slipped past issue_token.
    with pytest.raises(StoreError):
        store.create_monitor("raw", "feed", [], "h" * 64, "p")
    with pytest.raises(StoreError):
        store.create_monitor("raw", "feed", [], "h" * 64, "p", FeedScope(cidrs=("10.0.0.1/8",)))
    assert store.list_monitors() == []


@pytest.mark.parametrize(
    ("asns", "cidrs", "countries", "field"),
    [
        (["0"], [], [], "asn"),
        (["4294967296"], [], [], "asn"),
        (["AS-1"], [], [], "asn"),
        ([], ["198.51.100.7/24"], [], "cidr"),
        ([], ["300.1.1.0/24"], [], "cidr"),
        ([], ["198.51.100.0/33"], [], "cidr"),
        ([], [], ["DEU"], "country"),
        ([], [], ["1A"], "country"),
    ],
)
def test_malformed_networks_are_refused_with_their_kind(
    asns: list[str], cidrs: list[str], countries: list[str], field: str
) -> None:
    with pytest.raises(ScopeError) as refused:
        parse_scope(asns, cidrs, countries)
    assert refused.value.field == field


def test_networks_are_spelled_one_way() -> None:
    scope = parse_scope(["AS4294967295", "64500"], ["2001:DB8::/32", "::ffff:10.0.0.0/104"], ["pl"])
    assert scope.asns == (64500, 4294967295)
    assert scope.cidrs == ("10.0.0.0/8", "2001:db8::/32")
    assert scope.countries == ("PL",)


def test_upgrading_keeps_every_token_and_allows_feed_tokens(tmp_path: Path) -> None:
    path = str(tmp_path / "old.duckdb")
    con = duckdb.connect(path)
    for version, sql in migrations("duckdb"):
        if version >= 7:
            break
        con.execute(sql)
        con.execute("INSERT INTO schema_version VALUES (?, now())", [version])
    con.execute(
        "INSERT INTO monitors (name, role, token_hash, token_prefix, botnets, created_at) "
        "VALUES ('old-admin', 'admin', 'hash-old', 'pfx', [], now())"
    )
    con.close()
    store = open_store(path)
    try:
        store.migrate()
        (old,) = store.list_monitors()
        assert (old.name, old.role, old.scope) == ("old-admin", "admin", FeedScope())
        assert store.monitor_by_token_hash("hash-old") == old
        _, feed = issue_token(store, "cert", "feed", scope=FeedScope(countries=("DE",)))
        assert feed.id > old.id
    finally:
        store.close()


def test_the_cli_makes_feed_tokens_and_lists_their_networks(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.duckdb")
    runner = CliRunner()
    networks = ["--asn", "AS64500", "--cidr", "198.51.100.0/24", "--country", "de"]
    made = runner.invoke(
        cli, ["token", "create", "--name", "cert-de", "--role", "feed", *networks, "--db", db]
    )
    assert made.exit_code == 0, made.output
    assert "for networks AS64500,198.51.100.0/24,DE" in made.output
    listed = runner.invoke(cli, ["token", "list", "--db", db])
    (line,) = [row for row in listed.output.splitlines() if row.startswith("cert-de")]
    assert line.split()[1] == "feed" and line.endswith("AS64500,198.51.100.0/24,DE")
    for bad in (
        ["--role", "feed"],
        ["--role", "viewer", "--asn", "1"],
        ["--role", "feed", "--asn", "0"],
    ):
        refused = runner.invoke(cli, ["token", "create", "--name", "x", *bad, "--db", db])
        assert refused.exit_code != 0
    store = open_store(db)
    try:
        assert [m.name for m in store.list_monitors()] == ["cert-de"]
    finally:
        store.close()
