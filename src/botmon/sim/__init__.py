"""Emulated botnets on loopback (DESIGN §8): the test bed crawlers are measured against.

- :mod:`botmon.sim.registry` — emulators found through the ``botmon.emulators`` entry points
  (each module declares its protocol, settings, capabilities, demo settings and factory);
- settings: :class:`botmon.settings.HnsConfig` and :class:`botmon.settings.LinenetConfig`;
- :mod:`botmon.sim.population` — bots, addresses, peer lists, NAT and hostile roles (pure);
- :mod:`botmon.sim.churn` — churn profiles, and online sessions as a pure function of seed,
  bot and time;
- :mod:`botmon.sim.antiabuse` — per-bot, per-source rate limit and blacklist;
- :mod:`botmon.sim.exchange` — bots act: periodic peer exchange, news, contacts to sensors;
- :mod:`botmon.sim.hns_core` / :mod:`botmon.sim.linenet_core` — answers, bytes in, bytes out;
- :mod:`botmon.sim.hns` / :mod:`botmon.sim.linenet` — the asyncio layers (``HnsBotnet``,
  ``LinenetBotnet``) on top of :mod:`botmon.sim.runtime` and :mod:`botmon.sim.udp`;
- :mod:`botmon.sim.truth` — the ground-truth file; :mod:`botmon.sim.stats` — counters;
- :mod:`botmon.sim.process` — run ``botmon simulate`` as a child process;
- :mod:`botmon.sim.libtorrent_dht` — real libtorrent DHT nodes on loopback, and
  :mod:`botmon.sim.btdht`, the ``botmon simulate btdht`` emulator around them;
- :mod:`botmon.sim.history` — generated history for the demo (a separate concern), with
  :mod:`botmon.sim.history_families` deciding what each family's replies reveal.

Importing this package imports none of them, so ``botmon.sim.history`` stays light.
"""
