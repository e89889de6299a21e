"""``GET /api/v1/feeds/infected`` and its neighbours on the real app, both backends: a
network owner's token gets exactly its networks' bots in every format; data goes in
through the real ingest API with crawler and sensor records, the lab GeoIP/AS data giving
the loopback addresses their countries and ASes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from botmon.auth import hash_token, new_token, token_prefix
from botmon.cli.admin import ApiAdmin
from botmon.cli.main import cli
from botmon.enrich.enricher import Enricher
from botmon.feeds.formats import FORMAT_NAMES, feed_format
from botmon.feeds.model import FeedScope
from botmon.server.app import create_app
from botmon.server.state import ServerState
from botmon.settings import AnalysisSettings, ServerSettings
from botmon.store import open_store
from tests.feeds.conftest import batches
from tests.feeds.data import DAY, T0, expected, net, sightings
from tests.feeds.extract import EXTRACTORS, csv_rows
from tests.feeds.sinkhole import parse_sinkhole_csv

PERIOD = {"since": str(T0), "until": str(T0 + 3 * DAY)}
OWN = net(2)
"""The network owner's AS: lab network 127.2.0.0/16 (others share neither AS nor country)."""


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]
    app: Any
    db: str

    def get(self, path: str, token: str | None, **params: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens.get(token, token)}"} if token else {}
        answer: httpx.Response = self.client.get(path, params=params, headers=headers)
        return answer

    def feed(self, token: str, **params: Any) -> httpx.Response:
        return self.get("/api/v1/feeds/infected", token, **{**PERIOD, **params})

    def token(self, name: str, **body: Any) -> str:
        got = self.client.post(
            "/api/v1/admin/tokens",
            json={"name": name, **body},
            headers={"Authorization": f"Bearer {self.tokens['admin']}"},
        )
        assert got.status_code == 201, got.text
        token: str = got.json()["token"]
        self.tokens[name] = token
        return token


@pytest.fixture(scope="module")
def api(module_db: str) -> Iterator[Api]:
    store = open_store(module_db)
    store.migrate()
    admin = new_token()
    store.create_monitor("admin", "admin", [], hash_token(admin), token_prefix(admin))
    state = ServerState(
        store=store,
        settings=ServerSettings(db=module_db, ingest_workers=0),
        enricher=Enricher.open(use_default=False),
        analysis=AnalysisSettings(schedule_s=0),
    )
    try:
        app = create_app(state)
        with TestClient(app, raise_server_exceptions=False) as client:
            api = Api(client, {"admin": admin}, app, module_db)
            for name in ("hns", "mozi"):
                client.post(
                    "/api/v1/admin/botnets",
                    json={"name": name},
                    headers={"Authorization": f"Bearer {admin}"},
                )
            for name in ("crawler-1", "sensor-1"):
                api.token(name, role="crawler")
            api.token("viewer", role="viewer")
            api.token("owner", role="feed", asns=[OWN.asn])
            for source, body in batches():
                got = client.post(
                    "/api/v1/ingest",
                    content=msgspec.json.encode(body),
                    headers={
                        "Authorization": f"Bearer {api.tokens[source]}",
                        "Content-Type": "application/json",
                    },
                )
                assert got.status_code == 200, got.text
            yield api
    finally:
        state.enricher.close()  # type: ignore[union-attr]
        store.close()


def _available(name: str) -> None:
    try:
        feed_format(name)
    except (ImportError, AttributeError):
        pytest.skip(f"the {name} format is not in this tree yet")
    if name not in EXTRACTORS:
        pytest.skip(f"no IP extractor for {name} yet")


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_an_as_token_gets_every_bot_of_its_as_and_nothing_else(api: Api, fmt: str) -> None:
    _available(fmt)
    since, until = float(PERIOD["since"]), float(PERIOD["until"])
    mine = expected(sightings(), since, until, FeedScope(asns=(OWN.asn,)))
    everyone = expected(sightings(), since, until)
    assert mine and len(everyone) > len(mine)
    got = api.feed("owner", format=fmt)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith(feed_format(fmt).media_type.split(";")[0])
    assert "attachment; filename=" in got.headers["content-disposition"]
    ips = EXTRACTORS[fmt](got.content)
    assert sorted(ips) == sorted(ip for _, ip in mine)  # every bot, once per botnet
    other = net(5)
    assert other.asn != OWN.asn and other.country != OWN.country
    refused = [
        api.feed("owner", format=fmt, asn=other.asn),
        api.feed("owner", format=fmt, country=other.country),
        api.feed("owner", format=fmt, cidr="127.5.0.0/16"),
    ]
    for answer in refused:
        assert answer.status_code == 403, answer.text
        assert answer.json()["reason"] == "forbidden_scope"
    for bad in ({"asn": "AS-x"}, {"cidr": "127.2.0.1/16"}, {"country": "DEU"}, {"since": "soon"}):
        answer = api.feed("owner", format=fmt, **bad)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == next(iter(bad))


