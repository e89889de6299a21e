"""``botmon monitors``: leave monitors of others out of every count and view, or count them in.

``exclude`` takes ``IP:PORT`` addresses (``[IPv6]:PORT`` for IPv6) or, with ``--from-detect``,
every current suspect of ``botmon analyze detect``; ``include`` counts addresses in again;
``list`` shows what is excluded. Reads then leave those monitors' records out when asked
(``exclude_monitors=true`` in the API, the dashboard's "hide suspected monitors" switch,
or the setting ``analysis.exclude_monitors``). Works on the store, or through a running
server's admin API while it holds the DuckDB file.
"""

from __future__ import annotations

import time
from typing import Any

import click

from botmon.cli.admin import DB_OPTION_HELP, Admin, AdminError, CliError, Group, open_admin
from botmon.ipaddr import int_to_ip, ip_to_int
from botmon.settings import DEFAULT_DB, one_line
from botmon.store.exclusions import MAX_NOTE, ExcludedMonitor, MonitorToExclude

db_option = click.option("--db", default=DEFAULT_DB, envvar="BOTMON_DB", help=DB_OPTION_HELP)
botnet_option = click.option("--botnet", required=True, help="The botnet (its name).")


def parse_address(text: str) -> tuple[str, int]:
    """``IP:PORT`` or ``[IPv6]:PORT`` as (canonical address, port); CliError otherwise."""
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        sep = ""  # an IPv6 address must be bracketed to carry a port
    if not sep or not port.isascii() or not port.isdigit() or int(port) > 65535:
        raise CliError(f"{text[:80]!r} is not IP:PORT ([IPv6]:PORT for IPv6, port 0..65535)")
    try:
        return int_to_ip(ip_to_int(host)), int(port)
    except ValueError:
        raise CliError(f"{text[:80]!r}: {host[:64]!r} is not an IPv4 or IPv6 address") from None


def suspects(result: dict[str, Any]) -> list[MonitorToExclude]:
    """The suspects of a ``detect`` result (its JSON form) as monitors to exclude, with their
    kind, score and evidence."""
    out: list[MonitorToExclude] = []
    for s in result.get("suspects") or []:
        evidence = s.get("evidence")
        out.append(
            MonitorToExclude(
                ip=str(s["ip"]),
                port=int(s["port"]),
                kind=s.get("kind") if s.get("kind") in ("crawler", "sensor") else None,
                score=None if s.get("score") is None else float(s["score"]),
                evidence=evidence if isinstance(evidence, dict) else {"evidence": evidence},
                note="suspect of botmon analyze detect",
            )
        )
    return out


def detect_result(
    admin: Admin, botnet: str, start: float | None = None, end: float | None = None
) -> dict[str, Any]:
    """``botmon analyze detect``'s result for ``botnet`` over [start, end) (default: its
    default range up to now), with the configured defaults: computed on the store, or asked
    of the running server."""
    from botmon.analysis import framework, runs
    from botmon.cli.loading import load_settings
    from botmon.settings import AnalysisSettings

    try:
        analysis = framework.get("detect")
    except (KeyError, ImportError):
        raise CliError("the detect analysis is not available in this botmon") from None
    try:
        request = runs.build_request(
            analysis, botnet, start, end, settings=load_settings(AnalysisSettings)
        )
    except framework.OptionError as exc:
        raise CliError(str(exc)) from None
    store = getattr(admin, "store", None)
    if store is not None:
        from botmon.analysis.table import UnknownBotnet

        try:
            result = runs.compute(store, analysis, request)
        except UnknownBotnet:
            raise CliError(f"unknown botnet {botnet!r}: create it first") from None
        return framework.to_json(result)
    call = getattr(admin, "_call", None)
    if call is None:
        raise CliError("cannot run the detect analysis here")
    params = {"botnet": botnet, "start": repr(request.start), "end": repr(request.end)}
    found: dict[str, Any] = call("GET", "/api/v1/analyses/detect", params=params).json()
    return found


