"""``botmon demo``: the whole system on one machine, on loopback, in one command.

It prepares a DuckDB file (botnets, tokens and, once, weeks of generated history), then runs
``botmon serve``, emulated botnets, crawlers and a Hide'n'Seek sensor as child processes that
feed the server live, and prints the one address that opens the dashboard already signed in.
Children log to files in the demo folder so the terminal stays readable; Ctrl-C (or
``--duration``) stops them all.

Ctrl-C reaches the demo alone: the children run in process groups of their own, so the demo
stops them in order (sensor and crawlers first, while the server still takes their last batches; the
server last), and under ``make demo`` the demo takes the terminal's foreground so that make
does not see the interrupt either. A demo stopped with Ctrl-C says "stopped" and exits 0.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import click
import httpx

from botmon import auth
from botmon.cli.terminal import foreground
from botmon.limits import Role
from botmon.store import open_store
from botmon.store.base import Store


@dataclass(frozen=True)
class LiveBotnet:
    """One emulator of the registry as the demo runs it: emulated, then crawled live."""

    name: str
    transport: str
    label: str
    """What the emulator declares it is (``Hide'n'Seek``)."""
    args: list[str]
    """``botmon simulate`` options from the emulator's declared ``DEMO`` settings."""
    bots: int

    @property
    def description(self) -> str:
        """The botnet's description in the store."""
        return f"{self.label} (emulated on loopback, crawled live over {self.transport})"


def _live_botnets(bots: int) -> list[LiveBotnet]:
    """Every registered emulator with a protocol plugin; ``bots`` sizes those whose DEMO
    does not; seeds 1, 2, ... in name order, so every demo run emulates the same botnets."""
    from botmon.protocols.registry import PluginError, get_plugin
    from botmon.settings.loader import find_leaf
    from botmon.sim.registry import default_registry

    out = []
    for number, spec in enumerate(default_registry().items(), start=1):
        try:
            transport = get_plugin(spec.name).transport.upper()
        except PluginError:
            continue  # an emulator nothing can crawl is not part of the demo
        settings = {"bots": bots, **spec.demo, "seed_rng": number}
        args = []
        for key, value in settings.items():
            option = find_leaf(spec.settings, key).option
            assert option is not None  # the registry checks DEMO
            args += [option, str(value)]
        out.append(
            LiveBotnet(
                spec.name,
                transport,
                spec.description,
                args,
                int(settings["bots"]),
            )
        )
    return out


SENSED_BOTNETS = ("hns", "mozi", "hajime")
"""Live botnets that also get a sensor (announced to the emulated bots)."""

DHT_HOST = "btdht"
"""The live BitTorrent DHT of real libtorrent nodes; botnets in :data:`DHT_GUESTS` join it."""
DHT_GUESTS = ("mozi", "hajime")
"""Emulated botnets that live inside the DHT: they bootstrap off the libtorrent nodes, which
take them into their routing tables (``--join`` of the first guest; the others are taken in
as they query), so the DHT crawler sees them among ordinary nodes."""
SIGNED_GUESTS = ("mozi",)
"""Guests whose emulator signs with its own keys: it writes the public keys, and its crawler
and sensor get them."""


