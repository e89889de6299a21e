"""The dashboard in a real browser (Debian's chromium, headless, driven by Playwright).

Given a server holding two weeks of generated history, each of the six views loads with data,
draws non-empty charts, follows time-range and bucket changes, shows the same numbers as the
read API, downloads CSV equal to the API's, logs no console errors, refreshes live, and never
makes a request that leaves 127.0.0.1 (every request is recorded and checked; anything else is
aborted as well as reported). Screenshots land in test-artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import msgspec
import pytest

from botmon.analysis.defaults import default_requests, page_config
from botmon.auth import hash_token, new_token, token_prefix
from botmon.client import ReportClient
from botmon.sim import history
from botmon.store import open_store
from botmon.wire import Edge, HeartbeatStatus, Reply, SensorStatus
from tests.dashboard import dht_data
from tests.fixtures.server import LiveServer, start_live_server

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
TIMEOUT_MS = 30_000

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        shutil.which("chromium") is None and not Path(CHROMIUM).exists(),
        reason="LOUD SKIP: Debian's chromium is not installed (apt-get install -y chromium); "
        "the dashboard's browser tests did NOT run",
    ),
]


@dataclass
class Site:
    server: LiveServer
    viewer: str
    crawler: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def as_crawler(self) -> httpx.Client:
        """A client of the server with the crawler's token (to post records)."""
        return httpx.Client(
            base_url=self.server.url,
            timeout=30,
            trust_env=False,
            headers={"Authorization": f"Bearer {self.crawler}"},
        )

    def api(self, url: str) -> httpx.Response:
        with httpx.Client(timeout=30, trust_env=False) as c:
            return c.get(url, headers={"Authorization": f"Bearer {self.viewer}"})


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("dashboard")
    db = str(workdir / "botmon.duckdb")
    store = open_store(db)
    try:
        store.migrate()
        history.generate(store, time.time() - 120, weeks=2, seed=3, scale=0.12)
        viewer, crawler = new_token(), new_token()
        store.create_monitor("viewer-ui", "viewer", [], hash_token(viewer), token_prefix(viewer))
        store.create_monitor(
            "crawler-ui", "crawler", [], hash_token(crawler), token_prefix(crawler)
        )
    finally:
        store.close()
    server = start_live_server(db, workdir)
    try:
        yield Site(server, viewer, crawler)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    site.requests.clear()
    site.errors.clear()

    def guard(route: Any) -> None:
        url = route.request.url
        site.requests.append(url)
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1":
            route.continue_()
        else:
            route.abort()

    context.route("**/*", guard)
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.on("console", lambda m: site.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: site.errors.append(str(e)))
    try:
        yield pg
    finally:
        context.close()
    outside = [
        u
        for u in site.requests
        if urlsplit(u).scheme not in ("data", "blob") and urlsplit(u).hostname != "127.0.0.1"
    ]
    assert not outside, f"the page made requests leaving 127.0.0.1: {outside}"
    assert not site.errors, f"console errors: {site.errors}"


def sign_in(page: Any, site: Site, query: str = "") -> None:
    page.goto(f"{site.server.url}/login?token={site.viewer}")
    page.wait_for_url("**/dashboard/")
    if query:
        page.goto(f"{site.server.url}/dashboard/{query}")


def wait_loaded(page: Any) -> None:
    page.wait_for_function(
        "() => document.getElementById('status').textContent.startsWith('updated')"
    )


def wait_rows(page: Any, panel: str, low: int, high: int) -> None:
    """Wait until the panel's table has between ``low`` and ``high`` rows."""
    page.wait_for_function(
        f"""() => {{
            const n = document.querySelectorAll('section[data-panel="{panel}"] tbody tr').length;
            return n >= {low} && n <= {high};
        }}"""
    )


def charts_drawn(page: Any) -> int:
    """How many chart canvases have visible pixels (ECharts draws on canvas)."""
    count: int = page.evaluate(
        """() => [...document.querySelectorAll('main .chart canvas')].filter((c) => {
               if (!c.width || !c.height) return false;
               const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
               for (let i = 3; i < d.length; i += 16) if (d[i] > 0) return true;
               return false;
           }).length"""
    )
    return count


