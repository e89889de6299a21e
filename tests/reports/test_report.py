"""A report written from a real store: per-network files, charts, summary, methodology,
manifest and signature (every test on DuckDB and PostgreSQL)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from botmon.feeds.model import FeedQuery
from botmon.reports import manifest
from botmon.reports.build import ReportError, ReportRequest, make_report
from botmon.reports.period import period_for
from botmon.reports.rows import split_rows, spooled
from botmon.store.base import Store
from botmon.wire import CampaignSettings
from tests.reports.data import DAY, DAY_START, csv_ips, populate


def _key(path: Path) -> Path:
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def _public(private: Path, out: Path) -> Path:
    key = manifest.load_private_key(private)
    out.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return out


def test_per_as_files_hold_exactly_that_as_bots(store: Store, tmp_path: Path) -> None:
    truth = populate(store)
    settings = msgspec.to_builtins(CampaignSettings(protocol="hns", rounds=0, interval_s=300))
    campaign = store.start_campaign("hns", "crawler-a", settings, DAY_START - 7200)
    store.end_campaign(campaign.id, "crawler-a", DAY_START + 3600)
    store.start_campaign("hns", "late-crawler", settings, DAY_START + 86400)  # the next day
    key = _key(tmp_path / "key.pem")
    out = tmp_path / "report"
    req = ReportRequest("hns", period_for("daily", DAY), "asn")
    made = make_report(store, req, out, sign_key=key)

    files = {p.name for p in out.glob("as*.csv")}
    assert files == {f"as{asn}.csv" for asn in truth.by_asn}
    for asn, ips in truth.by_asn.items():
        rows = csv_ips((out / f"as{asn}.csv").read_bytes())
        assert sorted(r["src_ip"] for r in rows) == sorted(ips)
        assert {r["src_asn"] for r in rows} == {str(asn)}
    assert made.bots == len(truth.ips)
    assert made.origins.get("both", 0) == len(truth.both)
    assert made.origins.get("sensor only", 0) == len(truth.sensor_only)

    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["hourly"]) == 24 and len(summary["daily"]) == 1
    assert summary["daily"][0][1] == len(truth.ips)
    assert sum(n for _, _, n in summary["top_asns"]) == len(truth.ips)

    method = (out / "methodology.md").read_text()
    assert "crawler-a" in method and "sensor-b" in method and "300 s" in method
    assert "late-crawler" not in method
    html = (out / "summary.html").read_text()
    assert html.count("<svg") == 5
    for remote in ("<script", "<link", 'src="http', 'href="http', "url(http"):
        assert remote not in html

    for name in ("bots_per_hour", "top_asns", "top_countries", "origins", "confidence"):
        with Image.open(out / f"{name}.png") as img:
            img.verify()
            assert img.format == "PNG"
        root = ET.parse(out / f"{name}.svg").getroot()
        assert root.tag.endswith("svg")

    public = _public(key, tmp_path / "key.pub")
    good = manifest.verify(out, public)
    assert good.ok and good.signature == "valid"
    assert good.checked == len([p for p in out.iterdir()]) - 2
    other = _public(_key(tmp_path / "other.pem"), tmp_path / "other.pub")
    bad = manifest.verify(out, other)
    assert not bad.ok and bad.signature == "invalid"

    target = out / sorted(files)[0]
    data = bytearray(target.read_bytes())
    data[-2] ^= 0x01
    target.write_bytes(bytes(data))
    changed = manifest.verify(out, public)
    assert not changed.ok and any(target.name in p for p in changed.problems)


def test_per_country_and_weekly(store: Store, tmp_path: Path) -> None:
    truth = populate(store)
    out = tmp_path / "weekly"
    week = period_for("weekly", DAY.replace(day=15))  # Sunday: the ISO week 2025-W24
    assert week.days == 7 and week.label == "2025-W24"
    assert week.start <= DAY_START - 1 and week.end > DAY_START + 86400
    make_report(store, ReportRequest("hns", week, "country"), out)
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["daily"]) == 7 and len(summary["hourly"]) == 7 * 24
    for cc, ips in truth.by_country.items():
        rows = csv_ips((out / f"country-{cc}.csv").read_bytes())
        extra = {r["src_ip"] for r in rows} - ips
        # the week also holds the two replies just outside the day
        assert extra <= {"127.1.9.1", "127.2.9.1"}
        assert ips <= {r["src_ip"] for r in rows}
    assert (out / "bots_per_day.png").exists()
    assert manifest.verify(out).ok


def test_refusals(store: Store, tmp_path: Path) -> None:
    populate(store)
    req = ReportRequest("nope", period_for("daily", DAY))
    with pytest.raises(ReportError, match="unknown botnet"):
        make_report(store, req, tmp_path / "r")
    assert not (tmp_path / "r").exists()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    with pytest.raises(ReportError, match="not an empty directory"):
        make_report(store, ReportRequest("hns", period_for("daily", DAY)), busy)
    with pytest.raises(manifest.ManifestError, match="not a PEM key"):
        (tmp_path / "k.pem").write_text("nothing")
        make_report(
            store,
            ReportRequest("hns", period_for("daily", DAY)),
            tmp_path / "s",
            tmp_path / "k.pem",
        )


def test_spool_keeps_each_network_in_order_across_flushes(store: Store, tmp_path: Path) -> None:
    populate(store)
    query = FeedQuery(since=DAY_START, until=DAY_START + 86400, botnets=("hns",), page_size=4)
    direct = [row for page in store.feed_rows(query) for row in page]
    tally = split_rows(store, query, "country", tmp_path, flush_bytes=1)
    assert tally.spool is not None
    with tally.spool.open("rb") as spool:
        for key, net in tally.networks.items():
            back = list(spooled(spool, net))
            assert back == [r for r in direct if r.country == key]
    assert sum(n.bots for n in tally.networks.values()) == len(direct) == tally.bots
    # a flush after every page: networks of more bots than a page came in several segments
    assert max(len(n.segments) for n in tally.networks.values()) > 1
