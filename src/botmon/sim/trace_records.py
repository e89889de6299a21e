"""What the modelled crawler and sensor record from a trace's population, window by window.

Vectorised with numpy: a few million records take seconds. Every record belongs to a window
by its *grid* time (the crawl round it was made in, or the nominal instant of a periodic
contact), and each window draws its randomness from its own generator seeded by (seed,
window), so a record is made exactly once and the same seed always makes the same rows.

The crawler tries every address it knows: it learns an address some rounds after the
address comes online (from peer lists) and drops it after a day of failures, so departed
bots and old addresses of dynamic bots are tried, and fail, for a day. A try gets a reply
when the address's bot is online there at that instant, not behind NAT, not throttled and
the packet is not lost; a reply lists peers chosen by popularity among bots online then
(NATed ones included), plus the sensors bots know.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from botmon.ipaddr import V4_MAPPED_PREFIX
from botmon.sim.trace_population import DAY, HOUR, Monitor, Population

SENSOR_PER_PEER = 0.08
"""Chance per peer slot of a peer list that it names a given sensor (at most 0.9 per list):
sensors announce themselves aggressively, so they are listed several times as often as the
most popular bots whatever the list length. botmon's own sensor is named only by bots that
know it."""
OWN_SENSOR_PEERS = 3
"""Peers botmon's sensor lists when the crawler asks it (a sensor must look like a bot)."""
CONTACT_JITTER = 0.1
"""Relative jitter of a bot's contacts with a sensor."""
CRAWLER_JITTER = 0.02
"""Relative jitter of a foreign crawler's contacts (machines are regular)."""
DISCOVERY_ROUNDS = 2.0
"""Mean crawl rounds until an address that came online is learned from peer lists."""
FORGET_S = DAY
"""The crawler drops an address after this long without a reply."""


@dataclass
class Window:
    """Records of one window as indexes into the record address table (see :class:`Tables`)."""

    index: int
    reply_ts: np.ndarray
    reply_addr: np.ndarray
    fail_ts: np.ndarray
    fail_addr: np.ndarray
    edge_ts: np.ndarray
    edge_src: np.ndarray
    edge_dst: np.ndarray
    contact_ts: np.ndarray
    contact_addr: np.ndarray


