"""The asyncio side of the engine: sockets, the send loop, TCP exchanges, server commands.

:class:`CrawlRunner` owns a :class:`~botmon.crawl.core.CrawlCore` and does only I/O: one
loop sends what the core releases, re-arms one wake-up timer (the core's next deadline, or
the tick), and hands gathered records to the reporter. UDP replies go straight from the
socket callback into the core. TCP exchanges (one-piece or conversations, :mod:`botmon.crawl.tcp`)
are one task each under a connection limit.
"""

from __future__ import annotations

import asyncio
import gc
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
from botmon.crawl.tcp import Converser, exchange
from botmon.crawl.transport import DatagramTransport, UdpTransport
from botmon.protocols.contract import Conversation, CrawlResult, Peer, Plugin
from botmon.settings.crawl import CrawlSettings
from botmon.settings.loader import find_leaf
from botmon.wire import CampaignSettings, HeartbeatStatus

Clock = Callable[[], float]

GC_YOUNG_THRESHOLD = 100_000
"""Allocations between young-generation collections while a crawl runs (Python's default:
700). Every request leaves a deadline entry that lives seconds, long enough to be promoted,
so at the default the collector ran ~20 full collections over the peer table in one round
of a 50,000-bot crawl: 4.2 of its 16 CPU-s. The engine makes no reference cycles on its
per-request path, so collecting rarely costs no memory."""


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
        t, d = settings.transport, plugin.defaults
        self._converser = Converser(
            connect_timeout=t.tcp_connect_timeout_s,
            step_timeout=d.step_timeout,
            max_messages=d.max_messages,
            cap=t.max_reply_bytes,
            counters=self.counters,
            clock=clock,
        )
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
        if self._udp is not None:
            self._udp.send_all(sends)
            return
        transport = self._transport
        if transport is not None:
            for peer, data, _ in sends:
                transport.send(data, peer)  # type: ignore[arg-type]  # UDP: always bytes
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
        young, *older = gc.get_threshold()
        gc.set_threshold(max(young, GC_YOUNG_THRESHOLD), *older)
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
            gc.set_threshold(young, *older)
            self._finished = True
        return self.status()

    # ----- TCP ---------------------------------------------------------------------------

    async def _exchange(self, peer: Peer, data: bytes | Conversation, token: int) -> None:
        """One request (or conversation, for plugins that define one) on its own connection."""
        assert self._tcp_slots is not None
        t = self.settings.transport
        answer: bytes | CrawlResult | None = None
        error: str | None = None
        async with self._tcp_slots:
            if not self.scope.allows(peer.ip):
                self.counters["scope_blocked"] += 1
                error = "scope"
            elif isinstance(data, bytes):
                answer, error = await exchange(
                    peer, data, t.tcp_connect_timeout_s, t.tcp_read_timeout_s, t.max_reply_bytes
                )
            else:
                answer, error = await self._converser.run(peer, data)
        self.core.on_stream(peer, token, answer, error, self.clock())
        self.wake()
