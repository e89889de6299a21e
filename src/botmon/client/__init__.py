"""The report client used by crawlers and sensors: batches, spool, retries, heartbeats.

Usage::

    client = ReportClient(server_url, token, "hns", spool_dir=Path("spool"), campaign=settings)
    client.set_status_provider(engine.heartbeat)   # a botmon.wire.HeartbeatStatus
    client.on_command(engine.handle_command)
    await client.start()          # ReportClientError if the server refuses the token
    client.add(replies=[...], failed_tries=[...], edges=[...])   # never waits
    await client.close(timeout=10.0)

What it promises:

- **Nothing acknowledged is lost, nothing is stored twice.** A batch (at most 10,000 records
  per kind) gets its id when it is sealed and is fsync'd to ``spool_dir/pending`` before its
  first send; it leaves the disk only when the server answered stored or duplicate. A
  restarted client replays what an earlier one left, oldest first.
- **A killed crawler loses nothing**: each add() writes its records to a journal in the
  spool before it returns, and the next client replays it under the same batch ids.
- **Transient failures are retried for ever** (connection errors, timeouts, 502/504, 408,
  429 and answers with ``Retry-After``) with exponential back-off and jitter; 429 waits as
  long as ``Retry-After`` asks. Other 5xx answers count: after ``max_answered_attempts`` of
  them the batch moves to ``spool_dir/rejected`` with the answer and later batches go on.
- **Permanent refusals are not retried**: a 4xx batch moves to ``spool_dir/rejected`` with
  the server's reason (413 splits the batch in two first); records that would make the
  server refuse a whole batch are checked out before sending and kept there too, one by
  one, counted in ``stats["invalid_records"]``. 401/403 stop sending (the records stay
  pending) and :attr:`ReportClient.error` says why.
- **Bounded memory and disk, nothing dropped**: one partly filled batch per kind plus a few
  sealed ones in memory; the spool holds at most ``spool_max_bytes``. When it is full (or
  the disk is) the client calls ``on_backpressure("spool_full")`` and the crawl pauses
  until the sender has made room (``on_backpressure(None)``).
- **Commands** from heartbeat answers reach the ``on_command`` callback once each, in order,
  as :class:`botmon.wire.Command` (check them with :func:`botmon.wire.command_args`).
- **A campaign** (optional): the run's parameters are registered with the server, named in
  every heartbeat, and the campaign is ended by :meth:`ReportClient.close`.
"""

from __future__ import annotations

from botmon.client.client import STAT_KEYS, ReportClient
from botmon.client.errors import ReportClientError, SpoolError
from botmon.settings.client import ClientSettings
from botmon.wire import Command

__all__ = [
    "STAT_KEYS",
    "ClientSettings",
    "Command",
    "ReportClient",
    "ReportClientError",
    "SpoolError",
]
