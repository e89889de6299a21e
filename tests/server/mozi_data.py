"""Mozi bot replies as the Mozi plugin produces them, for the configuration tests.

Each configuration is one signed blob (:func:`botmon.protocols.mozi_config.encode` with this
module's own test keys), decoded with the keys a monitor would be given: the ``data`` object
follows the reply conventions of issue 12 (node_id, client, client_version, v, bep42, config,
arch). ECDSA signatures are randomised, so a blob is made once per configuration and reused.
"""

from __future__ import annotations

from typing import Any

from botmon.protocols import mozi_config as mc
from tests.server.helpers import T0, reply

SIGNERS = mc.new_signing_keys()
KEYS = (
    mc.load_public_key(mc.public_key_hex(SIGNERS[0])),
    mc.load_public_key(mc.public_key_hex(SIGNERS[1])),
)
FORGERS = mc.new_signing_keys()
"""Someone else's keys: their configurations do not verify against ``KEYS``."""


def config(tags: dict[str, str], version: int, *, forged: bool = False) -> dict[str, Any]:
    """The ``data["config"]`` of a bot carrying this configuration."""
    blob = mc.encode({"ss": "bot", **tags}, version, FORGERS if forged else SIGNERS)
    return mc.decode(blob, KEYS).as_data()


def node_id(i: int) -> str:
    return f"{i:040x}"


def mozi_reply(i: int, cfg: dict[str, Any] | None, at: float = 0.0) -> dict[str, Any]:
    """Bot ``i``'s reply at ``T0 + at`` carrying ``cfg`` (None: an ordinary DHT node's)."""
    data: dict[str, Any] = {
        "node_id": node_id(i),
        "client": None,
        "client_version": None,
        "bep42": None,
    }
    if cfg is not None:
        data["config"] = cfg
        data["arch"] = cfg["tags"].get("cpu")
    return reply(i, timestamp=T0 + at, bot_id=node_id(i), data=data)