def panel_matches_api(page: Any, site: Site, panel: str) -> dict[str, Any]:
    """The panel's table shows exactly the numbers of the API table its CSV link names."""
    sel = f'section[data-panel="{panel}"]'
    href = page.get_attribute(f"{sel} a.csv", "href")
    assert href and href.startswith("/api/v1/stats/"), href
    params = [(k, v) for k, v in parse_qsl(urlsplit(href).query) if k != "format"]
    answer = site.api(f"{site.server.url}{urlsplit(href).path}?{httpx.QueryParams(params)}")
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    shown = page.evaluate(
        f"""() => [...document.querySelectorAll('{sel} table tbody tr')].map((tr) =>
               Object.fromEntries([...tr.querySelectorAll('td[data-col]')]
                 .map((td) => [td.dataset.col, td.textContent])))"""
    )
    assert len(shown) == len(body["rows"]), (panel, len(shown), len(body["rows"]))
    for row_shown, row_api in zip(shown, body["rows"], strict=True):
        for col, text in row_shown.items():
            if col not in row_api:
                continue  # a column the page adds (country names)
            value = row_api[col]
            if isinstance(value, int | float) and col not in (
                "t",
                "first_seen",
                "last_seen",
                "last_heartbeat",
            ):
                assert text == str(value) or float(text) == float(value), (panel, col, text, value)
    return body


def shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_login_by_form_and_bad_token(page: Any, site: Site) -> None:
    page.goto(f"{site.server.url}/dashboard/")
    page.wait_for_url("**/login")
    page.fill("#token", "not-a-valid-token-at-all")
    page.click("button[type=submit]")
    assert "not valid" in page.text_content(".login .err")
    page.fill("#token", site.viewer)
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/")
    wait_loaded(page)
    site.errors[:] = [e for e in site.errors if "401" not in e]  # the refused sign-in


def test_overview_shows_every_botnet_and_refreshes_live(page: Any, site: Site) -> None:
    sign_in(page, site, "?refresh=1#/overview")
    wait_loaded(page)
    assert page.locator(".card").count() == len(history.BOTNET_NAMES)
    assert charts_drawn(page) >= 1 + len(history.BOTNET_NAMES)  # trend + sparklines
    body = panel_matches_api(page, site, "botnets")
    assert {r["botnet"] for r in body["rows"]} == set(history.BOTNET_NAMES)
    panel_matches_api(page, site, "trend")
    shoot(page, "overview")
    # Live: new replies and a heartbeat appear without reloading the page.
    card = page.locator('.card[data-botnet="hns-history"] [data-col="ips"]')
    before = int(card.text_content())
    now = time.time()
    batch = {
        "botnet": "hns-history",
        "batch_id": f"live-{now}",
        "replies": [
            {"timestamp": now - 5, "ip": f"127.99.0.{i}", "port": 4000} for i in range(1, 51)
        ],
    }
    with site.as_crawler() as c:
        assert c.post("/api/v1/ingest", json=batch).status_code == 200
        assert c.post("/api/v1/heartbeat", json={"status": {"state": "running"}}).status_code == 200
    page.wait_for_function(
        f"""() => Number(document.querySelector('.card[data-botnet="hns-history"] [data-col="ips"]')
                 .textContent) === {before + 50}"""
    )
    page.wait_for_selector(
        'section[data-panel="monitors"] td[data-col="source"]:text("crawler-ui")'
    )


def test_overview_says_how_old_the_geolocation_data_is(page: Any, site: Site) -> None:
    geo = site.api(f"{site.server.url}/healthz").json()["geo"]
    sign_in(page, site, "#/overview")
    wait_loaded(page)
    note = page.locator('section[data-panel="monitors"] [data-geo]')
    note.wait_for()
    if geo["age_days"] is None:
        assert note.get_attribute("data-geo") == "none"
    else:
        assert note.get_attribute("data-geo") == ("stale" if geo["stale"] else "current")
        assert f"dated {geo['data_date']} ({geo['age_days']} days old" in note.text_content()


