"""The asyncio side of the engine: sockets, the send loop, TCP exchanges, server commands.

:class:`CrawlRunner` owns a :class:`~botmon.crawl.core.CrawlCore` and does only I/O: one
loop sends what the core releases, re-arms one wake-up timer (the core's next deadline, or
the tick), and hands gathered records to the reporter. UDP replies go straight from the
socket callback into the core. TCP exchanges are one task each under a connection limit,
bounded by connect and read timeouts and the plugin's size cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Callable, Iterable
from typing import Any

from botmon import __version__
from botmon.crawl.control import Controls
from botmon.crawl.core import CrawlCore, Send
from botmon.crawl.counters import Counters, RateMeter
from botmon.crawl.scope import Scope
from botmon.crawl.sink import Reporter
from botmon.crawl.transport import DatagramTransport, UdpTransport
from botmon.protocols.contract import Peer, Plugin
from botmon.settings.crawl import CrawlSettings
from botmon.settings.loader import find_leaf
from botmon.wire import CampaignSettings, HeartbeatStatus

Clock = Callable[[], float]


def scope_is_loopback(cidrs: Iterable[str]) -> bool:
    """True when every scope range is loopback (then sockets bind to loopback too)."""
    return all(ipaddress.ip_network(c, strict=False).is_loopback for c in cidrs)


def seed_port(plugin: Plugin, settings: CrawlSettings) -> int:
    """The port of seeds given without one: ``crawl.port`` when set, else the plugin's own."""
    return plugin.defaults.port if settings.port is None else settings.port