def test_the_csv_round_trips_through_a_sinkhole_parser(api: Api) -> None:
    got = api.feed("owner", format="csv")
    rows = parse_sinkhole_csv(got.text)
    since, until = float(PERIOD["since"]), float(PERIOD["until"])
    want = expected(sightings(), since, until, FeedScope(asns=(OWN.asn,)))
    assert {(r["family"], r["src_ip"]) for r in rows} == set(want)
    for r in rows:
        e = want[(r["family"], r["src_ip"])]
        assert int(r["src_asn"]) == OWN.asn and r["src_geo"] == OWN.country
        assert int(r["src_port"]) == min(e.ports)
        assert r["protocol"] == "udp"  # hns and mozi are UDP botnets
        assert r["public_source"] == "botmon" and r["infection"] == "p2p-botnet"
        assert set(r["tag"].split(";")) >= set(e.origins)
        assert r["dst_ip"] == "" and len(r["event_id"]) == 32
    assert csv_rows(got.content) == rows


def test_a_viewer_sees_every_network_and_filters_narrow_it(api: Api) -> None:
    since, until = float(PERIOD["since"]), float(PERIOD["until"])
    everyone = expected(sightings(), since, until)
    got = api.feed("viewer", format="intelmq")
    assert sorted(EXTRACTORS["intelmq"](got.content)) == sorted(ip for _, ip in everyone)
    narrowed = api.feed("viewer", format="json", country=net(9).country, botnet="hns")
    want = expected(sightings(), since, until, FeedScope(countries=(net(9).country,)))
    assert sorted(EXTRACTORS["json"](narrowed.content)) == sorted(
        ip for b, ip in want if b == "hns"
    )
    assert api.feed("crawler-1").status_code == 403
    assert api.feed("viewer", botnet="nope").status_code == 422
    assert api.feed("viewer", format="pdf").json()["error"].count(",") >= 3


def test_cursor_pages_give_every_row_exactly_once(api: Api) -> None:
    whole = csv_rows(api.feed("viewer").content)
    seen: list[dict[str, str]] = []
    cursor: str | None = None
    for _ in range(len(whole) + 1):  # bounded
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        got = api.feed("viewer", **params)
        assert got.status_code == 200
        rows = csv_rows(got.content)
        assert len(rows) <= 7
        seen.extend(rows)
        cursor = got.headers.get("x-botmon-next-cursor")
        if cursor is None:
            assert "link" not in got.headers
            break
        assert (
            got.headers["link"].endswith('rel="next"') and f"cursor={cursor}" in got.headers["link"]
        )
    assert seen == whole and len(whole) > 14
    assert api.feed("viewer", cursor="not-a-cursor").status_code == 422


def test_a_revoked_feed_token_gets_401(api: Api) -> None:
    api.token("owner-revoked", role="feed", countries=[OWN.country])
    assert api.feed("owner-revoked").status_code == 200
    revoked = api.client.delete(
        "/api/v1/admin/tokens/owner-revoked",
        headers={"Authorization": f"Bearer {api.tokens['admin']}"},
    )
    assert revoked.status_code == 200
    assert api.feed("owner-revoked").status_code == 401