class _DhtLinks:
    """What joins the emulated DHT botnets to the live libtorrent DHT, by files in the demo
    folder: each side re-reads the other's file, so the start order does not matter."""

    def __init__(self, folder: Path, names: set[str]) -> None:
        self.folder = folder
        self.host = DHT_HOST if DHT_HOST in names else None
        self.guests = [g for g in DHT_GUESTS if g in names]

    def _peers(self, guest: str) -> Path:
        return self.folder / f"{guest}-peers.txt"

    def _keys(self, guest: str) -> Path:
        return self.folder / f"{guest}-public-keys.txt"

    def emulator_args(self, name: str, seed_files: dict[str, Path]) -> list[str]:
        """``botmon simulate`` options that link ``name`` into the DHT."""
        if name == self.host:
            return ["--join", str(self._peers(self.guests[0]))] if self.guests else []
        if name in self.guests:
            args = ["--peerlist", str(self._peers(name))]
            if name in SIGNED_GUESTS:
                args += ["--public-keys", str(self._keys(name))]
            if self.host is not None:
                args += ["--bootstrap", str(seed_files[self.host])]
            return args
        return []

    def announce_file(self, name: str) -> Path | None:
        """A guest's every reachable node (its seeds file holds only a few): the sensor
        announces itself to all of them, as a DHT node is known to many."""
        return self._peers(name) if name in self.guests else None

    def written_by(self, name: str) -> list[Path]:
        """Files emulator ``name`` writes that crawlers and sensors need before they start."""
        return [self._keys(name)] if name in self.guests and name in SIGNED_GUESTS else []

    def plugin_args(self, name: str) -> list[str]:
        """The guest botnet's public keys for its crawler and sensor (signature checks)."""
        if name not in self.guests or name not in SIGNED_GUESTS:
            return []
        keys = self._keys(name).read_text().split()
        return [
            f"--protocol-option=public_key_{i}={key}" for i, key in enumerate(keys[:2], start=1)
        ]


@dataclass
class Child:
    """A process the demo started, with the log file it writes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]


@dataclass
class DemoTokens:
    """The tokens the demo creates once and keeps in its folder."""

    admin: str
    viewer: str
    crawlers: dict[str, str] = field(default_factory=dict)
    sensors: dict[str, str] = field(default_factory=dict)


def _botmon(*args: str) -> list[str]:
    return [sys.executable, "-m", "botmon", *args]


def _create_token(store: Store, name: str, role: Role, botnets: tuple[str, ...]) -> str:
    return auth.issue_token(store, name, role, botnets)[0]


def _ensure_tokens(store: Store, folder: Path, names: list[str]) -> DemoTokens:
    """Create the demo's tokens on first run; reuse them afterwards (only hashes are stored).

    A demo folder from an earlier run gets the tokens it lacks (an emulator installed since,
    or the sensor) without losing the ones it has.
    """
    path = folder / "tokens.json"
    if path.exists():
        saved: dict[str, Any] = json.loads(path.read_text())
        tokens = DemoTokens(
            saved["admin"], saved["viewer"], saved["crawlers"], saved.get("sensors", {})
        )
    else:
        tokens = DemoTokens(
            admin=_create_token(store, "demo-admin", "admin", ()),
            viewer=_create_token(store, "demo-viewer", "viewer", ()),
        )
    changed = not path.exists()
    for botnet in names:
        if botnet not in tokens.crawlers:
            tokens.crawlers[botnet] = _create_token(
                store, f"demo-crawler-{botnet}", "crawler", (botnet,)
            )
            changed = True
    for botnet in SENSED_BOTNETS:
        if botnet in names and botnet not in tokens.sensors:
            tokens.sensors[botnet] = _create_token(
                store, f"demo-sensor-{botnet}", "crawler", (botnet,)
            )
            changed = True
    if changed:
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(tokens.__dict__, f, indent=2)
    return tokens


PUBLIC_VIEWS = ("overview", "geo", "ases", "facets")
"""The views the demo serves without a token (``/public``), for its live botnets."""


def _publish_views(store: Store, botnets: list[str]) -> None:
    """Mark the demo's public views once; a view an admin removed since stays removed."""
    if store.public_views():
        return
    now = time.time()
    for botnet in botnets:
        for view in PUBLIC_VIEWS:
            store.publish_view(botnet, view, "demo-admin", now)


