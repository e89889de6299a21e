"""Every number a dashboard view shows, computed over the store's read port.

Functions here take a :class:`~botmon.store.base.Store` and explicit parameters (time range
in epoch seconds, bucket in seconds) and return a :class:`~botmon.analysis.table.Table`. They
hold no SQL and no dialect branches: the store answers a few named reads
(:mod:`botmon.store.reads`), and this package caches, combines and shapes the answers. No
HTTP either: :mod:`botmon.dashboard.api` and :mod:`botmon.server.queries` serve the tables.

Layout:

- :mod:`table` - the :class:`Table` every view returns, :class:`UnknownBotnet`;
- :mod:`cache` - answers cached per store, reused while the stored batches are unchanged;
- :mod:`scope` - botnet names to ids; whether a window reaches the newest data;
- :mod:`series` - dense per-bucket series, distinct IPs and IDs per bucket;
- :mod:`population` - the one population computation (both population endpoints, trend,
  counting, comparison, new vs returning bots);
- :mod:`overview` - the overview's botnet cards and the crawler/sensor health table;
- :mod:`peers` - top peers by in-degree;
- :mod:`geo` - countries and ASes;
- :mod:`compare` - overlap between botnets, hour-of-day profiles;
- :mod:`sources` - bots seen by crawlers only, by sensors only and by both;
- :mod:`devices` - the bots' CPU architectures (affected devices), a DHT's client versions;
- :mod:`size` - a DHT's total size estimated, with the method's error;
- :mod:`defaults` - the dashboard's defaults, served to the page and used by the warm-up;
- :mod:`warmup` - computing the page's default requests ahead of its first visitor.

Every view takes an optional ``source`` (``crawler`` or ``sensor``: only that kind of
monitor's records; None: both), passed to the store's reads and kept apart in the cache.
Buckets are aligned as :mod:`botmon.buckets` documents: ISO weeks (Monday 00:00 UTC), days
at 00:00 UTC, hours on the hour.
"""
