"""An in-memory network of emulated Hajime bots and plain DHT nodes on a virtual clock."""

from __future__ import annotations

import random
from collections import deque

from botmon.protocols import hajime_keys
from botmon.sim.dht_node import Address, DhtNode, fill_tables
from botmon.sim.hajime_core import HajimeBot

START = 1_700_000_000.0


class Net:
    """Nodes by address; datagrams delivered in order; outside addresses get a callback."""

    def __init__(
        self, bots: int, nat: int, plain: int, seed: int = 1, start: float = START
    ) -> None:
        rng = random.Random(seed)
        self.rng = rng
        self.nodes: dict[Address, DhtNode] = {}
        self.nat: set[Address] = set()
        archs = hajime_keys.ARCHITECTURES
        modules = hajime_keys.file_names()[1:]
        for i in range(bots + plain):
            address = (f"127.{1 + i // 250}.{1 + i % 250}.1", 6891)
            if i < bots:
                node: DhtNode = HajimeBot(
                    rng.randbytes(20), *address, arch=archs[i % len(archs)], modules=modules,
                    seeder=i >= nat, interval=2.0, fetch_interval=2.0, reannounce_s=900.0,
                    secret=b"s", rng=rng, start=start,
                )  # fmt: skip
                if i < nat:
                    self.nat.add(address)
            else:
                node = DhtNode(rng.randbytes(20), *address, version=None, interval=2.0,
                               secret=b"s", rng=rng, start=start)  # fmt: skip
            self.nodes[address] = node
        fill_tables(list(self.nodes.values()), 8, rng)
        self.outside: dict[Address, list[tuple[bytes, Address]]] = {}
        self.now = start

    def bots(self) -> list[HajimeBot]:
        return [n for n in self.nodes.values() if isinstance(n, HajimeBot)]

    def deliver(self, sends: list[tuple[bytes, Address]], src: Address) -> None:
        queue = deque((data, src, dst) for data, dst in sends)
        for _ in range(1_000_000):
            if not queue:
                return
            data, frm, dst = queue.popleft()
            node = self.nodes.get(dst)
            if node is None:
                self.outside.setdefault(dst, []).append((data, frm))
                continue
            out = node.handle(data, frm, self.now, unsolicited=dst not in self.nat)
            queue.extend((d, dst, to) for d, to in out)

    def run(self, seconds: float, step: float = 0.25) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now += step
            for address, node in self.nodes.items():
                if node.next_at() <= self.now:
                    self.deliver(node.tick(self.now), address)
