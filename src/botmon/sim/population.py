"""Who the emulated bots are: addresses, ports, IDs, peer lists, NAT and hostile roles.

A pure function of the settings and one seed (:func:`build_population`), so the same
``--seed-rng`` gives the same botnet, and tests can build one without opening a socket.
Peer lists are stored packed (6 bytes an entry: port then IPv4, both big-endian), which is
exactly bytes 2-7 of a Hide'n'Seek reply and keeps 50,000 bots in a few megabytes.
"""

from __future__ import annotations

import array
import bisect
import itertools
import random
import socket
from collections.abc import Iterator
from dataclasses import dataclass

from botmon.settings.sim import CommonConfig
from botmon.sim.churn import uniform

ENTRY_BYTES = 6
NORMAL = "normal"
HOSTILE_MODES = ("garbage", "oversized", "flood", "out_of_scope")
TEST_NETS = ("192.0.2.", "198.51.100.")
"""Documentation ranges (RFC 5737): out-of-scope peers are data only, never contacted."""


@dataclass(slots=True)
class Bot:
    """One emulated bot. ``peers`` is packed; use :func:`iter_peers` to read it.

    ``peers`` holds its first list with the addresses as built; where bots change address
    (linenet's ``ip_change``), :attr:`Population.entry_texts` via ``peer_index`` is the
    current text. Where bots act (:mod:`botmon.sim.exchange`), ``peer_index`` goes on with
    every peer the bot learned; its list of the moment is the exchange's.
    """

    index: int
    ip: str
    ip4: bytes
    port: int
    bot_id: str | None
    nat: bool
    mode: str
    peers: bytes
    peer_index: array.array[int]
    """The same list as indexes into :attr:`Population.entry_texts`, then learned peers."""
    ip_change: bool = False
    """True for a bot that takes a new address with each new session (linenet)."""

    @property
    def address(self) -> tuple[str, int]:
        """``(ip, port)`` to send a request to."""
        return (self.ip, self.port)


@dataclass(slots=True)
class Population:
    """The bots, benign (non-bot) hosts, and the order seeds are offered in.

    Entries ``0 .. len(bots)-1`` of :attr:`entry_texts` are the bots themselves, so a bot
    that changes its address changes what every list naming it says.
    """

    seed: int
    bots: list[Bot]
    benign: list[tuple[str, int]]
    seed_order: list[int]
    entry_texts: list[str]
    """``"ip:port"`` of every peer-list entry; ``Bot.peer_index`` points into it."""
    entry_bytes: list[bytes]
    """The same entries packed (see :func:`pack_entry`)."""


def pack_entry(ip: str, port: int) -> bytes:
    """One packed peer-list entry (the wire bytes 2-7 of an HNS reply)."""
    return port.to_bytes(2, "big") + socket.inet_aton(ip)


def unpack_entry(entry: bytes) -> tuple[str, int]:
    """``(ip, port)`` of a packed entry."""
    return socket.inet_ntoa(entry[2:6]), int.from_bytes(entry[0:2], "big")


def iter_peers(peers: bytes) -> Iterator[tuple[str, int]]:
    """The ``(ip, port)`` entries of a packed peer list, in order."""
    for pos in range(0, len(peers), ENTRY_BYTES):
        yield unpack_entry(peers[pos : pos + ENTRY_BYTES])


def _addresses(rng: random.Random, count: int, first_octets: tuple[int, int]) -> list[str]:
    """``count`` distinct 127.A.B.C addresses; A weighted 1/rank so regions differ in size."""
    values = list(range(first_octets[0], first_octets[1] + 1))
    cum = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(values))))
    total = cum[-1]
    rand, randbelow = rng.random, rng.randrange
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        a = values[min(bisect.bisect_right(cum, rand() * total), len(values) - 1)]
        ip = f"127.{a}.{randbelow(254) + 1}.{randbelow(254) + 1}"
        if ip not in seen:
            seen.add(ip)
            out.append(ip)
    return out


