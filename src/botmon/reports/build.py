"""Make one report: read the store, write every file of the report directory.

The directory is built beside its final name and renamed into place when complete, so a
failed run leaves no half report that a recipient could mistake for a whole one::

    DIR/
      as64512.csv ...        one file per AS (or country-DE.csv ... per country)
      summary.md, summary.html, summary.json
      bots_per_hour.png/.svg, top_asns.png/.svg, ...   charts
      methodology.md
      SHA256SUMS             sha256sum format, every file above
      SHA256SUMS.sig         with a signing key: Ed25519 over SHA256SUMS
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import BinaryIO

from botmon.buckets import DAY, HOUR, bucket_start, buckets_between
from botmon.feeds.formats import feed_format
from botmon.feeds.model import FeedContext, FeedFormat, FeedQuery, FeedScope
from botmon.reports import charts, manifest, methodology, summary
from botmon.reports.options import Per, ReportError, ReportRequest
from botmon.reports.rows import Network, Tally, split_rows, spooled
from botmon.store.base import Store, StoreError
from botmon.store.reads import record_filter

TOP = 15
_COUNTRY = re.compile(r"[A-Z]{2}")


def network_file(per: Per, key: int | str | None) -> str:
    """``as64512.csv``, ``country-DE.csv``; ``as-unknown.csv`` for bots not located."""
    if per == "asn":
        return f"as{key}.csv" if isinstance(key, int) else "as-unknown.csv"
    if isinstance(key, str) and _COUNTRY.fullmatch(key):
        return f"country-{key}.csv"
    return "country-unknown.csv"


def _network_label(per: Per, net: Network) -> str:
    if net.key is None:
        return "unknown"
    if per == "asn":
        return f"AS{net.key} ({net.name})" if net.name else f"AS{net.key}"
    return str(net.key)


def _scope(per: Per, key: int | str | None) -> FeedScope:
    if key is None:
        return FeedScope()
    return FeedScope(asns=(int(key),)) if per == "asn" else FeedScope(countries=(str(key),))


def _series(
    store: Store, botnet_id: int, start: float, end: float, bucket_s: int
) -> list[tuple[float, int, int]]:
    """Distinct addresses and bot IDs per bucket, foreign monitors left out as in the
    botnet's views (every bucket of the period, zero where nothing was seen)."""
    source = record_filter(None, True, store.exclusion_revision())
    ips = store.bucket_counts("replies", [botnet_id], start, end, bucket_s, "ips", source)
    ids = store.bucket_counts("replies", [botnet_id], start, end, bucket_s, "ids", source)
    return [
        (bucket_start(b, bucket_s), ips.get((botnet_id, b), 0), ids.get((botnet_id, b), 0))
        for b in buckets_between(start, end, bucket_s)
    ]


def _vantage_points(
    store: Store, botnet_id: int, start: float, end: float
) -> list[methodology.VantagePoint]:
    by_kind = {
        kind: store.source_counts("replies", [botnet_id], start, end, kind)
        for kind in ("crawler", "sensor")
    }
    names = sorted(set(by_kind["crawler"]) | set(by_kind["sensor"]))
    out = []
    for name in names:
        kinds = [k for k in ("crawler", "sensor") if name in by_kind[k]]
        replies = sum(by_kind[k].get(name, 0) for k in kinds)
        out.append(methodology.VantagePoint(name, " and ".join(kinds), replies))
    return out


def _write_networks(
    directory: Path, req: ReportRequest, tally: Tally, generated_at: float
) -> list[summary.NetworkFile]:
    fmt = feed_format("csv")
    files: list[summary.NetworkFile] = []
    order = sorted(tally.networks.values(), key=lambda n: (n.key is None, -n.bots, str(n.key)))
    if tally.spool is None:
        return files
    with tally.spool.open("rb") as spool:
        for net in order:
            files.append(_write_network(directory, req, fmt, spool, net, generated_at))
    return files


def _write_network(
    directory: Path,
    req: ReportRequest,
    fmt: FeedFormat,
    spool: BinaryIO,
    net: Network,
    generated_at: float,
) -> summary.NetworkFile:
    name = network_file(req.per, net.key)
    context = FeedContext(
        generated_at=generated_at,
        since=req.period.start,
        until=req.period.end,
        producer=req.producer,
        recipient=_network_label(req.per, net),
        tlp=req.tlp,
        scope=_scope(req.per, net.key),
    )
    digest = hashlib.sha256()
    with (directory / name).open("wb") as out:
        for chunk in fmt.write(spooled(spool, net), context):
            out.write(chunk)
            digest.update(chunk)
    return summary.NetworkFile(_network_label(req.per, net), name, net.bots, digest.hexdigest())


