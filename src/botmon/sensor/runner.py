"""The asyncio side of a sensor: listeners, the announcement loop, heartbeats and commands.

:class:`SensorRunner` owns a :class:`~botmon.sensor.core.SensorCore`. Contacts are handled
straight from the socket callbacks (UDP) or connection tasks (TCP); one loop sends what the
announcement schedule releases, hands gathered records to the reporter and sleeps until the
next announcement or tick. Pausing (a command or a full spool) makes the sensor go dark:
contacts are counted but neither answered nor recorded, and nothing is announced.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from botmon import __version__
from botmon.crawl.control import Controls
from botmon.crawl.counters import RateMeter
from botmon.crawl.sink import Reporter
from botmon.protocols.contract import Peer, Plugin
from botmon.sensor.core import SensorCore
from botmon.sensor.listeners import TcpListeners, UdpListeners
from botmon.settings.sensor import SensorSettings
from botmon.wire import CampaignSettings, HeartbeatStatus, SensorStatus

TICK_S = 0.5
"""Longest sleep of the loop: records reach the reporter at least this often."""
ANNOUNCE_BATCH = 1024
"""Most announcements released per pass of the loop."""


def campaign_settings(
    plugin: Plugin, settings: SensorSettings, listens: Sequence[Peer], targets: int
) -> CampaignSettings:
    """The parameters a sensor run registers as its campaign (shown in the health table)."""
    return CampaignSettings(
        kind="sensor",
        protocol=plugin.name,
        version=__version__,
        interval_s=settings.announce_interval_s,
        rate=settings.announce_rate,
        per_target_rate=settings.per_source_rate,
        scope=list(settings.scope),
        seeds=targets,
        listen=[address_text(p) for p in listens],
    )


def address_text(peer: Peer) -> str:
    """``HOST:PORT`` (``[v6]:PORT``), as ``--listen`` takes it."""
    return f"[{peer.ip}]:{peer.port}" if ":" in peer.ip else f"{peer.ip}:{peer.port}"


class SensorRunner(Controls[SensorCore]):
    """Runs a sensor until :meth:`stop` is called or its duration is over."""

    def __init__(
        self,
        plugin: Plugin,
        settings: SensorSettings,
        listens: Sequence[Peer],
        botnet: str,
        reporter: Reporter,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.plugin = plugin
        self.settings = settings
        self.reporter = reporter
        self.clock = clock
        self.started_at = now = clock()
        self.core = SensorCore(plugin, settings, listens, botnet, now)
        self.counters = self.core.counters
        self.seed_port = plugin.defaults.port
        self.udp: UdpListeners | None = None
        self.tcp: TcpListeners | None = None
        self._stop = False
        self._finished = False
        self._contact_rate = RateMeter(now)
        self._announce_rate = RateMeter(now)
        self.ready = asyncio.Event()
        """Set once every listen address is bound (tests and the CLI wait for it)."""

    # ----- control -----------------------------------------------------------------------

    def add_seeds(self, peers: Iterable[Peer]) -> int:
        """Peers to announce to (the peer list, or the server's ``add_seeds``)."""
        added = self.core.add_targets(peers)
        self.wake()
        return added

    # ----- status ------------------------------------------------------------------------

    def listen_ports(self) -> list[int]:
        """The bound ports, in the order of the listen addresses."""
        listeners = self.udp or self.tcp
        return listeners.ports() if listeners is not None else []

    def status(self) -> dict[str, Any]:
        """Counters and gauges plus run time: what the progress display shows."""
        out = self.core.status()
        out["protocol"] = self.plugin.name
        out["uptime_s"] = round(self.clock() - self.started_at, 1)
        out["paused_reason"] = self.paused_reason
        if self.tcp is not None:
            out["tcp_open"] = self.tcp.open_connections
        return out

    def heartbeat(self) -> HeartbeatStatus:
        """A ``kind: sensor`` status; contacts/s and announcements/s since the last one."""
        s = self.status()
        now = self.clock()
        return HeartbeatStatus(
            kind="sensor",
            state=self.state,
            paused_reason=self.paused_reason if self.state == "paused" else None,
            version=__version__,
            protocol=self.plugin.name,
            requests_per_s=round(self._announce_rate.update(s["announced"], now), 3),
            requests=s["announced"],
            replies=s["handled"],
            errors=s["send_errors"] + s["malformed"] + s["plugin_errors"],
            sensor=SensorStatus(
                contacts=s["contacts"],
                answered=s["answered"],
                peers_known=s["peers_known"],
                contacts_per_s=round(self._contact_rate.update(s["contacts"], now), 3),
            ),
            counters=s,
        )

    # ----- the loop ----------------------------------------------------------------------

    async def _open(self) -> None:
        s = self.settings
        if self.plugin.transport == "udp":
            self.udp = UdpListeners(self.core, s.recv_buffer_bytes, self.clock)
            self.udp.open()
        else:
            self.tcp = TcpListeners(self.core, s.tcp_max_connections, s.tcp_timeout_s, self.clock)
            await self.tcp.open()

    def _announce(self, now: float) -> None:
        connect = self.plugin.defaults.connect_timeout
        for index, peer, data in self.core.announcements(now, ANNOUNCE_BATCH):
            if self.udp is not None:
                self.udp.send(index, peer, data)
            elif self.tcp is not None:
                self.tcp.spawn(peer, data, connect)

    def _flush(self) -> None:
        replies, failed, edges = self.core.drain_records()
        if replies or failed or edges:
            self.reporter.add(replies=replies, failed_tries=failed, edges=edges)

    async def run(self) -> dict[str, Any]:
        """Listen, answer and announce until stopped; return the final status."""
        await self._open()
        self.ready.set()
        duration = self.settings.duration_s
        end = None if duration is None else self.started_at + duration
        try:
            while not self._stop:
                now = self.clock()
                if end is not None and now >= end:
                    break
                self._announce(now)
                self._flush()
                wake_at = min(self.core.next_announcement(now), now + TICK_S)
                if end is not None:
                    wake_at = min(wake_at, end)
                await self._sleep(max(0.0, wake_at - self.clock()))
        finally:
            if self.udp is not None:
                self.udp.drain()  # contacts already here are recorded before the end
                self.udp.close()
            if self.tcp is not None:
                await self.tcp.close()
            self._flush()
            self._finished = True
        return self.status()