def test_single_botnet_follows_range_and_bucket(page: Any, site: Site) -> None:
    sign_in(page, site, "#/botnet/mozi-history")
    wait_loaded(page)
    assert charts_drawn(page) == 6  # five panels and the daily cycle
    rows_7d_hourly = len(panel_matches_api(page, site, "population")["rows"])
    assert 168 <= rows_7d_hourly <= 170
    panel_matches_api(page, site, "returning")
    peers = panel_matches_api(page, site, "peers")
    assert peers["rows"] and peers["rows"][0]["in_degree"] >= peers["rows"][-1]["in_degree"]
    shoot(page, "single-botnet")
    page.select_option("#bucket", "86400")
    wait_rows(page, "population", 7, 8)
    wait_loaded(page)
    assert len(panel_matches_api(page, site, "population")["rows"]) in (7, 8)
    page.select_option("#range", "86400")
    page.select_option("#bucket", "3600")
    wait_rows(page, "population", 24, 25)
    wait_loaded(page)
    assert len(panel_matches_api(page, site, "population")["rows"]) in (24, 25)
    assert charts_drawn(page) == 6
    # CSV download equals the API's CSV.
    with page.expect_download() as download:
        page.click('section[data-panel="population"] a.csv')
    got = Path(download.value.path()).read_text()
    href = page.get_attribute('section[data-panel="population"] a.csv', "href")
    assert got == site.api(f"{site.server.url}{href}").text
    assert got.splitlines()[0] == "t,ips,ids,ip_ports,replies,failed_tries"


SENSOR_ONLY = [f"127.77.0.{i}" for i in range(1, 41)]
"""Addresses only the sensor reports (the history's crawlers never saw them)."""


def run_sensor(site: Site, botnet: str, shared: list[str]) -> None:
    """A sensor reports through the real report client: contacts from ``shared`` (addresses
    the crawlers saw too) and from :data:`SENSOR_ONLY`, and heartbeats with its sensor
    section (kind sensor, measured contacts per second)."""
    token = site.server.token("crawler", name="sensor-ui")
    status = HeartbeatStatus(
        kind="sensor",
        state="running",
        sensor=SensorStatus(contacts=1234, answered=1200, contacts_per_s=56.5),
    )
    now = time.time()

    async def run() -> None:
        with tempfile.TemporaryDirectory() as spool:
            client = ReportClient(site.server.url, token, botnet, Path(spool), source_type="sensor")
            client.set_status_provider(lambda: status)
            await client.start()
            client.add(
                replies=[
                    Reply(now - 600 - i, ip, 4000, None, {"kind": "hello"})
                    for i, ip in enumerate([*shared, *SENSOR_ONLY])
                ],
                edges=[Edge(now - 600, ip, 4000, "127.0.0.1", 9000) for ip in shared],
            )
            assert await client.flush(timeout=60)
            await client.close(timeout=30)
            assert client.stats["records_stored"] == 2 * len(shared) + len(SENSOR_ONLY)

    # Playwright's sync API runs its own event loop in this thread: the client runs in another.
    failed: list[BaseException] = []

    def in_thread() -> None:
        try:
            asyncio.run(run())
        except BaseException as exc:  # reported below
            failed.append(exc)

    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join(timeout=120)
    assert not worker.is_alive() and not failed, failed


