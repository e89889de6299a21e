"""The crawl engine: one asyncio engine that crawls any botnet a protocol plugin describes.

Parts, one concern each:

- :class:`botmon.settings.CrawlSettings` — every default, by subsystem, validated at start.
- :mod:`~botmon.crawl.core` — the sans-I/O state machine: peer table, discovery and tracking
  queues, rounds, the retry policy (:mod:`~botmon.crawl.retry`), pacing
  (:mod:`~botmon.crawl.ratelimit`), the scope guard (:mod:`~botmon.crawl.scope`) and the
  counters (:mod:`~botmon.crawl.counters`). Every method takes ``now``.
- :mod:`~botmon.crawl.runner` — the asyncio driver: UDP sockets (:mod:`~botmon.crawl.transport`),
  TCP exchanges, the send loop, server commands. :mod:`~botmon.crawl.memnet` drives the same
  core on a virtual clock with in-memory datagrams for tests.
- :mod:`~botmon.crawl.progress`, :mod:`~botmon.crawl.peerlist`, :mod:`~botmon.crawl.sink` —
  the live display, seed files, and where records go.

Behaviour, following the original BaseCrawler and improving on it:

- **Double queue.** New and unresponsive peers are in the discovery queue and get one try
  per round (deadline 4 s). A peer that gives a bot reply moves to the tracking queue, whose
  requests get retries with deadlines 4, 8, 16, 32 s from the first send. A tracked bot
  silent for ``tracking_remove_s`` (900 s) falls back to discovery; a discovery peer silent
  for ``discovery_remove_s`` (1800 s) and tried since is forgotten. Each queue has its own
  capacity of requests in flight, so dead addresses never slow the tracking of live bots.
- **Rounds.** A round contacts every known peer plus every peer discovered during it; the
  next one starts ``interval_s`` after the previous one started (or when it ends, if later).
- **Peers per round (HNS).** A Hide'n'Seek reply names one peer, so the engine asks a bot
  again — one request at a time, since replies are matched to requests by source address —
  until ``stale_replies`` (3) answers in a row named nothing new this round, or
  ``requests_per_round`` (32) requests were sent. Asking again until nothing new appears
  (rather than a fixed burst of ``~``) adapts to each bot's list size, keeps one request
  per target in flight and is gentle with per-target rate limits.
- **Timers.** One heap holds the deadline of every outstanding request (a timer per request
  halves throughput, NOTES.md). Before expiring deadlines the runner reads every datagram
  already waiting in the socket, so a busy moment never turns waiting answers into timeouts.
- **Trust.** Only a peer with a request outstanding is listened to; anything else counts as
  ``unexpected_source``. Malformed answers count by reason and do not end the wait.
- **Scope.** The engine sends only inside the scope (default 127.0.0.0/8 and ::1). Peers
  outside are recorded (their edges are reported), counted as ``out_of_scope`` and never
  contacted; the transport checks again before every send (``scope_blocked`` stays 0).
- **Failed tries.** After the last try of a request a FailedTry record is reported, except
  for a follow-up request to a bot that already answered in this round.
"""