def new_address(seed: int, index: int, move: int, ip: str, used: set[str]) -> str | None:
    """A fresh ``127.A.x.y`` for bot ``index``'s ``move``-th address change (same A as
    ``ip``, so the same region), drawn from ``seed`` and not in ``used`` (added to it);
    None when 100 draws all hit used addresses."""
    first = ip.split(".")[1]
    for attempt in range(100):
        draw = move * 1000 + attempt * 2
        b = 1 + int(uniform(seed, index, draw) * 254)
        c = 1 + int(uniform(seed, index, draw + 1) * 254)
        candidate = f"127.{first}.{b}.{c}"
        if candidate not in used:
            used.add(candidate)
            return candidate
    return None


def _ids(rng: random.Random, count: int) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        value = f"{rng.getrandbits(64):016x}"
        if value not in seen:
            seen.add(value)
            out.append(value)
    return out


def build_population(cfg: CommonConfig, seed: int) -> Population:
    """The whole botnet for ``cfg``; identical for identical ``cfg`` and ``seed``."""
    rng = random.Random(seed)
    n = cfg.bots
    traits = cfg.traits()
    benign_count = traits.benign
    ips = _addresses(rng, n + benign_count, cfg.first_octets)
    ports = [cfg.port + rng.randrange(cfg.ports) for _ in range(n + benign_count)]
    ids: list[str | None] = list(_ids(rng, n)) if traits.bot_ids else [None] * n
    entries = [pack_entry(ips[i], ports[i]) for i in range(n + benign_count)]

    order = list(range(n))
    rng.shuffle(order)
    nat_count = round(cfg.nat * n)
    nat = bytearray(n)
    for i in order[:nat_count]:
        nat[i] = 1
    modes = [NORMAL] * n
    answering = order[nat_count:]
    pos = 0
    for mode, fraction in traits.hostile:
        if mode not in HOSTILE_MODES:
            raise ValueError(f"unknown hostile mode {mode!r} (known: {', '.join(HOSTILE_MODES)})")
        take = min(round(fraction * n), len(answering) - pos)
        for i in answering[pos : pos + take]:
            modes[i] = mode
        pos += take

    # Peer lists as indexes into one table of entries (bots, then benign hosts, then
    # TEST-NET addresses): packed bytes for answering, texts for the truth file.
    texts = [f"{ips[i]}:{ports[i]}" for i in range(n + benign_count)]
    peer_lists: list[list[int]] = []
    choices, sample, randint, others = rng.choices, rng.sample, rng.randint, range(n - 1)
    for i in range(n):
        size = min(randint(cfg.peers_min, cfg.peers_max), n - 1)
        # choices() is several times faster than sample(); redraw only on a repeat.
        picks = choices(others, k=size)
        if len(set(picks)) < size:
            picks = sample(others, size)
        # Draw from the n-1 others: indexes from i on shift by one, so nobody lists itself.
        peer_lists.append([j + (j >= i) for j in picks])
        if modes[i] == "out_of_scope":
            for _ in range(max(1, size // 2)):
                ip, port = f"{rng.choice(TEST_NETS)}{rng.randint(1, 254)}", rng.randint(1024, 65535)
                peer_lists[i].append(len(entries))
                entries.append(pack_entry(ip, port))
                texts.append(f"{ip}:{port}")
    benign = [(ips[n + b], ports[n + b]) for b in range(benign_count)]
    for b in range(benign_count):
        for i in rng.sample(range(n), min(3, n)):
            peer_lists[i].append(n + b)

    bots = [
        Bot(
            index=i,
            ip=ips[i],
            ip4=socket.inet_aton(ips[i]),
            port=ports[i],
            bot_id=ids[i],
            nat=bool(nat[i]),
            mode=modes[i],
            peers=b"".join([entries[j] for j in peer_lists[i]]),
            peer_index=array.array("I", peer_lists[i]),
        )
        for i in range(n)
    ]
    if traits.ip_change > 0:
        # Drawn last, so settings without IP changes give the same botnet as before.
        for i in rng.sample(range(n), round(traits.ip_change * n)):
            bots[i].ip_change = True
    seed_order = [i for i in order if not nat[i] and modes[i] == NORMAL]
    return Population(
        seed=seed,
        bots=bots,
        benign=benign,
        seed_order=seed_order,
        entry_texts=texts,
        entry_bytes=entries,
    )