def _prepare(
    db: Path, folder: Path, history: bool, weeks: int, live: list[LiveBotnet]
) -> DemoTokens:
    store = open_store(str(db))
    try:
        store.migrate()
        for botnet in live:
            if store.get_botnet(botnet.name) is None:
                store.create_botnet(botnet.name, botnet.description)
        tokens = _ensure_tokens(store, folder, [b.name for b in live])
        _publish_views(store, [b.name for b in live])
        marker = folder / "history.done"
        if history and not marker.exists():
            from botmon.sim import history as demo_history

            click.echo(f"botmon demo: generating {weeks} weeks of history (first run only) ...")
            started = time.monotonic()
            demo_history.generate(store, now=time.time(), weeks=weeks, seed=7)
            marker.write_text(f"{time.time()}\n")
            click.echo(f"botmon demo: history ready in {time.monotonic() - started:.0f} s")
        return tokens
    finally:
        store.close()


def _start(name: str, argv: list[str], logs: Path) -> Child:
    log = (logs / f"{name}.log").open("ab")
    process = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, process_group=0
    )
    return Child(name, process, log)


def _wait_healthy(url: str, child: Child, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.process.poll() is not None:
            raise click.ClickException(f"the server exited early; see {child.log.name}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise click.ClickException(f"the server did not answer within {timeout_s:.0f} s")


def _wait_file(path: Path, child: Child, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size > 0:
            return
        if child.process.poll() is not None:
            raise click.ClickException(f"{child.name} exited early; see {child.log.name}")
        time.sleep(0.1)
    raise click.ClickException(f"{child.name} wrote no seeds within {timeout_s:.0f} s")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _stop_all(children: list[Child]) -> None:
    for child in reversed(children):
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 15
    for child in reversed(children):
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait(timeout=5)
        child.log.close()


def _status_line(url: str, token: str, names: set[str]) -> str:
    try:
        answer = httpx.get(
            f"{url}/api/v1/botnets", headers={"Authorization": f"Bearer {token}"}, timeout=2.0
        )
        botnets = answer.json().get("botnets", [])
    except (httpx.HTTPError, ValueError):
        return "server not answering"
    parts = [
        f"{b['name']}: {b.get('recent_ips', 0)} IPs / {b.get('recent_replies', 0)} replies (1 h)"
        for b in botnets
        if b["name"] in names
    ]
    return " | ".join(parts) or "no live botnets yet"


@click.command("demo")
@click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path),
    default=Path("botmon-demo"),
    show_default=True,
    help="Folder for the database, tokens and logs.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=8470, show_default=True)
@click.option(
    "--bots",
    type=click.IntRange(10, 50_000),
    default=3000,
    show_default=True,
    help="Size of each emulated botnet whose demo settings do not fix it (Hide'n'Seek).",
)
@click.option(
    "--history/--no-history",
    default=True,
    show_default=True,
    help="Generate weeks of history for five more botnets on first run.",
)
@click.option("--weeks", type=click.IntRange(1, 12), default=4, show_default=True)
@click.option(
    "--duration",
    type=float,
    default=None,
    help="Stop after this many seconds (default: run until Ctrl-C).",
)
@click.option(
    "--interval", type=float, default=60.0, show_default=True, help="Seconds between crawl rounds."
)
def command(
    folder: Path,
    port: int,
    bots: int,
    history: bool,
    weeks: int,
    duration: float | None,
    interval: float,
) -> None:
    """Run server, emulated botnets and crawlers together; print the dashboard's address."""
    click.get_current_context().with_resource(foreground())  # handed back when it ends
    folder.mkdir(parents=True, exist_ok=True)
    logs = folder / "logs"
    logs.mkdir(exist_ok=True)
    db = folder / "botmon.duckdb"
    url = f"http://127.0.0.1:{port}"
    children: list[Child] = []
    stop_requested = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)  # a closed terminal: its children would not hear it
    try:
        live = _live_botnets(bots)
        tokens = _prepare(db, folder, history, weeks, live)
        server = _start("server", _botmon("serve", "--db", str(db), "--port", str(port)), logs)
        children.append(server)
        _wait_healthy(url, server, 60)
        seed_files = {b.name: folder / f"{b.name}-seeds.txt" for b in live}
        dht = _DhtLinks(folder, {b.name for b in live})
        emulators = []
        for botnet in live:
            seed_files[botnet.name].unlink(missing_ok=True)
            sim = _start(
                f"simulate-{botnet.name}",
                _botmon(
                    "simulate",
                    botnet.name,
                    *botnet.args,
                    *dht.emulator_args(botnet.name, seed_files),
                    "--truth",
                    str(folder / f"{botnet.name}-truth.jsonl"),
                    "--seeds-file",
                    str(seed_files[botnet.name]),
                ),
                logs,
            )
            children.append(sim)
            emulators.append(sim)
        for botnet, sim in zip(live, emulators, strict=True):
            _wait_file(seed_files[botnet.name], sim, 60)
            for path in dht.written_by(botnet.name):
                _wait_file(path, sim, 60)
        for name, seeds in seed_files.items():
            children.append(
                _start(
                    f"crawl-{name}",
                    _botmon(
                        "crawl",
                        name,
                        "--botnet",
                        name,
                        "--peerlist",
                        str(seeds),
                        "--server",
                        url,
                        "--token",
                        tokens.crawlers[name],
                        "--interval",
                        str(interval),
                        "--spool",
                        str(folder / f"spool-{name}"),
                        *dht.plugin_args(name),
                    ),
                    logs,
                )
            )
        sensors: dict[str, int] = {}
        for name in SENSED_BOTNETS:
            if name not in seed_files:
                continue
            sensor_port = sensors[name] = _free_udp_port()
            children.append(
                _start(
                    f"sensor-{name}",
                    _botmon(
                        "sensor",
                        name,
                        "--botnet",
                        name,
                        "--listen",
                        f"127.0.0.1:{sensor_port}",
                        "--announce-peerlist",
                        str(dht.announce_file(name) or seed_files[name]),
                        "--server",
                        url,
                        "--token",
                        tokens.sensors[name],
                        "--spool",
                        str(folder / f"spool-sensor-{name}"),
                        "--progress",
                        "plain",
                        *dht.plugin_args(name),
                    ),
                    logs,
                )
            )
        click.echo("")
        click.echo("botmon demo is running:")
        click.echo(f"  server      {url}  (DuckDB file {db})")
        for botnet in live:
            click.echo(
                f"  {botnet.name:<11} {botnet.bots} emulated {botnet.label} "
                f"bots on 127.A.B.C ({botnet.transport}), crawled live"
            )
        labels = {b.name: b.label for b in live}
        for name, sensor_port in sensors.items():
            click.echo(f"  sensor      a {labels[name]} sensor on 127.0.0.1:{sensor_port} (UDP)")
        if history:
            click.echo(f"  history     {weeks} weeks for five more botnets, generated once")
        click.echo(f"  logs        {logs}/")
        click.echo(f"  admin token {tokens.admin}")
        click.echo(f"  public      {url}/public  (aggregates only, no token)")
        click.echo(
            f"  feeds       curl -H 'Authorization: Bearer {tokens.viewer}' "
            f"'{url}/api/v1/feeds/infected?botnet=hns&format=csv'"
        )
        click.echo("")
        click.echo("Open the dashboard (already signed in):")
        click.echo(f"  {url}/login?token={tokens.viewer}")
        click.echo("")
        click.echo("Press Ctrl-C to stop.")
        started = time.monotonic()
        next_status = started + 10
        while not stop_requested:
            if duration is not None and time.monotonic() - started >= duration:
                break
            for child in children:
                if child.process.poll() is not None:
                    raise click.ClickException(
                        f"{child.name} stopped (exit {child.process.returncode}); "
                        f"see {child.log.name}"
                    )
            if time.monotonic() >= next_status:
                line = _status_line(url, tokens.viewer, set(seed_files))
                click.echo(f"[{time.strftime('%H:%M:%S')}] {line}")
                next_status = time.monotonic() + 30
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        click.echo("botmon demo: stopping ...")
        _stop_all(children)
    click.echo("botmon demo: stopped")