def test_crawlers_vs_sensors_panel_source_filter_and_sensor_health(page: Any, site: Site) -> None:
    botnet = "hns-history"
    now = time.time()
    day = site.api(
        f"{site.server.url}/api/v1/botnets/{botnet}/records/replies"
        f"?start={now - 86400}&end={now - 3600}&format=jsonl"
    )
    assert day.status_code == 200
    shared = sorted({msgspec.json.decode(line)["ip"] for line in day.text.splitlines()})[:30]
    assert len(shared) == 30 and not set(shared) & set(SENSOR_ONLY)
    run_sensor(site, botnet, shared)

    # The panel: crawler only / both / sensor only, totals equal to what was sent.
    sign_in(page, site, f"#/botnet/{botnet}")
    wait_loaded(page)
    body = panel_matches_api(page, site, "sources")
    total = body["rows"][-1]
    assert total["t"] is None
    assert (total["ips_both"], total["ips_sensor_only"]) == (30, 40)
    assert total["ips_crawler_only"] > 0
    shown = {
        band: int(page.text_content(f'[data-totals] [data-band="{band}"] .big'))
        for band in ("crawler_only", "both", "sensor_only")
    }
    assert shown == {
        "crawler_only": total["ids_crawler_only"]
        if shown_by_id(body)
        else total["ips_crawler_only"],
        "both": total["ids_both"] if shown_by_id(body) else total["ips_both"],
        "sensor_only": total["ids_sensor_only"] if shown_by_id(body) else total["ips_sensor_only"],
    }
    assert charts_drawn(page) == 6
    page.locator('section[data-panel="sources"]').scroll_into_view_if_needed()
    shoot(page, "crawlers-vs-sensors")

    # The filter: every request of the view carries it, and it stays in the address.
    page.select_option("#source", "sensor")
    page.wait_for_function(
        """() => document.querySelector('section[data-panel="population"] a.csv')
                 .getAttribute('href').includes('source_type=sensor')"""
    )
    wait_loaded(page)
    assert "source_type=sensor" in page.url
    population = panel_matches_api(page, site, "population")
    assert sum(r["replies"] for r in population["rows"]) == 70
    assert max(r["ips"] for r in population["rows"]) <= 70
    sensor_total = panel_matches_api(page, site, "sources")["rows"][-1]
    assert sensor_total["ips_sensor_only"] == 70 and sensor_total["ips_crawler_only"] == 0
    assert panel_matches_api(page, site, "peers")["rows"][0]["in_degree"] == 30
    shoot(page, "single-botnet-sensors-only")
    page.reload()
    wait_loaded(page)
    assert page.input_value("#source") == "sensor"
    for view in ("overview", "geo", "ases", "counting", "compare"):
        page.goto(f"{site.server.url}/dashboard/?source_type=sensor#/{view}")
        wait_loaded(page)
        hrefs = page.eval_on_selector_all("a.csv", "(links) => links.map((a) => a.href)")
        assert hrefs and all("source_type=sensor" in h for h in hrefs), (view, hrefs)

    # The health table: the sensor beside the crawlers, with its kind and contact rate.
    page.goto(f"{site.server.url}/dashboard/#/overview")
    wait_loaded(page)
    row = page.locator(
        'section[data-panel="monitors"] tr:has(td[data-col="source"]:text-is("sensor-ui"))'
    )
    row.wait_for()
    assert row.locator('td[data-col="kind"]').text_content() == "sensor"
    assert row.locator('td[data-col="contacts_per_s"]').text_content() == "56.5"
    assert row.locator('td[data-col="contacts"]').text_content() == "1234"
    assert row.locator('td[data-col="answered"]').text_content() == "1200"
    assert row.locator('td[data-col="replies"]').text_content() == "70"
    page.locator('section[data-panel="monitors"]').scroll_into_view_if_needed()
    shoot(page, "health-table-with-sensor")


def shown_by_id(body: dict[str, Any]) -> bool:
    """The panel counts by bot ID when the botnet reports them (as the page decides)."""
    return any(
        r["ids_crawler_only"] + r["ids_both"] + r["ids_sensor_only"] > 0
        for r in body["rows"]
        if r["t"] is not None
    )


def test_geolocations_map_and_table(page: Any, site: Site) -> None:
    sign_in(page, site, "#/geo")
    wait_loaded(page)
    assert charts_drawn(page) == 2
    body = panel_matches_api(page, site, "countries")
    assert len(body["rows"]) >= 5
    page.select_option("#botnet", "mozi-history")
    page.wait_for_function(
        "() => document.querySelector('section[data-panel=\"map\"] a.csv').href.includes('mozi')"
    )
    wait_loaded(page)
    mozi = panel_matches_api(page, site, "countries")
    assert mozi["rows"][0]["country"] == "CN"
    shoot(page, "geolocations")


def test_ases(page: Any, site: Site) -> None:
    sign_in(page, site, "#/ases")
    wait_loaded(page)
    assert charts_drawn(page) == 1
    body = panel_matches_api(page, site, "ases")
    assert len(body["rows"]) >= 5 and all(r["as_name"] for r in body["rows"])
    shoot(page, "ases")


