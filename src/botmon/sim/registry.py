"""Find emulators through the ``botmon.emulators`` entry points, as protocol plugins are found.

An emulator module (botmon's own ``botmon.sim.hns`` or a third party's) declares:

- ``PROTOCOL``: its name, which is the name of the protocol plugin it speaks;
- ``SETTINGS``: its settings class, a :class:`~botmon.settings.sim.CommonConfig` subclass of
  section ``sim.<PROTOCOL>``; every field with an ``option=`` becomes an option of
  ``botmon simulate <PROTOCOL>``;
- ``CAPABILITIES``: what it models, words of :data:`CAPABILITIES`;
- ``DESCRIPTION``: one line for ``botmon simulate --help`` and the demo's botnet list;
- ``DEMO``: the settings ``botmon demo`` runs it with (field paths to values; each must
  have an option, since the demo runs ``botmon simulate``);
- ``build(cfg)``: the running emulator (a :class:`~botmon.sim.runtime.Emulator`) for a loaded
  settings object.

Built-in emulators are registered in botmon's own ``pyproject.toml`` under the same group, so
they are found exactly like third-party ones and nothing outside the emulator names a botnet.
Tests build a :class:`EmulatorRegistry` with ``discover=False`` and register modules by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from botmon.entrypoints import EntryPointRegistry
from botmon.settings.loader import find_leaf
from botmon.settings.sim import CommonConfig
from botmon.sim.runtime import Emulator

ENTRY_POINT_GROUP = "botmon.emulators"
CAPABILITIES = {
    "bot_ids": "bots have IDs of their own (the truth has bot_id)",
    "nat": "bots behind NAT: listed by others, never answering, still contacting",
    "churn": "bots go on- and offline in sessions",
    "address_changes": "a bot takes a new address with a new session",
    "hostile_modes": "bots that answer garbage, oversized or flooding replies",
    "anti_monitoring": "per-source token-bucket rate limit and a blacklist for good after N "
    "requests (--rate-limit, --rate-burst, --blacklist-after)",
    "peer_exchange": "bots exchange peers and contact the peers they learn (sensors see them)",
    "blacklisting": "per-source request budget: a source asking one bot too fast is ignored "
    "for a period (--budget, --budget-window, --blacklist-period; the truth's blacklisted)",
    "ignore_unknown": "bots can ignore sources they have not heard from (--ignore-unknown)",
    "reply_shaping": "replies can be shaped: recent-first order, list caps, neighbour "
    "restriction, peers per reply (--peer-order, --peer-list-cap, --neighbour-restriction, "
    "--reply-peers)",
}
"""What an emulator may declare it models, with what each word means."""


class EmulatorError(Exception):
    """An emulator module that cannot be used, with one line saying why."""


@dataclass(frozen=True, slots=True)
class EmulatorSpec:
    """One registered emulator: what its module declares."""

    name: str
    settings: type[CommonConfig]
    capabilities: frozenset[str]
    description: str
    demo: Mapping[str, Any]
    build: Callable[[Any], Emulator]
    module: str


def spec_from_module(name: str, module: ModuleType) -> EmulatorSpec:
    """Check what ``module`` declares and wrap it as an :class:`EmulatorSpec`."""
    where = f"emulator {name} ({module.__name__})"
    for attr in ("PROTOCOL", "SETTINGS", "CAPABILITIES", "DESCRIPTION", "DEMO", "build"):
        if not hasattr(module, attr):
            raise EmulatorError(f"{where} lacks {attr}")
    if name != module.PROTOCOL:
        raise EmulatorError(f"{where}: PROTOCOL {module.PROTOCOL!r} is not its name {name!r}")
    settings = module.SETTINGS
    if not (isinstance(settings, type) and issubclass(settings, CommonConfig)):
        raise EmulatorError(f"{where}: SETTINGS must be a CommonConfig subclass")
    if settings.section != f"sim.{name}":
        raise EmulatorError(f"{where}: SETTINGS section must be sim.{name}")
    capabilities = frozenset(module.CAPABILITIES)
    unknown = capabilities - set(CAPABILITIES)
    if unknown:
        raise EmulatorError(
            f"{where}: unknown capability {sorted(unknown)[0]!r} "
            f"(known: {', '.join(sorted(CAPABILITIES))})"
        )
    if not callable(module.build):
        raise EmulatorError(f"{where}: build is not callable")
    demo = dict(module.DEMO)
    for key in demo:
        try:
            option = find_leaf(settings, key).option
        except KeyError:
            raise EmulatorError(f"{where}: DEMO sets {key!r}, which is no setting") from None
        if option is None:
            raise EmulatorError(f"{where}: DEMO sets {key!r}, which has no option")
    return EmulatorSpec(
        name=name,
        settings=settings,
        capabilities=capabilities,
        description=str(module.DESCRIPTION),
        demo=demo,
        build=module.build,
        module=module.__name__,
    )


class EmulatorRegistry(EntryPointRegistry[EmulatorSpec]):
    """Installed emulators by name; entry points are read lazily, once."""

    def __init__(self, *, discover: bool = True) -> None:
        super().__init__(
            ENTRY_POINT_GROUP,
            spec_from_module,
            EmulatorError,
            kind="emulator",
            noun="emulator",
            discover=discover,
        )


_default: EmulatorRegistry | None = None


def default_registry() -> EmulatorRegistry:
    """The process-wide registry fed by entry points."""
    global _default
    if _default is None:
        _default = EmulatorRegistry()
    return _default