def _time(name: str, text: str | None) -> float | None:
    from botmon.web.http import ApiError, parse_time

    if not text:
        return None
    try:
        return parse_time(name, text, 0.0)
    except ApiError as exc:
        raise CliError(f"--{exc.detail}") from None


def show(monitors: list[ExcludedMonitor]) -> None:
    """One line per excluded monitor."""
    for m in monitors:
        address = f"[{m.ip}]:{m.port}" if ":" in m.ip else f"{m.ip}:{m.port}"
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(m.excluded_at))
        score = "" if m.score is None else f" score {m.score:.3g}"
        note = f"  {m.note}" if m.note else ""
        click.echo(f"{address:<28} {m.kind or '-':<8}{score} {when} by {m.excluded_by}{note}")


@click.group("monitors", cls=Group)
def command() -> None:
    """Exclude monitors of others (crawlers, sensors) from every count and view."""


@command.command("exclude")
@botnet_option
@click.argument("addresses", nargs=-1)
@click.option(
    "--kind", type=click.Choice(["crawler", "sensor"]), help="What the monitors are, if known."
)
@click.option("--note", default="", help=f"A note for other users (at most {MAX_NOTE} chars).")
@click.option(
    "--from-detect",
    is_flag=True,
    help="Also exclude every current suspect of `botmon analyze detect` for the botnet.",
)
@click.option(
    "--start", help="With --from-detect: the detection's range start (epoch or RFC 3339)."
)
@click.option("--end", help="With --from-detect: the detection's range end (default: now).")
@db_option
def exclude(
    botnet: str,
    addresses: tuple[str, ...],
    kind: str | None,
    note: str,
    from_detect: bool,
    start: str | None,
    end: str | None,
    db: str,
) -> None:
    """Leave ADDRESSES (IP:PORT, [IPv6]:PORT) out of the botnet's counts and views."""
    if len(note) > MAX_NOTE:
        raise CliError(f"--note is longer than {MAX_NOTE} characters")
    if not addresses and not from_detect:
        raise CliError("name at least one IP:PORT, or --from-detect")
    monitors = [
        MonitorToExclude(ip=ip, port=port, kind=kind, note=note)  # type: ignore[arg-type]
        for ip, port in map(parse_address, addresses)
    ]
    try:
        with open_admin(db) as admin:
            if from_detect:
                found = suspects(
                    detect_result(admin, botnet, _time("start", start), _time("end", end))
                )
                if not found:
                    click.echo("the detect analysis names no suspects")
                monitors += found
            stored = admin.exclude_monitors(botnet, monitors) if monitors else []
    except AdminError as exc:
        raise CliError(one_line(exc)) from None
    show(stored)
    click.echo(f"excluded {len(stored)} monitor(s) from {botnet} (via {admin.via})")


@command.command("include")
@botnet_option
@click.argument("addresses", nargs=-1, required=True)
@db_option
def include(botnet: str, addresses: tuple[str, ...], db: str) -> None:
    """Count ADDRESSES (IP:PORT) in the botnet's counts and views again."""
    parsed = [parse_address(a) for a in addresses]
    missing: list[str] = []
    try:
        with open_admin(db) as admin:
            for ip, port in parsed:
                if not admin.include_monitor(botnet, ip, port):
                    missing.append(f"{ip}:{port}")
    except AdminError as exc:
        raise CliError(one_line(exc)) from None
    click.echo(f"included {len(parsed) - len(missing)} monitor(s) in {botnet} again")
    if missing:
        raise CliError(f"not excluded: {', '.join(missing)}")


@command.command("list")
@botnet_option
@db_option
def list_(botnet: str, db: str) -> None:
    """List the monitors excluded from the botnet's counts and views."""
    try:
        with open_admin(db) as admin:
            found = admin.excluded_monitors(botnet)
    except AdminError as exc:
        raise CliError(one_line(exc)) from None
    if not found:
        click.echo(f"no monitors excluded from {botnet}")
        return
    show(found)