def test_counting_comparison(page: Any, site: Site) -> None:
    sign_in(page, site, "#/counting/sality-history")
    page.select_option("#range", "1209600") if page.locator(
        "#range option[value='1209600']"
    ).count() else page.select_option("#range", "2419200")
    wait_loaded(page)
    # Three bucket sizes, then the estimate with its interval and the addresses-per-ID curve.
    page.wait_for_function("() => document.querySelectorAll('main .chart canvas').length === 5")
    assert charts_drawn(page) == 5
    hourly = panel_matches_api(page, site, "counting-3600")
    daily = panel_matches_api(page, site, "counting-86400")
    weekly = panel_matches_api(page, site, "counting-604800")

    def ratio(body: dict[str, Any]) -> float:
        return sum(r["ips"] for r in body["rows"]) / sum(r["ids"] for r in body["rows"])

    # Addresses change under one ID, so longer buckets gather more IPs per ID.
    assert ratio(weekly) > ratio(daily) > ratio(hourly) >= 1.0
    shoot(page, "counting-comparison")
    # Each week's bars stand over their ISO week: centred on Thursday 12:00 UTC, half a week
    # after the Monday 00:00 the API labels the week with.
    for b, body in ((86400, daily), (604800, weekly)):
        xs = page.evaluate(
            f"""() => echarts.getInstanceByDom(document.querySelector(
                   'section[data-panel="counting-{b}"] .chart')).getOption().series[0].data
                   .map((d) => d[0] / 1000)"""
        )
        assert [x - b / 2 for x in xs] == [r["t"] for r in body["rows"]]
    assert all(time.gmtime(r["t"]).tm_wday == 0 for r in weekly["rows"])  # Mondays


def test_botnet_comparison(page: Any, site: Site) -> None:
    sign_in(page, site, "#/compare")
    wait_loaded(page)
    assert charts_drawn(page) == 6  # the devices panel says no botnet reports a CPU
    for name in (
        "cmp-population",
        "cmp-countries",
        "cmp-overlap",
        "cmp-hours-utc",
        "cmp-hours-local",
    ):
        body = panel_matches_api(page, site, name)
    overlap = panel_matches_api(page, site, "cmp-overlap")
    assert any(r["shared_ips"] > 0 for r in overlap["rows"])  # co-infected addresses
    hours = panel_matches_api(page, site, "cmp-hours-utc")["rows"]
    mozi = [r["utc"] for r in hours if r["botnet"] == "mozi-history"]
    assert min(mozi) < 0.6 * max(mozi)  # the daily dip of Chinese bots
    assert body["rows"]
    shoot(page, "botnet-comparison")
    page.uncheck("#compare-pick input[value='hns-history']")
    page.wait_for_function(
        "() => !document.querySelector('section[data-panel=\"cmp-overlap\"] a.csv')"
        ".href.includes('hns')"
    )
    wait_loaded(page)
    overlap = panel_matches_api(page, site, "cmp-overlap")
    rest = sorted(set(history.BOTNET_NAMES) - {"hns-history"})
    pairs = sorted((r["botnet_a"], r["botnet_b"]) for r in overlap["rows"])
    assert pairs == list(itertools.combinations(rest, 2))


def _stats_requests(urls: list[str]) -> set[tuple[str, tuple[tuple[str, str], ...]]]:
    """The read API requests among ``urls``, with the range checked and left out (its end
    moves with the clock)."""
    cfg = page_config()
    out = set()
    for url in urls:
        parts = urlsplit(url)
        if not parts.path.startswith("/api/v1/stats/") or parts.path.endswith("/configs"):
            continue  # a botnet's configurations are a small table, read directly, not warmed
        params = dict(parse_qsl(parts.query))
        if params.pop("format", None) == "csv":
            continue
        start, end = float(params.pop("start")), float(params.pop("end"))
        assert end - start == cfg["default_range_s"] and end % cfg["range_round_s"] == 0, url
        out.add((parts.path.removeprefix("/api/v1/stats"), tuple(sorted(params.items()))))
    return out