class Tables:
    """The record address table: bots' addresses first, then the monitors, and the
    precomputed sort keys and crawler knowledge the windows share."""

    def __init__(self, model: object, pop: Population, mons: list[Monitor], seed: int) -> None:
        from botmon.sim.trace import TraceModel

        assert isinstance(model, TraceModel)
        self.model = model
        self.pop = pop
        self.mons = mons
        n_addr = len(pop.addr_ip)
        self.n_addr = n_addr
        self.ip = np.concatenate([pop.addr_ip, np.array([m.ip for m in mons], dtype=np.int64)])
        self.stored_ip = self.ip | V4_MAPPED_PREFIX
        """Addresses as the store holds them (IPv4-mapped 128-bit values; they fit int64)."""
        self.port = np.concatenate(
            [pop.port[pop.addr_bot], np.array([m.port for m in mons], dtype=np.int64)]
        )
        ids = [pop.bot_id[b] for b in pop.addr_bot.tolist()] + [m.bot_id for m in mons]
        self.bot_id = np.array(ids, dtype=object)
        self.country = np.array(pop.addr_country + [m.country for m in mons], dtype=object)
        self.asn = np.array(pop.addr_asn + [m.asn for m in mons], dtype=object)
        self.foreign_sensors = np.array(
            [n_addr + k for k, m in enumerate(mons) if m.kind == "sensor" and not m.own],
            dtype=np.int64,
        )
        own = {m.kind: n_addr + k for k, m in enumerate(mons) if m.own}
        self.own_crawler = own["crawler"]
        self.own_sensor = own.get("sensor", -1)
        self.foreign_crawlers = [
            (n_addr + k, m) for k, m in enumerate(mons) if m.kind == "crawler" and not m.own
        ]
        throttle = model.throttle
        if throttle is None:
            self.throttled_addr = np.zeros(n_addr, dtype=bool)
            self.throttle_hours = (0, 0)
        else:
            self.throttled_addr = np.array([c == throttle[0] for c in pop.addr_country])
            self.throttle_hours = (throttle[1], throttle[2])
        self.addr_keys = pop.span_keys(by_bot=False)
        self.bot_keys = pop.span_keys(by_bot=True)
        self.cum_popularity = np.cumsum(pop.popularity)
        rng = np.random.default_rng([seed, 0x7ACE, 1])
        self._known(rng)
        # Each span's contacts with botmon's sensor: from when the bot knows it, on a grid.
        begin = np.maximum(pop.span_start, pop.knows_sensor[pop.span_bot])
        period = pop.contact_period[pop.span_bot]
        self.contact_begin = begin + rng.random(len(begin)) * period
        self.contact_period = period

    def _known(self, rng: np.random.Generator) -> None:
        """Intervals in which the crawler knows each address (merged, sorted by address)."""
        pop = self.pop
        interval = self.model.crawl_interval_s
        delay = rng.exponential(DISCOVERY_ROUNDS * interval, len(pop.span_start))
        a = pop.span_start + delay
        b = pop.span_end + FORGET_S
        addr = pop.span_addr
        order = np.lexsort((a, addr))
        addr, a, b = addr[order], a[order], b[order]
        if len(a) == 0:
            self.known_addr, self.known_a, self.known_b = addr, a, b
            return
        # Merge overlapping intervals per address: a new one starts where the address
        # changes or the start is past every earlier end of the same address.
        offset = addr.astype(np.float64) * 1e10
        run_end = np.maximum.accumulate(b + offset) - offset
        new = np.ones(len(a), dtype=bool)
        new[1:] = (addr[1:] != addr[:-1]) | (a[1:] > run_end[:-1])
        starts = np.flatnonzero(new)
        ends = np.append(starts[1:], len(a)) - 1
        self.known_addr = addr[starts]
        self.known_a = a[starts]
        self.known_b = run_end[ends]

    # -- helpers ---------------------------------------------------------------------------

    def throttled(self, addr: np.ndarray, t: np.ndarray) -> np.ndarray:
        h1, h2 = self.throttle_hours
        if h1 == h2:
            return np.zeros(len(addr), dtype=bool)
        bots_part = addr < self.n_addr
        flagged = np.zeros(len(addr), dtype=bool)
        flagged[bots_part] = self.throttled_addr[addr[bots_part]]
        hour = np.floor(t / HOUR).astype(np.int64) % 24
        inside = (hour >= h1) & (hour < h2) if h1 < h2 else (hour >= h1) | (hour < h2)
        return flagged & inside

    def online_peers(
        self, rng: np.random.Generator, t: np.ndarray, exclude: np.ndarray, per: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``per`` peers per instant of ``t``, picked by popularity among bots online
        then (never the asking bot ``exclude``): (row of ``t``, address) pairs."""
        if len(t) == 0 or per <= 0 or len(self.cum_popularity) == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty
        draws = 3 * per
        rows = np.repeat(np.arange(len(t)), draws)
        total = self.cum_popularity[-1]
        cand = np.searchsorted(self.cum_popularity, rng.random(len(rows)) * total, side="right")
        cand = np.minimum(cand, len(self.cum_popularity) - 1)
        span = self.pop.span_at(self.bot_keys, cand, t[rows], by_bot=True)
        keep = (span >= 0) & (cand != exclude[rows])
        csum = np.cumsum(keep)
        first = np.arange(len(t)) * draws
        before = csum[first] - keep[first]
        rank = csum - before[rows]
        keep &= rank <= per
        return rows[keep], self.pop.span_addr[span[keep]]

    # -- windows ---------------------------------------------------------------------------

    def window(self, w: int, rounds_per_window: int, seed: int) -> Window:
        model, pop = self.model, self.pop
        rng = np.random.default_rng([seed, 0x7ACE, 2, w])
        interval = float(model.crawl_interval_s)
        start, end = pop.start, pop.end
        n_rounds = int(np.ceil((end - start) / interval))
        kw0 = w * rounds_per_window
        kw1 = min(n_rounds, kw0 + rounds_per_window)
        w0, w1 = start + kw0 * interval, start + kw1 * interval

        # The crawler's tries of bots' addresses.
        jit = pop.jitter[pop.addr_bot[self.known_addr]]
        k0 = np.maximum(kw0, np.ceil((self.known_a - start - jit) / interval)).astype(np.int64)
        k1 = np.minimum(kw1, np.ceil((self.known_b - start - jit) / interval)).astype(np.int64)
        counts = np.maximum(k1 - k0, 0)
        which = np.repeat(np.arange(len(counts)), counts)
        firsts = np.cumsum(counts) - counts
        k = k0[which] + (np.arange(len(which)) - firsts[which])
        addr = self.known_addr[which]
        t = start + k * interval + jit[which]
        inside = t < end
        t, addr, k = t[inside], addr[inside], k[inside]
        span = pop.span_at(self.addr_keys, addr, t, by_bot=False)
        bot = pop.addr_bot[addr]
        ok = (span >= 0) & ~pop.nat[bot] & ~self.throttled(addr, t)
        ok &= rng.random(len(t)) >= model.loss
        r_t, r_addr, r_bot, r_k = t[ok], addr[ok], bot[ok], k[ok]
        f_t, f_addr = t[~ok], addr[~ok]

        # Peer lists of the replies.
        every = max(1, model.edges_every)
        listing = (r_k + r_bot) % every == 0
        l_t, l_addr, l_bot = r_t[listing], r_addr[listing], r_bot[listing]
        rows, dst = self.online_peers(rng, l_t, l_bot, model.peers_per_reply)
        e_t, e_src, e_dst = [l_t[rows]], [l_addr[rows]], [dst]
        listed = min(0.9, SENSOR_PER_PEER * model.peers_per_reply)
        if self.own_sensor >= 0:
            lists = (l_t >= pop.knows_sensor[l_bot]) & (rng.random(len(l_t)) < listed)
            e_t.append(l_t[lists])
            e_src.append(l_addr[lists])
            e_dst.append(np.full(int(lists.sum()), self.own_sensor, dtype=np.int64))
        for sensor in self.foreign_sensors.tolist():
            lists = rng.random(len(l_t)) < listed
            e_t.append(l_t[lists])
            e_src.append(l_addr[lists])
            e_dst.append(np.full(int(lists.sum()), sensor, dtype=np.int64))

        # Monitors the crawler asks every round: foreign sensors (always online, no peers)
        # and botmon's own sensor (a few peers, so it looks like a bot).
        rounds = np.arange(kw0, kw1)
        asked = self.foreign_sensors.tolist() + ([self.own_sensor] if self.own_sensor >= 0 else [])
        m_t: list[np.ndarray] = [r_t]
        m_addr: list[np.ndarray] = [r_addr]
        mf_t: list[np.ndarray] = [f_t]
        mf_addr: list[np.ndarray] = [f_addr]
        for a in asked:
            offset = (a * 7919) % int(interval * 0.6 + 1)
            ts = start + rounds * interval + offset
            ts = ts[ts < end]
            got = rng.random(len(ts)) >= model.loss
            m_t.append(ts[got])
            m_addr.append(np.full(int(got.sum()), a, dtype=np.int64))
            mf_t.append(ts[~got])
            mf_addr.append(np.full(int((~got).sum()), a, dtype=np.int64))
            if a == self.own_sensor:
                answered = ts[got]
                rows, dst = self.online_peers(
                    rng, answered, np.full(len(answered), -1), OWN_SENSOR_PEERS
                )
                e_t.append(answered[rows])
                e_src.append(np.full(len(rows), a, dtype=np.int64))
                e_dst.append(dst)

        # What botmon's sensor hears.
        c_t: list[np.ndarray] = []
        c_addr: list[np.ndarray] = []
        if self.own_sensor >= 0:
            c_t, c_addr = self._contacts(rng, w0, w1, rounds, interval)

        return Window(
            index=w,
            reply_ts=np.concatenate(m_t),
            reply_addr=np.concatenate(m_addr),
            fail_ts=np.concatenate(mf_t),
            fail_addr=np.concatenate(mf_addr),
            edge_ts=np.concatenate(e_t),
            edge_src=np.concatenate(e_src),
            edge_dst=np.concatenate(e_dst),
            contact_ts=np.concatenate(c_t) if c_t else np.zeros(0),
            contact_addr=np.concatenate(c_addr) if c_addr else np.zeros(0, dtype=np.int64),
        )

    def _contacts(
        self, rng: np.random.Generator, w0: float, w1: float, rounds: np.ndarray, interval: float
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        pop = self.pop
        end = pop.end
        # Bots that know the sensor contact it on a jittered grid while online.
        begin, period = self.contact_begin, self.contact_period
        k0 = np.maximum(0, np.ceil((w0 - begin) / period)).astype(np.int64)
        k1 = np.ceil((np.minimum(w1, pop.span_end) - begin) / period).astype(np.int64)
        counts = np.maximum(k1 - k0, 0)
        which = np.repeat(np.arange(len(counts)), counts)
        firsts = np.cumsum(counts) - counts
        k = k0[which] + (np.arange(len(which)) - firsts[which])
        per = period[which]
        t = begin[which] + k * per + (rng.random(len(which)) * 2 - 1) * CONTACT_JITTER * per
        addr = pop.span_addr[which]
        bot = pop.span_bot[which]
        keep = (t >= pop.knows_sensor[bot]) & (t >= pop.span_start[which])
        keep &= (t < pop.span_end[which]) & (t < end)
        t, addr = t[keep], addr[keep]
        heard = ~self.throttled(addr, t)
        c_t, c_addr = [t[heard]], [addr[heard]]
        # Foreign crawlers: regular, from one address each.
        for a, m in self.foreign_crawlers:
            j0 = int(np.ceil((w0 - m.phase_s - pop.start) / m.period_s))
            j1 = int(np.ceil((w1 - m.phase_s - pop.start) / m.period_s))
            grid = pop.start + m.phase_s + np.arange(max(j0, 0), max(j1, 0)) * m.period_s
            ts = grid + (rng.random(len(grid)) * 2 - 1) * CRAWLER_JITTER * m.period_s
            ts = ts[(ts >= pop.start) & (ts < end)]
            c_t.append(ts)
            c_addr.append(np.full(len(ts), a, dtype=np.int64))
        # botmon's own crawler asks the sensor (it is in peer lists) every round.
        ts = pop.start + rounds * interval + (self.own_crawler * 7919) % int(interval * 0.6 + 1)
        ts = ts[ts < end]
        c_t.append(ts)
        c_addr.append(np.full(len(ts), self.own_crawler, dtype=np.int64))
        return c_t, c_addr