def test_every_answer_is_logged_for_admins(api: Api) -> None:
    api.token("owner-logged", role="feed", asns=[OWN.asn])
    ok = api.feed("owner-logged", format="n6", tlp="green")
    assert ok.status_code == 200 and ok.headers["x-botmon-tlp"] == "GREEN"
    assert all(e["restriction"] == "need-to-know" for e in ok.json())
    assert api.feed("owner-logged", asn=net(5).asn).status_code == 403
    assert api.get("/api/v1/feeds/deliveries", "owner-logged").status_code == 403
    assert api.get("/api/v1/feeds/deliveries", "admin", monitor="a\x00").status_code == 422
    assert api.feed("owner-logged", **{"odd\x00": "x"}).status_code == 422
    log = api.get("/api/v1/feeds/deliveries", "admin", monitor="owner-logged").json()["deliveries"]
    assert [(d["status"], d["format"]) for d in log] == [(422, "csv"), (403, "csv"), (200, "n6")]
    assert log[0]["parameters"]["odd\ufffd"] == "x"
    served = log[2]
    assert served["rows"] == len(ok.json()) and served["bytes"] == len(ok.content)
    assert served["parameters"]["tlp"] == "green" and served["role"] == "feed"
    # The CLI reads the same log from the store and through a server's admin API.
    printed = CliRunner().invoke(
        cli, ["feeds", "deliveries", "--db", api.db, "--monitor", "owner-logged", "--json"]
    )
    assert printed.exit_code == 0, printed.output
    assert [json.loads(line) for line in printed.output.splitlines()] == log
    remote = ApiAdmin("http://testserver", api.tokens["admin"])
    remote.client.close()
    remote.client = TestClient(api.app, headers={"Authorization": f"Bearer {api.tokens['admin']}"})
    assert msgspec.to_builtins(remote.feed_deliveries(None, "owner-logged", 10)) == log
    table = CliRunner().invoke(cli, ["feeds", "deliveries", "--db", api.db])
    assert "owner-logged" in table.output and "n6" in table.output


def test_the_schema_lists_every_field_of_every_format(api: Api) -> None:
    schema = api.get("/api/v1/feeds/schema", "owner").json()
    assert [f["name"] for f in schema["formats"]] == list(FORMAT_NAMES)
    by_name = {f["name"]: f for f in schema["formats"]}
    csv_fields = [f["name"] for f in by_name["csv"]["fields"]]
    header = api.feed("viewer").text.splitlines()[0]
    assert csv_fields == header.split(",")
    assert {f["presence"] for f in by_name["csv"]["fields"]} == {"always", "sometimes", "never"}
    assert "src_ip" in csv_fields and "source.ip" in [
        f["name"] for f in by_name["intelmq"]["fields"]
    ]
    paths = api.get("/openapi.json", None).json()["paths"]
    assert {"/api/v1/feeds/infected", "/api/v1/feeds/schema", "/api/v1/feeds/deliveries"} <= set(
        paths
    )


_values = st.one_of(
    st.text(max_size=12),
    st.integers(-5, 2**33).map(str),
    st.sampled_from(["AS64514", "127.2.0.0/16", "::/0", "DE", "de", "csv", "mozi", "0", "1e9"]),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "since",
                "until",
                "format",
                "asn",
                "cidr",
                "country",
                "botnet",
                "cursor",
                "limit",
                "tlp",
                "x",
            ]
        ),
        _values,
        max_size=4,
    )
)
def test_any_parameters_answer_200_403_or_422_never_a_crash(
    api: Api, params: dict[str, str]
) -> None:
    for token in ("owner", "viewer"):
        got = api.get("/api/v1/feeds/infected", token, **params)
        assert got.status_code in (200, 403, 422), (params, got.status_code, got.text[:300])
        if got.status_code != 200:
            assert set(got.json()) >= {"error", "reason"}
        elif token == "owner" and got.headers["content-type"].startswith("text/csv"):
            for row in csv_rows(got.content):
                assert row["src_asn"] == str(OWN.asn)


def test_a_client_that_leaves_mid_stream_is_logged_as_499(api: Api) -> None:
    """The route cleans up and logs what it sent when the client disconnects."""
    api.token("owner-leaves", role="feed", asns=[OWN.asn])
    sent: list[dict[str, Any]] = []

    async def call() -> None:
        async def receive() -> dict[str, Any]:  # the client is gone at once
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        query = "&".join(f"{k}={v}" for k, v in PERIOD.items())
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/api/v1/feeds/infected",
            "raw_path": b"/api/v1/feeds/infected",
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"authorization", f"Bearer {api.tokens['owner-leaves']}".encode())],
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
            "state": {},
        }
        await asyncio.wait_for(api.app(scope, receive, send), timeout=30)

    asyncio.run(call())
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    log = api.get("/api/v1/feeds/deliveries", "admin", monitor="owner-leaves").json()
    (entry,) = log["deliveries"]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert (entry["status"], entry["bytes"]) == (499, len(body))
    assert entry["rows"] < len(api.feed("owner").text.splitlines()) - 1
