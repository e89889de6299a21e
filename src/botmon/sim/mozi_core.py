"""What an emulated Mozi bot is and answers, sans-I/O: a DHT node carrying a signed config.

A :class:`MoziBot` is a :class:`~botmon.sim.dht_node.DhtNode` (it routes like any node) with
the Mozi ID prefix and two differences:

- **The Mozi-flavoured find_node** (botmon's emulator rule; PROTOCOLS.md §2.2 leaves open
  what a real bot checks): a ``find_node`` whose sender ID *and* target both start with the
  ID prefix (``88888888`` by default) *and* whose ``v`` is the Mozi value (``44421f71``) is
  answered with the bot's 624-byte configuration blob in ``r.nodes``; any other query gets a
  normal answer. So the crawler's recipe (PROTOCOLS.md §2.5) finds bots, and a normal DHT
  lookup through a bot works as through any node.
- **The configuration travels.** Every other round a bot's refresh lookup aims at a random
  prefixed target with that flavour, so bots asking bots get each other's blobs; a blob
  that verifies against the emulator's keys and has a newer version is adopted, as is a
  bare 624-byte blob sent to the bot's DHT port (PROTOCOLS.md §2.6; unsolicited, so NATed
  bots never get one). A bad signature or an older version is ignored. When a bot adopts a
  version, it carries that version's text for its own CPU architecture (the emulator signed
  one per architecture, :class:`ConfigBook`): ``[cpu]`` names the bot's own build.

Signatures are checked once per distinct blob (the book caches verdicts by digest): P-384
verification costs milliseconds, and 500 bots exchanging configs every second would
otherwise spend a core on it.
"""

from __future__ import annotations

import hashlib
import random
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from botmon.protocols import krpc, mozi_config
from botmon.protocols.krpc import Message
from botmon.protocols.mozi_config import ConfigError, MoziConfig
from botmon.sim.dht_node import Address, DhtNode

MAX_VERDICTS = 1024
"""Distinct blobs whose verdict is remembered."""
STOP_TAG = ("rn", "botmon-emulated-stop")
"""What the emulator's stop order carries: a command to run (see mozi_config.stop_order)."""


class ConfigBook:
    """Every configuration the emulator signed (per version and architecture), and the
    verdict on every blob any bot was offered."""

    def __init__(
        self,
        signers: tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePrivateKey],
        archs: Sequence[str],
        base_tags: Sequence[tuple[str, str]],
    ) -> None:
        self.signers = signers
        self.keys = (signers[0].public_key(), signers[1].public_key())
        self.archs = tuple(archs)
        self.base_tags = tuple(base_tags)
        self.blobs: dict[int, dict[str, bytes]] = {}
        """version -> architecture -> blob."""
        self.history: list[dict[str, Any]] = []
        """One record per signed configuration: when it became current, version, arch,
        digest, stop, tags (the truth's configuration file)."""
        self._verdicts: OrderedDict[bytes, MoziConfig | None] = OrderedDict()

    @property
    def latest(self) -> int:
        """The newest version signed (0 before the first)."""
        return max(self.blobs, default=0)

    def sign(self, now: float, *, stop: bool = False) -> int:
        """Sign the next version for every architecture; its version number."""
        version = self.latest + 1
        per_arch: dict[str, bytes] = {}
        for arch in self.archs:
            tags = [*self.base_tags, ("cpu", arch)]
            if stop:
                tags.append(STOP_TAG)
            blob = mozi_config.encode(tags, version, self.signers)
            per_arch[arch] = blob
            self.history.append(
                {
                    "since": now,
                    "version": version,
                    "arch": arch,
                    "digest": hashlib.sha256(blob).hexdigest(),
                    "stop": stop,
                    "tags": dict(tags),
                }
            )
        self.blobs[version] = per_arch
        return version

    def check(self, blob: bytes) -> MoziConfig | None:
        """The decoded configuration if ``blob`` is one whose signatures verify, else None."""
        digest = hashlib.sha256(blob).digest()
        if digest in self._verdicts:
            self._verdicts.move_to_end(digest)
            return self._verdicts[digest]
        try:
            config: MoziConfig | None = mozi_config.decode(blob, self.keys)
        except ConfigError:
            config = None
        if config is not None and config.signatures != "valid":
            config = None
        self._verdicts[digest] = config
        if len(self._verdicts) > MAX_VERDICTS:
            self._verdicts.popitem(last=False)
        return config


def is_mozi_query(msg: Message, target: bytes, prefix: bytes, version: bytes) -> bool:
    """The emulator's rule for a Mozi-flavoured ``find_node`` (see the module docstring)."""
    return msg.version == version and msg.node_id.startswith(prefix) and target.startswith(prefix)


class MoziBot(DhtNode):
    """One emulated Mozi bot: a DHT node answering Mozi nodes with its config blob."""

    __slots__ = ("_aim", "arch", "blob", "book", "configs", "prefix", "version_number")

    def __init__(
        self,
        node_id: bytes,
        ip: str,
        port: int,
        *,
        book: ConfigBook,
        arch: str,
        prefix: bytes,
        mozi_v: bytes,
        interval: float,
        secret: bytes,
        rng: random.Random,
        start: float,
    ) -> None:
        super().__init__(
            node_id,
            ip,
            port,
            version=mozi_v,
            interval=interval,
            secret=secret,
            rng=rng,
            start=start,
            record_history=True,
        )
        self.book = book
        self.arch = arch
        self.prefix = prefix
        self.blob = b""
        self.version_number = 0
        self.configs: list[list[Any]] = []
        """``[since, version, digest]`` of every configuration the bot carried."""
        self._aim = False

    def adopt(self, version: int, now: float, blob: bytes | None = None) -> bool:
        """Carry ``version`` from ``now`` on (its text for this bot's architecture, else
        ``blob``); False when the bot already carries that version or a newer one."""
        if version <= self.version_number:
            return False
        own = self.book.blobs.get(version, {}).get(self.arch)
        chosen = own if own is not None else blob
        if chosen is None:
            return False
        self.blob, self.version_number = chosen, version
        self.configs.append([now, version, hashlib.sha256(chosen).hexdigest()])
        return True

    def offer(self, blob: bytes, now: float) -> bool:
        """A blob from a peer or from outside: adopted if it verifies and is newer."""
        config = self.book.check(blob)
        return config is not None and self.adopt(config.version, now, blob)

    def _answer_find_node(self, msg: Message, target: bytes) -> dict[bytes, Any]:
        if self.blob and is_mozi_query(msg, target, self.prefix, self.version or b""):
            return {b"nodes": self.blob}
        return super()._answer_find_node(msg, target)

    def _lookup_target(self) -> bytes:
        self._aim = not self._aim
        if self._aim:
            return self.prefix + self.rng.randbytes(krpc.ID_LENGTH - len(self.prefix))
        return super()._lookup_target()

    def _on_answer(self, msg: Message, src: Address, target: bytes | None, now: float) -> None:
        nodes = msg.body.get(b"nodes") if msg.body is not None else None
        if isinstance(nodes, bytes) and mozi_config.looks_like_config(nodes):
            self.offer(nodes, now)
            return
        super()._on_answer(msg, src, target, now)

    def _on_other(self, data: bytes, src: Address, now: float) -> None:
        if mozi_config.looks_like_config(data):
            self.offer(data, now)