def _charts(directory: Path, s: summary.Summary) -> list[charts.Chart]:
    out = [
        charts.time_series(
            directory, "bots_per_hour", "Bots per hour", s.hourly, "hour", bars=False
        )
    ]
    if len(s.daily) > 1:
        out.append(
            charts.time_series(directory, "bots_per_day", "Bots per day", s.daily, "day", bars=True)
        )
    out.append(
        charts.top_bars(
            directory,
            "top_asns",
            "Top ASes",
            [(summary.as_label(a, n), b) for a, n, b in s.top_asns],
        )
    )
    out.append(
        charts.top_bars(
            directory,
            "top_countries",
            "Top countries",
            [(c or "not located", b) for c, b in s.top_countries],
            color=charts.TEAL,
        )
    )
    out.append(
        charts.categories(
            directory,
            "origins",
            "Seen by crawlers, sensors or both",
            [(k, s.origins.get(k, 0)) for k in ("crawler only", "sensor only", "both")],
            [charts.BLUE, charts.ORANGE, charts.TEAL],
        )
    )
    out.append(
        charts.categories(
            directory,
            "confidence",
            "Confidence levels",
            [(k, s.confidence.get(k, 0)) for k in ("high", "medium", "low")],
            [charts.LEVELS["high"], charts.LEVELS["medium"], charts.LEVELS["low"]],
        )
    )
    return out


def write_report(
    store: Store, req: ReportRequest, directory: Path, now: float | None = None
) -> summary.Summary:
    """Write the whole report into ``directory`` (which must exist and be empty)."""
    botnet = store.get_botnet(req.botnet)
    if botnet is None:
        raise ReportError(f"unknown botnet {req.botnet!r} (botmon botnet list shows the botnets)")
    generated_at = time.time() if now is None else now
    start, end = req.period.start, req.period.end
    query = FeedQuery(since=start, until=end, botnets=(req.botnet,))
    with tempfile.TemporaryDirectory(prefix="botmon-report-spool-") as scratch:
        tally = split_rows(store, query, req.per, Path(scratch))
        files = _write_networks(directory, req, tally, generated_at)
    s = summary.Summary(
        botnet=req.botnet,
        kind=req.period.kind,
        period=req.period.label,
        start=start,
        end=end,
        generated_at=generated_at,
        per=req.per,
        tlp=req.tlp,
        bots=tally.bots,
        ips=tally.ips,
        networks=len(tally.networks),
        top_asns=[
            (asn, tally.as_names.get(asn, "") if asn is not None else "", n)
            for asn, n in sorted(tally.per_asn.items(), key=lambda kv: (-kv[1], str(kv[0])))[:TOP]
        ],
        top_countries=sorted(tally.per_country.items(), key=lambda kv: (-kv[1], str(kv[0])))[:TOP],
        origins=dict(tally.origins),
        confidence=dict(tally.confidence),
        hourly=_series(store, botnet.id, start, end, HOUR),
        daily=_series(store, botnet.id, start, end, DAY),
        files=files,
    )
    drawn = _charts(directory, s)
    summary.write(directory, s, drawn)
    (directory / "methodology.md").write_text(
        methodology.markdown(
            botnet=req.botnet,
            period=req.period.label,
            start=start,
            end=end,
            vantage_points=_vantage_points(store, botnet.id, start, end),
            campaigns=store.campaigns_between(req.botnet, start, end),
            excluded=store.excluded_monitors(req.botnet),
        ),
        encoding="utf-8",
    )
    manifest.write_manifest(directory, {f.file: f.sha256 for f in files})
    return s


def make_report(
    store: Store,
    req: ReportRequest,
    out: Path,
    sign_key: Path | None = None,
    now: float | None = None,
) -> summary.Summary:
    """Write the report to ``out`` (absent or empty), whole or not at all; sign it with
    ``sign_key`` when given (the key is loaded first, so a bad key costs no work)."""
    if sign_key is not None:
        manifest.load_private_key(sign_key)
    out = out.absolute()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ReportError(f"{out} exists and is not an empty directory: name a new one")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        raise ReportError(f"cannot write in {out.parent}: {exc.strerror}") from None
    try:
        made = write_report(store, req, work, now)
        if sign_key is not None:
            manifest.sign(work, sign_key)
        work.chmod(0o755)
        if out.exists():
            out.rmdir()
        os.replace(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return made


__all__ = ["ReportError", "ReportRequest", "StoreError", "make_report", "write_report"]
