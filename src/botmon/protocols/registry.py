"""Find protocol plugins through the ``botmon.protocols`` entry points and check each one.

Built-in plugins are registered in botmon's own ``pyproject.toml`` under the same group, so
they are found exactly like third-party ones and nothing here names a botnet. Tests build a
:class:`Registry` with ``discover=False`` and register modules by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import ModuleType

from botmon.entrypoints import EntryPointRegistry
from botmon.protocols.contract import FACET_KEY, HOOKS, TRANSPORTS, Facet, Plugin, ProtocolDefaults
from botmon.settings.loader import Settings

ENTRY_POINT_GROUP = "botmon.protocols"
OPTIONAL_FUNCTIONS = (
    "reply_key",
    "conversation",
    "find_peers",
    "handle_request",
    "announce",
    "request_frame",
)
"""The optional callable hooks of :data:`HOOKS`, copied onto :class:`Plugin` when present."""


class PluginError(Exception):
    """A plugin that cannot be used, with one line saying why."""


def check_defaults(name: str, d: ProtocolDefaults) -> None:
    """Refuse defaults the engine could not run with (no tries, negative times, ...)."""
    if not 0 < d.port <= 65535:
        raise PluginError(f"plugin {name}: default port {d.port} is not in 1..65535")
    if not d.timeouts or any(not t > 0 for t in d.timeouts):
        raise PluginError(f"plugin {name}: timeouts must be a non-empty list of positive seconds")
    if list(d.timeouts) != sorted(d.timeouts):
        raise PluginError(f"plugin {name}: timeouts must not decrease")
    if d.connect_timeout <= 0 or d.read_timeout <= 0:
        raise PluginError(f"plugin {name}: connect and read timeouts must be positive")
    if not 1 <= d.max_reply_bytes <= 1 << 20:
        raise PluginError(f"plugin {name}: max_reply_bytes must be in 1..1 MiB")
    if not 1 <= d.peers_per_reply <= 10_000:
        raise PluginError(f"plugin {name}: peers_per_reply must be in 1..10000")
    if not 1 <= d.requests_per_round <= 1000:
        raise PluginError(f"plugin {name}: requests_per_round must be in 1..1000")
    if d.stale_replies < 1:
        raise PluginError(f"plugin {name}: stale_replies must be at least 1")
    if not 1 <= d.max_in_flight_per_peer <= 64:
        raise PluginError(f"plugin {name}: max_in_flight_per_peer must be in 1..64")
    if d.step_timeout <= 0:
        raise PluginError(f"plugin {name}: step_timeout must be positive")
    if not 1 <= d.max_messages <= 1000:
        raise PluginError(f"plugin {name}: max_messages must be in 1..1000")
    if not 1 <= d.lookups_per_node <= 1000:
        raise PluginError(f"plugin {name}: lookups_per_node must be in 1..1000")
    if not d.per_target_rate >= 0:
        raise PluginError(f"plugin {name}: per_target_rate must be >= 0")


def plugin_from_module(name: str, module: ModuleType) -> Plugin:
    """Check ``module`` against the contract's hooks and wrap it as a :class:`Plugin`."""
    for hook in HOOKS:
        if hook.required and not hasattr(module, hook.name):
            raise PluginError(f"plugin {name} ({module.__name__}) lacks {hook.name}")
    transport = module.TRANSPORT
    if transport not in TRANSPORTS:
        raise PluginError(
            f"plugin {name}: TRANSPORT must be one of {TRANSPORTS}, not {transport!r}"
        )
    defaults = module.DEFAULTS
    if not isinstance(defaults, ProtocolDefaults):
        raise PluginError(f"plugin {name}: DEFAULTS must be a ProtocolDefaults")
    check_defaults(name, defaults)
    for fn in ("peer_request", "read_reply"):
        if not callable(getattr(module, fn)):
            raise PluginError(f"plugin {name}: {fn} is not callable")
    optional = {}
    for fn in OPTIONAL_FUNCTIONS:
        value = getattr(module, fn, None)
        if value is not None and not callable(value):
            raise PluginError(f"plugin {name}: {fn} is not callable")
        optional[fn] = value
    if transport != "tcp":
        for fn in ("conversation", "request_frame"):
            if optional[fn] is not None:
                raise PluginError(f"plugin {name}: {fn} is for TCP plugins only")
    if defaults.max_in_flight_per_peer > 1 and optional["reply_key"] is None:
        raise PluginError(
            f"plugin {name}: max_in_flight_per_peer > 1 needs reply_key to match answers"
        )
    settings, configure = _settings_hooks(name, module)
    facets = _facets(name, getattr(module, "FACETS", ()))
    doc = (module.__doc__ or "").strip().splitlines()
    description = str(getattr(module, "DESCRIPTION", doc[0] if doc else ""))
    return Plugin(
        name=name,
        transport=transport,
        defaults=defaults,
        peer_request=module.peer_request,
        read_reply=module.read_reply,
        description=description,
        module=module.__name__,
        settings=settings,
        configure=configure,
        facets=facets,
        **optional,
    )


def _facets(name: str, value: object) -> tuple[Facet, ...]:
    """``FACETS`` checked: Facet objects with well-formed, distinct keys."""
    if not isinstance(value, tuple | list):
        raise PluginError(f"plugin {name}: FACETS must be a tuple of Facet")
    keys: set[str] = set()
    for facet in value:
        if not isinstance(facet, Facet):
            raise PluginError(f"plugin {name}: FACETS must be a tuple of Facet")
        if not FACET_KEY.match(facet.key) or facet.key in keys:
            raise PluginError(f"plugin {name}: facet key {facet.key!r} is malformed or repeated")
        keys.add(facet.key)
    return tuple(value)


def _settings_hooks(
    name: str, module: ModuleType
) -> tuple[type[Settings] | None, Callable[[Settings], None] | None]:
    """``SETTINGS`` and ``configure`` come together, and the section is ``protocol.<name>``."""
    settings = getattr(module, "SETTINGS", None)
    configure = getattr(module, "configure", None)
    if settings is None and configure is None:
        return None, None
    if settings is None or configure is None:
        raise PluginError(f"plugin {name}: SETTINGS and configure must come together")
    if not (isinstance(settings, type) and issubclass(settings, Settings)):
        raise PluginError(f"plugin {name}: SETTINGS must be a botmon.settings.Settings subclass")
    if getattr(settings, "section", None) != f"protocol.{name}":
        raise PluginError(f"plugin {name}: SETTINGS section must be protocol.{name}")
    if not callable(configure):
        raise PluginError(f"plugin {name}: configure is not callable")
    return settings, configure


class Registry(EntryPointRegistry[Plugin]):
    """Installed plugins by name; entry points are read lazily, once."""

    def __init__(self, *, discover: bool = True) -> None:
        super().__init__(
            ENTRY_POINT_GROUP,
            plugin_from_module,
            PluginError,
            kind="plugin",
            noun="protocol",
            discover=discover,
        )

    def plugins(self) -> Iterable[Plugin]:
        """Every plugin that loaded, by name."""
        return self.items()


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry fed by entry points."""
    global _default
    if _default is None:
        _default = Registry()
    return _default


def get_plugin(name: str) -> Plugin:
    """Shortcut for ``default_registry().get(name)``."""
    return default_registry().get(name)