def test_the_server_warms_exactly_what_the_page_asks_by_default(page: Any, site: Site) -> None:
    """Every view opened with untouched controls asks for exactly the requests the server's
    warm-up computes (botmon.analysis.defaults), and the page's controls come from the
    served defaults."""
    cfg = site.api(f"{site.server.url}/dashboard/config").json()
    assert cfg == page_config()
    names = sorted(history.BOTNET_NAMES)
    views = ["overview", *(f"botnet/{n}" for n in names), "geo", "ases"]
    views += [*(f"counting/{n}" for n in names), "compare"]
    for view in views:
        sign_in(page, site, f"#/{view}")
        page.reload()
        wait_loaded(page)
    ranges = page.evaluate(
        "() => [...document.querySelectorAll('#range option')].map((o) => o.value)"
    )
    assert ranges == [str(r["seconds"]) for r in cfg["ranges"]] + ["custom"]
    assert page.input_value("#range") == str(cfg["default_range_s"])
    with_ids = []
    for name in names:
        rows = site.api(
            f"{site.server.url}/api/v1/stats/botnets/{name}/population?bucket=3600"
        ).json()["rows"]
        if any(r["ids"] for r in rows):
            with_ids.append(name)
    plan = default_requests(time.time(), names, with_ids)
    expected = {(r.path, tuple(p for p in r.params if p[0] not in ("start", "end"))) for r in plan}
    assert _stats_requests(site.requests) == expected


def _visible(page: Any, panel: str) -> bool:
    shown: bool = page.evaluate(
        f"() => {{ const p = document.querySelector('section[data-panel=\"{panel}\"]');"
        " return !!p && !p.hidden; }"
    )
    return shown


def test_dht_and_device_panels(page: Any, site: Site) -> None:
    """A DHT's client versions and size estimate, the CPU of the bots of botnets whose bots
    tell it (a facet of what the protocol reveals), and the devices in the comparison
    (last: it adds botnets)."""
    data = dht_data.make(time.time())
    with site.as_crawler() as c:
        for batch in data.batches:
            site.server.create_botnet(batch["botnet"])
            assert c.post("/api/v1/ingest", json=batch).status_code == 200
    sign_in(page, site, "#/botnet/dht")
    wait_loaded(page)
    page.wait_for_selector('section[data-panel="size-estimate"] [data-estimate]')
    assert _visible(page, "clients") and not _visible(page, "facets")
    assert charts_drawn(page) == 8  # with the daily cycle
    clients = panel_matches_api(page, site, "clients")
    assert {r["client"] for r in clients["rows"]} == {"LT", "UT", "unknown"}
    estimate = panel_matches_api(page, site, "size-estimate")["rows"][0]
    box = page.locator('section[data-panel="size-estimate"] [data-estimate]')
    assert box.get_attribute("data-estimate") == str(estimate["estimate"])
    words = page.text_content('section[data-panel="size-estimate"] [data-method]')
    assert "capture–recapture between what crawlers and sensors saw" in words
    assert "closed population" in words
    assert page.text_content('section[data-panel="population"] h2') == "dht: DHT size over time"
    shoot(page, "dht-botnet")
    for name, dht in (("mozi", True), ("iot", False)):
        sign_in(page, site, f"#/botnet/{name}")
        page.reload()
        wait_loaded(page)
        page.wait_for_function(
            "() => !document.querySelector('section[data-panel=\"facets\"]').hidden"
        )
        assert _visible(page, "size-estimate") is dht
        shown = page.evaluate(
            """() => [...document.querySelectorAll('section[data-panel="facets"] tbody tr')]
                   .map((tr) => [tr.querySelector('[data-col="key"]').textContent,
                                 tr.querySelector('[data-col="value"]').textContent,
                                 Number(tr.querySelector('[data-col="bots"]').textContent)])"""
        )
        assert {v: n for k, v, n in shown if k == "arch"} == {
            "unknown" if k is None else k: n for k, n in data.arches[name].items()
        }
        shoot(page, f"devices-{name}")
    sign_in(page, site, "#/compare")
    page.reload()
    wait_loaded(page)
    for name in ("mozi", "iot"):
        box = page.locator(f"#compare-pick input[value='{name}']")
        if not box.is_checked():
            box.check()
    page.wait_for_function(
        "() => document.querySelector('section[data-panel=\"cmp-devices\"] a.csv')"
        ".href.includes('iot')"
    )
    wait_loaded(page)
    rows = panel_matches_api(page, site, "cmp-devices")["rows"]
    assert {r["arch"] for r in rows if r["botnet"] == "mozi"} == {
        "mips",
        "arm7",
        "x86_64",
        "unknown",
    }
    shoot(page, "compare-devices")
