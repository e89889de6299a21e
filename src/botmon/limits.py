"""Rules more than one part of botmon checks, each defined once: names, roles, time bounds.

The client, the server's schemas, the store, the settings and the CLI all import these, so
a name the CLI accepts is one the API and the store accept too, and a time the API takes is
one the store can hold.
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

import msgspec

# Name patterns end in ``(?!\n)$``: Python's ``$`` (which msgspec's ``pattern`` and ``re.match``
# use) also matches before a final newline, so ``"hns\n"`` passed as a botnet name; ``\Z``
# would fix that too but means something else in the OpenAPI document's (ECMA) regexes.

BOTNET_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}(?!\n)$"
"""Botnet names appear in URLs, file names and tables: short, lower case, no spaces."""
BotnetName = Annotated[str, msgspec.Meta(pattern=BOTNET_NAME_PATTERN)]

MONITOR_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,63}(?!\n)$"
"""Monitor (token) names become the ``source`` of stored records, so they are short and plain."""
MonitorName = Annotated[str, msgspec.Meta(pattern=MONITOR_NAME_PATTERN)]

Role = Literal["admin", "crawler", "viewer", "feed"]
"""admin: everything; crawler: ingest and heartbeat (optionally some botnets); viewer: read;
feed: a network owner's token, reading only the feed of its networks (its scope)."""
ROLES: tuple[Role, ...] = get_args(Role)

MIN_TIMESTAMP = 946_684_800.0
"""2000-01-01T00:00:00Z: no P2P botnet observation is older; the earliest a query may name."""
MAX_TIMESTAMP = 32_503_680_000.0
"""3000-01-01T00:00:00Z: later is a unit mistake (milliseconds), and past what DBs hold."""

MAX_BUCKETS = 10_000
"""Buckets per time series one request may ask for, so it cannot ask for millions of rows."""