def settings_for_plugin(plugin: Plugin, settings: CrawlSettings) -> CrawlSettings:
    """Validate ``settings`` for this plugin's transport (SettingsError names the problem)."""
    settings.validate()
    if plugin.transport != "tcp":
        return settings
    t = settings.transport
    if settings.retry.timeouts[0] < t.tcp_connect_timeout_s + t.tcp_read_timeout_s:
        raise find_leaf(CrawlSettings, "retry.timeouts").error(
            "for TCP the first deadline must be at least the connect timeout plus the read "
            f"timeout ({t.tcp_connect_timeout_s + t.tcp_read_timeout_s:g} s)",
            settings.retry.timeouts,
        )
    # Every request in flight is an open connection: keep the queues within the limit so
    # no request waits for a connection while its deadline runs.
    per_queue = max(1, t.tcp_max_connections // 2)
    q = settings.queues
    return settings.replace(
        "queues",
        discovery_capacity=min(q.discovery_capacity, per_queue),
        tracking_capacity=min(q.tracking_capacity, per_queue),
    )


def campaign_settings(plugin: Plugin, settings: CrawlSettings, seeds: int) -> CampaignSettings:
    """The parameters a crawl run registers as its campaign (shown in the health table)."""
    return CampaignSettings(
        kind="crawler",
        protocol=plugin.name,
        version=__version__,
        rounds=settings.rounds.rounds,
        interval_s=settings.rounds.interval_s,
        discovery_capacity=settings.queues.discovery_capacity,
        tracking_capacity=settings.queues.tracking_capacity,
        rate=settings.rate.global_rate,
        per_target_rate=settings.rate.per_target_rate,
        timeouts=list(settings.retry.timeouts),
        scope=list(settings.scope),
        seeds=seeds,
    )


class CrawlRunner(Controls[CrawlCore]):
    """Runs a crawl until its rounds are done or :meth:`stop` is called."""

    def __init__(
        self,
        plugin: Plugin,
        settings: CrawlSettings,
        reporter: Reporter,
        *,
        clock: Clock = time.time,
        transport: DatagramTransport | None = None,
    ) -> None:
        self.plugin = plugin
        self.settings = settings = settings_for_plugin(plugin, settings)
        self.reporter = reporter
        self.clock = clock
        self.counters = Counters()
        self.seed_port = seed_port(plugin, settings)
        self.scope = Scope(settings.scope)
        self.core = CrawlCore(plugin, settings, clock(), counters=self.counters, scope=self.scope)
        self._transport: DatagramTransport | None = transport
        self._udp: UdpTransport | None = None
        self._stop = False
        self._tcp_tasks: set[asyncio.Task[None]] = set()
        self._tcp_slots: asyncio.Semaphore | None = None
        self.started_at = clock()
        self.recv_buffer = 0
        self._finished = False
        self._heartbeat_rate = RateMeter(self.started_at)

    # ----- control (server commands, signals) --------------------------------------------

    def add_seeds(self, peers: Iterable[Peer]) -> int:
        """Add peers to crawl (seeds or a server's ``add_seeds``)."""
        added = self.core.add_peers(peers, self.clock())
        self.wake()
        return added

    def status(self) -> dict[str, Any]:
        """The core's counters and gauges plus run time: what the progress display shows."""
        out = self.core.status()
        out["protocol"] = self.plugin.name
        out["uptime_s"] = round(self.clock() - self.started_at, 1)
        out["recv_buffer_bytes"] = self.recv_buffer
        out["paused_reason"] = self.paused_reason
        return out

    def heartbeat(self) -> HeartbeatStatus:
        """The status a heartbeat reports; requests/s is measured since the previous one."""
        s = self.status()
        c = self.counters
        return HeartbeatStatus(
            kind="crawler",
            state=self.state,
            paused_reason=self.paused_reason if self.state == "paused" else None,
            version=__version__,
            protocol=self.plugin.name,
            requests_per_s=round(self._heartbeat_rate.update(s["sent"], self.clock()), 3),
            requests=s["sent"],
            replies=s["replies"],
            errors=c["send_errors"] + c["connect_failed"] + c["malformed"],
            in_flight=s["in_flight"],
            discovery_queue=s["discovery"],
            tracking_queue=s["tracked"],
            counters=s,
        )

    # ----- the loop ----------------------------------------------------------------------

    async def _open(self) -> None:
        if self._transport is not None:
            return
        if self.plugin.transport == "udp":
            t = self.settings.transport
            self._udp = UdpTransport(
                self.scope,
                self.counters,
                self.core.on_datagram,
                sockets=t.udp_sockets,
                recv_buffer=t.recv_buffer_bytes,
                send_buffer=t.send_buffer_bytes,
                max_datagram=t.max_datagram,
                loopback_only=scope_is_loopback(self.settings.scope),
                clock=self.clock,
            )
            self._udp.after_read = self.wake
            await self._udp.open()
            self.recv_buffer = self._udp.recv_buffer_granted
            self._transport = self._udp
        else:
            self._tcp_slots = asyncio.Semaphore(self.settings.transport.tcp_max_connections)

    def _send(self, sends: list[Send]) -> None:
        transport = self._transport
        if transport is not None:
            for peer, data, _ in sends:
                transport.send(data, peer)
            return
        for peer, data, token in sends:
            task = asyncio.ensure_future(self._exchange(peer, data, token))
            self._tcp_tasks.add(task)
            task.add_done_callback(self._tcp_tasks.discard)

    def _flush(self) -> None:
        replies, failed, edges = self.core.drain_records()
        if replies or failed or edges:
            self.reporter.add(replies=replies, failed_tries=failed, edges=edges)

    async def run(self) -> dict[str, Any]:
        """Crawl until the configured rounds are done or :meth:`stop`; return the final status."""
        await self._open()
        core = self.core
        batch = self.settings.transport.send_batch
        tick = self.settings.progress.tick_s
        udp = self._udp
        try:
            while not self._stop:
                if udp is not None:
                    udp.drain()  # answers already here are read before deadlines expire
                now = self.clock()
                core.tick(now)
                if core.finished:
                    break
                sends = core.take_sends(now, batch)
                if sends:
                    self._send(sends)
                self._flush()
                if len(sends) >= batch:
                    await asyncio.sleep(0)  # let replies in before the next batch
                    continue
                wake_at = min(core.next_wakeup(now), now + tick)
                await self._sleep(max(0.0, wake_at - self.clock()))
        finally:
            self._flush()
            for task in list(self._tcp_tasks):
                task.cancel()
            if self._tcp_tasks:
                await asyncio.gather(*self._tcp_tasks, return_exceptions=True)
            if self._udp is not None:
                self._udp.close()
            self._finished = True
        return self.status()

    # ----- TCP ---------------------------------------------------------------------------

    async def _exchange(self, peer: Peer, data: bytes, token: int) -> None:
        assert self._tcp_slots is not None
        t = self.settings.transport
        cap = t.max_reply_bytes
        answer: bytes | None = None
        error: str | None = None
        async with self._tcp_slots:
            if not self.scope.allows(peer.ip):
                self.counters["scope_blocked"] += 1
                error = "scope"
            else:
                answer, error = await _tcp_exchange(
                    peer, data, t.tcp_connect_timeout_s, t.tcp_read_timeout_s, cap
                )
        self.core.on_stream(peer, token, answer, error, self.clock())
        self.wake()


async def _tcp_exchange(
    peer: Peer, request: bytes, connect_timeout: float, read_timeout: float, cap: int
) -> tuple[bytes | None, str | None]:
    """Connect, send, read until the bot closes (at most ``cap + 1`` bytes); never raises."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(peer.ip, peer.port, limit=cap + 1), connect_timeout
        )
    except TimeoutError:
        return None, "connect_timeout"
    except ConnectionRefusedError:
        return None, "refused"
    except OSError:
        return None, "connect_error"
    buf = bytearray()
    error: str | None = None
    try:
        writer.write(request)
        loop = asyncio.get_running_loop()
        end = loop.time() + read_timeout
        while len(buf) <= cap:
            left = end - loop.time()
            if left <= 0:
                raise TimeoutError
            chunk = await asyncio.wait_for(reader.read(cap + 1 - len(buf)), left)
            if not chunk:
                break
            buf += chunk
    except TimeoutError:
        error = None if buf else "read_timeout"  # a complete answer may just lack the close
    except (ConnectionError, OSError, RuntimeError):
        # uvloop raises RuntimeError("... handler is closed") when the peer resets at once.
        error = None if buf else "reset"
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
    if error is not None:
        return None, error
    return bytes(buf), None
